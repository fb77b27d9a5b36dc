/**
 * The summary of a run of the engine, folded from its events: records by outcome and by path
 * (batch or on demand), jobs by final status, tokens (in all and by path), and every failure
 * with its reason — and its JSON form (the engine's part of a `summary.json`), with the run's
 * cost when asked for (`toJson`'s `pricing`).
 *
 * When to use: {@link collect} around any run of the engine. A workload built on the engine
 * extends this summary with its own counts (the extraction: `ExtractionSummary`).
 *
 * @since 0.1.0
 */
import { Effect, Ref } from "effect"
import * as Pricing from "./Pricing.ts"
import * as RunEvents from "./RunEvents.ts"

/** One record that failed for good. */
export interface Failure {
  readonly recordId: string
  readonly stage: string
  readonly reason: string
}

/** The summary of a run. */
export interface RunSummary {
  readonly records: {
    readonly succeeded: number
    readonly failed: number
    /** Answered by a batch job (billed at the batch price). */
    readonly batch: number
    /** Answered on demand. */
    readonly onDemand: number
    /** Times records were sent again (batch or on demand). */
    readonly retried: number
  }
  readonly jobs: {
    readonly total: number
    readonly byStatus: Readonly<Record<string, number>>
    /** Creates refused for quota (each waited for capacity). */
    readonly createsDeferred: number
    /** Jobs that did not complete, with the service's message. */
    readonly incomplete: ReadonlyArray<{
      readonly stage: string
      readonly jobName: string
      readonly status: string
      readonly message: string | undefined
    }>
  }
  readonly onDemandCalls: number
  readonly tokens: { readonly input: number; readonly output: number }
  /**
   * The same tokens by how they were billed: of records a batch job answered (batch price),
   * and of records answered on demand (on-demand price).
   */
  readonly tokensByVia: Pricing.TokensByVia
  /** Fraction of answered records billed at batch price (1 when nothing was answered). */
  readonly batchShare: number
  readonly failures: ReadonlyArray<Failure>
}

/** A summary with nothing counted. */
export const empty: RunSummary = {
  records: { succeeded: 0, failed: 0, batch: 0, onDemand: 0, retried: 0 },
  jobs: { total: 0, byStatus: {}, createsDeferred: 0, incomplete: [] },
  onDemandCalls: 0,
  tokens: { input: 0, output: 0 },
  tokensByVia: { batch: Pricing.noTokens, onDemand: Pricing.noTokens },
  batchShare: 1,
  failures: []
}

const share = (batch: number, onDemand: number) => (batch + onDemand === 0 ? 1 : batch / (batch + onDemand))

/**
 * Fold one event into a summary. A summary that extends {@link RunSummary} keeps its other
 * fields.
 */
export const update = <S extends RunSummary>(summary: S, event: RunEvents.RunEvent): S => {
  switch (event._tag) {
    case "JobFinished": {
      const byStatus = { ...summary.jobs.byStatus, [event.status]: (summary.jobs.byStatus[event.status] ?? 0) + 1 }
      const incomplete = event.status === "Completed"
        ? summary.jobs.incomplete
        : [
          ...summary.jobs.incomplete,
          { stage: event.stage, jobName: event.jobName, status: event.status, message: event.message }
        ]
      return { ...summary, jobs: { ...summary.jobs, total: summary.jobs.total + 1, byStatus, incomplete } }
    }
    case "JobCreateDeferred":
      return { ...summary, jobs: { ...summary.jobs, createsDeferred: summary.jobs.createsDeferred + 1 } }
    case "RecordsSucceeded": {
      const batch = summary.records.batch + (event.via === "batch" ? event.count : 0)
      const onDemand = summary.records.onDemand + (event.via === "onDemand" ? event.count : 0)
      return {
        ...summary,
        records: { ...summary.records, succeeded: summary.records.succeeded + event.count, batch, onDemand },
        tokens: {
          input: summary.tokens.input + event.inputTokens,
          output: summary.tokens.output + event.outputTokens
        },
        tokensByVia: {
          ...summary.tokensByVia,
          [event.via]: Pricing.addTokens(summary.tokensByVia[event.via], {
            input: event.inputTokens,
            output: event.outputTokens
          })
        },
        batchShare: share(batch, onDemand)
      }
    }
    case "RecordsFailed":
      return {
        ...summary,
        records: { ...summary.records, failed: summary.records.failed + event.failures.length },
        failures: [...summary.failures, ...event.failures.map((f) => ({ ...f, stage: event.stage }))]
      }
    case "RecordsRetried":
      return { ...summary, records: { ...summary.records, retried: summary.records.retried + event.count } }
    case "OnDemandCall":
      return { ...summary, onDemandCalls: summary.onDemandCalls + 1 }
    default:
      return summary
  }
}

/**
 * Run an effect while folding its events into a summary (the events still reach the
 * handler already in the environment).
 */
export const collect = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<[A, RunSummary], E, R> =>
  Effect.gen(function*() {
    const ref = yield* Ref.make(empty)
    const result = yield* RunEvents.tapped(effect, (event) => Ref.update(ref, (s) => update(s, event)))
    return [result, yield* Ref.get(ref)] as [A, RunSummary]
  })

/**
 * The figures of a whole run, over every process that worked on it (e.g. a resumed run's,
 * from its run state), which {@link toJson} reports instead of this process's.
 */
export interface RunTotals {
  readonly records: {
    readonly succeeded: number
    readonly failed: number
    readonly batch: number
    readonly onDemand: number
  }
  readonly jobs: { readonly total: number; readonly byStatus: Readonly<Record<string, number>> }
  readonly tokens: { readonly input: number; readonly output: number }
  /** The tokens by how they were billed (needed for the cost; see `toJson`'s `pricing`). */
  readonly tokensByVia?: Pricing.TokensByVia | undefined
  readonly failures: ReadonlyArray<Failure>
}

/** A summary's figures as `summary.json` holds them. */
export interface Json {
  readonly records: RunSummary["records"]
  readonly jobs: RunSummary["jobs"]
  readonly tokens: RunSummary["tokens"]
  readonly batchShare: number
  readonly failures: ReadonlyArray<Failure>
  /** Set when the figures are the whole run's ({@link RunTotals}): records, jobs, tokens, failures. */
  readonly resumed?: true
  /**
   * What the tokens cost, in US dollars (with `pricing` only): `batch` and `onDemand` the
   * parts billed each way, `total`, and `saving` against an all-on-demand run; `null` when the
   * model has no price (then `costNote` says so).
   */
  readonly cost?: Pricing.Cost | null
  /** Why there is no cost, or what it leaves out. */
  readonly costNote?: string
}

/**
 * The JSON form of a summary (the engine's fields of `summary.json`): records, jobs, tokens,
 * the batch share and every failure.
 *
 * Details: with `runTotals` (a resumed run), records, finished jobs, tokens, the batch share
 * and failures are the whole run's, and `resumed` is set; retried records and deferred
 * creates stay this process's. With `pricing` (the run's model and the `prices` setting), `cost`
 * (and `costNote`) follow, from the tokens by path ({@link Pricing.report}).
 */
export const toJson = (summary: RunSummary, options?: {
  readonly runTotals?: RunTotals | undefined
  readonly pricing?: { readonly modelId: string; readonly prices?: Pricing.PriceTable | undefined } | undefined
}): Json => {
  const totals = options?.runTotals
  const records = totals?.records ?? summary.records
  const jobs = totals?.jobs ?? summary.jobs
  const json: Json = {
    records: {
      succeeded: records.succeeded,
      failed: records.failed,
      batch: records.batch,
      onDemand: records.onDemand,
      retried: summary.records.retried
    },
    jobs: {
      total: jobs.total,
      byStatus: jobs.byStatus,
      createsDeferred: summary.jobs.createsDeferred,
      incomplete: summary.jobs.incomplete
    },
    tokens: totals?.tokens ?? summary.tokens,
    batchShare: totals === undefined
      ? summary.batchShare
      : totals.records.succeeded === 0
      ? 1
      : totals.records.batch / totals.records.succeeded,
    failures: (totals?.failures ?? summary.failures).map((f) => ({
      recordId: f.recordId,
      stage: f.stage,
      reason: f.reason
    }))
  }
  const withTotals: Json = totals === undefined ? json : { ...json, resumed: true }
  const pricing = options?.pricing
  if (pricing === undefined) return withTotals
  const byVia = totals === undefined ? summary.tokensByVia : totals.tokensByVia
  const priced = byVia === undefined
    ? { cost: null, costNote: "the tokens by path (batch or on demand) are unknown" }
    : Pricing.report(pricing.modelId, byVia, pricing.prices)
  return { ...withTotals, ...priced }
}
