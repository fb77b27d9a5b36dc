/**
 * Text as `batch-extract extract` writes it (a child process, `--backend aws`, against the
 * local emulation), from `.txt` and `.md` files:
 *
 * - a UTF-8 byte order mark is dropped: a file with one gives exactly the chunks (ids, text,
 *   offsets, everything but the extraction timestamp) of the same file without it, and no
 *   output holds a BOM;
 * - CRLF line endings are kept, as the reference's reader keeps them (`Document`: "CRLF kept
 *   in text as the file reader keeps it"): the chunks are those of the LF file with `\r\n` for
 *   `\n`, located in the file's own text, with the ids of that text;
 * - characters outside the Basic Multilingual Plane (emoji, 𝔘, CJK extension B) reach the
 *   chunk files unchanged — valid JSON whose strings hold every code point of the document's
 *   text at the chunk's offsets, no surrogate split from its pair — also where a run of them
 *   is too long for a chunk and has to be cut between characters.
 */
import type * as Local from "@batch-extract/aws/local"
import { Chunker, Document } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Cli from "./support/cli.ts"
import * as World from "./support/world.ts"

const bom = "\uFEFF"

/** A Markdown document: headings, a list, a paragraph break of three newlines, a last line without a stop. */
const markdown = [
  "# Field notes",
  "",
  "Alice Smith met Bob Jones in Paris on day 1 to discuss trade policy. Carol White met Dave Brown in Boston.",
  "",
  "",
  "## Bridges",
  "",
  "- Erin Green inspected the river bridges in Berlin.",
  "- Frank Black mapped the old harbour of Lisbon, twice.",
  "",
  "Grace Hall met Alice Smith in Oslo on day 3 to discuss solar panels. They agreed on a budget.",
  "A closing line without a full stop",
  ""
].join("\n")

/** A plain-text document: lines and paragraphs. */
const plain = [
  "Report 7.",
  "",
  "Bob Jones met Carol White in Lima on day 4 to discuss rail freight.",
  "Dave Brown met Erin Green in Osaka on day 5 to discuss city budgets. Frank Black wrote it down.",
  "",
  "Grace Hall travelled to Nairobi.",
  "She met Alice Smith there on day 6, to discuss old maps and the weather.",
  ""
].join("\n")

/** `count` consecutive code points from `first`. */
const run = (first: number, count: number) =>
  String.fromCodePoint(...Array.from({ length: count }, (_, i) => first + i))

/** CJK extension B (U+20000…), emoji (U+1F600…), mathematical bold letters (U+1D400…). */
const cjkB = /^[\u{20000}-\u{2A6DF}]+$/u
const emoji = /^[\u{1F600}-\u{1F64F}]+$/u

/**
 * Text with characters outside the BMP: alone, in words, in ZWJ sequences, and in runs too
 * long for a chunk (of distinct characters, so that each chunk's text occurs once and its
 * offsets are exact).
 */
const astral = [
  "Alice 😀 met Bob 👩‍👩‍👧 in 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 City on day 1. The ledger said 𠀀𠀁𠀂 and 𪜀 twice.",
  "Carol White 🎉🎉 met Dave Brown in Boston, to discuss 𝔐𝔞𝔭𝔰 and 🌉 bridges.",
  run(0x20010, 45) + run(0x1f600, 31) + run(0x1d400, 29),
  "Erin Green paid 💶 100 for 𝒻𝒶𝓃𝒸𝓎 letters; Frank Black replied 👍.",
  ""
].join("\n")

/** A lone surrogate in a string. */
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** A `\uXXXX` escape of a surrogate that is not one half of a pair, in JSON text. */
const loneSurrogateEscape =
  /\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}/

/** Every string in a JSON value. */
const stringsOf = (value: unknown): Array<string> => {
  if (typeof value === "string") return [value]
  if (Array.isArray(value)) return value.flatMap(stringsOf)
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).flatMap(([key, inner]) => [key, ...stringsOf(inner)])
  }
  return []
}

/** A chunk file as these tests read it. */
interface Node {
  readonly id_: string
  readonly text: string
  readonly start_char_idx: number | null
  readonly end_char_idx: number | null
}

/**
 * Every output file of a run (the chunks and `summary.json`): whole UTF-8, whole JSON, no
 * BOM (raw or escaped), no surrogate without its pair (raw or escaped). Returns the chunks.
 */
const checkedOutput = (out: string): Array<Node> => {
  const files = World.filesUnder(out).filter((file) => !file.startsWith(".batch-extract"))
  assert.include(files, "summary.json")
  const nodes: Array<Node> = []
  for (const file of files) {
    const bytes = readFileSync(join(out, file))
    const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes)
    assert.notInclude(text, bom, `${file}: no BOM`)
    assert.notMatch(text, /\\ufeff/i, `${file}: no escaped BOM`)
    assert.notMatch(text, loneSurrogateEscape, `${file}: no escaped lone surrogate`)
    const parsed = JSON.parse(text) as unknown
    for (const string of stringsOf(parsed)) {
      assert.notInclude(string, bom, `${file}: no BOM in ${JSON.stringify(string)}`)
      assert.notMatch(string, loneSurrogate, `${file}: no lone surrogate in ${JSON.stringify(string)}`)
    }
    if (file !== "summary.json") nodes.push(parsed as Node)
  }
  return nodes
}

/** Code points of a text from `start` to `end` (offsets in code points, as the chunk files count them). */
const slice = (text: string, start: number, end: number) => Array.from(text).slice(start, end).join("")

/** The settings of every run here: small chunks, no path metadata (ids from the text alone), batch jobs of any size. */
const flags = (chunkSize: number, chunkOverlap: number) => [
  "--backend",
  "aws",
  "--bucket-name",
  World.bucket,
  "--role-arn",
  World.roleArn,
  "--min-records-per-job",
  "1",
  "--poll-initial-seconds",
  "0.05",
  "--poll-max-seconds",
  "0.25",
  "--path-metadata-key",
  "",
  "--chunk-size",
  String(chunkSize),
  "--chunk-overlap",
  String(chunkOverlap)
]

const worldOptions: Local.BedrockEmulator.Options = { timings: {}, quotas: { minRecordsPerJob: 1 } }

describe("text inputs: byte order marks, line endings, characters outside the BMP", () => {
  it.live(
    "a BOM is dropped (the same chunks as without it); CRLF is kept (the LF chunks with CRLF, at their offsets)",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("line-endings")
        const world = yield* World.make({ emulator: worldOptions })
        const crlf = (text: string) => text.replace(/\n/g, "\r\n")
        const variants = {
          lf: { "notes.md": markdown, "report.txt": plain },
          bom: { "notes.md": bom + markdown, "report.txt": bom + plain },
          crlf: { "notes.md": crlf(markdown), "report.txt": crlf(plain) },
          "bom-crlf": { "notes.md": bom + crlf(markdown), "report.txt": bom + crlf(plain) }
        } as const
        const runs = yield* Effect.forEach(Object.entries(variants), ([name, files]) =>
          Effect.gen(function*() {
            const input = join(dir, name)
            mkdirSync(input)
            for (const [file, text] of Object.entries(files)) writeFileSync(join(input, file), text, "utf8")
            const out = join(dir, `${name}-out`)
            const exit = yield* Cli.run(
              ["extract", input, "--out", out, "--run-id", name, ...flags(24, 6)],
              { env: world.env() }
            )
            assert.strictEqual(exit.code, 0, `${name}: ${Cli.describe(exit)}`)
            const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as {
              readonly documents: number
              readonly skippedDocuments: ReadonlyArray<unknown>
              readonly records: { readonly batch: number }
            }
            assert.strictEqual(summary.documents, 2, name)
            assert.deepStrictEqual(summary.skippedDocuments, [], name)
            assert.isAbove(summary.records.batch, 0, `${name}: through batch jobs`)
            return [name, { nodes: checkedOutput(out), chunks: World.readChunks(out) }] as const
          }), { concurrency: 2 })
        const byName = new Map(runs)
        const lf = byName.get("lf")!
        assert.isAtLeast(lf.chunks.size, 6, "several chunks per document")

        // A BOM changes nothing: the same chunk files (ids, text, offsets, sources), but the timestamp.
        assert.deepStrictEqual(byName.get("bom")!.chunks, lf.chunks)
        assert.deepStrictEqual(byName.get("bom-crlf")!.chunks, byName.get("crlf")!.chunks)

        // CRLF is kept: the LF file's chunks with CRLF, each at its offsets in the file's text, with that text's ids.
        const crlfNodes = byName.get("crlf")!.nodes
        const crlfTexts = Object.values(variants.crlf)
        assert.deepStrictEqual(
          crlfNodes.map((node) => node.text.replace(/\r\n/g, "\n")).sort(),
          lf.nodes.map((node) => node.text).sort()
        )
        assert.isTrue(crlfNodes.some((node) => node.text.includes("\r\n")), "line ends inside chunks are CRLF")
        assert.isFalse(crlfNodes.some((node) => /\r(?!\n)|(?<!\r)\n/.test(node.text)), "no bare CR or LF")
        for (const node of crlfNodes) {
          const source = crlfTexts.find((text) =>
            slice(text, node.start_char_idx ?? -1, node.end_char_idx ?? -1) === node.text
          )
          assert.isDefined(source, `${node.id_} is at its offsets in its file's text`)
        }
        const expectedIds: Array<string> = []
        for (const text of crlfTexts) {
          const chunks = yield* Chunker.chunk(Document.make(text), { chunkSize: 24, chunkOverlap: 6 })
          expectedIds.push(...chunks.map((chunk) => chunk.id))
        }
        assert.deepStrictEqual(crlfNodes.map((node) => node.id_).sort(), expectedIds.sort())
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "characters outside the BMP survive into the chunk files, also where a chunk boundary falls among them",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("astral")
        const world = yield* World.make({ emulator: worldOptions })
        const input = join(dir, "in")
        mkdirSync(input)
        const documents = { "astral.txt": astral, "astral.md": `# 𝕋𝕚𝕥𝕝𝕖 🚀\n\n${astral}` }
        for (const [file, text] of Object.entries(documents)) writeFileSync(join(input, file), text, "utf8")
        const out = join(dir, "out")
        // Chunks of 17 tokens: the long runs are cut between characters, at odd places.
        const exit = yield* Cli.run(["extract", input, "--out", out, "--run-id", "astral", ...flags(17, 3)], {
          env: world.env()
        })
        assert.strictEqual(exit.code, 0, Cli.describe(exit))
        const nodes = checkedOutput(out)
        assert.isAtLeast(nodes.length, 20)

        for (const [file, text] of Object.entries(documents)) {
          const points = Array.from(text)
          const mine = nodes.filter((node) =>
            slice(text, node.start_char_idx ?? -1, node.end_char_idx ?? -1) === node.text
          )
          assert.isAbove(mine.length, 0, `${file}: its chunks are at their offsets in its text`)
          // Every character outside the BMP is in a chunk, unchanged (the chunk's text is the document's, there).
          points.forEach((point, index) => {
            if (point.codePointAt(0)! <= 0xffff) return
            assert.isTrue(
              mine.some((node) => node.start_char_idx! <= index && index < node.end_char_idx!),
              `${file}: ${point} at ${index} is in a chunk`
            )
          })
          // The long runs were cut between characters: some chunks hold a part of one alone.
          assert.isTrue(mine.some((node) => cjkB.test(node.text)), `${file}: the run of CJK extension B was cut`)
          assert.isTrue(mine.some((node) => emoji.test(node.text)), `${file}: the run of emoji was cut`)
        }
        // Each chunk file's text is one of the documents' texts at its offsets: no chunk is unaccounted for.
        for (const node of nodes) {
          assert.isTrue(
            Object.values(documents).some((text) =>
              slice(text, node.start_char_idx ?? -1, node.end_char_idx ?? -1) === node.text
            ),
            `${node.id_}: ${JSON.stringify(node.text)}`
          )
        }
      }).pipe(Effect.scoped),
    120_000
  )
})
