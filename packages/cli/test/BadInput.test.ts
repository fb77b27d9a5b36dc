/**
 * Bad input to `batch-extract extract` (a child process, `--backend aws`, against the local
 * emulation): every invalid setting is reported at once, with exit 2, and nothing is sent or
 * written; so is a run state that cannot be used (an unknown run, a store another live process
 * works on, a database that is not a run state or of another schema version); unreadable,
 * empty, binary, non-UTF-8 and otherwise unusable files are skipped with their reason while
 * the rest is extracted; one huge document is extracted whole; duplicate documents are
 * extracted once; a record over the size limit is reported failed with its reason. No file is
 * ever half-written.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync
} from "node:fs"
import { hostname } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import * as Cli from "./support/cli.ts"
import { statusOf } from "./support/status.ts"
import * as World from "./support/world.ts"

interface Summary {
  readonly chunks: number
  readonly extractedChunks: number
  readonly skippedDocuments: ReadonlyArray<{ readonly path: string; readonly reason: string }>
  readonly failures: ReadonlyArray<{ readonly recordId: string; readonly stage: string; readonly reason: string }>
  readonly extraction: { readonly duplicateChunks: number }
}

const summaryOf = (out: string) => JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as Summary

/**
 * Every file under a directory (none when it does not exist), with the SHA-256 of its content;
 * but SQLite's shared-memory index (`-shm`) and an empty write-ahead log (`-wal`), which a
 * read-only connection to the run state leaves behind and which hold no data.
 */
const contentsOf = (dir: string): Record<string, string> =>
  Object.fromEntries(
    World.filesUnder(dir).sort().flatMap((file) => {
      const content = readFileSync(join(dir, file))
      if (file.endsWith("-shm") || (file.endsWith("-wal") && content.length === 0)) return []
      return [[file, createHash("sha256").update(content).digest("hex")]]
    })
  )

/** The problems an exit-2 run listed: `path: message` per line. */
const problemsOf = (exit: Cli.Exit) =>
  exit.stderr.split("\n").filter((line) => line.startsWith("  - ")).map((line) => line.slice(4))

/** Settings, one invalid value each; several runs, as a setting takes one value per run. */
const invalidRuns: ReadonlyArray<{
  readonly flags: ReadonlyArray<string>
  readonly expected: ReadonlyArray<string>
  readonly files?: Readonly<Record<string, string>>
  readonly env?: Readonly<Record<string, string>>
  /** No `--out`: the command's default (`./extracted`, in its working directory). */
  readonly defaultOut?: boolean
}> = [
  {
    flags: [
      "--run-id",
      "bad id!",
      "--bucket-name",
      "Bad_Bucket",
      "--region",
      "mars-1",
      "--role-arn",
      "not-an-arn",
      "--key-prefix",
      "../escape",
      "--max-batch-size",
      "50",
      "--max-num-concurrent-batches",
      "0",
      "--workers",
      "0",
      "--max-concurrent-jobs",
      "0",
      "--s3-encryption-key-id",
      "nope",
      "--subnet-ids",
      "subnet-12345678",
      "--min-records-per-job",
      "0",
      "--max-records-per-job",
      "0",
      "--max-input-file-bytes",
      "10",
      "--max-job-bytes",
      "10",
      "--timeout-duration-in-hours",
      "12",
      "--s3-bucket-owner",
      "123",
      "--tags",
      "novalue",
      "--model-family",
      "gpt",
      "--max-tokens",
      "0",
      "--temperature",
      "2",
      "--top-p",
      "-1",
      "--invocation-type",
      "Stream",
      "--max-record-attempts",
      "0",
      "--on-demand-concurrency",
      "0",
      "--poll-initial-seconds",
      "0",
      "--poll-max-seconds",
      "99999",
      "--chunking",
      "paragraphs",
      "--chunk-size",
      "8",
      "--extraction-batch-size",
      "0"
    ],
    expected: [
      "run-id",
      "bucketName",
      "region",
      "roleArn",
      "keyPrefix",
      "maxBatchSize",
      "maxNumConcurrentBatches",
      "extractionNumWorkers",
      "maxConcurrentJobs",
      "s3EncryptionKeyId",
      "securityGroupIds",
      "minRecordsPerJob",
      "maxRecordsPerJob",
      "maxInputFileBytes",
      "maxJobBytes",
      "timeoutDurationInHours",
      "s3BucketOwner",
      "tags",
      "model.family",
      "model.maxTokens",
      "model.temperature",
      "model.topP",
      "model.invocationType",
      "maxRecordAttempts",
      "onDemandConcurrency",
      "pollInitialSeconds",
      "pollMaxSeconds",
      "extraction.chunking",
      "extraction.chunkSize",
      "extraction.extractionBatchSize",
      "paths"
    ]
  },
  {
    flags: [
      "--key-prefix",
      "/absolute/prefix",
      "--max-batch-size",
      "lots",
      "--model",
      " ",
      "--chunk-size",
      "64",
      "--chunk-overlap",
      "64",
      "--tags",
      "aws:reserved=x",
      "--security-group-ids",
      "sg-nothex",
      "--subnet-ids",
      "subnet-0123456789abcdef0",
      "--config",
      "settings.json",
      "--faults",
      "faults.json"
    ],
    expected: [
      "keyPrefix",
      "maxBatchSize",
      "model.modelId",
      "extraction.chunkOverlap",
      "securityGroupIds[0]",
      "tags.aws:reserved",
      "deleteOnSuccess",
      "config.bucket",
      "faults"
    ],
    env: { BATCH_EXTRACT_DELETE_ON_SUCCESS: "perhaps" },
    files: { "settings.json": JSON.stringify({ bucket: "typo-of-bucketName" }), "faults.json": "{}" }
  },
  {
    flags: ["--key-prefix", "runs/\u0007bell", "--config", "settings.json", "--chunk-overlap", "-1"],
    expected: ["keyPrefix", "config", "extraction.chunkOverlap"],
    files: { "settings.json": "{ not json" }
  },
  {
    flags: ["--key-prefix", "runs//double", "--tags", "=novalue"],
    expected: ["keyPrefix", "tags"],
    // The default output, `./extracted`: under the child's working directory.
    defaultOut: true
  }
]

describe("durable runs: bad input", () => {
  it.live(
    "every invalid setting is reported at once (exit 2); nothing is sent, nothing is written: not under --out, not in the working directory",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("invalid")
        const world = yield* World.make()
        const corpus = World.writeCorpus(join(dir, "corpus"), 2)
        let tried = 0
        yield* Effect.forEach(invalidRuns, (run, index) =>
          Effect.gen(function*() {
            // The run's config and faults files, and nothing else.
            const files = join(dir, `run-${index}`)
            mkdirSync(files, { recursive: true })
            for (const [name, text] of Object.entries(run.files ?? {})) writeFileSync(join(files, name), text)
            // The child's working directory: empty, and nothing may appear in it.
            const cwd = join(dir, `cwd-${index}`)
            mkdirSync(cwd)
            const settings: Record<string, string> = {}
            for (let i = 0; i < run.flags.length; i += 2) {
              const value = run.flags[i + 1]!
              settings[run.flags[i]!.slice(2)] = run.files?.[value] !== undefined ? join(files, value) : value
            }
            const out = run.defaultOut === true ? join(cwd, "extracted") : join(cwd, "out")
            const outFlag = run.defaultOut === true ? [] : ["--out", out]
            const paths = index === 0 ? [corpus, join(dir, "no-such-input")] : [corpus]
            const exit = yield* Cli.run(
              ["extract", ...paths, ...outFlag, "--backend", "aws", ...World.flags(settings)],
              { env: world.env(run.env), cwd }
            )
            assert.strictEqual(exit.code, 2, Cli.describe(exit))
            assert.include(exit.stderr, "nothing was sent or written", Cli.describe(exit))
            const problems = problemsOf(exit)
            for (const path of run.expected) {
              assert.isTrue(
                problems.some((problem) => problem.startsWith(`${path}:`) || problem.startsWith(`${path}.`)),
                `${path} is reported; got:\n${problems.join("\n")}`
              )
            }
            tried += run.expected.length
            assert.isFalse(existsSync(out), "nothing written under --out")
            assert.deepStrictEqual(readdirSync(cwd), [], "nothing written in the working directory")
            assert.deepStrictEqual(
              readdirSync(files).sort(),
              Object.keys(run.files ?? {}).sort(),
              "nothing written beside the config files"
            )
          }), { concurrency: 2, discard: true })
        assert.deepStrictEqual(
          readdirSync(dir).sort(),
          ["corpus", ...invalidRuns.flatMap((_, index) => [`cwd-${index}`, `run-${index}`])].sort(),
          "nothing written beside them"
        )
        assert.deepStrictEqual(readdirSync(corpus).sort(), ["doc-000.txt", "doc-001.txt"], "nor among the inputs")
        // Nothing reached S3 or Bedrock.
        assert.strictEqual(world.s3.seen().length, 0)
        assert.strictEqual(world.bedrock.seen().length, 0)
        const counters = yield* world.local.bedrock.counters
        assert.deepStrictEqual(counters.callsByOperation, {})
        console.log(JSON.stringify({ invalidSettingsTried: tried }))
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "a run state that cannot be used is refused (exit 2): an unknown run, a store in use, a foreign database, another schema version",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("state")
        const world = yield* World.make({ emulator: { timings: {} } })
        const corpus = World.writeCorpus(join(dir, "corpus"), 4)
        const out = join(dir, "out")
        const done = yield* Cli.run(
          ["extract", corpus, "--out", out, "--run-id", "done", "--backend", "aws", ...World.flags()],
          { env: world.env() }
        )
        assert.strictEqual(done.code, 0, Cli.describe(done))
        const written = World.readChunks(out)
        const summary = readFileSync(join(out, "summary.json"), "utf8")
        const sent = { s3: world.s3.seen().length, bedrock: world.bedrock.seen().length }
        const calls = (yield* world.local.bedrock.counters).callsByOperation

        /**
         * Refused with exit 2: the state's problem, naming `expected`; run in an empty working
         * directory, it leaves nothing there, and every file under its `--out` as it was.
         */
        const refused = (args: ReadonlyArray<string>, expected: RegExp) =>
          Effect.gen(function*() {
            const cwd = mkdtempSync(join(dir, "cwd-"))
            const target = args[args.indexOf("--out") + 1]!
            const before = contentsOf(target)
            const exit = yield* Cli.run(args, { env: world.env(), cwd })
            assert.strictEqual(exit.code, 2, Cli.describe(exit))
            assert.include(exit.stderr, "nothing was sent or written", Cli.describe(exit))
            const problem = problemsOf(exit).find((line) => line.startsWith("state: "))
            assert.isDefined(problem, Cli.describe(exit))
            assert.match(problem!, expected)
            assert.deepStrictEqual(readdirSync(cwd), [], `${args.join(" ")}: nothing in the working directory`)
            assert.deepStrictEqual(contentsOf(target), before, `${args.join(" ")}: --out as it was`)
            tried++
          })
        let tried = 0
        const extract = (target: string, runId: string) => [
          "extract",
          corpus,
          "--out",
          target,
          "--run-id",
          runId,
          "--backend",
          "aws",
          ...World.flags()
        ]

        // An unknown run, in a store and where there is none (nothing is created there).
        for (const command of ["resume", "status", "stop"]) yield* refused([command, "nope", "--out", out], /\bnope\b/)
        const nowhere = join(dir, "nowhere")
        yield* refused(["resume", "nope", "--out", nowhere], /\bnope\b/)
        yield* refused(["status", "--out", nowhere], /no run state/)
        assert.isFalse(existsSync(nowhere), "no run state is created by a refused resume")

        // A store another live process works on (here: this test process holds its lock).
        writeFileSync(World.lockFile(out), JSON.stringify({ pid: process.pid, host: hostname() }))
        const inUse = new RegExp(`in use by process ${process.pid}\\b`)
        yield* refused(extract(out, "second"), inUse)
        yield* refused(["resume", "done", "--out", out], inUse)
        assert.deepStrictEqual(JSON.parse(readFileSync(World.lockFile(out), "utf8")).pid, process.pid)
        // Reading works meanwhile: status is one JSON object whose counts add up.
        const status = statusOf(yield* Cli.run(["status", "done", "--out", out, "--json"], { env: world.env() }))
        assert.strictEqual(status.phase, "finished")
        assert.strictEqual(status.exitCode, 0)
        assert.strictEqual(status.chunks.extracted, written.size)
        assert.strictEqual(status.records.succeeded, 2 * written.size)
        // A lock left by a process that is gone is taken over (and released).
        const gone = spawnSync(process.execPath, ["-e", ""]).pid
        writeFileSync(World.lockFile(out), JSON.stringify({ pid: gone, host: hostname() }))
        const resumed = yield* Cli.run(["resume", "done", "--out", out, "--json"], { env: world.env() })
        assert.strictEqual(resumed.code, 0, Cli.describe(resumed))
        assert.isFalse(existsSync(World.lockFile(out)), "the lock is released")
        assert.deepStrictEqual(World.runIds(out), ["done"], "no other run")
        assert.deepStrictEqual(World.readChunks(out), written)
        assert.strictEqual(readFileSync(join(out, "summary.json"), "utf8"), summary)

        // A database that is not a run state, and a run state of another schema version: left as they are.
        const foreignOut = join(dir, "foreign")
        const versionOut = join(dir, "version")
        for (
          const [target, setup] of [
            [foreignOut, "CREATE TABLE foo (bar TEXT); INSERT INTO foo VALUES ('mine')"],
            [
              versionOut,
              "CREATE TABLE be_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); " +
              "INSERT INTO be_meta VALUES ('schema', 'batch-extract-run-state'), ('version', '999')"
            ]
          ] as const
        ) {
          mkdirSync(World.stateDirectory(target), { recursive: true })
          const db = new DatabaseSync(World.stateFile(target))
          db.exec(setup)
          db.close()
        }
        for (
          const [target, expected, tables] of [
            [foreignOut, /not a batch-extract run state/, ["foo"]],
            [versionOut, /version 999/, ["be_meta"]]
          ] as const
        ) {
          yield* refused(extract(target, "x"), expected)
          yield* refused(["resume", "x", "--out", target], expected)
          yield* refused(["status", "--out", target], expected)
          yield* refused(["status", "x", "--out", target, "--json"], expected)
          assert.deepStrictEqual(World.tables(target), [...tables], "the database is left as it was")
          assert.deepStrictEqual(World.chunkFiles(target), [])
          assert.isFalse(existsSync(join(target, "summary.json")))
        }

        // Nothing reached S3 or Bedrock after the first run (the resume of a finished run sends nothing).
        assert.strictEqual(world.s3.seen().length, sent.s3)
        assert.strictEqual(world.bedrock.seen().length, sent.bedrock)
        assert.deepStrictEqual((yield* world.local.bedrock.counters).callsByOperation, calls)
        console.log(JSON.stringify({ stateProblemsTried: tried }))
      }).pipe(Effect.scoped),
    180_000
  )

  it.live(
    "while a run is live, a second extract or resume on its store is refused (exit 2), status reads it; a killed run's lock is taken over",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("live")
        const world = yield* World.make({ emulator: { timings: { ...World.slowTimings, inProgressMs: 40_000 } } })
        const corpus = World.writeCorpus(join(dir, "corpus"), 40)
        const out = join(dir, "out")
        const args = (
          runId: string
        ) => [
          "extract",
          corpus,
          "--out",
          out,
          "--run-id",
          runId,
          "--backend",
          "aws",
          "--no-propositions",
          ...World.flags()
        ]
        let stop = false
        const live = yield* Effect.forkChild(Cli.run(args("live"), { env: world.env(), killWhen: () => stop }))
        // Wait (bounded) until its jobs run.
        for (let waited = 0; !World.jobs(out, "live").some((job) => job.status === "InProgress"); waited += 100) {
          assert.isBelow(waited, 60_000, "the live run's jobs are seen in progress")
          yield* Effect.sleep("100 millis")
        }
        const holder = JSON.parse(readFileSync(World.lockFile(out), "utf8")) as { pid: number }
        assert.notStrictEqual(holder.pid, process.pid)
        const jobsCreated = (yield* world.local.bedrock.counters).jobsCreated

        for (const command of [args("second"), ["resume", "live", "--out", out]]) {
          const exit = yield* Cli.run(command, { env: world.env() })
          assert.strictEqual(exit.code, 2, Cli.describe(exit))
          assert.include(exit.stderr, "nothing was sent or written")
          assert.match(exit.stderr, new RegExp(`state: .*in use by process ${holder.pid}\\b`))
        }
        assert.deepStrictEqual(World.runIds(out), ["live"], "no second run")
        assert.strictEqual((yield* world.local.bedrock.counters).jobsCreated, jobsCreated)
        assert.isFalse(world.s3.seen().some((r) => r.url.includes("/batch-extract/second/")))

        // status reads the live run: one JSON object whose counts add up.
        const status = statusOf(yield* Cli.run(["status", "live", "--out", out, "--json"], { env: world.env() }))
        assert.strictEqual(status.phase, "running")
        assert.isNull(status.exitCode)
        assert.strictEqual(status.chunks.total, 200)
        assert.isAbove(status.chunks.in_job, 0)
        assert.isAbove(status.jobs.open, 0)
        assert.isTrue(status.jobs.live.some((job) => job.status === "InProgress"), JSON.stringify(status.jobs))
        const list = yield* Cli.run(["status", "--out", out, "--json"], { env: world.env() })
        assert.strictEqual(list.code, 0, Cli.describe(list))
        assert.deepStrictEqual(
          (JSON.parse(list.stdout) as { runs: ReadonlyArray<{ runId: string; phase: string }> }).runs.map((r) => [
            r.runId,
            r.phase
          ]),
          [["live", "running"]]
        )

        // Killed, its lock stays behind; a resume takes it over and finishes the run.
        stop = true
        const killed = yield* Fiber.join(live)
        assert.strictEqual(killed.signal, "SIGKILL", Cli.describe(killed))
        assert.isTrue(existsSync(World.lockFile(out)))
        const resumed = yield* Cli.run(["resume", "live", "--out", out], { env: world.env() })
        assert.strictEqual(resumed.code, 0, Cli.describe(resumed))
        assert.isFalse(existsSync(World.lockFile(out)))
        assert.strictEqual(World.runRow(out, "live")?.phase, "finished")
        assert.strictEqual(World.readChunks(out).size, 200)
        const finished = statusOf(yield* Cli.run(["status", "live", "--out", out, "--json"], { env: world.env() }))
        assert.strictEqual(finished.phase, "finished")
        assert.strictEqual(finished.chunks.extracted, 200)
        assert.strictEqual(finished.jobs.open, 0)
      }).pipe(Effect.scoped),
    180_000
  )

  it.live(
    "unusable files are skipped with their reason, duplicates extracted once, the rest extracted",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("files")
        const world = yield* World.make({ emulator: { timings: {} } })
        const corpus = World.writeCorpus(join(dir, "corpus"), 20)
        const bad: Record<string, RegExp> = {
          "empty.txt": /empty/,
          "blank.md": /only whitespace/,
          "binary.txt": /NUL bytes/,
          "latin1.txt": /not valid UTF-8/,
          "broken.json": /JSON/,
          "notext.json": /text/,
          "slides.pdf": /extension|supported/,
          "dangling.txt": /read|open|exist|ENOENT/i
        }
        writeFileSync(join(corpus, "empty.txt"), "")
        writeFileSync(join(corpus, "blank.md"), " \n\t\n")
        writeFileSync(join(corpus, "binary.txt"), Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x00, 0x00, 0x41, 0x42]))
        writeFileSync(join(corpus, "latin1.txt"), Buffer.from("Caf\xe9 cr\xe8me, na\xefve r\xe9sum\xe9.", "latin1"))
        writeFileSync(join(corpus, "broken.json"), "{\"text\": \"cut off")
        writeFileSync(join(corpus, "notext.json"), JSON.stringify({ title: "no text field here" }))
        writeFileSync(join(corpus, "slides.pdf"), "%PDF-1.7")
        symlinkSync(join(dir, "gone.txt"), join(corpus, "dangling.txt"))
        const unreadable = process.getuid?.() !== 0
        if (unreadable) {
          writeFileSync(join(corpus, "locked.txt"), "You may not read this.")
          chmodSync(join(corpus, "locked.txt"), 0o000)
          bad["locked.txt"] = /read|permission|EACCES/i
        }
        // Duplicate documents: a copy of a file, and a JSON Lines file holding one text twice
        // (without the file path in the metadata, a copy is the same source with the same chunks).
        const original = readFileSync(join(corpus, "doc-000.txt"), "utf8")
        writeFileSync(join(corpus, "copy-of-doc-000.txt"), original)
        const line = JSON.stringify({ text: "A repeated note: Erin Green opened a bakery in Lima." })
        writeFileSync(join(corpus, "repeated.jsonl"), `${line}\n${line}\n`)

        const out = join(dir, "out")
        const exit = yield* Cli.run(
          [
            "extract",
            corpus,
            "--out",
            out,
            "--run-id",
            "files",
            "--backend",
            "aws",
            "--path-metadata-key",
            "",
            ...World.flags()
          ],
          { env: world.env() }
        )
        assert.strictEqual(exit.code, 1, Cli.describe(exit))
        const summary = summaryOf(out)
        for (const [file, reason] of Object.entries(bad)) {
          const skip = summary.skippedDocuments.find((s) => s.path.endsWith(file))
          assert.isDefined(skip, `${file} is reported`)
          assert.match(skip!.reason, reason, `${file}: ${skip!.reason}`)
          assert.include(exit.stderr, `skipped ${skip!.path}`)
        }
        assert.strictEqual(summary.skippedDocuments.length, Object.keys(bad).length)
        assert.deepStrictEqual(summary.failures, [])
        // The good documents are extracted; the copy adds no chunk and no record.
        const chunks = World.readChunks(out)
        assert.strictEqual(chunks.size, summary.chunks - summary.extraction.duplicateChunks)
        assert.isAbove(summary.extraction.duplicateChunks, 0)
        const outcomes = World.outcomes(out, "files")
        const jobs = World.jobs(out, "files")
        for (const stage of ["propositions", "topics"]) {
          const records = [...outcomes.get(stage)?.values() ?? []]
          assert.strictEqual(records.length, chunks.size, `${stage}: one outcome per unique chunk`)
          // No record sent twice: each asked once, in a job or on demand.
          assert.isTrue(records.every((o) => o.tag === "Succeeded" && o.attempts === 1), `${stage}: one attempt each`)
          const inJobs = jobs.filter((job) => job.stage === stage).reduce((n, job) => n + job.records, 0)
          assert.strictEqual(inJobs + records.filter((o) => o.via === "onDemand").length, chunks.size, stage)
        }
        // The manifest: the documents read and skipped, each unique chunk extracted.
        const states = World.countBy(World.chunkStates(out, "files").values(), (chunk) => chunk.state)
        assert.deepStrictEqual(states, { extracted: chunks.size })
        if (unreadable) chmodSync(join(corpus, "locked.txt"), 0o600)
        console.log(JSON.stringify({ badFilesTried: Object.keys(bad).length + 2 }))
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "one huge document is extracted whole; a record over the size limit is reported failed with its reason",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("huge")
        const world = yield* World.make({ emulator: { timings: {} } })
        // About 1.5 MB of text in one file.
        const huge = join(dir, "huge")
        mkdirSync(huge)
        const sentences: Array<string> = []
        for (let i = 0, length = 0; length < 1_500_000; i++) {
          const sentence = `Sentence ${i} says that ${["Alice", "Bob", "Carol", "Dave"][i % 4]} visited city ${i % 97}.`
          sentences.push(sentence)
          length += sentence.length + 1
        }
        const text = sentences.join(" ")
        writeFileSync(join(huge, "huge.txt"), text)
        const out = join(dir, "out")
        const exit = yield* Cli.run(
          [
            "extract",
            huge,
            "--out",
            out,
            "--run-id",
            "huge",
            "--backend",
            "aws",
            ...World.flags({ "chunk-size": "1024", "max-batch-size": "1000" })
          ],
          { env: world.env() }
        )
        assert.strictEqual(exit.code, 0, Cli.describe(exit))
        const chunks = [...World.readChunks(out).values()] as Array<
          { readonly text: string; readonly start_char_idx: number; readonly end_char_idx: number }
        >
        assert.isAbove(chunks.length, 200)
        // The chunks cover the document from its first character to its last, without a gap.
        chunks.sort((a, b) => a.start_char_idx - b.start_char_idx)
        assert.strictEqual(chunks[0]!.start_char_idx, 0)
        for (let i = 1; i < chunks.length; i++) {
          assert.isAtMost(chunks[i]!.start_char_idx, chunks[i - 1]!.end_char_idx + 1, `no gap before chunk ${i}`)
        }
        assert.isAtLeast(chunks[chunks.length - 1]!.end_char_idx, text.length - 1)
        assert.deepStrictEqual(summaryOf(out).failures, [])

        // One chunk per document; one of them larger than an input file may be.
        const sized = join(dir, "sized")
        mkdirSync(sized)
        for (let i = 0; i < 4; i++) writeFileSync(join(sized, `small-${i}.txt`), `Small document ${i} about Paris.`)
        writeFileSync(join(sized, "big.txt"), text.slice(0, 40_000))
        const sizedOut = join(dir, "sized-out")
        const limited = yield* Cli.run(
          [
            "extract",
            sized,
            "--out",
            sizedOut,
            "--run-id",
            "sized",
            "--backend",
            "aws",
            ...World.flags({ chunking: "none", "max-input-file-bytes": "20000" })
          ],
          { env: world.env() }
        )
        assert.strictEqual(limited.code, 1, Cli.describe(limited))
        const failures = summaryOf(sizedOut).failures
        assert.deepStrictEqual(failures.map((f) => f.stage).sort(), ["propositions", "topics"])
        for (const failure of failures) assert.match(failure.reason, /record of \d+ bytes exceeds the input-file limit/)
        assert.strictEqual(World.readChunks(sizedOut).size, 5, "every chunk is written, the failed one too")
      }).pipe(Effect.scoped),
    180_000
  )
})
