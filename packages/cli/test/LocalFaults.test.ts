/**
 * The command's default backend — the embedded local emulation, no `--backend` given — and its
 * `--faults FILE`: the faults fire, and the run's summary reports what only they produce
 * (jobs that ended Failed or PartiallyCompleted, creates refused by the emulated quota and
 * deferred, records retried), while the same run without the file reports none of it. Every
 * record still ends succeeded or failed with its reason.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Cli from "./support/cli.ts"
import * as World from "./support/world.ts"

interface Summary {
  readonly backend: string
  readonly chunks: number
  readonly extractedChunks: number
  readonly records: {
    readonly succeeded: number
    readonly failed: number
    readonly retried: number
    readonly batch: number
  }
  readonly jobs: {
    readonly total: number
    readonly byStatus: Readonly<Record<string, number>>
    readonly createsDeferred: number
  }
  readonly failures: ReadonlyArray<{ readonly recordId: string; readonly stage: string; readonly reason: string }>
}

const summaryOf = (out: string) => JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as Summary

/** Small jobs (two or more per stage), on the local backend's own defaults otherwise. */
const settings = ["--max-batch-size", "100", "--chunk-size", "48", "--chunk-overlap", "0"]

describe("the local backend (the default) and --faults", () => {
  it.live(
    "with --faults, the summary reports failed and partial jobs, deferred creates and retried records; without, none",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("local-faults")
        const corpus = World.writeCorpus(join(dir, "corpus"), 40)
        const faults = join(dir, "faults.json")
        writeFileSync(
          faults,
          JSON.stringify({
            jobStatuses: ["Failed", "PartiallyCompleted"],
            recordErrorRate: 0.1,
            maxConcurrentJobs: 1,
            seed: 7
          })
        )
        // No AWS anywhere in the environment: the local backend needs none.
        const env = Cli.cleanEnv({})
        const extract = (runId: string, extra: ReadonlyArray<string>) =>
          Cli.run(["extract", corpus, "--out", join(dir, runId), "--run-id", runId, ...settings, ...extra], { env })
        const [calm, stormy] = yield* Effect.all([extract("calm", []), extract("stormy", ["--faults", faults])], {
          concurrency: 2
        })

        // Without faults: every job completed, nothing retried or deferred, nothing failed.
        assert.strictEqual(calm.code, 0, Cli.describe(calm))
        const clean = summaryOf(join(dir, "calm"))
        assert.strictEqual(clean.backend, "local")
        assert.isAtLeast(clean.jobs.total, 4, "two or more jobs per stage")
        assert.deepStrictEqual(Object.keys(clean.jobs.byStatus), ["Completed"])
        assert.strictEqual(clean.records.retried, 0)
        assert.strictEqual(clean.jobs.createsDeferred, 0)
        assert.deepStrictEqual(clean.failures, [])

        // With faults: what only they produce.
        const summary = summaryOf(join(dir, "stormy"))
        assert.include([0, 1], stormy.code, Cli.describe(stormy))
        assert.strictEqual(summary.backend, "local")
        assert.strictEqual(summary.chunks, clean.chunks, "the same corpus")
        assert.isAtLeast(summary.jobs.byStatus.Failed ?? 0, 1, JSON.stringify(summary.jobs.byStatus))
        assert.isAtLeast(summary.jobs.byStatus.PartiallyCompleted ?? 0, 1, JSON.stringify(summary.jobs.byStatus))
        assert.isAbove(summary.jobs.createsDeferred, 0, "creates past the emulated quota of one job waited")
        assert.isAbove(summary.records.retried, 0, "records of failed jobs and errored records went again")
        // Nothing unaccounted for: every record of both stages succeeded or is listed failed, with its reason.
        assert.strictEqual(summary.records.succeeded + summary.records.failed, 2 * summary.chunks)
        assert.strictEqual(summary.failures.length, summary.records.failed)
        for (const failure of summary.failures) assert.isAbove(failure.reason.length, 0)
        assert.strictEqual(stormy.code, summary.records.failed === 0 ? 0 : 1)
        assert.strictEqual(World.chunkFiles(join(dir, "stormy")).length, summary.chunks)
        console.log(JSON.stringify({
          localFaults: {
            jobs: summary.jobs.byStatus,
            createsDeferred: summary.jobs.createsDeferred,
            retried: summary.records.retried,
            failed: summary.records.failed
          }
        }))
      }).pipe(Effect.scoped),
    120_000
  )
})
