/**
 * The typed events of a run of the engine — jobs planned, submitted, changing status and
 * finishing; records succeeding, failing and being retried; on-demand calls — and the service
 * that receives them. They are about jobs, records, tokens and failures only: a workload built
 * on the engine adds its own events beside these (the extraction's are in `ExtractionEvents`).
 *
 * When to use: provide your own {@link RunEvents} handler to drive progress displays, logs
 * or metrics; `RunSummary.collect` folds the same events into the final summary. The
 * default handler ignores events.
 *
 * Gotchas: a workload's own events go to a handler of its own, to which it forwards these;
 * subscribe there to see both in one place (for the extraction: `ExtractionEvents`). This
 * handler still receives the engine's events.
 *
 * @since 0.1.0
 */
import { Context, Effect } from "effect"
import type { JobStatus } from "./BatchInference.ts"
import type { Via } from "./BatchRecord.ts"

/** A job was planned from packed records. */
export interface JobPlanned {
  readonly _tag: "JobPlanned"
  readonly stage: string
  readonly jobName: string
  readonly records: number
  readonly bytes: number
  readonly attempt: number
}

/** A job was created (or found again by its client request token). */
export interface JobSubmitted {
  readonly _tag: "JobSubmitted"
  readonly stage: string
  readonly jobName: string
  readonly jobArn: string
}

/** A create was refused because the account's concurrent-job quota is full; it will wait. */
export interface JobCreateDeferred {
  readonly _tag: "JobCreateDeferred"
  readonly stage: string
  readonly jobName: string
  readonly reason: string
}

/** A job's status changed. */
export interface JobStatusChanged {
  readonly _tag: "JobStatusChanged"
  readonly stage: string
  readonly jobName: string
  readonly jobArn: string
  readonly from: JobStatus | undefined
  readonly to: JobStatus
  /** Epoch milliseconds on the run's clock. */
  readonly at: number
}

/**
 * A running job reported its progress (records processed of its total), with the time left
 * estimated from the progress seen since it was first checked running.
 */
export interface JobProgress {
  readonly _tag: "JobProgress"
  readonly stage: string
  readonly jobName: string
  readonly jobArn: string
  readonly processed: number
  readonly total: number
  /** Milliseconds until the job should end, or `undefined` until two checks have shown progress. */
  readonly remainingMillis: number | undefined
  /** Epoch milliseconds on the run's clock. */
  readonly at: number
}

/** A job ended (or could not be created: `status` is `"NotCreated"`). */
export interface JobFinished {
  readonly _tag: "JobFinished"
  readonly stage: string
  readonly jobName: string
  readonly jobArn: string | undefined
  readonly status: JobStatus | "NotCreated"
  readonly message: string | undefined
  readonly succeeded: number
  readonly errored: number
  readonly missing: number
  readonly inputTokens: number
  readonly outputTokens: number
}

/** Records were answered. */
export interface RecordsSucceeded {
  readonly _tag: "RecordsSucceeded"
  readonly stage: string
  readonly via: Via
  readonly count: number
  readonly inputTokens: number
  readonly outputTokens: number
}

/** Records failed for good. */
export interface RecordsFailed {
  readonly _tag: "RecordsFailed"
  readonly stage: string
  readonly failures: ReadonlyArray<{ readonly recordId: string; readonly reason: string }>
}

/** Records go again, as a new batch job or on demand. */
export interface RecordsRetried {
  readonly _tag: "RecordsRetried"
  readonly stage: string
  readonly count: number
  readonly via: Via
  readonly attempt: number
}

/**
 * Records an earlier attempt at the run already settled (a resumed run): their recorded
 * outcomes are passed on, nothing is sent. Not counted again in a summary.
 */
export interface RecordsRecovered {
  readonly _tag: "RecordsRecovered"
  readonly stage: string
  readonly succeeded: number
  readonly failed: number
}

/** One on-demand model call ended. */
export interface OnDemandCall {
  readonly _tag: "OnDemandCall"
  readonly stage: string
  readonly recordId: string
  readonly ok: boolean
}

/** Any event of a run. */
export type RunEvent =
  | JobPlanned
  | JobSubmitted
  | JobCreateDeferred
  | JobStatusChanged
  | JobProgress
  | JobFinished
  | RecordsSucceeded
  | RecordsFailed
  | RecordsRetried
  | RecordsRecovered
  | OnDemandCall

/** The receiver of run events. Must not fail; keep it quick (it runs inline). */
export interface Handler {
  readonly publish: (event: RunEvent) => Effect.Effect<void>
}

/** The run-event handler in the environment; ignores events unless you provide one. */
export const RunEvents = Context.Reference<Handler>("@batch-extract/core/RunEvents", {
  defaultValue: () => ({ publish: () => Effect.void })
})

/** Publish an event to the current handler. */
export const publish = (event: RunEvent): Effect.Effect<void> => RunEvents.use((handler) => handler.publish(event))

/** Run an effect with an extra handler that sees every event the current one sees. */
export const tapped = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  extra: (event: RunEvent) => Effect.Effect<void>
): Effect.Effect<A, E, R> =>
  RunEvents.use((outer) =>
    Effect.provideService(effect, RunEvents, {
      publish: (event) => Effect.andThen(extra(event), outer.publish(event))
    })
  )
