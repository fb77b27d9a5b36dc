/**
 * The summary of an extraction run: the engine's {@link RunSummary.RunSummary} (records, jobs,
 * tokens, failures) plus what the extraction read and extracted (documents, chunks,
 * propositions, topics, entities, statements, facts), folded from the run's events
 * (`ExtractionEvents`) — and its JSON form, the fields of `summary.json`.
 *
 * When to use: {@link collect} around a program that runs `Extraction.extract`; write
 * {@link toJson} where a summary file is wanted (adding your own fields, such as a run id).
 *
 * @since 0.1.0
 */
import { Effect, Ref } from "effect"
import type * as Pricing from "../engine/Pricing.ts"
import * as RunSummary from "../engine/RunSummary.ts"
import type * as ClassificationInference from "./ClassificationInference.ts"
import * as ExtractionEvents from "./ExtractionEvents.ts"

/** What the extraction read and extracted. */
export interface Counts {
  readonly documents: number
  readonly skippedDocuments: ReadonlyArray<{ readonly path: string; readonly reason: string }>
  readonly chunks: number
  /** Chunks not extracted again because they were seen before in this run. */
  readonly duplicateChunks: number
  /** Chunks not extracted again because they were already written (the checkpoint). */
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

/** The summary of an extraction run: the engine's, plus the extraction's counts. */
export interface ExtractionSummary extends RunSummary.RunSummary {
  readonly extraction: Counts
  /** The inferred entity classifications (`inferEntityClassifications`), when the run inferred them. */
  readonly classifications?: ClassificationInference.Inference | undefined
}

/** A summary with nothing counted. */
export const empty: ExtractionSummary = {
  ...RunSummary.empty,
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

/** Fold one event (the engine's or the extraction's) into a summary. */
export const update = (summary: ExtractionSummary, event: ExtractionEvents.Event): ExtractionSummary => {
  const x = summary.extraction
  switch (event._tag) {
    case "DocumentRead":
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
    case "DocumentSkipped":
      return {
        ...summary,
        extraction: { ...x, skippedDocuments: [...x.skippedDocuments, { path: event.path, reason: event.reason }] }
      }
    case "ChunkExtracted":
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
    case "ClassificationsInferred":
      return { ...summary, classifications: event.inference }
    default:
      return RunSummary.update(summary, event)
  }
}

/**
 * Run an effect while folding its extraction events (`Extraction.extract` forwards the
 * engine's there too) into a summary; the events still reach the handler already in the
 * environment.
 */
export const collect = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<[A, ExtractionSummary], E, R> =>
  Effect.gen(function*() {
    const ref = yield* Ref.make(empty)
    const result = yield* ExtractionEvents.tapped(effect, (event) => Ref.update(ref, (s) => update(s, event)))
    return [result, yield* Ref.get(ref)] as [A, ExtractionSummary]
  })

/** A summary's fields as `summary.json` holds them (see {@link toJson}). */
export interface Json extends RunSummary.Json {
  readonly documents: number
  readonly skippedDocuments: Counts["skippedDocuments"]
  readonly chunks: number
  readonly extractedChunks: number
  readonly extraction: Omit<Counts, "documents" | "skippedDocuments" | "chunks" | "extractedChunks">
  /**
   * The inferred entity classifications: what the topic prompts offered, what the model
   * proposed, the sampled chunks, calls, tokens, warnings and notes (only when the run
   * inferred them).
   */
  readonly classifications?: ClassificationInference.Inference
}

/**
 * The JSON form of a summary: `documents`, `skippedDocuments`, `chunks`, `extractedChunks`,
 * then the engine's fields (`records`, `jobs`, `tokens`, `batchShare`; see
 * `RunSummary.toJson`), `extraction` (propositions, topics, entities, statements, facts,
 * diagnostics, failed, duplicate and checkpointed chunks), `classifications` (only when they
 * were inferred) and `failures`.
 *
 * Details: with `runTotals` (a resumed run) the engine's figures are the whole run's and
 * `resumed` is set; the extraction counts stay this process's. With `pricing`, `cost` (and
 * `costNote`) follow the engine's figures.
 */
export const toJson = (summary: ExtractionSummary, options?: {
  readonly runTotals?: RunSummary.RunTotals | undefined
  /** The run's model and the `prices` setting: adds `cost` (see `RunSummary.toJson`). */
  readonly pricing?: { readonly modelId: string; readonly prices?: Pricing.PriceTable | undefined } | undefined
}): Json => {
  const { failures, resumed, ...engine } = RunSummary.toJson(summary, options)
  const x = summary.extraction
  return {
    documents: x.documents,
    skippedDocuments: x.skippedDocuments.map((skip) => ({ path: skip.path, reason: skip.reason })),
    chunks: x.chunks,
    extractedChunks: x.extractedChunks,
    ...engine,
    extraction: {
      propositions: x.propositions,
      topics: x.topics,
      entities: x.entities,
      statements: x.statements,
      facts: x.facts,
      diagnostics: x.diagnostics,
      failedChunks: x.failedChunks,
      duplicateChunks: x.duplicateChunks,
      checkpointedChunks: x.checkpointedChunks
    },
    ...(summary.classifications === undefined ? {} : { classifications: summary.classifications }),
    failures,
    ...(resumed === undefined ? {} : { resumed })
  }
}
