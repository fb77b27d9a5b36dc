/**
 * Entity-classification inference in a durable run: `batch-extract extract
 * --infer-entity-classifications` (a child process, `--backend aws`) against the local
 * emulation. The run infers once, in its coordinator, before its parts start; records the
 * result in the run state; every part's topic records offer it; a process killed after that
 * and resumed uses the same classifications without asking the model again; `status` and the
 * summary show them. Bad inference settings are refused before anything is sent.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Cli from "./support/cli.ts"
import * as World from "./support/world.ts"

interface Inference {
  readonly classifications: ReadonlyArray<string>
  readonly inferred: ReadonlyArray<string>
  readonly fellBack: boolean
  readonly sampledChunkIds: ReadonlyArray<string>
  readonly calls: number
  readonly warnings: ReadonlyArray<string>
  readonly notes: ReadonlyArray<string>
}

interface Summary {
  readonly chunks: number
  readonly records: { readonly succeeded: number; readonly failed: number; readonly onDemand: number }
  readonly classifications?: Inference
}

const agencies = ["Department of Energy", "Department of Labor", "Environmental Protection Agency"]
const laws = ["Clean Air Act", "Social Security Act", "Patriot Act", "Farm Bill"]
const countries = ["Canada", "Mexico", "Japan", "Germany"]

/** Short policy documents (agencies, laws, countries: classifications the defaults lack). */
const writePolicyCorpus = (dir: string, documents: number): string => {
  mkdirSync(dir, { recursive: true })
  for (let d = 0; d < documents; d++) {
    const sentences = Array.from({ length: 8 }, (_, s) => {
      const n = d * 8 + s
      return `The ${agencies[n % agencies.length]} applied the ${laws[n % laws.length]} with ${
        countries[n % countries.length]
      } in ${1990 + n}.`
    })
    writeFileSync(join(dir, `policy-${String(d).padStart(2, "0")}.txt`), `${sentences.join(" ")}\n`)
  }
  return dir
}

/** The inference a run recorded in its run state (`be_classifications`), if any yet. */
const recorded = (out: string, runId: string): Inference | undefined =>
  World.readState(out, undefined, (db) => {
    const row = db.prepare("SELECT inference FROM be_classifications WHERE run_id = ?").get(runId) as
      | { inference: string }
      | undefined
    return row === undefined ? undefined : JSON.parse(row.inference) as Inference
  })

const invokeCalls = (counters: { readonly callsByOperation: Readonly<Record<string, number>> }) =>
  (counters.callsByOperation.InvokeModel ?? 0) + (counters.callsByOperation.Converse ?? 0)

describe("durable runs: entity-classification inference", () => {
  it.live(
    "inferred once per run and recorded: every part's topic records offer it, and a resumed run uses it without asking again",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("infer")
        // Jobs of any size: no record goes on demand, so every model call on the runtime is the inference's.
        const world = yield* World.make({ emulator: { quotas: { minRecordsPerJob: 1 } } })
        world.s3.setPlan(() => ({ keepBodies: true }))
        const corpus = writePolicyCorpus(join(dir, "corpus"), 6)
        const out = join(dir, "out")
        const runId = "inferred"
        const flags = World.flags({
          "min-records-per-job": "1",
          "infer-num-samples": "3",
          "infer-num-iterations": "2"
        })
        const first = yield* Cli.run(
          [
            "extract",
            corpus,
            "--out",
            out,
            "--run-id",
            runId,
            "--backend",
            "aws",
            // A part per file: the parts' workflows all read the one recorded inference.
            "--part-mb",
            "0.0001",
            "--infer-entity-classifications",
            ...flags
          ],
          // Killed once the classifications are recorded and the parts have planned a job.
          { env: world.env(), killWhen: () => recorded(out, runId) !== undefined && World.jobs(out, runId).length > 0 }
        )
        assert.isTrue(first.killed, Cli.describe(first))
        const inference = recorded(out, runId)!
        assert.isFalse(inference.fellBack, JSON.stringify(inference))
        for (const name of ["Government Body", "Legislation", "Country"]) assert.include(inference.inferred, name)
        // Two rounds of three chunks, then the ranking call: the inference's calls, and all the runtime saw.
        assert.strictEqual(inference.sampledChunkIds.length, 6)
        assert.strictEqual(inference.calls, 3)
        const afterKill = invokeCalls(yield* world.local.bedrock.counters)
        assert.strictEqual(afterKill, inference.calls)

        const resumed = yield* Cli.run(["resume", runId, "--out", out, "--json"], { env: world.env() })
        assert.strictEqual(resumed.code, 0, Cli.describe(resumed))
        assert.isFalse(resumed.stderr.includes("entity classifications inferred from 6 chunks: "), "not inferred again")
        // Not asked again: no further call on the runtime (and no record went on demand).
        assert.strictEqual(invokeCalls(yield* world.local.bedrock.counters), afterKill)
        const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as Summary
        assert.strictEqual(summary.records.onDemand, 0)
        assert.strictEqual(summary.records.failed, 0)
        assert.deepStrictEqual(summary.classifications, inference)
        assert.include(
          resumed.stderr,
          `entity classifications inferred from 6 chunks (3 calls): ${inference.inferred.join(", ")}`
        )
        // The workflow's activity ran once, and its result is kept.
        const activities = World.activities(out).filter((activity) => activity.name === "classifications")
        assert.strictEqual(activities.length, 1)
        assert.isTrue(activities[0]!.completed)

        // Every topic record staged for a job (over both processes, every part) offers them.
        const staged = world.s3.kept()
          .filter((kept) => kept.method === "PUT" && kept.url.includes("/input/") && kept.status < 300)
          .flatMap((kept) => World.payloadOf(kept).toString("utf8").split("\n"))
          .filter((line) => line.includes("<propositions>"))
        const topicRecords = new Set(staged.map((line) => (JSON.parse(line) as { recordId: string }).recordId))
        assert.strictEqual(topicRecords.size, summary.chunks)
        for (const line of staged) {
          for (const name of inference.classifications) assert.include(line, `\\n${name}\\n`)
        }
        // The extracted entities carry them.
        const classifications = new Set<string>()
        for (const chunk of World.readChunks(out).values()) {
          const topics = (chunk as {
            metadata: Record<
              string,
              { topics: ReadonlyArray<{ entities: ReadonlyArray<{ classification: string }> }> }
            >
          })
            .metadata["aws::graph::topics"]!.topics
          for (const topic of topics) for (const entity of topic.entities) classifications.add(entity.classification)
        }
        for (const name of ["Government Body", "Legislation", "Country"]) assert.isTrue(classifications.has(name), name)

        // `status` shows them.
        const status = yield* Cli.run(["status", runId, "--out", out, "--json"], { env: world.env() })
        assert.strictEqual(status.code, 0, Cli.describe(status))
        assert.deepStrictEqual((JSON.parse(status.stdout) as { classifications: Inference }).classifications, inference)
        const text = yield* Cli.run(["status", runId, "--out", out], { env: world.env() })
        assert.include(
          text.stdout,
          `entity classifications inferred from 6 chunks (3 calls): ${inference.inferred.join(", ")}`
        )
      }).pipe(Effect.scoped),
    180_000
  )

  it.live(
    "bad inference settings: a sample size of zero or below, a malformed prompt template — exit 2, nothing sent",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("infer-bad")
        const world = yield* World.make()
        const corpus = writePolicyCorpus(join(dir, "corpus"), 2)
        writeFileSync(join(dir, "broken.json"), "{ \"user\": ")
        writeFileSync(join(dir, "no-chunks.txt"), "Name the entity classifications of this domain.")
        writeFileSync(join(dir, "missing-user.json"), JSON.stringify({ system: "You classify." }))
        const out = join(dir, "out")
        const refused = (extra: ReadonlyArray<string>, expected: RegExp) =>
          Effect.gen(function*() {
            const exit = yield* Cli.run(
              [
                "extract",
                corpus,
                "--out",
                out,
                "--backend",
                "aws",
                "--infer-entity-classifications",
                ...extra,
                ...World.flags()
              ],
              { env: world.env() }
            )
            assert.strictEqual(exit.code, 2, Cli.describe(exit))
            assert.match(exit.stderr, /invalid input .*nothing was sent or written/)
            assert.match(exit.stderr, expected)
          })
        yield* refused(["--infer-num-samples", "0"], /inferNumSamples: must be a whole number of at least 1, got 0/)
        yield* refused(["--infer-num-samples", "-2"], /inferNumSamples: must be a whole number of at least 1, got -2/)
        yield* refused(
          ["--infer-classifications-prompt", join(dir, "broken.json")],
          /inferClassificationsPrompt: .*broken\.json is not valid JSON/
        )
        yield* refused(
          ["--infer-classifications-prompt", join(dir, "no-chunks.txt")],
          /inferClassificationsPrompt: the template has no \{text_chunks\} placeholder/
        )
        yield* refused(
          ["--infer-classifications-prompt", join(dir, "missing-user.json")],
          /inferClassificationsPrompt\.user: is required/
        )
        // Nothing sent, nothing written.
        const counters = yield* world.local.bedrock.counters
        assert.deepStrictEqual(counters.callsByOperation, {})
        assert.strictEqual(world.s3.seen().length, 0)
        assert.strictEqual(world.bedrock.seen().length, 0)
        assert.isFalse(existsSync(out))
      }).pipe(Effect.scoped),
    120_000
  )
})
