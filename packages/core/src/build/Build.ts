/**
 * The build stage: extracted chunks → the lexical graph ({@link GraphStore}) and the vector
 * indexes ({@link VectorStore}), the texts embedded by a Bedrock embedding model through the
 * engine — in batch jobs at the batch price, on demand below a job's minimum size, as any
 * stage's records.
 *
 * How it goes, as chunks come in (streamed, never the whole corpus in memory):
 * - Chunks are taken `chunksPerWrite` at a time. Each chunk's contribution replaces what the
 *   chunk contributed before (`GraphStore.removeChunk`, then upserts by id), so a second build,
 *   a resumed one, or a chunk extracted again adds nothing twice.
 * - Each chunk's text and statements (the reference's `chunk` and `statement` indexes) become
 *   embedding records, unless the index already holds a row with the same digest (model and
 *   text): a build over unchanged chunks embeds nothing. A text already on its way (the same
 *   statement from two chunks) is sent once.
 * - Records accumulate across chunks into normal-size batch jobs (`BatchRunner.run`, stage
 *   `embeddings`, the run state keeping every answer, so a resumed build pays no embedding
 *   twice). A model Bedrock batch does not accept (`ModelFamily.Embedding.batch` false) is
 *   called on demand, `maxTextsPerRequest` texts a call.
 * - Each vector is written as its answer comes in. A text that could not be embedded is
 *   reported in the summary with its reason; its node is in the graph, without a row.
 * - Once every answer is written, each index is made fast to search again
 *   (`VectorStore.finishWrites`: a store may defer its search structure during many writes) and
 *   the run state forgets the stage's answers and finished jobs
 *   (`RunState.forgetStage`): the vector store's digests say what is current.
 *
 * When to use: after `Extraction.extract` (`Build.build(Extraction.extract(docs, …), …)`), or
 * on chunk files read back (`GraphModel.decodeChunk`), the reference's included.
 *
 * Gotchas:
 * - A chunk of the wrong shape fails the build with `GraphModel.InvalidInput` before anything of
 *   its group is written; groups before it stay written (each chunk whole). Check files first
 *   (`GraphModel.decodeChunk`) to refuse a bad corpus before writing anything.
 * - Shared nodes take, key by key, the values of the chunk written last (the reference's order
 *   is the file listing's; see README.md, "How the graph differs from the reference's").
 * - The `topic` index (off by default, as in the reference) embeds a topic's value with the
 *   statements of every chunk of its source: with it, chunks are written a source at a time,
 *   so give each source's chunks together (chunk files are read so; `Extraction.extract`
 *   interleaves documents). A source's chunks built apart give each group's topic text.
 *
 * @since 0.3.0
 */
import { Clock, Data, Effect, Result, Stream } from "effect"
import * as BatchConfig from "../engine/BatchConfig.ts"
import type * as BatchRecord from "../engine/BatchRecord.ts"
import * as BatchRunner from "../engine/BatchRunner.ts"
import type * as ModelFamily from "../engine/ModelFamily.ts"
import { ModelRuntime } from "../engine/ModelRuntime.ts"
import * as Pricing from "../engine/Pricing.ts"
import * as RunState from "../engine/RunState.ts"
import * as ServiceError from "../engine/ServiceError.ts"
import type * as ExtractedChunk from "../extraction/ExtractedChunk.ts"
import { md5Hex } from "../extraction/Ids.ts"
import * as GraphModel from "./GraphModel.ts"
import * as GraphStore from "./GraphStore.ts"
import * as VectorStore from "./VectorStore.ts"

/** What the build takes: extracted chunks, or chunk files as the build reads them. */
export type Buildable = ExtractedChunk.ExtractedChunk | GraphModel.ChunkInput

/** The indexes built unless told otherwise (the reference's default). */
export const defaultIndexes: ReadonlyArray<BuiltIndex> = ["chunk", "statement"]

/** The vector indexes this build writes. */
export type BuiltIndex = GraphModel.EmbeddingIndex

/** Nodes or edges per store call unless told otherwise. */
export const defaultGraphBatchSize = 500

/** The engine stage name of embedding records (in job names, keys and events). */
export const stage = "embeddings"

/** Options of a build. */
export interface Options {
  /** The engine's configuration with the embedding model as `model.modelId`. */
  readonly embedding: BatchConfig.BatchConfig
  /** Names the build's run (the run state keeps its embedding answers under it). */
  readonly runId: string
  /** The vector indexes to build (default {@link defaultIndexes}). */
  readonly indexes?: ReadonlyArray<BuiltIndex> | undefined
  /** Chunks merged into one graph write (default 50). */
  readonly chunksPerWrite?: number | undefined
  /**
   * Nodes or edges per store call (default {@link defaultGraphBatchSize}: the embedded store
   * writes about 3 times faster in batches of 500 than of 25; an openCypher store sending
   * `OpenCypher` statements may want its `defaultBatchSize`).
   */
  readonly graphBatchSize?: number | undefined
  /** Vector rows per store call (default 100). */
  readonly vectorBatchSize?: number | undefined
  /** Told after each graph write and each vector write, with the totals so far (for a progress display). */
  readonly onProgress?: ((progress: Progress) => Effect.Effect<void>) | undefined
}

/** How far a build is. */
export interface Progress {
  /** Chunks written to the graph. */
  readonly chunks: number
  /** Vector rows written. */
  readonly vectors: number
}

/** The embedding model cannot embed (it is a text model), or the options are unusable. */
export class InvalidBuildOptions extends Data.TaggedError("InvalidBuildOptions")<{
  readonly message: string
}> {}

/** A text that could not be embedded, and why. */
export interface EmbeddingFailure {
  readonly index: BuiltIndex
  readonly id: string
  readonly reason: string
}

/** What a build did. */
export interface Summary {
  /** Chunks read. */
  readonly chunks: number
  /** Chunks without topics: nothing built from them (as in the reference). */
  readonly chunksWithoutTopics: number
  /**
   * Chunks the graph already held from the same content (built before; their texts' vectors
   * are still checked): not written again.
   */
  readonly unchangedChunks: number
  /** Nodes and edges written (upserted), by label; an element shared by chunks counts per write. */
  readonly written: GraphModel.Counts
  /** Nodes and edges removed when chunks replaced what they contributed before. */
  readonly removed: { readonly nodes: number; readonly edges: number }
  readonly embeddings: {
    /** Vectors written, by index. */
    readonly written: { readonly [I in BuiltIndex]: number }
    /**
     * Texts answered in batch jobs and on demand, answers an interrupted attempt of the same
     * run recorded included (those were paid once, then).
     */
    readonly batch: number
    readonly onDemand: number
    /** Texts whose row was current: not embedded again. */
    readonly unchanged: number
    readonly inputTokens: number
    /**
     * What the embeddings cost, in US dollars, from their input tokens (batch and on demand, the
     * saving against all on demand); `null` for a model without a price (`costNote` says why).
     * Answers an interrupted attempt of the same run recorded are included (each paid once).
     */
    readonly cost: Pricing.Cost | null
    readonly costNote?: string
    readonly failed: ReadonlyArray<EmbeddingFailure>
  }
}

/** Errors that end a build. */
export type BuildError =
  | InvalidBuildOptions
  | GraphModel.InvalidInput
  | GraphStore.GraphStoreError
  | VectorStore.DimensionMismatch
  | VectorStore.ModelMismatch
  | VectorStore.IndexNotFound
  | VectorStore.VectorStoreError
  | BatchRunner.InvalidRunOptions
  | ModelFamily.UnknownModelFamily
  | RunState.StateError

/** The digest a row carries: what was embedded, with which model and dimensions. */
export const digestOf = (model: string, dimensions: number, text: string): string =>
  md5Hex(`${model}\n${dimensions}\n${text}`)

/**
 * The record id of a text to embed: its index, node id and a part of its digest, so an answer
 * kept for a text that has since changed (the same statement with other details) never stands
 * for the new text.
 */
export const recordIdOf = (text: { readonly index: BuiltIndex; readonly id: string; readonly digest: string }) =>
  `${text.index}.${text.id}.${text.digest.slice(0, 12)}`

/** JSON with every object's keys in order: the same content gives the same text, whatever wrote it. */
const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === "object" && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner)

/**
 * The digest of a chunk's content, as the graph store records it once the chunk is written
 * (`GraphStore.recordBuilt`): the same chunk read from its file or taken from the extraction
 * gives the same digest.
 */
export const chunkDigestOf = (input: GraphModel.ChunkInput): string => md5Hex(canonicalJson(input))

const isExtracted = (item: Buildable): item is ExtractedChunk.ExtractedChunk => "chunk" in item && "topics" in item

/** The source id of a chunk (`""` for a chunk file without a single source relationship). */
const sourceOf = (item: Buildable): string => {
  if (isExtracted(item)) return item.chunk.source.id
  const source = item.relationships["1"]
  return source === undefined || Array.isArray(source) ? "" : (source as { readonly node_id: string }).node_id
}

/** The node label of each index's rows. */
const indexLabels: { readonly [I in BuiltIndex]: GraphModel.NodeLabel } = {
  chunk: GraphModel.NodeLabel.Chunk,
  statement: GraphModel.NodeLabel.Statement,
  topic: GraphModel.NodeLabel.Topic
}

interface Pending {
  readonly index: BuiltIndex
  readonly id: string
  readonly digest: string
  readonly text: string
  readonly chunkId: string
}

/** One text's answer. */
interface Embedded {
  readonly recordId: string
  readonly vector: ReadonlyArray<number> | undefined
  readonly failure: string | undefined
  readonly via: BatchRecord.Via
  readonly inputTokens: number
}

const positive = (name: string, value: number | undefined, fallback: number) =>
  value === undefined
    ? Effect.succeed(fallback)
    : Number.isInteger(value) && value >= 1
    ? Effect.succeed(value)
    : Effect.fail(new InvalidBuildOptions({ message: `${name} must be a positive integer, got ${value}` }))

/** A build's options checked and its indexes ready (see {@link prepare}). */
export interface Prepared {
  readonly family: ModelFamily.ModelFamily
  readonly embedding: ModelFamily.Embedding
  readonly indexes: ReadonlyArray<BuiltIndex>
  readonly chunksPerWrite: number
  readonly graphBatchSize: number
  readonly vectorBatchSize: number
}

/**
 * Check a build's options and create its vector indexes (or check those that exist against
 * the embedding model and its dimensions) before any chunk is read: what {@link build} does
 * first. Call it yourself to refuse a build before starting what feeds it (an extraction).
 */
export const prepare = (options: Options): Effect.Effect<
  Prepared,
  | InvalidBuildOptions
  | ModelFamily.UnknownModelFamily
  | VectorStore.DimensionMismatch
  | VectorStore.ModelMismatch
  | VectorStore.VectorStoreError,
  VectorStore.VectorStore
> =>
  Effect.gen(function*() {
    const config = options.embedding
    const model = config.model.modelId
    const family = yield* Effect.fromResult(BatchConfig.modelFamily(config))
    const embedding = family.embedding
    if (embedding === undefined) {
      return yield* new InvalidBuildOptions({
        message: `"${model}" is not an embedding model; set the embedding model (e.g. amazon.titan-embed-text-v2:0)`
      })
    }
    const indexes = [...new Set(options.indexes ?? defaultIndexes)]
    for (const index of indexes as ReadonlyArray<string>) {
      if (!(index in indexLabels)) {
        return yield* new InvalidBuildOptions({
          message: `the ${index} index cannot be built; the indexes are chunk, statement and topic`
        })
      }
    }
    const chunksPerWrite = yield* positive("chunksPerWrite", options.chunksPerWrite, 50)
    const graphBatchSize = yield* positive("graphBatchSize", options.graphBatchSize, defaultGraphBatchSize)
    const vectorBatchSize = yield* positive("vectorBatchSize", options.vectorBatchSize, 100)
    const vectors = yield* VectorStore.VectorStore
    for (const index of indexes) yield* vectors.createIndex(index, { dimensions: embedding.dimensions, model })
    return { family, embedding, indexes, chunksPerWrite, graphBatchSize, vectorBatchSize }
  })

/**
 * Build the graph and the vector indexes from chunks; the summary when every chunk is built.
 *
 * @example
 * ```ts
 * const summary = yield* Build.build(Extraction.extract(documents, extractOptions), {
 *   embedding: embeddingConfig,
 *   runId: "corpus-1"
 * })
 * ```
 */
export const build = <E, R>(
  chunks: Stream.Stream<Buildable, E, R>,
  options: Options
): Effect.Effect<
  Summary,
  E | BuildError,
  R | BatchRunner.Services | GraphStore.GraphStore | VectorStore.VectorStore
> =>
  Effect.gen(function*() {
    const config = options.embedding
    const model = config.model.modelId
    const { chunksPerWrite, embedding, family, graphBatchSize, indexes, vectorBatchSize } = yield* prepare(options)
    const graph = yield* GraphStore.GraphStore
    const vectors = yield* VectorStore.VectorStore
    const buildTimestamp = yield* Clock.currentTimeMillis

    const written = GraphModel.emptyCounts()
    const removed = { nodes: 0, edges: 0 }
    const rows = { chunk: 0, statement: 0, topic: 0 }
    const tally = {
      chunks: 0,
      chunksWithoutTopics: 0,
      unchangedChunks: 0,
      batch: 0,
      onDemand: 0,
      unchanged: 0,
      inputTokens: 0,
      batchTokens: 0,
      onDemandTokens: 0
    }
    const failed: Array<EmbeddingFailure> = []
    const progress = () =>
      options.onProgress?.({ chunks: tally.chunks, vectors: rows.chunk + rows.statement + rows.topic }) ??
        Effect.void
    // Texts sent and not yet written, by record id: bounded by what is in flight.
    const pending = new Map<string, Pending>()

    /** Write a group of chunks to the graph (those changed since they were built); the texts of theirs to embed. */
    const writeGroup = (group: ReadonlyArray<Buildable>) =>
      Effect.gen(function*() {
        const built: Array<{ readonly contribution: GraphModel.Contribution | undefined; readonly digest: string }> = []
        const problems: Array<GraphModel.ChunkProblem> = []
        const ids: Array<string> = []
        for (const item of group) {
          const input = isExtracted(item) ? GraphModel.fromExtracted(item) : item
          ids.push(input.id_)
          const result = GraphModel.contribution(input, { buildTimestamp })
          if (Result.isFailure(result)) problems.push(...result.failure.problems)
          else built.push({ contribution: result.success, digest: chunkDigestOf(input) })
        }
        if (problems.length > 0) {
          return yield* new GraphModel.InvalidInput({
            problems,
            message: problems.map((problem) => `${problem.chunkId}: ${problem.message}`).join("; ")
          })
        }
        tally.chunks += group.length
        tally.chunksWithoutTopics += built.filter((chunk) => chunk.contribution === undefined).length
        // A chunk built before from the same content is not written again.
        const known = yield* graph.builtDigests(ids)
        const changed = ids.flatMap((id, i) => (known.get(id) === built[i]!.digest ? [] : [i]))
        tally.unchangedChunks += ids.length - changed.length
        const deleted: Array<GraphModel.NodeRef> = []
        for (const i of changed) {
          const gone = yield* graph.removeChunk(ids[i]!)
          removed.nodes += gone.nodes
          removed.edges += gone.edges
          deleted.push(...gone.deletedNodes)
        }
        const contributions = built.flatMap((chunk) => (chunk.contribution === undefined ? [] : [chunk.contribution]))
        const merged = GraphModel.merge(contributions)
        const toWrite = changed.length === ids.length
          ? merged
          : GraphModel.merge(changed.flatMap((i) => {
            const contribution = built[i]!.contribution
            return contribution === undefined ? [] : [contribution]
          }))
        yield* GraphStore.write(toWrite, { batchSize: graphBatchSize })
        if (changed.length > 0) {
          yield* graph.recordBuilt(changed.map((i) => ({ chunkId: ids[i]!, digest: built[i]!.digest })))
        }
        // Rows of chunks and statements no chunk contributes any more.
        const kept = new Set(merged.nodes.map((node) => node.id))
        for (const index of indexes) {
          const label = indexLabels[index]
          const gone = deleted.filter((node) => node.label === label && !kept.has(node.id)).map((node) => node.id)
          if (gone.length > 0) yield* vectors.remove(index, gone)
        }
        const counts = GraphModel.counts(toWrite)
        for (const label of GraphModel.nodeLabels) written.nodes[label] += counts.nodes[label]
        for (const label of GraphModel.edgeLabels) written.edges[label] += counts.edges[label]
        yield* progress()

        const texts: Array<Pending> = []
        for (const index of indexes) {
          const candidates = merged.embeddings.filter((e) => e.index === index)
          if (candidates.length === 0) continue
          const current = yield* vectors.digests(index, candidates.map((e) => e.id))
          for (const e of candidates) {
            const digest = digestOf(model, embedding.dimensions, e.text)
            if (current.get(e.id) === digest) {
              tally.unchanged += 1
              continue
            }
            const text: Pending = { index, id: e.id, digest, text: e.text, chunkId: e.chunkIds[0] ?? "" }
            // Already on its way (the same text from a chunk of an earlier group).
            if (pending.has(recordIdOf(text))) continue
            pending.set(recordIdOf(text), text)
            texts.push(text)
          }
        }
        return texts
      })

    const texts = chunks.pipe(
      // A topic's text needs every chunk of its source: then a group is a source.
      indexes.includes("topic")
        ? (stream) => Stream.map(Stream.groupAdjacentBy(stream, sourceOf), ([, group]) => group)
        : Stream.grouped(chunksPerWrite),
      Stream.mapEffect(writeGroup),
      Stream.flattenIterable
    )

    const readVectors = (body: unknown, count: number): Result.Result<ModelFamily.ModelOutput, string> =>
      Result.flatMap(family.readOutput(body), (output) =>
        output.vectors?.length === count
          ? Result.succeed(output)
          : Result.fail(`expected ${count} embedding(s), the answer has ${output.vectors?.length ?? 0}`))

    type Answers = Stream.Stream<
      Embedded,
      E | BuildError,
      R | BatchRunner.Services | GraphStore.GraphStore | VectorStore.VectorStore
    >

    // In batch: one text a record, through the engine.
    const inBatch = (): Answers =>
      BatchRunner.run(
        Stream.map(texts, (text): BatchRecord.BatchRecord => ({
          recordId: recordIdOf(text),
          modelInput: embedding.buildEmbeddingRequest([text.text.slice(0, embedding.maxTextCharacters)], "document")
        })),
        { config, runId: options.runId, stage }
      ).pipe(Stream.map((outcome): Embedded => {
        if (outcome._tag === "Failed") {
          return {
            recordId: outcome.recordId,
            vector: undefined,
            failure: outcome.reason,
            via: "batch",
            inputTokens: 0
          }
        }
        const vector = outcome.output.vectors?.[0]
        return {
          recordId: outcome.recordId,
          vector,
          failure: vector === undefined ? "the answer holds no embedding" : undefined,
          via: outcome.via,
          inputTokens: outcome.output.usage.inputTokens
        }
      }))

    // On demand: `maxTextsPerRequest` texts a call.
    const onDemand = (): Answers =>
      texts.pipe(
        Stream.grouped(embedding.maxTextsPerRequest),
        Stream.mapEffect((group) =>
          Effect.gen(function*() {
            const runtime = yield* ModelRuntime
            const body = embedding.buildEmbeddingRequest(
              group.map((text) => text.text.slice(0, embedding.maxTextCharacters)),
              "document"
            )
            const answer = yield* ServiceError.retryTransient(
              runtime.invoke({ modelId: model, invocationType: "InvokeModel", body })
            ).pipe(Effect.result)
            const output = Result.isSuccess(answer)
              ? readVectors(answer.success, group.length)
              : Result.fail(`on-demand call failed: ${ServiceError.describe(answer.failure)}`)
            const share = Result.isSuccess(output) ? output.success.usage.inputTokens / group.length : 0
            return group.map((text, i): Embedded => ({
              recordId: recordIdOf(text),
              vector: Result.isSuccess(output) ? output.success.vectors![i] : undefined,
              failure: Result.isFailure(output) ? output.failure : undefined,
              via: "onDemand",
              inputTokens: share
            }))
          }), { concurrency: config.onDemandConcurrency }),
        Stream.flattenIterable
      )

    const answers = embedding.batch ? inBatch() : onDemand()

    yield* answers.pipe(
      Stream.grouped(vectorBatchSize),
      Stream.runForEach((group) =>
        Effect.gen(function*() {
          const byIndex = new Map<BuiltIndex, Array<VectorStore.VectorRow>>()
          for (const answer of group) {
            const text = pending.get(answer.recordId)
            if (text === undefined) continue
            tally.inputTokens += answer.inputTokens
            if (answer.via === "batch") tally.batchTokens += answer.inputTokens
            else tally.onDemandTokens += answer.inputTokens
            if (answer.vector === undefined) {
              pending.delete(answer.recordId)
              failed.push({ index: text.index, id: text.id, reason: answer.failure ?? "no embedding" })
              continue
            }
            if (answer.via === "batch") tally.batch += 1
            else tally.onDemand += 1
            const list = byIndex.get(text.index) ?? []
            list.push({
              id: text.id,
              vector: answer.vector,
              digest: text.digest,
              metadata: { value: text.text, chunkId: text.chunkId }
            })
            byIndex.set(text.index, list)
          }
          for (const [index, list] of byIndex) {
            yield* vectors.upsert(index, list)
            rows[index] += list.length
            for (const row of list) pending.delete(recordIdOf({ index, id: row.id, digest: row.digest }))
          }
          yield* progress()
        })
      )
    )

    // The indexes' rows are written: make them fast to search again (a store may defer that).
    for (const index of indexes) yield* vectors.finishWrites(index)
    // Every answer is in the vector store now (its digests say what is current): the run state
    // forgets them, so they do not accumulate under a run id that builds again and again.
    yield* (yield* RunState.RunState).forgetStage(options.runId, stage).pipe(
      Effect.catch((error) =>
        Effect.logWarning(`the build's recorded answers were kept (${error.message}); the next build reads them again`)
      )
    )

    return {
      chunks: tally.chunks,
      chunksWithoutTopics: tally.chunksWithoutTopics,
      unchangedChunks: tally.unchangedChunks,
      written,
      removed,
      embeddings: {
        written: rows,
        batch: tally.batch,
        onDemand: tally.onDemand,
        unchanged: tally.unchanged,
        inputTokens: Math.round(tally.inputTokens),
        ...Pricing.report(model, {
          batch: { input: Math.round(tally.batchTokens), output: 0 },
          onDemand: { input: Math.round(tally.onDemandTokens), output: 0 }
        }, config.prices),
        failed
      }
    } satisfies Summary
  })
