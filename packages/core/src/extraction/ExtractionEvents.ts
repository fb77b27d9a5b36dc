/**
 * The typed events of an extraction — documents read and skipped, chunks extracted — and the
 * one handler that receives every event of an extraction run: these and the engine's
 * (`RunEvents`: jobs, records, on-demand calls).
 *
 * When to use: provide your own {@link ExtractionEvents} handler (or use {@link tapped}) to
 * drive progress displays, logs or metrics of an extraction; `ExtractionSummary.collect`
 * folds the same events into the extraction's summary. The default handler ignores events.
 *
 * Details:
 * - One place to subscribe: `Extraction.extract` publishes its own events here and forwards
 *   the engine's events of its run here too, so this handler sees them all, in the order they
 *   happen. The engine's events still reach `RunEvents.RunEvents` as well (for programs that
 *   run the engine alone).
 *
 * Gotchas:
 * - Only what runs inside `Extraction.extract` is forwarded: a handler provided here around
 *   a bare `BatchRunner.run` sees nothing (subscribe to `RunEvents` for that).
 *
 * @since 0.1.0
 */
import { Context, Effect } from "effect"
import * as RunEvents from "../engine/RunEvents.ts"
import type * as ClassificationInference from "./ClassificationInference.ts"

/** A document was read and chunked. */
export interface DocumentRead {
  readonly _tag: "DocumentRead"
  readonly path: string
  readonly sourceId: string
  readonly chunks: number
  /** Chunks already seen in this run (duplicate documents or passages), not extracted again. */
  readonly duplicateChunks: number
  /** Chunks left out because they were already extracted (checkpoint). */
  readonly skippedChunks: number
}

/** An input did not become a document (unreadable, empty, binary, not UTF-8, unchunkable). */
export interface DocumentSkipped {
  readonly _tag: "DocumentSkipped"
  readonly path: string
  readonly reason: string
}

/** A chunk's extraction ended (`failures` is empty when it fully succeeded). */
export interface ChunkExtracted {
  readonly _tag: "ChunkExtracted"
  readonly chunkId: string
  readonly sourceId: string
  readonly propositions: number
  readonly topics: number
  readonly entities: number
  readonly statements: number
  readonly facts: number
  /** Lines of the answers the parsers could not use. */
  readonly diagnostics: number
  readonly failures: ReadonlyArray<{ readonly stage: string; readonly reason: string }>
}

/**
 * The run's entity classifications were inferred (`inferEntityClassifications`), before any
 * topic record: what the topic prompts offer, and how the inference went.
 */
export interface ClassificationsInferred {
  readonly _tag: "ClassificationsInferred"
  readonly inference: ClassificationInference.Inference
}

/** An event of the extraction itself. */
export type ExtractionEvent = DocumentRead | DocumentSkipped | ChunkExtracted | ClassificationsInferred

/** Any event of an extraction run: the engine's and the extraction's. */
export type Event = RunEvents.RunEvent | ExtractionEvent

/** The receiver of an extraction run's events. Must not fail; keep it quick (it runs inline). */
export interface Handler {
  readonly publish: (event: Event) => Effect.Effect<void>
}

/** The extraction-event handler in the environment; ignores events unless you provide one. */
export const ExtractionEvents = Context.Reference<Handler>("@batch-extract/core/ExtractionEvents", {
  defaultValue: () => ({ publish: () => Effect.void })
})

/** Publish an event to the current handler. */
export const publish = (event: Event): Effect.Effect<void> => ExtractionEvents.use((handler) => handler.publish(event))

/** Run an effect with an extra handler that sees every event the current one sees. */
export const tapped = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  extra: (event: Event) => Effect.Effect<void>
): Effect.Effect<A, E, R> =>
  ExtractionEvents.use((outer) =>
    Effect.provideService(effect, ExtractionEvents, {
      publish: (event) => Effect.andThen(extra(event), outer.publish(event))
    })
  )

/**
 * The engine's handler that also forwards every engine event to `handler` (after the
 * engine's current handler `engine`): what `Extraction.extract` provides to its run.
 */
export const forwarding = (engine: RunEvents.Handler, handler: Handler): RunEvents.Handler => ({
  publish: (event) => Effect.andThen(engine.publish(event), handler.publish(event))
})
