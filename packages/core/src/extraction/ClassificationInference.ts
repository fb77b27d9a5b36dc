/**
 * Entity-classification inference, the reference's `InferClassifications` pre-processor:
 * before the topic stage, sample chunks of the run, ask the model (on demand) for the entity
 * classifications that fit the corpus's domain, have it rank them, and merge them with the
 * preferred classifications; the topic prompts then offer the result.
 *
 * When to use: `Extraction.extract` runs it when `inferEntityClassifications` is on and it is
 * given no classifications (`ExtractOptions.classifications`); a durable run (`ExtractRun`)
 * runs it once, in the run's coordinator before its parts start, records the result in the
 * run state, and gives every part (on any worker, resumed or not) the same classifications.
 * Call {@link sample} and {@link infer} yourself to infer once for several extractions.
 *
 * Details:
 * - Once per run, not per document (the reference's auto-tune mode infers per document): a
 *   run's chunks go to batch jobs together, and one corpus should get one set of
 *   classifications, for a few on-demand calls in all.
 * - The sample is deterministic (the reference's is random): the first
 *   `inferNumSamples × inferNumIterations` distinct chunks of the documents in input order;
 *   round i gets chunks i·N … i·N+N−1 (N = `inferNumSamples`), wrapping around when the run
 *   has fewer. A run of fewer than N chunks gives every round every chunk, with a note.
 * - Calls: one per round, then one that ranks what the rounds proposed (the reference's
 *   `RANK_ENTITY_CLASSIFICATIONS_PROMPT`) — through `ModelRuntime`, with the configured
 *   family's body and inference parameters, transient errors retried, failed calls and
 *   unreadable answers asked again up to `maxRecordAttempts`, as the engine's on-demand calls.
 * - Parsing is the reference's: the lines between the first `<entity_classifications>` tags,
 *   trimmed, empty ones dropped; list markers and repeats are dropped too, and every name is
 *   title-cased as the topic parser does (so the prompt and the extracted entities agree).
 * - Merging (the reference's `replace_default_classifications: false`): the ranked
 *   classifications (at most `inferNumClassifications`), then the preferred ones not among
 *   them; with `inferReplacePreferred` the inferred ones only.
 * - Nothing usable (no round proposed a classification, every call failed, no chunk to
 *   sample): the preferred classifications, and a warning; the run goes on.
 *
 * Gotchas: the inference's calls and tokens are reported in {@link Inference}, apart from the
 * records' (they are not records of a stage).
 *
 * @since 0.3.0
 */
import { Effect, Result, Schema, Sink, Stream } from "effect"
import * as BatchConfig from "../engine/BatchConfig.ts"
import type * as ModelFamily from "../engine/ModelFamily.ts"
import { ModelRuntime } from "../engine/ModelRuntime.ts"
import * as ServiceError from "../engine/ServiceError.ts"
import * as Chunker from "./Chunker.ts"
import type * as Document from "./Document.ts"
import type { ExtractionConfig } from "./ExtractionConfig.ts"
import * as Prompts from "./Prompts.ts"
import * as Topics from "./Topics.ts"

// -----------------------------------------------------------------------------
// What an inference gives
// -----------------------------------------------------------------------------

/**
 * The result of an inference, as a run records it (in the run state and `summary.json`).
 * `classifications` is what the topic prompts offer.
 */
export const Inference = Schema.Struct({
  /** The classifications of the topic prompts: the inferred ones merged with the preferred ones. */
  classifications: Schema.Array(Schema.String),
  /** What the model proposed, ranked and truncated (empty when nothing was usable). */
  inferred: Schema.Array(Schema.String),
  /** Nothing usable came back: `classifications` are the preferred ones. */
  fellBack: Schema.Boolean,
  /** The chunks the rounds sampled, in order. */
  sampledChunkIds: Schema.Array(Schema.String),
  /** On-demand calls made (rounds, ranking, and their retries). */
  calls: Schema.Number,
  tokens: Schema.Struct({ input: Schema.Number, output: Schema.Number }),
  /** What went wrong (the run went on). */
  warnings: Schema.Array(Schema.String),
  /** What a user should know (e.g. a sample size above the run's chunks). */
  notes: Schema.Array(Schema.String)
})

/** The result of an inference. */
export type Inference = typeof Inference.Type

/** How to infer (from the extraction settings, see {@link optionsOf}). */
export interface Options {
  /** Chunks per round (`inferNumSamples`). */
  readonly numSamples: number
  /** Rounds (`inferNumIterations`). */
  readonly numIterations: number
  /** Most classifications kept after ranking (`inferNumClassifications`). */
  readonly numClassifications: number
  /** The round prompt (default {@link Prompts.inferClassificationsTemplate}). */
  readonly template?: Prompts.PromptTemplate | undefined
  /** The preferred classifications: the existing ones of the prompt, merged into the result. */
  readonly preferred: ReadonlyArray<string>
  /** Offer the inferred classifications only (`inferReplacePreferred`). */
  readonly replacePreferred: boolean
}

/** The inference options of extraction settings. */
export const optionsOf = (extraction: ExtractionConfig): Options => ({
  numSamples: extraction.inferNumSamples,
  numIterations: extraction.inferNumIterations,
  numClassifications: extraction.inferNumClassifications,
  template: extraction.inferClassificationsPrompt,
  preferred: extraction.preferredEntityClassifications,
  replacePreferred: extraction.inferReplacePreferred
})

// -----------------------------------------------------------------------------
// The sample
// -----------------------------------------------------------------------------

/** A sampled chunk. */
export interface SampleChunk {
  readonly id: string
  readonly text: string
}

/** How many chunks the rounds sample in all: `numSamples × numIterations`. */
export const sampleSize = (options: Pick<Options, "numSamples" | "numIterations">): number =>
  options.numSamples * options.numIterations

/** What the sample sink gathered: the inputs it read (to extract them after) and their chunks. */
export interface Gathered<In> {
  readonly inputs: Array<In>
  readonly chunks: Array<SampleChunk>
}

type DocumentInput = Document.Document | Document.ReadResult

const documentOf = (input: DocumentInput): Document.Document | undefined =>
  "_tag" in input && (input._tag === "Read" || input._tag === "Skipped")
    ? input._tag === "Read" ? input.document : undefined
    : input as Document.Document

/**
 * A sink that reads documents (or reader results) until their distinct chunks number `size`,
 * keeping the inputs it read and the first `size` chunks. Documents that cannot be chunked are
 * passed over (the extraction reports them).
 */
export const sampleSink = <In extends DocumentInput>(
  chunking: Chunker.Chunking,
  size: number
): Sink.Sink<Gathered<In>, In, In> =>
  Sink.fold(
    () => ({ inputs: new Array<In>(), chunks: new Array<SampleChunk>(), seen: new Set<string>() }),
    (gathered) => gathered.chunks.length < size,
    (gathered, input: In) =>
      Effect.gen(function*() {
        gathered.inputs.push(input)
        const document = documentOf(input)
        if (document === undefined) return gathered
        const chunks = yield* Effect.orElseSucceed(Chunker.chunk(document, chunking), () => [])
        for (const chunk of chunks) {
          if (gathered.chunks.length >= size || gathered.seen.has(chunk.id)) continue
          gathered.seen.add(chunk.id)
          gathered.chunks.push({ id: chunk.id, text: chunk.text })
        }
        return gathered
      })
  ).pipe(Sink.map(({ chunks, inputs }): Gathered<In> => ({ inputs, chunks })))

/** The first `size` distinct chunks of some documents (read only as far as needed). */
export const sample = <E, R>(
  documents: Stream.Stream<DocumentInput, E, R>,
  chunking: Chunker.Chunking,
  size: number
): Effect.Effect<ReadonlyArray<SampleChunk>, E, R> =>
  Effect.map(Stream.run(documents, sampleSink<DocumentInput>(chunking, size)), (gathered) => gathered.chunks)

/**
 * The chunks of each round (see the module's doc): round i from chunk i·N on, wrapping
 * around; every chunk in every round when there are no more than N.
 */
export const rounds = (
  chunks: ReadonlyArray<SampleChunk>,
  options: Pick<Options, "numSamples" | "numIterations">
): ReadonlyArray<ReadonlyArray<SampleChunk>> => {
  if (chunks.length === 0) return []
  // No more chunks than a round takes: every round samples every chunk (as the reference).
  if (chunks.length <= options.numSamples) return Array.from({ length: options.numIterations }, () => chunks)
  return Array.from(
    { length: options.numIterations },
    (_, round) =>
      Array.from({ length: options.numSamples }, (_, j) => chunks[(round * options.numSamples + j) % chunks.length]!)
  )
}

// -----------------------------------------------------------------------------
// Prompts and parsing
// -----------------------------------------------------------------------------

/** The sampled chunks as the prompt holds them: `<chunk>…</chunk>`, one per line (the reference's). */
export const formatChunks = (chunks: ReadonlyArray<SampleChunk>): string =>
  chunks.map((chunk) => `<chunk>${chunk.text}</chunk>`).join("\n")

/** The prompt of one round. */
export const roundPrompt = (
  chunks: ReadonlyArray<SampleChunk>,
  options: Pick<Options, "template" | "preferred">
): ModelFamily.Prompt =>
  Prompts.render(options.template ?? Prompts.inferClassificationsTemplate, {
    text_chunks: formatChunks(chunks),
    existing_classifications: options.preferred.join("\n")
  })

/** The prompt that ranks the classifications the rounds proposed. */
export const rankPrompt = (classifications: ReadonlyArray<string>): ModelFamily.Prompt =>
  Prompts.render(Prompts.rankClassificationsTemplate, { classifications: classifications.join("\n") })

const tagged = /<entity_classifications>([\s\S]*?)<\/entity_classifications>/

/** The list markers a model may put before a line (`- `, `* `, `1. `, `2) `). */
const listMarker = /^(?:[-*•]\s+|\d{1,3}[.)]\s+)/

/**
 * The classifications of an answer: the lines between the first `<entity_classifications>`
 * tags (the reference's parser), trimmed, list markers and markdown emphasis removed, empty
 * lines and repeats (case-insensitive) dropped, title-cased as the topic parser does. Empty
 * when the answer holds no such tags or nothing between them.
 */
export const parse = (answer: string): ReadonlyArray<string> => {
  const match = tagged.exec(answer)
  if (match === null) return []
  const found: Array<string> = []
  for (const line of match[1]!.split("\n")) {
    const name = Topics.formatClassification(line.trim().replace(listMarker, "").replace(/^[*_`"']+|[*_`"']+$/g, ""))
    if (name !== "" && !found.some((known) => known.toLowerCase() === name.toLowerCase())) found.push(name)
  }
  return found
}

/** `first`, then those of `then` not among them (case-insensitive). */
export const merge = (first: ReadonlyArray<string>, then: ReadonlyArray<string>): ReadonlyArray<string> => {
  const out = [...first]
  for (const name of then) if (!out.some((known) => known.toLowerCase() === name.toLowerCase())) out.push(name)
  return out
}

// -----------------------------------------------------------------------------
// Inference
// -----------------------------------------------------------------------------

/**
 * Infer the classifications from sampled chunks (see the module's doc): one on-demand call
 * per round, one to rank; never fails for the model's answers (nothing usable: the preferred
 * classifications and a warning).
 */
export const infer = Effect.fn("ClassificationInference.infer")(function*(
  chunks: ReadonlyArray<SampleChunk>,
  options: Options,
  batch: BatchConfig.BatchConfig
) {
  const family = yield* Effect.fromResult(BatchConfig.modelFamily(batch))
  const parameters = BatchConfig.inferenceParameters(batch)
  const runtime = yield* ModelRuntime
  let calls = 0
  const tokens = { input: 0, output: 0 }
  const warnings: Array<string> = []
  const notes: Array<string> = []

  /** One question, asked as the engine asks on demand; the answer's text or why there is none. */
  const ask = (prompt: ModelFamily.Prompt) =>
    Effect.gen(function*() {
      const body = family.buildRequest(prompt, parameters)
      const invoke = Effect.suspend(() => {
        calls++
        return runtime.invoke({
          modelId: batch.model.modelId,
          invocationType: batch.model.invocationType,
          body
        })
      })
      let reason = "not asked"
      for (let attempt = 1; attempt <= batch.maxRecordAttempts; attempt++) {
        const answer = yield* Effect.result(ServiceError.retryTransient(invoke, 5))
        if (Result.isFailure(answer)) {
          reason = `the on-demand call failed: ${ServiceError.describe(answer.failure)}`
          if (!answer.failure.retryable && answer.failure._tag !== "QuotaExceeded") break
          continue
        }
        const output = family.readOutput(answer.success)
        if (Result.isFailure(output)) {
          reason = `unreadable model output: ${output.failure}`
          continue
        }
        tokens.input += output.success.usage.inputTokens
        tokens.output += output.success.usage.outputTokens
        return { text: output.success.text }
      }
      return { failure: reason }
    })

  const sampled = rounds(chunks, options)
  if (chunks.length > 0 && chunks.length < options.numSamples) {
    notes.push(
      `the sample size (${options.numSamples}) is above the run's ${chunks.length} chunk${
        chunks.length === 1 ? "" : "s"
      }: every round sampled every chunk`
    )
  } else if (chunks.length > options.numSamples && chunks.length < sampleSize(options)) {
    notes.push(
      `${options.numIterations} rounds of ${options.numSamples} chunks need ${sampleSize(options)} chunks and the ` +
        `run has ${chunks.length}: the rounds share chunks`
    )
  }
  if (chunks.length === 0) warnings.push("the run has no chunk to sample")

  const answers = yield* Effect.forEach(
    sampled,
    (roundChunks) => ask(roundPrompt(roundChunks, options)),
    { concurrency: batch.onDemandConcurrency }
  )
  let proposed: ReadonlyArray<string> = []
  answers.forEach((answer, round) => {
    const where = sampled.length === 1 ? "the inference round" : `inference round ${round + 1}`
    if ("failure" in answer) {
      warnings.push(`${where}: ${answer.failure}`)
      return
    }
    const found = parse(answer.text)
    if (found.length === 0) {
      warnings.push(`${where}: the answer held no classifications between <entity_classifications> tags`)
    }
    proposed = merge(proposed, found)
  })

  let inferred: ReadonlyArray<string> = []
  if (proposed.length > 0) {
    const answer = yield* ask(rankPrompt(proposed))
    const ranked = "failure" in answer ? [] : parse(answer.text)
    if (ranked.length === 0) {
      warnings.push(
        `ranking: ${
          "failure" in answer
            ? answer.failure
            : "the answer held no classifications between <entity_classifications> tags"
        }; the classifications are kept in the order the rounds proposed them`
      )
    }
    inferred = (ranked.length > 0 ? ranked : proposed).slice(0, options.numClassifications)
  }

  const fellBack = inferred.length === 0
  if (fellBack) {
    warnings.push(
      `no entity classifications could be inferred: the topic prompts use the preferred ones (${
        options.preferred.length === 0 ? "none" : options.preferred.join(", ")
      })`
    )
  }
  const result: Inference = {
    classifications: fellBack
      ? options.preferred
      : options.replacePreferred
      ? inferred
      : merge(inferred, options.preferred),
    inferred,
    fellBack,
    sampledChunkIds: [...new Set(sampled.flat().map((chunk) => chunk.id))],
    calls,
    tokens,
    warnings,
    notes
  }
  yield* Effect.logInfo(
    fellBack
      ? `entity classifications: none inferred, using the preferred ones (${warnings.join("; ")})`
      : `entity classifications inferred from ${result.sampledChunkIds.length} chunks: ${inferred.join(", ")}`
  )
  return result
})

/**
 * Sample some documents and infer from them (what `Extraction.extract` does when it infers
 * itself): the documents are read only as far as the sample needs.
 */
export const inferFrom = <E, R>(
  documents: Stream.Stream<DocumentInput, E, R>,
  extraction: ExtractionConfig,
  chunking: Chunker.Chunking,
  batch: BatchConfig.BatchConfig
): Effect.Effect<Inference, E | ModelFamily.UnknownModelFamily, R | ModelRuntime> =>
  Effect.flatMap(
    sample(documents, chunking, sampleSize(optionsOf(extraction))),
    (chunks) => infer(chunks, optionsOf(extraction), batch)
  )
