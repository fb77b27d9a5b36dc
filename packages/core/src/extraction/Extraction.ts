/**
 * The extract stage of a lexical graph, end to end: documents → chunks → propositions
 * (stage 1) → topics, entities, statements and facts (stage 2) → extracted chunks. Both model
 * steps run as Bedrock batch jobs through the engine (`BatchRunner`), and what batch cannot do
 * is finished on demand with the same model.
 *
 * Details:
 * - Pipelined: a chunk's stage-2 record is planned as soon as its stage-1 answer is in, so
 *   the stages overlap across jobs and share the same job slots.
 * - `extractionBatchSize` bounds how many documents are read ahead (memory); jobs fill to
 *   `maxBatchSize` by construction.
 * - A cut-off answer (max-tokens stop reason) is asked again once on demand with twice the
 *   token limit (the runner's `reaskCutOff`, on for both stages); if it is cut off again, its
 *   partial parse is kept and the chunk is reported.
 * - A chunk whose extraction failed is still emitted, with empty results and its failures
 *   listed, so nothing is lost silently.
 * - Documents that cannot be read or chunked are reported (event `DocumentSkipped`) and the
 *   run goes on.
 * - Entity classifications: the topic prompts offer `ExtractOptions.classifications` when
 *   given (a durable run passes those it inferred once), else — with
 *   `inferEntityClassifications` — those `ClassificationInference` infers here from the first
 *   chunks before any record is sent (event `ClassificationsInferred`), else the preferred ones.
 * - Events: the extraction's own (`DocumentRead`, `DocumentSkipped`, `ChunkExtracted`) go to
 *   the `ExtractionEvents` handler, and so do the engine's events of the run (they also reach
 *   `RunEvents` as before): subscribe there, or fold them with `ExtractionSummary.collect`.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Result, Stream } from "effect"
import * as BatchConfig from "../engine/BatchConfig.ts"
import type * as BatchRecord from "../engine/BatchRecord.ts"
import * as BatchRunner from "../engine/BatchRunner.ts"
import type * as ModelFamily from "../engine/ModelFamily.ts"
import * as RunEvents from "../engine/RunEvents.ts"
import * as RunState from "../engine/RunState.ts"
import * as Chunker from "./Chunker.ts"
import * as ClassificationInference from "./ClassificationInference.ts"
import type * as Document from "./Document.ts"
import type * as ExtractedChunkModule from "./ExtractedChunk.ts"
import * as ExtractionConfigModule from "./ExtractionConfig.ts"
import * as ExtractionEvents from "./ExtractionEvents.ts"
import * as Ids from "./Ids.ts"
import type * as ParseDiagnostic from "./ParseDiagnostic.ts"
import * as Prompts from "./Prompts.ts"
import * as Propositions from "./Propositions.ts"
import * as Topics from "./Topics.ts"

// -----------------------------------------------------------------------------
// Configuration
// -----------------------------------------------------------------------------

/** The extraction settings (the reference's `ExtractionConfig` and chunking, camelCase; see `ExtractionConfig`). */
export const ExtractionConfigSchema = ExtractionConfigModule.ExtractionConfigSchema

/** Decoded extraction settings. */
export type ExtractionConfig = ExtractionConfigModule.ExtractionConfig

/** What a user writes (every field optional). */
export type ExtractionConfigInput = ExtractionConfigModule.ExtractionConfigInput

/** Decode and validate extraction settings, listing every problem (paths under `extraction.`); `ExtractionConfig.decode`. */
export const decodeConfig = ExtractionConfigModule.decode

/** The chunking options of a configuration. */
export const chunkingOf = (config: ExtractionConfig): Chunker.Chunking =>
  config.chunking === "none" ? "none" : { chunkSize: config.chunkSize, chunkOverlap: config.chunkOverlap }

// -----------------------------------------------------------------------------
// Extracted chunks
// -----------------------------------------------------------------------------

/** A stage of the extraction. */
export type Stage = "propositions" | "topics"

/** Why part of a chunk's extraction failed. */
export interface ChunkFailure {
  readonly stage: Stage
  readonly reason: string
}

/**
 * One chunk with what was extracted from it (what the sinks write), plus the parse
 * diagnostics and failures of its stages.
 */
export interface ExtractedChunk extends ExtractedChunkModule.ExtractedChunk {
  /** Lines of the model's answers the parsers could not use. */
  readonly diagnostics: {
    readonly propositions: ReadonlyArray<ParseDiagnostic.ParseDiagnostic>
    readonly topics: ReadonlyArray<ParseDiagnostic.ParseDiagnostic>
  }
  /** Empty when the chunk was fully extracted. */
  readonly failures: ReadonlyArray<ChunkFailure>
}

/** Counts of what a chunk holds. */
export const countsOf = (extracted: ExtractedChunk) => {
  let entities = 0
  let statements = 0
  let facts = 0
  for (const topic of extracted.topics.topics) {
    entities += topic.entities.length
    statements += topic.statements.length
    for (const statement of topic.statements) facts += statement.facts.length
  }
  return {
    propositions: extracted.propositions.length,
    topics: extracted.topics.topics.length,
    entities,
    statements,
    facts
  }
}

// -----------------------------------------------------------------------------
// The pipeline
// -----------------------------------------------------------------------------

/** What `extract` needs. */
export interface ExtractOptions {
  readonly batch: BatchConfig.BatchConfig
  readonly extraction: ExtractionConfig
  /** Names the run in keys, job names and the run state. */
  readonly runId: string
  /** The part of the run these documents are (see `BatchRunner.RunOptions.part`; default 0). */
  readonly part?: number | undefined
  /** Chunk ids to leave out (already extracted and written). */
  readonly skipChunk?: ((chunkId: string) => boolean) | undefined
  /**
   * Called with each document's new chunks (duplicates removed) before they are extracted;
   * returns those to extract (a durable run records them and leaves out what is done).
   */
  readonly admitChunks?:
    | ((chunks: ReadonlyArray<Chunker.Chunk>) => Effect.Effect<ReadonlyArray<Chunker.Chunk>, RunState.StateError>)
    | undefined
  /**
   * The entity classifications the topic prompts offer, already decided (a durable run infers
   * them once and gives every part the same). Absent: inferred here first when
   * `inferEntityClassifications` is on, else `preferredEntityClassifications`.
   */
  readonly classifications?: ReadonlyArray<string> | undefined
}

/** What {@link chunksOf} needs (`EA`: how `admitChunks` may fail). */
export interface ChunksOptions<EA = never> {
  readonly chunking: Chunker.Chunking
  /** Documents read ahead (`extractionBatchSize`). */
  readonly extractionBatchSize: number
  /** Chunk ids to leave out (already extracted and written). */
  readonly skipChunk?: ((chunkId: string) => boolean) | undefined
  /** Each document's new chunks → those to extract (see {@link ExtractOptions.admitChunks}). */
  readonly admitChunks?:
    | ((chunks: ReadonlyArray<Chunker.Chunk>) => Effect.Effect<ReadonlyArray<Chunker.Chunk>, EA>)
    | undefined
}

/**
 * Documents (or reader results) → the chunks an extraction sends, in document order: each
 * document chunked, chunks seen before in this stream (repeated documents or passages) and
 * those `skipChunk` or `admitChunks` leave out dropped. Publishes `DocumentRead` for each
 * document and `DocumentSkipped` for each skip (unreadable, unchunkable, without text) to the
 * `ExtractionEvents` handler; never fails for a document.
 *
 * When to use: what {@link extract} sends to its first stage; a plan (`Plan`) counts and packs
 * the same chunks without sending them.
 */
export const chunksOf = <E, R, EA = never>(
  inputs: Stream.Stream<DocumentInput, E, R>,
  options: ChunksOptions<EA>
): Stream.Stream<Chunker.Chunk, E | EA, R> =>
  Stream.suspend(() => {
    // Duplicates: a chunk's id is its source's id and 8 hex of a digest of its text and
    // metadata, so the stream's chunk ids are kept as each source's id once and 8 characters per
    // chunk. A repeated document, a passage repeated within one, and a document given as its own
    // (`aws:`) id the id another one's text derives all meet their duplicates here, in any order.
    const seen = new Map<string, string>()
    return inputs.pipe(
      Stream.buffer({ capacity: options.extractionBatchSize }),
      Stream.mapEffect((input) =>
        Effect.gen(function*() {
          if (isReadResult(input) && input._tag === "Skipped") {
            yield* ExtractionEvents.publish({ _tag: "DocumentSkipped", path: input.path, reason: input.message })
            return [] as ReadonlyArray<Chunker.Chunk>
          }
          const document = isReadResult(input) ? input.document : input
          const where = isReadResult(input) ? input.path : (document.id ?? "(document)")
          const result = yield* Effect.result(Chunker.chunk(document, options.chunking))
          if (Result.isFailure(result)) {
            yield* ExtractionEvents.publish({ _tag: "DocumentSkipped", path: where, reason: result.failure.message })
            return []
          }
          const unique: Array<Chunker.Chunk> = []
          let duplicates = 0
          const source = result.success[0]?.source.id
          const before = source === undefined ? "" : (seen.get(source) ?? "")
          const known = new Set<string>()
          for (let at = 0; at < before.length; at += Ids.chunkDigestLength) {
            known.add(before.slice(at, at + Ids.chunkDigestLength))
          }
          let added = ""
          for (const chunk of result.success) {
            const digest = chunk.id.slice(-Ids.chunkDigestLength)
            if (known.has(digest)) duplicates++
            else {
              known.add(digest)
              added += digest
              if (options.skipChunk?.(chunk.id) !== true) unique.push(chunk)
            }
          }
          if (source !== undefined && added !== "") seen.set(source, before + added)
          const fresh = options.admitChunks === undefined || unique.length === 0
            ? unique
            : yield* options.admitChunks(unique)
          yield* ExtractionEvents.publish({
            _tag: "DocumentRead",
            path: where,
            sourceId: result.success[0]?.source.id ?? "",
            chunks: result.success.length,
            duplicateChunks: duplicates,
            skippedChunks: result.success.length - fresh.length - duplicates
          })
          if (result.success.length === 0) {
            yield* ExtractionEvents.publish({
              _tag: "DocumentSkipped",
              path: where,
              reason: "the document has no text"
            })
          }
          return fresh
        })
      ),
      Stream.flattenIterable
    )
  })

/** Errors that end an extraction (bad documents and failed records do not). */
export type ExtractError = BatchRunner.InvalidRunOptions | ModelFamily.UnknownModelFamily | RunState.StateError

interface InFlight {
  readonly chunk: Chunker.Chunk
  propositions: ReadonlyArray<string>
  propositionDiagnostics: ReadonlyArray<ParseDiagnostic.ParseDiagnostic>
  readonly failures: Array<ChunkFailure>
}

/** A document, or a reader's result (read or skipped). */
export type DocumentInput = Document.Document | Document.ReadResult

const isReadResult = (input: DocumentInput): input is Document.ReadResult =>
  "_tag" in input && (input._tag === "Read" || input._tag === "Skipped")

/**
 * Extract a stream of documents (or reader results, whose skips are reported). Emits every
 * chunk once, as its extraction ends (chunks of one source may come in any order; each
 * carries its index).
 */
export const extract = <E, R>(
  documents: Stream.Stream<DocumentInput, E, R>,
  options: ExtractOptions
): Stream.Stream<ExtractedChunk, E | ExtractError, R | BatchRunner.Services> =>
  Stream.unwrap(Effect.gen(function*() {
    const { batch, extraction, runId } = options
    // The engine's events of this run reach the extraction's handler too: one place to subscribe.
    const engineEvents = ExtractionEvents.forwarding(
      yield* RunEvents.RunEvents,
      yield* ExtractionEvents.ExtractionEvents
    )
    const family = yield* Effect.fromResult(BatchConfig.modelFamily(batch))
    const parameters = BatchConfig.inferenceParameters(batch)
    const chunking = chunkingOf(extraction)
    const inFlight = new Map<string, InFlight>()

    // Classifications to infer: the first documents are read (as far as the sample needs)
    // and inferred from before anything is sent; then they are extracted like the rest.
    let inputs: Stream.Stream<DocumentInput, E, R> = documents
    let classifications = options.classifications ?? extraction.preferredEntityClassifications
    if (options.classifications === undefined && extraction.inferEntityClassifications) {
      const inference = ClassificationInference.optionsOf(extraction)
      const [gathered, rest] = yield* Stream.peel(
        documents,
        ClassificationInference.sampleSink<DocumentInput>(chunking, ClassificationInference.sampleSize(inference))
      )
      const inferred = yield* ClassificationInference.infer(gathered.chunks, inference, batch)
      yield* ExtractionEvents.publish({ _tag: "ClassificationsInferred", inference: inferred })
      classifications = inferred.classifications
      inputs = Stream.concat(Stream.fromIterable(gathered.inputs), rest)
    }
    const topicsOptions: Prompts.TopicsOptions = {
      template: extraction.topicsPrompt,
      preferredEntityClassifications: classifications,
      preferredTopics: extraction.preferredTopics
    }

    // Documents → chunks (skips and unchunkable documents are reported, not fatal).
    const chunks = chunksOf(inputs, {
      chunking,
      extractionBatchSize: extraction.extractionBatchSize,
      skipChunk: options.skipChunk,
      admitChunks: options.admitChunks
    }).pipe(
      Stream.map((chunk) => {
        inFlight.set(chunk.id, { chunk, propositions: [], propositionDiagnostics: [], failures: [] })
        return chunk
      })
    )

    /**
     * The answer text of an outcome and why it failed or is partial. The runner has already
     * asked a cut-off answer again (`reaskCutOff`): what is still cut off carries its reason.
     */
    const answerOf = (outcome: BatchRecord.RecordOutcome) =>
      outcome._tag === "Failed"
        ? { text: undefined, failure: outcome.reason }
        : { text: outcome.output.text, failure: outcome.partialReason }

    const runOptions = (stage: Stage): BatchRunner.RunOptions => ({
      config: batch,
      runId,
      stage,
      part: options.part,
      reaskCutOff: true
    })

    // Stage 2 records: straight from chunks, or from stage-1 answers as they arrive.
    const topicRecords: Stream.Stream<Prompts.StageRecord, E | ExtractError, R | BatchRunner.Services> =
      extraction.enablePropositionExtraction
        ? BatchRunner.run(
          Stream.map(chunks, (chunk) =>
            Prompts.propositionsRecord(chunk, family, parameters, { template: extraction.propositionsPrompt })),
          runOptions("propositions")
        ).pipe(
          Stream.map((outcome) => {
            const state = inFlight.get(outcome.recordId)!
            const answer = answerOf(outcome)
            if (answer.failure !== undefined) {
              state.failures.push({ stage: "propositions", reason: answer.failure })
            }
            if (answer.text !== undefined) {
              const parsed = Propositions.parse(answer.text)
              state.propositions = parsed.propositions
              state.propositionDiagnostics = parsed.diagnostics
            }
            return Prompts.topicsRecord(state.chunk, state.propositions, family, parameters, topicsOptions)
          })
        )
        : Stream.map(chunks, (chunk) =>
          Prompts.topicsRecord(chunk, undefined, family, parameters, topicsOptions))

    return BatchRunner.run(topicRecords, runOptions("topics")).pipe(
      Stream.mapEffect((outcome) =>
        Effect.gen(function*() {
          const state = inFlight.get(outcome.recordId)!
          inFlight.delete(outcome.recordId)
          const answer = answerOf(outcome)
          if (answer.failure !== undefined) {
            state.failures.push({ stage: "topics", reason: answer.failure })
          }
          const parsed = answer.text === undefined ? undefined : Topics.parse(answer.text)
          const extracted: ExtractedChunk = {
            chunk: state.chunk,
            propositions: state.propositions,
            topics: parsed?.topics ?? Topics.empty,
            diagnostics: { propositions: state.propositionDiagnostics, topics: parsed?.diagnostics ?? [] },
            failures: state.failures,
            extractTimestamp: yield* Clock.currentTimeMillis
          }
          yield* ExtractionEvents.publish({
            _tag: "ChunkExtracted",
            chunkId: state.chunk.id,
            sourceId: state.chunk.source.id,
            ...countsOf(extracted),
            diagnostics: extracted.diagnostics.propositions.length + extracted.diagnostics.topics.length,
            failures: extracted.failures
          })
          return extracted
        }), { concurrency: batch.onDemandConcurrency, unordered: true }),
      Stream.provideService(RunEvents.RunEvents, engineEvents)
    )
  }))
