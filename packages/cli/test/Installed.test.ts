/**
 * batch-extract as its users get it: every publishable package is built and packed, the
 * tarballs are installed with npm into a fresh project outside the workspace, and that
 * project (a) runs an ESM program that imports `@batch-extract/core` and the local emulation
 * and extracts a few documents, (b) runs `npx batch-extract --help`, `--version`, an
 * `extract` and a `status` of its run (from the embedded run state), (c) type-checks a consumer file against the shipped declarations with
 * `skipLibCheck` off, and (d) imports `@batch-extract/aws` with fauxqs removed, loading
 * neither the emulation nor the test kit.
 *
 * Needs the npm registry (for the packages' own dependencies), as any install does.
 */
import { Chunker, Document } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFileSync, type ExecFileSyncOptions } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { nodeBinary, root } from "./support/cli.ts"

const packages = ["core", "aws", "cli", "store"] as const
const pnpmVersion = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { packageManager: string })
  .packageManager.split("@")[1]!
const cliVersion = (JSON.parse(readFileSync(join(root, "packages/cli/package.json"), "utf8")) as { version: string })
  .version

/** A long paragraph (no paragraph breaks): the chunker must split it by sentences, in linear time. */
const longParagraph = Array.from(
  { length: 4_000 },
  (_, i) =>
    `Dr. Rivera measured ${i}.5 tonnes at site ${
      i % 17
    } on 3.14 hectares, e.g. near the U.S. border (see https://example.com/${i}).`
).join(" ")

/** The environment of everything the consumer runs: the workspace's Node, nothing of the workspace's settings. */
const consumerEnv = (): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key === "NODE_OPTIONS" || key.startsWith("npm_") || key.startsWith("VITEST")) continue
    if (key.startsWith("PNPM_") || key.startsWith("AWS_") || key.startsWith("BATCH_EXTRACT_")) continue
    env[key] = value
  }
  env.PATH = `${dirname(nodeBinary)}:${env.PATH ?? ""}`
  env.npm_config_update_notifier = "false"
  env.npm_config_fund = "false"
  env.npm_config_audit = "false"
  env.NO_COLOR = "1"
  return env
}

const run = (command: string, args: ReadonlyArray<string>, options: ExecFileSyncOptions & { cwd: string }) =>
  execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20, ...options })
    .toString()

const consumerProgram = `
import { BatchConfig, Chunker, Document, Extraction, ExtractionSummary, JobSlots, Sink } from "@batch-extract/core"
import { LocalBackend } from "@batch-extract/aws/local"
import { SqliteClient } from "@batch-extract/store"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer, Stream } from "effect"
import { readFileSync } from "node:fs"

const [docs, out, paragraphFile] = process.argv.slice(2)
const program = Effect.gen(function*() {
  const batch = yield* BatchConfig.decode({
    bucketName: "consumer-bucket", region: "us-east-1",
    roleArn: "arn:aws:iam::123456789012:role/consumer", pollInitialSeconds: 0.05, pollMaxSeconds: 0.2
  })
  const extraction = yield* Extraction.decodeConfig({})
  const sink = yield* Sink.directory({ directory: out, collectionId: "consumer" })
  const [, summary] = yield* ExtractionSummary.collect(
    Extraction.extract(Document.fromDirectory(docs), { batch, extraction, runId: "consumer" }).pipe(
      Stream.mapEffect((chunk) => sink.write(chunk)),
      Stream.runDrain
    )
  ).pipe(Effect.provide(Layer.mergeAll(LocalBackend.layerFromBatchConfig(batch), JobSlots.layerFromConfig(batch))))
  const paragraph = yield* Chunker.chunk(Document.make(readFileSync(paragraphFile, "utf8")))
  const sqlite = yield* Effect.gen(function*() {
    const sql = yield* SqliteClient.SqliteClient
    return yield* sql\`SELECT 41 + 1 AS answer\`
  }).pipe(Effect.provide(SqliteClient.layer({ filename: ":memory:" })))
  return {
    records: summary.records, chunks: summary.extraction.chunks, paragraphChunkIds: paragraph.map((c) => c.id),
    sqlite: sqlite[0]
  }
})
const result = await Effect.runPromise(program.pipe(Effect.provide(NodeServices.layer)))
process.stdout.write(JSON.stringify(result))
`

const consumerTypes = `
import { BatchConfig, Extraction, ExtractionSummary, RunSummary, Sink, type ExtractionEvents, type RunEvents } from "@batch-extract/core"
import { TestBackend } from "@batch-extract/core/testing"
import { AwsBackend } from "@batch-extract/aws"
import { LocalBackend } from "@batch-extract/aws/local"
import { Cli, Extract } from "@batch-extract/cli"
import { SqliteClient } from "@batch-extract/store"
import { Effect, Layer } from "effect"

export const program = Effect.gen(function*() {
  const batch = yield* BatchConfig.decode({ bucketName: "b", region: "us-east-1", roleArn: "arn:aws:iam::123456789012:role/r" })
  const extraction: Extraction.ExtractionConfig = yield* Extraction.decodeConfig({})
  const sink = yield* Sink.directory({ directory: "./out", collectionId: "c" })
  const live: Layer.Layer<AwsBackend.Services, unknown> = AwsBackend.layer(batch)
  const local = LocalBackend.layerFromBatchConfig(batch)
  const summary: RunSummary.RunSummary = RunSummary.empty
  const onEvent = (event: RunEvents.RunEvent): string => event._tag
  const extractionSummary: ExtractionSummary.ExtractionSummary = ExtractionSummary.empty
  const onExtractionEvent = (event: ExtractionEvents.Event): string => event._tag
  return { batch, extraction, sink, live, local, summary, onEvent, extractionSummary, onExtractionEvent, testLayer: TestBackend.layer, version: Cli.version, extract: Extract.run, sqlite: SqliteClient.layer({ filename: ":memory:" }) }
})
`

/** Records every module URL it resolves, then imports the live AWS entry point. */
const liveImportProbe = `
import { registerHooks } from "node:module"
const loaded = []
registerHooks({ resolve: (specifier, context, next) => { const r = next(specifier, context); loaded.push(r.url); return r } })
const aws = await import("@batch-extract/aws")
process.stdout.write(JSON.stringify({ exports: Object.keys(aws).sort(), loaded }))
`

describe("installed from the packed tarballs", () => {
  it.live(
    "works as users install it: library, command, declarations, no emulation on the live path",
    () =>
      Effect.gen(function*() {
        const env = consumerEnv()
        const work = mkdtempSync(join(tmpdir(), "batch-extract-consumer-"))
        try {
          // Build (the check builds first; a bare run of this test builds here) and pack.
          if (!packages.every((name) => existsSync(join(root, `packages/${name}/dist/index.js`)))) {
            run(join(root, "node_modules/.bin/tsc"), ["-b", "tsconfig.build.json"], { cwd: root, env })
          }
          const tarballs = join(work, "tarballs")
          mkdirSync(tarballs)
          for (const name of packages) {
            run("npx", ["-y", `pnpm@${pnpmVersion}`, "pack", "--pack-destination", tarballs], {
              cwd: join(root, "packages", name),
              env
            })
          }
          const packed = readdirSync(tarballs).sort()
          assert.deepStrictEqual(packed, packages.map((name) => `batch-extract-${name}-${cliVersion}.tgz`).sort())
          for (const tarball of packed) {
            const files = run("tar", ["-tzf", join(tarballs, tarball)], { cwd: work, env }).split("\n")
            assert.isFalse(files.some((file) => file.includes("/test/") || file.endsWith(".test.ts")), tarball)
            assert.isTrue(files.includes("package/dist/index.js") && files.includes("package/dist/index.d.ts"), tarball)
            assert.isTrue(files.includes("package/LICENSE") && files.includes("package/README.md"), tarball)
            // Every module shipped is built from a source that exists: nothing stale in dist/.
            for (const file of files.filter((file) => /^package\/dist\/.*\.js$/.test(file))) {
              assert.include(files, file.replace(/^package\/dist\//, "package/src/").replace(/\.js$/, ".ts"), tarball)
            }
          }

          // A fresh project outside the workspace; npm installs the tarballs and their dependencies.
          const project = join(work, "project")
          mkdirSync(project)
          writeFileSync(
            join(project, "package.json"),
            JSON.stringify({ name: "consumer", private: true, type: "module" }, null, 2)
          )
          run("npm", [
            "install",
            "--no-audit",
            "--no-fund",
            ...packed.map((tarball) => join(tarballs, tarball)),
            "typescript@5.9.3",
            "@types/node@22"
          ], { cwd: project, env })
          const installed = JSON.parse(
            readFileSync(join(project, "node_modules/@batch-extract/cli/package.json"), "utf8")
          )
          assert.strictEqual(installed.bin["batch-extract"], "./dist/bin.js")

          // (a) An ESM program: the library and the local emulation extract a few documents.
          const docs = join(project, "docs")
          mkdirSync(docs)
          for (let d = 0; d < 4; d++) {
            writeFileSync(
              join(docs, `doc-${d}.txt`),
              Array.from({ length: 12 }, (_, s) => `Alice Smith met Bob Jones in Paris on day ${d * 12 + s}.`).join(" ")
            )
          }
          const paragraphFile = join(project, "paragraph.txt")
          writeFileSync(paragraphFile, longParagraph)
          writeFileSync(join(project, "extract.mjs"), consumerProgram)
          const result = JSON.parse(
            run(nodeBinary, ["extract.mjs", docs, join(project, "out"), paragraphFile], { cwd: project, env })
          ) as {
            records: { succeeded: number; failed: number }
            chunks: number
            paragraphChunkIds: Array<string>
            sqlite: { answer: number }
          }
          assert.isAbove(result.chunks, 3)
          assert.deepStrictEqual(result.sqlite, { answer: 42 })
          assert.strictEqual(result.records.failed, 0)
          assert.strictEqual(result.records.succeeded, result.chunks * 2)
          assert.strictEqual(readdirSync(join(project, "out", "consumer")).length, 4)
          // The installed chunker gives the workspace's chunks (same sentences, same ids).
          const workspace = yield* Chunker.chunk(Document.make(longParagraph))
          assert.isAbove(workspace.length, 100)
          assert.deepStrictEqual(result.paragraphChunkIds, workspace.map((chunk) => chunk.id))

          // (b) The command, as npx finds it.
          const help = run("npx", ["batch-extract", "--help"], { cwd: project, env })
          for (const command of ["extract", "resume", "status", "stop"]) assert.include(help, command)
          assert.include(run("npx", ["batch-extract", "--version"], { cwd: project, env }), cliVersion)
          const extracted = run("npx", ["batch-extract", "extract", docs, "--out", join(project, "cli-out")], {
            cwd: project,
            env
          })
          assert.strictEqual(extracted, "", "nothing but --json output belongs on stdout")
          const summary = JSON.parse(readFileSync(join(project, "cli-out", "summary.json"), "utf8"))
          assert.strictEqual(summary.documents, 4)
          assert.strictEqual(summary.records.failed, 0)
          assert.strictEqual(summary.records.succeeded, summary.chunks * 2)
          // The run is recorded in the embedded run state under --out; status reads it.
          assert.strictEqual(summary.exitCode, 0)
          assert.isTrue(existsSync(join(project, "cli-out", ".batch-extract", "state", "state.db")))
          const status = JSON.parse(
            run("npx", ["batch-extract", "status", summary.runId, "--out", join(project, "cli-out"), "--json"], {
              cwd: project,
              env
            })
          ) as { runId: string; phase: string; exitCode: number; chunks: { extracted: number; total: number } }
          assert.deepStrictEqual(
            [status.runId, status.phase, status.exitCode, status.chunks.extracted],
            [summary.runId, "finished", 0, summary.chunks]
          )

          // (c) The shipped declarations type-check in a consumer project, skipLibCheck off.
          writeFileSync(join(project, "consumer.ts"), consumerTypes)
          writeFileSync(
            join(project, "tsconfig.json"),
            JSON.stringify({
              compilerOptions: {
                target: "ES2022",
                module: "NodeNext",
                moduleResolution: "NodeNext",
                strict: true,
                exactOptionalPropertyTypes: true,
                skipLibCheck: false,
                noEmit: true,
                types: ["node"]
              },
              files: ["consumer.ts"]
            })
          )
          run(join(project, "node_modules/.bin/tsc"), ["-p", "tsconfig.json"], { cwd: project, env })

          // (d) The live entry point without fauxqs: it loads, and loads neither the emulation nor the test kit.
          rmSync(join(project, "node_modules/fauxqs"), { recursive: true, force: true })
          writeFileSync(join(project, "live.mjs"), liveImportProbe)
          const live = JSON.parse(run(nodeBinary, ["live.mjs"], { cwd: project, env })) as {
            exports: Array<string>
            loaded: Array<string>
          }
          assert.includeMembers(live.exports, ["AwsBackend", "BedrockBatchInference", "S3ObjectStore"])
          assert.notInclude(live.exports, "LocalBackend")
          const emulation = live.loaded.filter((url) =>
            /fauxqs|\/testing\/|\/dist\/local\.js|BedrockEmulator|LocalS3/.test(url)
          )
          assert.deepStrictEqual(emulation, [])
          assert.isTrue(live.loaded.some((url) => url.includes("@batch-extract/core/dist/index.js")))
        } finally {
          rmSync(work, { recursive: true, force: true })
        }
      }),
    { timeout: 600_000 }
  )
})
