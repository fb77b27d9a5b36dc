/**
 * The graph and vector stores of `build` and `query`, opened from their URLs: the embedded
 * store of `@batch-extract/store` (PGlite, loaded only when a command opens a store, so
 * `extract` without `--build` never loads it), and {@link StatementContexts}, which reads a
 * statement's topic, chunks and sources back from the graph.
 *
 * Gotchas: one process at a time per store directory (the store's lock refuses a second
 * opener); different graph and vector URLs open two databases.
 */
import { GraphModel, type GraphStore, VectorStore } from "@batch-extract/core"
import { Context, Data, Effect, Layer } from "effect"
import { existsSync } from "node:fs"

/** A store could not be opened (bad URL, locked by another process, damaged): exit 2. */
export class StoreUnavailable extends Data.TaggedError("StoreUnavailable")<{
  readonly url: string
  readonly message: string
  readonly cause?: unknown
}> {}

/** Where a statement was found: its topic, and the chunks (with their sources) that mention it. */
export interface StatementContext {
  readonly statementId: string
  readonly statement: string
  readonly topic: string | undefined
  readonly chunks: ReadonlyArray<{ readonly chunkId: string; readonly sourceId: string | undefined }>
}

/** Reads statements' context back from the graph (openCypher on the embedded store). */
export class StatementContexts extends Context.Service<StatementContexts, {
  readonly of: (
    statementIds: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyMap<string, StatementContext>, GraphStore.GraphStoreError>
}>()("@batch-extract/cli/StatementContexts") {}

/** What a command gets from {@link storesLayer}. */
export type Services = GraphStore.GraphStore | VectorStore.VectorStore | StatementContexts

const { BelongsTo, ExtractedFrom, MentionedIn } = GraphModel.EdgeLabel
const { Chunk, Source, Statement, Topic } = GraphModel.NodeLabel

/** The openCypher that expands statements to their topic, chunks and sources. */
export const contextQuery = `MATCH (s:${Statement}) WHERE s.statementId IN $ids
OPTIONAL MATCH (s)-[:${BelongsTo}]->(t:${Topic})
OPTIONAL MATCH (s)-[:${MentionedIn}]->(c:${Chunk})
OPTIONAL MATCH (c)-[:${ExtractedFrom}]->(src:${Source})
RETURN s.statementId AS statementId, s.value AS statement, t.value AS topic, c.chunkId AS chunkId, src.sourceId AS sourceId`

const text = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined)

/** Group the query's rows (one per statement, chunk and source) by statement. */
export const contextsOf = (rows: ReadonlyArray<Record<string, unknown>>): Map<string, StatementContext> => {
  const found = new Map<string, StatementContext & { chunks: Array<StatementContext["chunks"][number]> }>()
  for (const row of rows) {
    const id = text(row.statementId)
    if (id === undefined) continue
    const context = found.get(id) ??
      { statementId: id, statement: text(row.statement) ?? "", topic: undefined, chunks: [] }
    const topic = text(row.topic)
    const chunkId = text(row.chunkId)
    const entry = {
      ...context,
      topic: context.topic ?? topic,
      chunks: chunkId === undefined || context.chunks.some((c) => c.chunkId === chunkId)
        ? context.chunks
        : [...context.chunks, { chunkId, sourceId: text(row.sourceId) }]
    }
    found.set(id, entry)
  }
  return found
}

/** The data directory of a `pglite://` URL (absolute or relative, as written). */
export const directoryOf = (url: string): string => url.slice("pglite://".length)

// Loaded when a command opens a store: `extract` without `--build` never loads PGlite.
const loadEmbedded = Effect.promise(() => import("@batch-extract/store")).pipe(
  Effect.map((module) => module.EmbeddedGraph)
)

// The store's own message names the directory and the cause.
const openFailure = (url: string) => (error: { readonly message: string }) =>
  new StoreUnavailable({ url, message: `${url}: ${error.message}`, cause: error })

/** One embedded database with both ports and its statement reader. */
const embeddedLayer = (
  Embedded: typeof import("@batch-extract/store").EmbeddedGraph,
  url: string
): Layer.Layer<Services, StoreUnavailable> =>
  Layer.effectContext(
    Effect.gen(function*() {
      const dataDir = yield* Embedded.parseStoreUrl(url)
      const context = yield* Layer.build(Embedded.layer({ dataDir }))
      const store = Context.get(context, Embedded.EmbeddedGraph)
      const reader = StatementContexts.of({
        of: (ids) =>
          ids.length === 0
            ? Effect.succeed(new Map())
            : Effect.map(store.cypher(contextQuery, { ids: [...ids] }), contextsOf)
      })
      return Context.add(context, StatementContexts, reader) as Context.Context<Services>
    }).pipe(Effect.mapError(openFailure(url)))
  )

/**
 * The graph store, the vector store and the statement reader of two URLs (`pglite://<dir>`),
 * opened when the Layer is built and closed when it is released. Both ports come from one
 * database when the URLs are the same. With `existing`, a store that does not exist yet is an
 * error instead of being created (a reader such as `query`).
 */
export const storesLayer = (
  graphUrl: string,
  vectorUrl: string,
  options: { readonly existing?: boolean | undefined } = {}
): Layer.Layer<Services, StoreUnavailable> =>
  Layer.unwrap(Effect.gen(function*() {
    for (const url of [graphUrl, vectorUrl]) {
      if (!url.startsWith("pglite://") || url.length === "pglite://".length) {
        return yield* new StoreUnavailable({ url, message: `unsupported store URL ${url}: expected pglite://<dir>` })
      }
    }
    for (const url of options.existing === true ? [...new Set([graphUrl, vectorUrl])] : []) {
      if (!existsSync(directoryOf(url))) {
        return yield* new StoreUnavailable({ url, message: `no store at ${url}: run build first` })
      }
    }
    const Embedded = yield* loadEmbedded
    if (graphUrl === vectorUrl) return embeddedLayer(Embedded, graphUrl)
    // Two databases: the graph (and its reader) from one, the vectors from the other.
    return Layer.effectContext(Effect.gen(function*() {
      const graph = yield* Layer.build(embeddedLayer(Embedded, graphUrl))
      const vectors = yield* Layer.build(embeddedLayer(Embedded, vectorUrl))
      return Context.add(graph, VectorStore.VectorStore, Context.get(vectors, VectorStore.VectorStore))
    }))
  }))
