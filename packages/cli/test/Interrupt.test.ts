/**
 * Interrupting `batch-extract extract` (Ctrl-C, SIGINT): exit 130 and a resumable run; its
 * jobs keep running unless `--stop-jobs-on-interrupt`; `status` shows the run, `stop` stops
 * its jobs, `resume` finishes it. Re-running `extract` on the same inputs and output skips
 * the chunks already written, unless `--force`.
 */
import { type BatchInference, RunLedger } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Cli from "./support/cli.ts"
import * as World from "./support/world.ts"

const inProgressRecorded = (out: string, runId: string) => () =>
  World.ledgerEntries(out, runId).some((e) => e._tag === "JobStatus" && e.status === "InProgress")

const jobsOf = (world: World.World, runId: string) =>
  Effect.map(
    world.local.bedrock.jobs,
    (jobs) => jobs.filter((job) => (job.inputS3Uri ?? "").includes(`/batch-extract/${runId}/`))
  )

const activeStatuses: ReadonlyArray<BatchInference.JobStatus> = ["Submitted", "Validating", "Scheduled", "InProgress"]

/** Wait (bounded) until every job of a run is stopped (or finished before the stop). */
const allStopped = (world: World.World, runId: string) =>
  jobsOf(world, runId).pipe(
    Effect.repeat({
      until: (jobs) => jobs.every((job) => !activeStatuses.includes(job.status) && job.status !== "Stopping"),
      schedule: Schedule.spaced("50 millis")
    }),
    Effect.timeout("10 seconds")
  )

const summaryOf = (out: string) =>
  JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as {
    readonly extractedChunks: number
    readonly failures: ReadonlyArray<unknown>
    readonly jobs: { readonly total: number }
    readonly extraction: { readonly checkpointedChunks: number }
    readonly chunks: number
    readonly resumed?: boolean
    readonly records: { readonly succeeded: number; readonly failed: number }
  }

describe("durable runs: interrupt, status, stop, resume, checkpoint", () => {
  it.live(
    "Ctrl-C exits 130 and leaves the run resumable with its jobs running; status and stop work on it",
    () =>
      Effect.gen(function*() {
        const dir = mkdtempSync(join(tmpdir(), "batch-extract-interrupt-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
        const corpus = World.writeCorpus(join(dir, "corpus"), 40)
        const oneStage = ["--no-propositions", ...World.flags()]
        const referenceOut = join(dir, "reference")
        const fast = yield* World.make({ emulator: { timings: {} } })
        const reference = yield* Cli.run(
          ["extract", corpus, "--out", referenceOut, "--run-id", "reference", "--backend", "aws", ...oneStage],
          { env: fast.env() }
        )
        assert.strictEqual(reference.code, 0, Cli.describe(reference))

        // Jobs that run long enough to be seen running, then stopped (one stage: what the stopped
        // jobs did not answer is few enough to finish on demand, so the resume is quick).
        const world = yield* World.make({ emulator: { timings: { ...World.slowTimings, inProgressMs: 20_000 } } })

        const out = join(dir, "out")
        const interrupted = yield* Cli.run(
          ["extract", corpus, "--out", out, "--run-id", "ctrl-c", "--backend", "aws", ...oneStage],
          { env: world.env(), signal: "SIGINT", killWhen: inProgressRecorded(out, "ctrl-c") }
        )
        assert.isTrue(interrupted.killed)
        assert.strictEqual(interrupted.code, 130, Cli.describe(interrupted))
        // By default the jobs keep running (a resume picks them up).
        const running = yield* jobsOf(world, "ctrl-c")
        assert.isAbove(running.length, 0)
        assert.isTrue(running.some((job) => activeStatuses.includes(job.status)), JSON.stringify(running))
        assert.isFalse(running.some((job) => job.status === "Stopping" || job.status === "Stopped"))

        // status: the run's jobs and records, from the ledger.
        const status = yield* Cli.run(["status", "ctrl-c", "--out", out, "--json"], { env: world.env() })
        assert.strictEqual(status.code, 0, Cli.describe(status))
        const report = JSON.parse(status.stdout) as {
          readonly finished: boolean
          readonly jobs: ReadonlyArray<{ readonly jobName: string; readonly jobArn: string | null }>
        }
        assert.isFalse(report.finished)
        assert.deepStrictEqual(
          report.jobs.map((job) => job.jobName).sort(),
          running.map((job) => job.jobName).sort()
        )
        const human = yield* Cli.run(["status", "ctrl-c", "--out", out], { env: world.env() })
        assert.strictEqual(human.code, 0, Cli.describe(human))
        assert.include(human.stdout, "not finished")

        // stop: its remote jobs stop.
        const stop = yield* Cli.run(["stop", "ctrl-c", "--out", out], { env: world.env() })
        assert.strictEqual(stop.code, 0, Cli.describe(stop))
        assert.include(stop.stdout, "stopped ")
        const stopped = yield* allStopped(world, "ctrl-c")
        assert.isTrue(stopped.some((job) => job.status === "Stopped"), JSON.stringify(stopped.map((j) => j.status)))

        // resume: finishes the run; what the stopped jobs did not answer goes again.
        const resumed = yield* Cli.run(["resume", "ctrl-c", "--out", out], { env: world.env() })
        assert.strictEqual(resumed.code, 0, Cli.describe(resumed))
        assert.deepStrictEqual(World.readChunks(out), World.readChunks(referenceOut))
        const state = RunLedger.fold(World.ledgerEntries(out, "ctrl-c"))
        assert.isTrue(state.finished)
        // The resumed run's summary covers the whole run: every chunk's record (one stage here).
        const summary = summaryOf(out)
        assert.isTrue(summary.resumed)
        assert.strictEqual(summary.records.succeeded + summary.records.failed, summary.chunks)
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "stop finds by name a job whose ARN was never recorded (the command was killed during its create)",
    () =>
      Effect.gen(function*() {
        const dir = mkdtempSync(join(tmpdir(), "batch-extract-interrupt-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
        const world = yield* World.make({ emulator: { timings: { ...World.slowTimings, inProgressMs: 20_000 } } })
        const isCreate = (r: { readonly method: string; readonly url: string }) =>
          r.method === "POST" && r.url === "/model-invocation-job"
        world.bedrock.setPlan((r) => (isCreate(r) ? { holdResponseMs: 400 } : {}))
        const corpus = World.writeCorpus(join(dir, "corpus"), 20)
        const out = join(dir, "out")
        const killed = yield* Cli.run(
          ["extract", corpus, "--out", out, "--run-id", "no-arn", "--backend", "aws", ...World.flags()],
          {
            env: world.env(),
            killWhen: () => world.bedrock.inFlight().some((r) => r.phase === "held-response" && isCreate(r))
          }
        )
        assert.strictEqual(killed.signal, "SIGKILL", Cli.describe(killed))
        const state = RunLedger.fold(World.ledgerEntries(out, "no-arn"))
        const withoutArn = [...state.jobs.values()].filter((job) => job.jobArn === undefined)
        assert.isAbove(withoutArn.length, 0)
        const created = yield* jobsOf(world, "no-arn")
        assert.isTrue(withoutArn.every((job) => created.some((c) => c.jobName === job.jobName)))

        world.bedrock.setPlan(() => ({}))
        const stop = yield* Cli.run(["stop", "no-arn", "--out", out], { env: world.env() })
        assert.strictEqual(stop.code, 0, Cli.describe(stop))
        for (const job of withoutArn) assert.include(stop.stdout, `stopped ${job.jobName}`)
        const jobs = yield* allStopped(world, "no-arn")
        assert.isTrue(jobs.every((job) => job.status === "Stopped"), JSON.stringify(jobs.map((j) => j.status)))
        // Stopping again: nothing left to stop, and it says so.
        const again = yield* Cli.run(["stop", "no-arn", "--out", out], { env: world.env() })
        assert.strictEqual(again.code, 0, Cli.describe(again))
        assert.include(again.stdout, "already finished")
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "with --stop-jobs-on-interrupt, Ctrl-C stops the run's jobs; the run still resumes to the same output",
    () =>
      Effect.gen(function*() {
        const dir = mkdtempSync(join(tmpdir(), "batch-extract-interrupt-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
        const world = yield* World.make({ emulator: { timings: { ...World.slowTimings, inProgressMs: 1500 } } })
        const corpus = World.writeCorpus(join(dir, "corpus"), 40)
        const out = join(dir, "out")
        const interrupted = yield* Cli.run(
          [
            "extract",
            corpus,
            "--out",
            out,
            "--run-id",
            "stopping",
            "--backend",
            "aws",
            "--stop-jobs-on-interrupt",
            ...World.flags()
          ],
          { env: world.env(), signal: "SIGINT", killWhen: inProgressRecorded(out, "stopping") }
        )
        assert.strictEqual(interrupted.code, 130, Cli.describe(interrupted))
        const jobs = yield* allStopped(world, "stopping")
        assert.isAbove(jobs.length, 0)
        assert.isTrue(jobs.some((job) => job.status === "Stopped"), JSON.stringify(jobs.map((j) => j.status)))

        const resumed = yield* Cli.run(["resume", "stopping", "--out", out], { env: world.env() })
        assert.strictEqual(resumed.code, 0, Cli.describe(resumed))
        const chunks = World.readChunks(out)
        assert.strictEqual(chunks.size, 200)
        assert.deepStrictEqual(summaryOf(out).failures, [])
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "re-running extract on the same inputs and output skips what is written; --force extracts again",
    () =>
      Effect.gen(function*() {
        const dir = mkdtempSync(join(tmpdir(), "batch-extract-checkpoint-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
        const world = yield* World.make({ emulator: { timings: {} } })
        const corpus = World.writeCorpus(join(dir, "corpus"), 40)
        const out = join(dir, "out")
        const extract = (runId: string, ...extra: Array<string>) =>
          Cli.run(
            ["extract", corpus, "--out", out, "--run-id", runId, "--backend", "aws", ...extra, ...World.flags()],
            { env: world.env() }
          )
        const first = yield* extract("first")
        assert.strictEqual(first.code, 0, Cli.describe(first))
        const written = World.readChunks(out)
        assert.strictEqual(written.size, 200)
        const jobsBefore = (yield* world.local.bedrock.counters).jobsCreated

        const again = yield* extract("second")
        assert.strictEqual(again.code, 0, Cli.describe(again))
        assert.strictEqual((yield* world.local.bedrock.counters).jobsCreated, jobsBefore, "nothing sent again")
        assert.strictEqual(summaryOf(out).extraction.checkpointedChunks, 200)
        assert.strictEqual(summaryOf(out).extractedChunks, 0)
        assert.deepStrictEqual(World.readChunks(out), written)

        const forced = yield* extract("forced", "--force")
        assert.strictEqual(forced.code, 0, Cli.describe(forced))
        assert.isAbove((yield* world.local.bedrock.counters).jobsCreated, jobsBefore)
        assert.strictEqual(summaryOf(out).extractedChunks, 200)
        assert.deepStrictEqual(World.readChunks(out), written)
      }).pipe(Effect.scoped),
    120_000
  )
})
