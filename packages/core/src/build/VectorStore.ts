/**
 * The vector-store port: where the build writes embeddings (the reference's `chunk`,
 * `statement` and optional `topic` indexes) and where a query finds the nearest ones.
 *
 * Contract of every implementation:
 * - `createIndex(name, spec)` is idempotent for the same {@link IndexSpec} and fails with
 *   {@link DimensionMismatch} when the index exists with other dimensions, or
 *   {@link ModelMismatch} with another embedding model: vectors of two models are not
 *   comparable, so an index holds one model's. `describeIndex` tells which (a query embeds its
 *   question with that model).
 * - Every row carries the `digest` of what was embedded (model and text); `digests` gives them
 *   back by id, so a build embeds only rows that are missing or changed.
 * - `upsert` writes rows by id, replacing a row with the same id (the reference inserted only
 *   absent ids, so a row never changed, BUILD.md §9.12). A batch with a vector of the wrong
 *   length fails whole, writing nothing.
 * - `nearest` ranks by cosine similarity, best first, ties by id.
 * - `finishWrites` ends a run of writes: a store may defer its search structure while many rows
 *   are written, and builds it again there. Searching before it is still correct, only slower.
 *
 * Live Layer: the embedded store package (PGlite with pgvector). For tests: {@link makeMemory}
 * / {@link layerMemory}.
 *
 * @since 0.1.0
 */
import { Context, Data, Effect, Layer } from "effect"
import type { Metadata } from "../extraction/Document.ts"

/** One embedded text: the id of its node, its vector and what a query shows with it. */
export interface VectorRow {
  readonly id: string
  readonly vector: ReadonlyArray<number>
  /** What was embedded (model and text), as a digest: unchanged means no need to embed again. */
  readonly digest: string
  readonly metadata: Metadata
}

/** What an index holds: vectors of one model, of its dimensions. */
export interface IndexSpec {
  readonly dimensions: number
  /** The embedding model id. */
  readonly model: string
}

/** A row found by {@link VectorStore} `nearest`, with its cosine similarity (-1..1). */
export interface Match {
  readonly id: string
  readonly score: number
  readonly metadata: Metadata
}

/** An index exists with other dimensions than asked, or a vector does not fit its index. */
export class DimensionMismatch extends Data.TaggedError("DimensionMismatch")<{
  readonly operation: string
  readonly index: string
  /** The index's dimensions. */
  readonly expected: number
  /** The dimensions asked for, or the length of the offending vector. */
  readonly actual: number
  readonly message: string
}> {}

/** An index exists with vectors of another embedding model than asked. */
export class ModelMismatch extends Data.TaggedError("ModelMismatch")<{
  readonly operation: string
  readonly index: string
  /** The index's model. */
  readonly expected: string
  readonly actual: string
  readonly message: string
}> {}

/** The index was never created. */
export class IndexNotFound extends Data.TaggedError("IndexNotFound")<{
  readonly operation: string
  readonly index: string
  readonly message: string
}> {}

/** Any other store failure (connection, query, invalid argument). */
export class VectorStoreError extends Data.TaggedError("VectorStoreError")<{
  readonly operation: string
  readonly message: string
  /** Whether trying again may succeed. */
  readonly retryable: boolean
  readonly cause?: unknown
}> {}

/** The vector-store service. */
export class VectorStore extends Context.Service<VectorStore, {
  /** Create an index (no-op when it exists with the same spec). */
  readonly createIndex: (
    name: string,
    spec: IndexSpec
  ) => Effect.Effect<void, DimensionMismatch | ModelMismatch | VectorStoreError>
  /** The spec an index was created with, or `undefined` when it does not exist. */
  readonly describeIndex: (name: string) => Effect.Effect<IndexSpec | undefined, VectorStoreError>
  /** The digests of the rows with these ids that exist (missing ids are left out). */
  readonly digests: (
    index: string,
    ids: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyMap<string, string>, IndexNotFound | VectorStoreError>
  /** Insert or replace rows by id (one batch). */
  readonly upsert: (
    index: string,
    rows: ReadonlyArray<VectorRow>
  ) => Effect.Effect<void, IndexNotFound | DimensionMismatch | VectorStoreError>
  /** Delete rows by id (missing ids are ignored), e.g. the statements of a replaced chunk. */
  readonly remove: (index: string, ids: ReadonlyArray<string>) => Effect.Effect<void, IndexNotFound | VectorStoreError>
  /** The `k` rows most similar to a vector, best first. */
  readonly nearest: (
    index: string,
    vector: ReadonlyArray<number>,
    k: number
  ) => Effect.Effect<ReadonlyArray<Match>, IndexNotFound | DimensionMismatch | VectorStoreError>
  /** How many rows an index holds. */
  readonly count: (index: string) => Effect.Effect<number, IndexNotFound | VectorStoreError>
  /**
   * After a run of writes: make the index fast to search again (a store may defer its search
   * structure while many rows are written); idempotent; searching before it is still correct,
   * only slower. Call it once a build has written an index's rows.
   */
  readonly finishWrites: (index: string) => Effect.Effect<void, IndexNotFound | VectorStoreError>
}>()("@batch-extract/core/VectorStore") {}

/** Cosine similarity; 0 when either vector is all zeros (no direction to compare). */
export const cosine = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): number => {
  let dot = 0
  let normA = 0
  let normB = 0
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!
    const y = b[i] ?? 0
    dot += x * y
    normA += x * x
    normB += y * y
  }
  return normA === 0 || normB === 0 ? 0 : dot / Math.sqrt(normA * normB)
}

/**
 * Whether an index that exists (`existing`) may take vectors of `asked`: the same model and
 * dimensions, else {@link ModelMismatch} or {@link DimensionMismatch} (what every store's
 * `createIndex` reports for an index that exists).
 */
export const checkSpec = (
  operation: string,
  index: string,
  existing: IndexSpec,
  asked: IndexSpec
): Effect.Effect<void, DimensionMismatch | ModelMismatch> => {
  if (existing.model !== asked.model) {
    return Effect.fail(
      new ModelMismatch({
        operation,
        index,
        expected: existing.model,
        actual: asked.model,
        message: `vector index "${index}" holds vectors of ${existing.model}, not ${asked.model}`
      })
    )
  }
  return existing.dimensions === asked.dimensions ? Effect.void : Effect.fail(
    new DimensionMismatch({
      operation,
      index,
      expected: existing.dimensions,
      actual: asked.dimensions,
      message: `vector index "${index}" exists with ${existing.dimensions} dimensions, not ${asked.dimensions}`
    })
  )
}

// -----------------------------------------------------------------------------
// In memory
// -----------------------------------------------------------------------------

interface MemoryIndex extends IndexSpec {
  readonly rows: Map<string, VectorRow>
}

/** A store in memory with the port's exact semantics (exhaustive cosine search). */
export const makeMemory: Effect.Effect<VectorStore["Service"]> = Effect.sync(() => {
  const indexes = new Map<string, MemoryIndex>()

  const indexOf = (operation: string, name: string): Effect.Effect<MemoryIndex, IndexNotFound> => {
    const index = indexes.get(name)
    return index === undefined
      ? Effect.fail(new IndexNotFound({ operation, index: name, message: `vector index "${name}" does not exist` }))
      : Effect.succeed(index)
  }

  const checkLength = (operation: string, name: string, index: MemoryIndex, vector: ReadonlyArray<number>) =>
    vector.length === index.dimensions ? Effect.void : Effect.fail(
      new DimensionMismatch({
        operation,
        index: name,
        expected: index.dimensions,
        actual: vector.length,
        message: `vector of ${vector.length} dimensions for index "${name}" of ${index.dimensions}`
      })
    )

  return {
    createIndex: (name, { dimensions, model }) =>
      Effect.suspend((): Effect.Effect<void, DimensionMismatch | ModelMismatch | VectorStoreError> => {
        const operation = "VectorStore.createIndex"
        if (!Number.isInteger(dimensions) || dimensions < 1) {
          return Effect.fail(
            new VectorStoreError({
              operation,
              message: `dimensions must be a positive integer, got ${dimensions}`,
              retryable: false
            })
          )
        }
        const existing = indexes.get(name)
        if (existing === undefined) {
          indexes.set(name, { dimensions, model, rows: new Map() })
          return Effect.void
        }
        return checkSpec(operation, name, existing, { dimensions, model })
      }),
    describeIndex: (name) =>
      Effect.sync(() => {
        const index = indexes.get(name)
        return index === undefined ? undefined : { dimensions: index.dimensions, model: index.model }
      }),
    digests: (name, ids) =>
      Effect.map(indexOf("VectorStore.digests", name), (index) => {
        const found = new Map<string, string>()
        for (const id of ids) {
          const row = index.rows.get(id)
          if (row !== undefined) found.set(id, row.digest)
        }
        return found
      }),
    upsert: (name, rows) =>
      Effect.gen(function*() {
        const operation = "VectorStore.upsert"
        const index = yield* indexOf(operation, name)
        for (const row of rows) yield* checkLength(operation, name, index, row.vector)
        for (const row of rows) index.rows.set(row.id, row)
      }),
    remove: (name, ids) =>
      Effect.map(indexOf("VectorStore.remove", name), (index) => {
        for (const id of ids) index.rows.delete(id)
      }),
    nearest: (name, vector, k) =>
      Effect.gen(function*() {
        const operation = "VectorStore.nearest"
        const index = yield* indexOf(operation, name)
        yield* checkLength(operation, name, index, vector)
        return [...index.rows.values()]
          .map((row): Match => ({ id: row.id, score: cosine(vector, row.vector), metadata: row.metadata }))
          .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
          .slice(0, Math.max(0, Math.floor(k)))
      }),
    count: (name) => Effect.map(indexOf("VectorStore.count", name), (index) => index.rows.size),
    // Nothing deferred: every search is exhaustive.
    finishWrites: (name) => Effect.asVoid(indexOf("VectorStore.finishWrites", name))
  }
})

/** The in-memory store as a Layer (a fresh, empty store per build of the Layer). */
export const layerMemory: Layer.Layer<VectorStore> = Layer.effect(VectorStore, makeMemory)
