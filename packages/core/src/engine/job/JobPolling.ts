/**
 * How the engine waits on Bedrock: it polls a created job until it is terminal, estimating
 * when a job that reports its progress should end, and it waits for capacity when a create is
 * refused for quota.
 *
 * Details:
 * - Polling: a first check right after the create, then backoff with jitter from
 *   `pollInitialSeconds` to `pollMaxSeconds`; a job that reports its progress is checked again
 *   soon after it should end rather than up to a whole interval later.
 * - A run waits for one job until a deadline derived from the job timeout; past it the job is
 *   stopped and what it produced is kept.
 * - Every status change is recorded in the run state and published (`JobStatusChanged`), every
 *   progress report is published (`JobProgress`, with the estimated time left).
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Option, Schedule } from "effect"
import type { BatchConfig } from "../BatchConfig.ts"
import { BatchInference, isTerminal, type JobDescription, type JobStatus } from "../BatchInference.ts"
import * as RunEvents from "../RunEvents.ts"
import { RunState } from "../RunState.ts"
import { retryTransient } from "../ServiceError.ts"
import type { JobAddress } from "./JobLayout.ts"

/**
 * The polling schedule: backoff with jitter from the initial delay to the cap.
 *
 * `estimatedEnd` returns the milliseconds until the job should end (see
 * {@link estimateRemaining}), or `undefined` when nothing is known; the next check comes no
 * later than that (but never sooner than the initial delay).
 */
export const pollSchedule = (config: BatchConfig, estimatedEnd?: () => number | undefined) =>
  Schedule.exponential(Duration.seconds(config.pollInitialSeconds), 1.5).pipe(
    Schedule.modifyDelay(({ duration }) =>
      Effect.succeed(Duration.min(duration, Duration.seconds(config.pollMaxSeconds)))
    ),
    Schedule.jittered,
    // A job that reports its progress is checked again soon after it should end, rather than
    // up to a whole (growing) interval later.
    Schedule.modifyDelay(({ duration }) =>
      Effect.sync(() => {
        const eta = estimatedEnd?.()
        if (eta === undefined) return duration
        const soon = Duration.millis(Math.max(config.pollInitialSeconds * 1000, eta))
        return Duration.min(duration, soon)
      })
    )
  )

/**
 * The time left (milliseconds) until a job in progress should end, from the progress seen
 * between two checks; `undefined` when there is nothing to go on.
 */
export const estimateRemaining = (
  first: { readonly at: number; readonly processed: number },
  now: number,
  processed: number,
  total: number
): number | undefined => {
  if (total <= 0 || processed <= first.processed || now <= first.at) return undefined
  const perMilli = (processed - first.processed) / (now - first.at)
  return Math.max(0, (total - processed) / perMilli)
}

/**
 * How long a run waits for one job before stopping it: the job's own timeout plus the same
 * again for queueing (the service's timeout starts when the job starts running).
 */
export const awaitDeadline = (config: BatchConfig): Duration.Duration =>
  Duration.hours(config.timeoutDurationInHours * 2)

/**
 * How a refused create (quota) waits for capacity: from twice the first poll delay, growing
 * to the poll cap (30 s to 5 min with the defaults), jittered, without end — capacity frees
 * up as jobs finish.
 */
export const quotaWaitSchedule = (config: BatchConfig) =>
  Schedule.exponential(Duration.seconds(config.pollInitialSeconds * 2), 1.5).pipe(
    Schedule.modifyDelay(({ duration }) =>
      Effect.succeed(
        Duration.min(duration, Duration.seconds(Math.max(config.pollMaxSeconds, config.pollInitialSeconds * 2)))
      )
    ),
    Schedule.jittered
  )

/**
 * Poll a created job until it is terminal and return its last description; past the
 * {@link awaitDeadline}, stop it and await the stop.
 *
 * Gotchas: interrupting it does not stop the remote job; the caller decides (see
 * `stopJobsOnInterrupt`).
 */
export const awaitTerminal = (
  config: BatchConfig,
  address: Pick<JobAddress, "runId" | "stage">,
  jobName: string,
  jobArn: string
) =>
  Effect.gen(function*() {
    const batch = yield* BatchInference
    let last: JobStatus | undefined
    // Progress seen while the job runs: when it was first seen, and the estimated end.
    let progressFrom: { at: number; processed: number } | undefined
    let remaining: { at: number; millis: number } | undefined
    const trackProgress = (description: JobDescription) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const processed = description.processedRecordCount
        const total = description.totalRecordCount ?? 0
        if (description.status !== "InProgress" || processed === undefined || total <= 0) {
          remaining = undefined
          return Effect.void
        }
        if (progressFrom === undefined) progressFrom = { at: now, processed }
        const millis = estimateRemaining(progressFrom, now, processed, total)
        remaining = millis === undefined ? undefined : { at: now, millis }
        return RunEvents.publish({
          _tag: "JobProgress",
          stage: address.stage,
          jobName,
          jobArn,
          processed,
          total,
          remainingMillis: millis,
          at: now
        })
      })
    const check = retryTransient(batch.getJob(jobArn)).pipe(
      Effect.tap(trackProgress),
      Effect.tap((description) => {
        if (description.status === last) return Effect.void
        const from = last
        last = description.status
        return Effect.flatMap(Clock.currentTimeMillis, (at) =>
          RunState.use((state) =>
            state.jobStatus(address.runId, jobName, description.status)
          )
            .pipe(
              Effect.ignore,
              Effect.andThen(RunEvents.publish({
                _tag: "JobStatusChanged",
                stage: address.stage,
                jobName,
                jobArn,
                from,
                to: description.status,
                at
              }))
            ))
      })
    )
    const polled = yield* Effect.repeat(check, {
      schedule: pollSchedule(config, () => remaining?.millis),
      until: (description) => isTerminal(description.status)
    }).pipe(Effect.timeoutOption(awaitDeadline(config)))
    if (Option.isSome(polled) && isTerminal(polled.value.status)) {
      return polled.value
    }
    // Past the deadline: stop the job and keep whatever it produced.
    yield* Effect.logWarning(`${jobName} did not finish within ${Duration.format(awaitDeadline(config))}; stopping it`)
    yield* retryTransient(batch.stopJob(jobArn)).pipe(Effect.catchTag("Conflict", () => Effect.void))
    return yield* Effect.repeat(check, {
      schedule: Schedule.spaced(Duration.seconds(config.pollInitialSeconds)),
      until: (description) => isTerminal(description.status)
    })
  })
