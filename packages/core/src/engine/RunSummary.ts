/**
 * The summary of a run, folded from its events: records by outcome and by path (batch or
 * on demand), jobs by final status, tokens, and every failure with its reason.
 *
 * @since 0.1.0
 */
import { Effect, Ref } from "effect"
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
  /** Fraction of answered records billed at batch price (1 when nothing was answered). */
  readonly batchShare: number
  readonly failures: ReadonlyArray<Failure>
  /** The extraction pipeline's counts (zero when only the engine ran). */
  readonly extraction: Extraction
}

/** What the extraction pipeline read and extracted. */
export interface Extraction {
  readonly documents: number
  readonly skippedDocuments: ReadonlyArray<{ readonly path: string; readonly reason: string }>
  readonly chunks: number
  /** Chunks not extracted again: duplicates within the run, and those already written before. */
  readonly duplicateChunks: number
  readonly checkpointedChunks: number
  readonly extractedChunks: number
  /** Chunks written with some part of their extraction failed. */
  readonly failedChunks: number
  readonly propositions: number
  readonly topics: number
  readonly entities: number
  readonly statements: number
  readonly facts: number
  readonly diagnostics: number
}

/** A summary with nothing counted. */
export const empty: RunSummary = {
  records: { succeeded: 0, failed: 0, batch: 0, onDemand: 0, retried: 0 },
  jobs: { total: 0, byStatus: {}, createsDeferred: 0, incomplete: [] },
  onDemandCalls: 0,
  tokens: { input: 0, output: 0 },
  batchShare: 1,
  failures: [],
  extraction: {
    documents: 0,
    skippedDocuments: [],
    chunks: 0,
    duplicateChunks: 0,
    checkpointedChunks: 0,
    extractedChunks: 0,
    failedChunks: 0,
    propositions: 0,
    topics: 0,
    entities: 0,
    statements: 0,
    facts: 0,
    diagnostics: 0
  }
}

const share = (batch: number, onDemand: number) => (batch + onDemand === 0 ? 1 : batch / (batch + onDemand))

/** Fold one event into a summary. */
export const update = (summary: RunSummary, event: RunEvents.RunEvent): RunSummary => {
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
    case "DocumentRead": {
      const x = summary.extraction
      return {
        ...summary,
        extraction: {
          ...x,
          documents: x.documents + (event.chunks > 0 ? 1 : 0),
          chunks: x.chunks + event.chunks,
          duplicateChunks: x.duplicateChunks + event.duplicateChunks,
          checkpointedChunks: x.checkpointedChunks + event.skippedChunks
        }
      }
    }
    case "DocumentSkipped":
      return {
        ...summary,
        extraction: {
          ...summary.extraction,
          skippedDocuments: [...summary.extraction.skippedDocuments, { path: event.path, reason: event.reason }]
        }
      }
    case "ChunkExtracted": {
      const x = summary.extraction
      return {
        ...summary,
        extraction: {
          ...x,
          extractedChunks: x.extractedChunks + 1,
          failedChunks: x.failedChunks + (event.failures.length > 0 ? 1 : 0),
          propositions: x.propositions + event.propositions,
          topics: x.topics + event.topics,
          entities: x.entities + event.entities,
          statements: x.statements + event.statements,
          facts: x.facts + event.facts,
          diagnostics: x.diagnostics + event.diagnostics
        }
      }
    }
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
