import { assert, describe, it } from "@effect/vitest"
import { SentenceSplitter, splitBySentenceTokenizer } from "@llamaindex/core/node-parser"
import { Effect } from "effect"
import { ALL_SPECIAL_TOKENS, decode, encode } from "gpt-tokenizer/encoding/cl100k_base"
import * as Chunker from "../../src/extraction/Chunker.ts"
import * as Document from "../../src/extraction/Document.ts"
import { splitText } from "../../src/extraction/internal/sentenceSplitter.ts"
import { splitSentences } from "../../src/extraction/internal/sentenceTokenizer.ts"

// The oracle: LlamaIndex's TypeScript SentenceSplitter with the chunker's tokenizer. The texts
// stay a few KB so that its sentence tokenizer, quadratic in the length of a text, stays fast.

const oracleTokenizer = {
  encode: (text: string): Uint32Array => new Uint32Array(encode(text, { allowedSpecial: ALL_SPECIAL_TOKENS })),
  decode: (tokens: Uint32Array): string => decode(Array.from(tokens))
}
const silentLogger = { log: () => {}, warn: () => {}, error: () => {} }

const oracle = (chunkSize: number, chunkOverlap: number) =>
  new SentenceSplitter({ chunkSize, chunkOverlap, tokenizer: oracleTokenizer, logger: silentLogger })

const oracleSentences = splitBySentenceTokenizer()

/** A seeded pseudo-random generator in [0, 1) (mulberry32). */
const seeded = (seed: number) => {
  let state = seed >>> 0
  return (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

type Random = () => number

const pick = <A>(random: Random, items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)]!

const words = [
  "the",
  "graph",
  "stores",
  "Amazon",
  "Neptune",
  "cluster",
  "volume",
  "zones",
  "something",
  "lab",
  "start",
  "devs",
  "Inc",
  "art",
  "ing",
  "data",
  "año",
  "naïve",
  "Straße",
  "über",
  "x"
]

const endings = [".", ".", ".", "!", "?", "...", "…", ".\"", "?)", ".’", "!”", ". .", "?!", ".]", ".}", "!'", ""]

const sentence = (random: Random): string => {
  const length = 2 + Math.floor(random() * 18)
  const body = Array.from({ length }, () => pick(random, words)).join(" ")
  return body.charAt(0).toUpperCase() + body.slice(1) + pick(random, endings)
}

const fixedPieces = [
  "Dr. Smith arrived.",
  "The U.S. economy grew.",
  "Use e.g. this one, i.e. that one.",
  "Apples, pears, etc. are fruit.",
  "Mr. and Mrs. Jones met Ms. Lee.",
  "Sra. López y el Sr. Pérez, Profa. Ruiz.",
  "At 9 a.m. sharp, not 5 p.m. or later.",
  "A.S.A.P. please.",
  "Cats vs. dogs.",
  "Acme Inc. reported.",
  "The lab. results were in.",
  "DR. WHO and dr. no.",
  "Pi is 3.14 and e is 2.718.",
  "It cost 1,300,000 dollars.",
  "Version 1.2.3 shipped.",
  "Up 99.9% today.",
  "Odd 12,34 and 1,000.25 and 1234,567.",
  "See https://example.com/path?q=1.",
  "Or http://a.b/c.d!",
  "Visit www.example.org. Then leave.",
  "Get ftp://files.example.net/x.zip now.",
  "Write mailto:someone@example.com today.",
  "Mail john.doe@mail.example.co.uk. Or not.",
  "Bad a@b. And x@y.c too.",
  "Open file:///tmp/a.txt please.",
  "LOUD HTTPS://UPPER.EXAMPLE.COM/X.",
  "Tagged name+tag@example.io.",
  "Odd xmailto:a@b.com here.",
  "Chained a@b.com.x1@y.org end.",
  "Run-on lab.x1@y.org.z@w.net!",
  "\"Quoted,\" he said. \"Really?\"",
  "'Single.' 'Double!'",
  "(Parenthetical.) [Bracketed!] {Braced?}",
  "“Curly.” ‘Curly too.’",
  "Wait... what?! No… yes.",
  ". . . ! ? …",
  ",,, ;; ,;., ;",
  "日本語の文です。これは？はい！",
  "中文，句子；结束。",
  "¡Hola! ¿Qué tal?",
  "Ünïcödé façade. Naïve café.",
  "Emoji 😀 here. 👩‍👩‍👧 family!",
  "𝒳 math 𝔸.",
  "{{DELIM_0}}",
  "{{DELIM_3}} text.",
  "{{NUMBER_1}} and {{URI_2}} and {{ABBREV_0}}.",
  "{{DELIM_",
  "}}",
  "{{",
  "{{NUMBER_Dr.5}}",
  "{{DELIM_99}}.",
  "{{{DELIM_1}}}",
  "{{URI_0}}@example.com",
  "www.x.org/{{NUMBER_4}}",
  "<|endoftext|>",
  "Tabs\there.",
  "Non\u00a0breaking. Spaces\u2003here."
]

const whitespace = ["   ", "\t", " \n ", "\u00a0\u00a0", " ".repeat(30), "\n \n", "\r\n"]

const breaks = ["\n", "\n\n", "\n\n\n", "\n\n\n\n", "\n\n\n\n\n\n"]

const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_@"

const longWord = (random: Random): string =>
  Array.from({ length: 30 + Math.floor(random() * 600) }, () => pick(random, [...letters])).join("")

const piece = (random: Random): string => {
  const r = random()
  if (r < 0.4) return sentence(random)
  if (r < 0.7) return pick(random, fixedPieces)
  if (r < 0.78) return pick(random, breaks)
  if (r < 0.85) return pick(random, whitespace)
  if (r < 0.9) return longWord(random)
  return String(Math.floor(random() * 2_000_000) / (random() < 0.5 ? 1 : 100))
}

/** A text of up to about `maxLength` characters, made of random pieces. */
const generate = (seed: number, maxLength: number): string => {
  const random = seeded(seed)
  const target = 1 + Math.floor(random() * maxLength)
  let text = ""
  while (text.length < target) text += piece(random) + pick(random, [" ", " ", " ", "", "\n", "  "])
  return text
}

const texts = Array.from({ length: 120 }, (_, i) => generate(i + 1, i % 10 === 0 ? 6000 : 3000))

const metadataTexts = {
  short: "title: A document\nurl: https://example.com/doc/1",
  // 64 - 45 leaves less than the overlap of 25.
  long: "summary: " + "word ".repeat(44).trim()
}

const optionSets: ReadonlyArray<
  { readonly chunkSize: number; readonly chunkOverlap: number; readonly metadata?: string }
> = [
  { chunkSize: 256, chunkOverlap: 25 },
  { chunkSize: 256, chunkOverlap: 25, metadata: metadataTexts.short },
  { chunkSize: 64, chunkOverlap: 25 },
  { chunkSize: 64, chunkOverlap: 25, metadata: metadataTexts.short },
  { chunkSize: 64, chunkOverlap: 25, metadata: metadataTexts.long },
  { chunkSize: 64, chunkOverlap: 0 },
  { chunkSize: 32, chunkOverlap: 10 },
  { chunkSize: 32, chunkOverlap: 10, metadata: metadataTexts.short }
]

describe("SentenceSplitter", () => {
  it("cuts the same sentences as the reference's sentence tokenizer", () => {
    for (const text of texts) assert.deepStrictEqual(splitSentences(text), oracleSentences(text))
    for (const text of fixedPieces) assert.deepStrictEqual(splitSentences(text), oracleSentences(text))
    for (const text of ["", " ", "x", ".", "\n\n", "Dr.", " . ", "a.b", "1.5.", "…", "mailto:a@b.co"]) {
      assert.deepStrictEqual(splitSentences(text), oracleSentences(text))
    }
  })

  for (const options of optionSets) {
    const name = `${options.chunkSize}/${options.chunkOverlap}` +
      (options.metadata === undefined ? "" : ` with ${Chunker.countTokens(options.metadata)} tokens of metadata`)
    it(`gives the reference's chunks (${name})`, () => {
      const reference = oracle(options.chunkSize, options.chunkOverlap)
      const ours = { ...options, countTokens: Chunker.countTokens }
      for (const text of texts) {
        const expected = options.metadata === undefined
          ? reference.splitText(text)
          : reference.splitTextMetadataAware(text, options.metadata)
        assert.deepStrictEqual(splitText(text, ours), expected)
      }
    })
  }

  it("gives the reference's chunks for edge texts", () => {
    const reference = oracle(16, 4)
    const edges = ["", " ", "\n\n\n", "x", "😀".repeat(40), "a,,b".repeat(30), " ".repeat(200), longWord(seeded(7))]
    for (const text of edges) {
      assert.deepStrictEqual(
        splitText(text, { chunkSize: 16, chunkOverlap: 4, countTokens: Chunker.countTokens }),
        reference.splitText(text)
      )
    }
  })

  it.effect("Chunker.chunk chunks as the reference, with and without metadata", () =>
    Effect.gen(function*() {
      const reference = oracle(64, 25)
      for (const [i, text] of texts.slice(0, 30).entries()) {
        const metadata = { title: `Document ${i}`, url: `https://example.com/doc/${i}` }
        const document = Document.make(text, { metadata })
        const expected = text.trim() === ""
          ? []
          : reference.splitTextMetadataAware(text, Chunker.metadataForBudget(metadata))
        const chunks = yield* Chunker.chunk(document, { chunkSize: 64, chunkOverlap: 25 })
        assert.deepStrictEqual(chunks.map((c) => c.text), expected)
        const withoutMetadata = yield* Chunker.chunk(document, {
          chunkSize: 64,
          chunkOverlap: 25,
          includeMetadata: false
        })
        assert.deepStrictEqual(withoutMetadata.map((c) => c.text), text.trim() === "" ? [] : reference.splitText(text))
      }
    }))

  it("chunks a long single paragraph", () => {
    const sentenceOf = (i: number) =>
      `Sentence ${i}: Dr. Smith paid 1,300,000 dollars (about 3.14 times more) at https://example.com/${i}, ` +
      `e.g. for the U.S. office; mail smith${i}@example.com if it's wrong! Is it right? Yes…`
    const parts: Array<string> = []
    let length = 0
    for (let i = 0; length < 300_000; i++) {
      const text = sentenceOf(i)
      parts.push(text)
      length += text.length + 1
    }
    const text = parts.join(" ")
    assert.notInclude(text, "\n")
    const chunks = splitText(text, { chunkSize: 256, chunkOverlap: 25, countTokens: Chunker.countTokens })
    const tokens = Chunker.countTokens(text)
    // Each chunk holds at most 256 tokens, and at least the overlap less than a sentence.
    assert.isAtLeast(chunks.length, Math.ceil(tokens / 256))
    assert.isAtMost(chunks.length, Math.ceil(tokens / 150))
    // The chunks cover the text in order: each starts where the previous one ended, or inside it.
    let end = 0
    let start = -1
    for (const chunk of chunks) {
      assert.isAtMost(Chunker.countTokens(chunk), 256)
      const at = text.indexOf(chunk, start + 1)
      assert.isAbove(at, start)
      assert.isAtMost(at, end + 1)
      start = at
      end = at + chunk.length
    }
    assert.strictEqual(chunks[0]!.slice(0, 11), "Sentence 0:")
    assert.strictEqual(end, text.length)
    for (let i = 0; i < parts.length; i += 97) assert.isTrue(chunks.some((c) => c.includes(`Sentence ${i}:`)))
  })
})
