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
 * - A cut-off answer (max-tokens stop reason) is retried once on demand with twice the token
 *   limit; if it is cut off again, its partial parse is kept and the chunk is reported.
 * - A chunk whose extraction failed is still emitted, with empty results and its failures
 *   listed, so nothing is lost silently.
 * - Documents that cannot be read or chunked are reported (event `DocumentSkipped`) and the
 *   run goes on.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Result, Schema, Stream } from "effect"
import * as BatchConfig from "../engine/BatchConfig.ts"
import type * as BatchRecord from "../engine/BatchRecord.ts"
import * as BatchRunner from "../engine/BatchRunner.ts"
import type * as ModelFamily from "../engine/ModelFamily.ts"
import { ModelRuntime } from "../engine/ModelRuntime.ts"
import * as RunEvents from "../engine/RunEvents.ts"
import * as RunLedger from "../engine/RunLedger.ts"
import { retryTransient } from "../internal/retry.ts"
import * as Chunker from "./Chunker.ts"
import type * as Document from "./Document.ts"
import type * as ExtractedChunkModule from "./ExtractedChunk.ts"
import type * as ParseDiagnostic from "./ParseDiagnostic.ts"
import * as Prompts from "./Prompts.ts"
import * as Propositions from "./Propositions.ts"
import * as Topics from "./Topics.ts"

// -----------------------------------------------------------------------------
// Configuration
// -----------------------------------------------------------------------------

const PromptTemplateSchema = Schema.Struct({
  system: Schema.optionalKey(Schema.String),
  user: Schema.String
})

const defaulted = <S extends Schema.Top>(schema: S, value: S["Encoded"]) =>
  schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)))

const wholeAtLeast = (minimum: number) =>
  Schema.makeFilter<number>((value) =>
    Number.isInteger(value) && value >= minimum ? true : `must be a whole number of at least ${minimum}, got ${value}`
  )

/** The extraction settings (the reference's `ExtractionConfig` and chunking, camelCase). */
export const ExtractionConfigSchema = Schema.Struct({
  /** `sentence`: sentence-aware, token-bounded chunks; `none`: one chunk per document. */
  chunking: defaulted(Schema.Literals(["sentence", "none"]), "sentence"),
  chunkSize: defaulted(Schema.Number.check(wholeAtLeast(16)), 256),
  chunkOverlap: defaulted(Schema.Number.check(wholeAtLeast(0)), 25),
  enablePropositionExtraction: defaulted(Schema.Boolean, true),
  preferredEntityClassifications: defaulted(Schema.Array(Schema.String), [...Prompts.defaultEntityClassifications]),
  preferredTopics: defaulted(Schema.Array(Schema.String), []),
  /** Documents read ahead of the model stages (bounds memory, not job sizes). */
  extractionBatchSize: defaulted(Schema.Number.check(wholeAtLeast(1)), 100),
  /** Overrides the stage-1 prompt (`{text}`, `{source_info}`). */
  propositionsPrompt: Schema.optionalKey(PromptTemplateSchema),
  /** Overrides the stage-2 prompt (`{text}`, `{preferred_entity_classifications}`, `{preferred_topics}`). */
  topicsPrompt: Schema.optionalKey(PromptTemplateSchema)
})

/** Decoded extraction settings. */
export type ExtractionConfig = typeof ExtractionConfigSchema.Type

/** What a user writes (every field optional). */
export type ExtractionConfigInput = typeof ExtractionConfigSchema.Encoded

/** Decode and validate extraction settings, listing every problem (paths under `extraction.`). */
export const decodeConfig = (input: unknown): Effect.Effect<ExtractionConfig, BatchConfig.InvalidConfig> =>
  Effect.suspend(() => {
    const decoded = Schema.decodeUnknownResult(ExtractionConfigSchema)(input ?? {}, {
      errors: "all",
      onExcessProperty: "error"
    })
    const issues: Array<BatchConfig.ConfigIssue> = []
    if (Result.isFailure(decoded)) {
      issues.push(
        ...BatchConfig.issuesOf(decoded.failure.issue).map((issue) => ({ ...issue, path: `extraction.${issue.path}` }))
      )
    } else {
      const config = decoded.success
      if (config.chunking === "sentence" && config.chunkOverlap >= config.chunkSize) {
        issues.push({ path: "extraction.chunkOverlap", message: "must be smaller than chunkSize" })
      }
      for (
        const [key, template] of [["propositionsPrompt", config.propositionsPrompt], [
          "topicsPrompt",
          config.topicsPrompt
        ]] as const
      ) {
        const problem = template === undefined ? undefined : Prompts.templateProblem(template)
        if (problem !== undefined) issues.push({ path: `extraction.${key}`, message: problem })
      }
    }
    return issues.length > 0 || Result.isFailure(decoded)
      ? Effect.fail(new BatchConfig.InvalidConfig({ issues }))
      : Effect.succeed(decoded.success)
  })

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
  /** Names the run in keys, job names and the ledger. */
  readonly runId: string
  /** Chunk ids to leave out (already extracted and written: the checkpoint). */
  readonly skipChunk?: ((chunkId: string) => boolean) | undefined
}

/** Errors that end an extraction (bad documents and failed records do not). */
export type ExtractError = BatchRunner.InvalidRunOptions | ModelFamily.UnknownModelFamily | RunLedger.LedgerError

interface InFlight {
  readonly chunk: Chunker.Chunk
  propositions: ReadonlyArray<string>
  propositionDiagnostics: ReadonlyArray<ParseDiagnostic.ParseDiagnostic>
  readonly failures: Array<ChunkFailure>
}

type DocumentInput = Document.Document | Document.ReadResult

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
    const family = yield* Effect.fromResult(BatchConfig.modelFamily(batch))
    const parameters = BatchConfig.inferenceParameters(batch)
    const chunking = chunkingOf(extraction)
    const inFlight = new Map<string, InFlight>()
    const seen = new Set<string>()
    const topicsOptions: Prompts.TopicsOptions = {
      template: extraction.topicsPrompt,
      preferredEntityClassifications: extraction.preferredEntityClassifications,
      preferredTopics: extraction.preferredTopics
    }

    // Documents → chunks (skips and unchunkable documents are reported, not fatal).
    const chunks = documents.pipe(
      Stream.buffer({ capacity: extraction.extractionBatchSize }),
      Stream.mapEffect((input) =>
        Effect.gen(function*() {
          if (isReadResult(input) && input._tag === "Skipped") {
            yield* RunEvents.publish({ _tag: "DocumentSkipped", path: input.path, reason: input.message })
            return [] as ReadonlyArray<Chunker.Chunk>
          }
          const document = isReadResult(input) ? input.document : input
          const where = isReadResult(input) ? input.path : (document.id ?? "(document)")
          const result = yield* Effect.result(Chunker.chunk(document, chunking))
          if (Result.isFailure(result)) {
            yield* RunEvents.publish({ _tag: "DocumentSkipped", path: where, reason: result.failure.message })
            return []
          }
          const fresh: Array<Chunker.Chunk> = []
          let duplicates = 0
          for (const chunk of result.success) {
            if (seen.has(chunk.id)) duplicates++
            else if (options.skipChunk?.(chunk.id) !== true) fresh.push(chunk)
            seen.add(chunk.id)
          }
          yield* RunEvents.publish({
            _tag: "DocumentRead",
            path: where,
            sourceId: result.success[0]?.source.id ?? "",
            chunks: result.success.length,
            duplicateChunks: duplicates,
            skippedChunks: result.success.length - fresh.length - duplicates
          })
          if (result.success.length === 0) {
            yield* RunEvents.publish({ _tag: "DocumentSkipped", path: where, reason: "the document has no text" })
          }
          for (const chunk of fresh) {
            inFlight.set(chunk.id, { chunk, propositions: [], propositionDiagnostics: [], failures: [] })
          }
          return fresh
        })
      ),
      Stream.flattenIterable
    )

    /** The answer text of an outcome, retrying a cut-off answer once with twice the tokens. */
    const answerOf = (
      outcome: BatchRecord.RecordOutcome,
      stage: Stage,
      rebuild: (maxTokens: number) => Record<string, unknown>
    ) =>
      Effect.gen(function*() {
        if (outcome._tag === "Failed") return { text: undefined, failure: outcome.reason }
        if (!outcome.output.truncated) return { text: outcome.output.text, failure: undefined }
        const maxTokens = parameters.maxTokens * 2
        const runtime = yield* ModelRuntime
        const retried = yield* retryTransient(
          runtime.invoke({
            modelId: batch.model.modelId,
            invocationType: batch.model.invocationType,
            body: rebuild(maxTokens)
          }),
          5
        ).pipe(Effect.result)
        yield* RunEvents.publish({
          _tag: "OnDemandCall",
          stage,
          recordId: outcome.recordId,
          ok: Result.isSuccess(retried)
        })
        const read = Result.isSuccess(retried) ? family.readOutput(retried.success) : undefined
        if (read !== undefined && Result.isSuccess(read) && !read.success.truncated) {
          // The whole answer replaces the cut-off one in the ledger: a resumed run does not ask again.
          yield* RunLedger.append(runId, [{
            _tag: "Outcomes",
            stage,
            outcomes: [{ ...outcome, modelOutput: undefined, output: read.success, via: "onDemand" }]
          }])
          return { text: read.success.text, failure: undefined }
        }
        return {
          text: outcome.output.text,
          failure: `the answer was cut off at ${parameters.maxTokens} tokens, and again at ${maxTokens}; ` +
            "the partial answer was kept"
        }
      })

    const runOptions = (stage: Stage) => ({ config: batch, runId, stage })

    // Stage 2 records: straight from chunks, or from stage-1 answers as they arrive.
    const topicRecords: Stream.Stream<Prompts.StageRecord, E | ExtractError, R | BatchRunner.Services> =
      extraction.enablePropositionExtraction
        ? BatchRunner.run(
          Stream.map(chunks, (chunk) =>
            Prompts.propositionsRecord(chunk, family, parameters, { template: extraction.propositionsPrompt })),
          runOptions("propositions")
        ).pipe(
          Stream.mapEffect((outcome) =>
            Effect.gen(function*() {
              const state = inFlight.get(outcome.recordId)!
              const answer = yield* answerOf(outcome, "propositions", (maxTokens) =>
                Prompts.propositionsRecord(state.chunk, family, { ...parameters, maxTokens }, {
                  template: extraction.propositionsPrompt
                }).modelInput)
              if (answer.failure !== undefined) {
                state.failures.push({ stage: "propositions", reason: answer.failure })
              }
              if (answer.text !== undefined) {
                const parsed = Propositions.parse(answer.text)
                state.propositions = parsed.propositions
                state.propositionDiagnostics = parsed.diagnostics
              }
              return Prompts.topicsRecord(state.chunk, state.propositions, family, parameters, topicsOptions)
            }), { concurrency: batch.onDemandConcurrency, unordered: true })
        )
        : Stream.map(chunks, (chunk) =>
          Prompts.topicsRecord(chunk, undefined, family, parameters, topicsOptions))

    return BatchRunner.run(topicRecords, runOptions("topics")).pipe(
      Stream.mapEffect((outcome) =>
        Effect.gen(function*() {
          const state = inFlight.get(outcome.recordId)!
          inFlight.delete(outcome.recordId)
          const answer = yield* answerOf(outcome, "topics", (maxTokens) =>
            Prompts.topicsRecord(state.chunk, state.propositions, family, { ...parameters, maxTokens }, topicsOptions)
              .modelInput)
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
          yield* RunEvents.publish({
            _tag: "ChunkExtracted",
            chunkId: state.chunk.id,
            sourceId: state.chunk.source.id,
            ...countsOf(extracted),
            diagnostics: extracted.diagnostics.propositions.length + extracted.diagnostics.topics.length,
            failures: extracted.failures
          })
          return extracted
        }), { concurrency: batch.onDemandConcurrency, unordered: true })
    )
  }))
