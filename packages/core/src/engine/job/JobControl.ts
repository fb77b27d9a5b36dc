/**
 * Remote jobs found and stopped by name: a job's name is deterministic (see
 * `JobLayout.identity`), so a job whose ARN was never recorded — the process died or was
 * interrupted while its create was in flight — can still be found again, or stopped.
 *
 * When to use: re-attaching a job of an earlier attempt at a run, stopping a run's jobs from
 * another process (the `stop` command), stopping jobs when a run is interrupted.
 *
 * @since 0.1.0
 */
import { Effect, Option, Stream } from "effect"
import { BatchInference, isTerminal } from "../BatchInference.ts"
import { retryTransient } from "../ServiceError.ts"

/**
 * The ARN of the job with exactly this name, or `undefined` when the service has none.
 *
 * Details: `BatchInference.listJobs` filters by "name contains", so the listed jobs are
 * matched on the whole name; transient errors (throttling, unavailability) are retried.
 *
 * Gotchas: the service lists jobs for a while after they end, not forever; `undefined` does
 * not prove a job was never created long ago.
 */
export const findByName = Effect.fn("BatchJob.findByName")(function*(jobName: string) {
  const found = yield* BatchInference.use((batch) =>
    retryTransient(
      batch.listJobs({ nameContains: jobName }).pipe(
        Stream.filter((job) => job.jobName === jobName),
        Stream.runHead
      )
    )
  )
  return Option.getOrUndefined(Option.map(found, (job) => job.jobArn))
})

/**
 * Stop every job with exactly this name that has not ended, ignoring every error: a best
 * effort for a job interrupted while its create was in flight (its ARN is not known).
 */
export const stopByName = (jobName: string): Effect.Effect<void, never, BatchInference> =>
  BatchInference.use((batch) =>
    batch.listJobs({ nameContains: jobName }).pipe(
      Stream.filter((job) => job.jobName === jobName && !isTerminal(job.status)),
      Stream.runForEach((job) => batch.stopJob(job.jobArn))
    )
  ).pipe(Effect.ignore)

/** Stop a job by its ARN, retrying transient errors a few times and ignoring every error (a best effort). */
export const stopQuietly = (jobArn: string): Effect.Effect<void, never, BatchInference> =>
  BatchInference.use((batch) => retryTransient(batch.stopJob(jobArn), 3)).pipe(Effect.ignore)
