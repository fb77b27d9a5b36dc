/**
 * Interrupting `batch-extract extract` (Ctrl-C, SIGINT): exit 130 and a resumable run; its
 * jobs keep running unless `--stop-jobs-on-interrupt`; `status` shows the run, `stop` stops
 * its jobs, `resume` finishes it. A second `extract` (a new run) into the same output skips
 * the chunks already extracted there, unless `--force`.
 */
import type { BatchInference } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Schedule } from "effect"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Cli from "./support/cli.ts"
import { statusOf } from "./support/status.ts"
import * as World from "./support/world.ts"

const inProgressRecorded = (out: string, runId: string) => () =>
  World.jobs(out, runId).some((job) => job.status === "InProgress")

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
    readonly runId: string
    readonly exitCode: number
    readonly startedAt: number
    readonly finishedAt: number
    readonly elapsedSeconds: number
    readonly records: { readonly succeeded: number; readonly failed: number }
  }

describe("durable runs: interrupt, status, stop, resume, extract again", () => {
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

        // status: the run's jobs and records, from the run state.
        const report = statusOf(yield* Cli.run(["status", "ctrl-c", "--out", out, "--json"], { env: world.env() }))
        assert.strictEqual(report.runId, "ctrl-c")
        assert.strictEqual(report.phase, "running")
        assert.isNull(report.exitCode)
        assert.strictEqual(report.chunks.total, 200)
        assert.isAbove(report.chunks.in_job, 0, JSON.stringify(report.chunks))
        assert.strictEqual(report.jobs.total, running.length)
        assert.strictEqual(report.jobs.open, running.length)
        assert.deepStrictEqual(
          report.jobs.live.map((job) => job.jobName).sort(),
          running.map((job) => job.jobName).sort()
        )
        for (const job of report.jobs.live) {
          assert.strictEqual(job.jobArn, running.find((r) => r.jobName === job.jobName)?.jobArn)
        }
        assert.strictEqual(report.jobs.live.reduce((n, job) => n + job.records, 0), report.chunks.in_job)
        const human = yield* Cli.run(["status", "ctrl-c", "--out", out], { env: world.env() })
        assert.strictEqual(human.code, 0, Cli.describe(human))
        assert.include(human.stdout, "run ctrl-c (aws) running")
        for (const job of running) assert.include(human.stdout, job.jobName)
        // Without a run id: the list of runs.
        const list = yield* Cli.run(["status", "--out", out, "--json"], { env: world.env() })
        assert.strictEqual(list.code, 0, Cli.describe(list))
        const runs = (JSON.parse(list.stdout) as { runs: ReadonlyArray<{ runId: string; phase: string }> }).runs
        assert.deepStrictEqual(runs.map((r) => [r.runId, r.phase]), [["ctrl-c", "running"]])

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
        const row = World.runRow(out, "ctrl-c")
        assert.strictEqual(row?.phase, "finished")
        assert.strictEqual(row?.exitCode, 0)
        // The resumed run's summary covers the whole run: every chunk's record (one stage here),
        // from the run's start (in the interrupted process) to its end.
        const summary = summaryOf(out)
        assert.strictEqual(summary.runId, "ctrl-c")
        assert.strictEqual(summary.exitCode, 0)
        assert.strictEqual(summary.startedAt, row?.startedAt)
        assert.strictEqual(summary.finishedAt, row?.finishedAt)
        assert.strictEqual(summary.records.succeeded + summary.records.failed, summary.chunks)
        assert.isAtLeast(summary.elapsedSeconds, Math.floor(interrupted.elapsedMs / 1000) - 1)
        const done = statusOf(yield* Cli.run(["status", "ctrl-c", "--out", out, "--json"], { env: world.env() }))
        assert.strictEqual(done.phase, "finished")
        assert.strictEqual(done.exitCode, 0)
        assert.strictEqual(done.chunks.extracted, 200)
        assert.strictEqual(done.jobs.open, 0)
        assert.strictEqual(done.failures.records, 0)
        // A finished run resumed again prints its result and exits with its code; nothing is sent.
        const jobsCreated = (yield* world.local.bedrock.counters).jobsCreated
        const again = yield* Cli.run(["resume", "ctrl-c", "--out", out, "--json"], { env: world.env() })
        assert.strictEqual(again.code, 0, Cli.describe(again))
        assert.strictEqual((Cli.jsonOf(again).pipe(Option.getOrThrow) as { runId: string }).runId, "ctrl-c")
        assert.strictEqual((yield* world.local.bedrock.counters).jobsCreated, jobsCreated)
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
        const withoutArn = World.jobs(out, "no-arn").filter((job) => job.jobArn === undefined)
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
    "a second extract (a new run) into the same output skips the chunks extracted there; --force extracts again",
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

        // The run state knows every chunk as extracted into this output (by the first run).
        const outKey = `${out}#default`
        assert.strictEqual(World.extractedChunks(out).get(outKey)?.size, 200)
        assert.strictEqual(World.countBy(World.chunkStates(out, "first").values(), (c) => c.state).extracted, 200)

        // The same run id again is refused: it names the run and sends nothing.
        const sameId = yield* extract("first")
        assert.strictEqual(sameId.code, 2, Cli.describe(sameId))
        assert.include(sameId.stderr, "run first already exists")
        assert.strictEqual((yield* world.local.bedrock.counters).jobsCreated, jobsBefore)

        // A second run into the same output: a new run that skips every chunk already extracted.
        const again = yield* extract("second")
        assert.strictEqual(again.code, 0, Cli.describe(again))
        assert.strictEqual((yield* world.local.bedrock.counters).jobsCreated, jobsBefore, "nothing sent again")
        assert.strictEqual(summaryOf(out).runId, "second")
        assert.strictEqual(summaryOf(out).extraction.checkpointedChunks, 200)
        assert.strictEqual(summaryOf(out).extractedChunks, 0)
        assert.deepStrictEqual(World.readChunks(out), written)
        assert.deepStrictEqual(World.runIds(out), ["first", "second"])
        assert.strictEqual(World.runRow(out, "second")?.exitCode, 0)
        assert.strictEqual(World.outcomeCount(out, "second"), 0, "no record of the second run")
        assert.deepStrictEqual(World.jobs(out, "second"), [])

        // --force forgets what was extracted: a third run extracts every chunk again.
        const forced = yield* extract("forced", "--force")
        assert.strictEqual(forced.code, 0, Cli.describe(forced))
        assert.isAbove((yield* world.local.bedrock.counters).jobsCreated, jobsBefore)
        assert.strictEqual(summaryOf(out).extractedChunks, 200)
        assert.strictEqual(summaryOf(out).extraction.checkpointedChunks, 0)
        assert.deepStrictEqual(World.readChunks(out), written)
        assert.strictEqual(World.countBy(World.chunkStates(out, "forced").values(), (c) => c.state).extracted, 200)
        assert.deepStrictEqual([...World.extractedChunks(out).get(outKey) ?? []].sort(), [...written.keys()].sort())
      }).pipe(Effect.scoped),
    120_000
  )
})
