/**
 * Benchmark 5: polling cost. Jobs of about 10 minutes, 1 hour and 6 hours (±10%, so jobs do
 * not end in step with the polls) are awaited by the engine (`BatchJob.run`: a first check
 * right after the create, then exponential backoff ×1.5 from `pollInitialSeconds` to
 * `pollMaxSeconds`, jittered) and by the reference's loop (sleep 60 s, check) on the same
 * simulator, in virtual time: status checks per job, and the delay between a job's end and
 * the check that sees it (when its results are read and its slot is free again).
 */
import { BatchConfig, BatchJob, BatchRecord, RunEvents } from "@batch-extract/core"
import { Effect } from "effect"
import { lightRecord } from "./corpus.ts"
import { referenceJob } from "./reference.ts"
import { configOf, makeSimEnv, respondLight, runVirtual } from "./simulation.ts"

/** Polling figures of one policy at one job length. */
export interface PollingFigures {
  readonly getCallsPerJob: number
  readonly meanDelaySeconds: number
  readonly maxDelaySeconds: number
}

/** Benchmark 5 at one job length. */
export interface PollingRow {
  readonly jobSeconds: number
  readonly jobs: number
  /** batch-extract with its defaults (first check at once, then 15 s × 1.5ⁿ up to 300 s, jittered). */
  readonly engine: PollingFigures
  /** batch-extract with `pollMaxSeconds: 60` (the same backoff, capped at the reference's interval). */
  readonly engineCapped60: PollingFigures
  /** The reference: sleep 60 s, check, until terminal. */
  readonly reference: PollingFigures
}

const jobsPerLength = 40

/** Records of job j: 900..1,095, so with `length / 1000` s a record jobs last 0.9..1.1 × length. */
const recordsOf = (j: number) => 900 + Math.round((j * 195) / (jobsPerLength - 1))

const summarize = (calls: number, delays: ReadonlyArray<number>): PollingFigures => ({
  getCallsPerJob: calls / delays.length,
  meanDelaySeconds: delays.reduce((sum, d) => sum + d, 0) / delays.length,
  maxDelaySeconds: Math.max(...delays)
})

const simFor = (jobSeconds: number) => ({
  respond: respondLight,
  quotas: { maxConcurrentJobs: 1_000 },
  timings: {
    submittedMs: 0,
    validatingMs: 0,
    scheduledMs: 0,
    perRecordMs: jobSeconds,
    inProgressMs: 0,
    stoppingMs: 30_000
  }
})

const engineAt = (jobSeconds: number, pollMaxSeconds: number) =>
  runVirtual(Effect.gen(function*() {
    const config = yield* configOf({ maxConcurrentJobs: 1_000, pollMaxSeconds })
    const family = yield* Effect.fromResult(BatchConfig.modelFamily(config)).pipe(Effect.orDie)
    const env = yield* makeSimEnv({ sim: simFor(jobSeconds), slots: 1_000 })
    const seenAt = new Map<string, number>()
    yield* Effect.forEach(
      Array.from({ length: jobsPerLength }, (_, j) => j),
      (j) => {
        const first = j * 2_000
        const records = Array.from({ length: recordsOf(j) }, (_, k) => BatchRecord.pack(lightRecord(first + k)))
        return BatchJob.run(
          config,
          family,
          { runId: "polling", stage: "p", label: `${j}`, attempt: 1, records },
          undefined,
          () => Effect.succeed([])
        )
      },
      { concurrency: "unbounded", discard: true }
    ).pipe(
      (effect) =>
        RunEvents.tapped(effect, (event) =>
          event._tag === "JobStatusChanged" && event.to === "Completed"
            ? Effect.sync(() => seenAt.set(event.jobName, event.at / 1000))
            : Effect.void),
      Effect.provide(env.layer)
    )
    const jobs = yield* env.sim.jobs
    const delays = jobs.map((job) => seenAt.get(job.jobName)! - job.endTime!.getTime() / 1000)
    const counters = yield* env.sim.counters
    return summarize(counters.callsByOperation.GetModelInvocationJob ?? 0, delays)
  }))

const referenceAt = (jobSeconds: number) =>
  runVirtual(Effect.gen(function*() {
    const env = yield* makeSimEnv({ sim: simFor(jobSeconds), slots: 1_000 })
    const jobs = yield* Effect.forEach(
      Array.from({ length: jobsPerLength }, (_, j) => j),
      (j) => referenceJob(Array.from({ length: recordsOf(j) }, (_, k) => j * 2_000 + k), "p", 60),
      { concurrency: "unbounded" }
    ).pipe(Effect.provide(env.layer))
    return summarize(
      jobs.reduce((sum, job) => sum + job.job.getCalls, 0),
      jobs.map((job) => job.job.readDelay)
    )
  }))

/** Benchmark 5. */
export const run = async (jobLengths: ReadonlyArray<number>): Promise<Array<PollingRow>> => {
  const rows: Array<PollingRow> = []
  for (const jobSeconds of jobLengths) {
    rows.push({
      jobSeconds,
      jobs: jobsPerLength,
      engine: await engineAt(jobSeconds, 300),
      engineCapped60: await engineAt(jobSeconds, 60),
      reference: await referenceAt(jobSeconds)
    })
  }
  return rows
}
