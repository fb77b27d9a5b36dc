/**
 * The graph and vector stores of `build` and `query`, opened from their URLs: the embedded
 * store of `@batch-extract/store` (PGlite, loaded only when a command opens a store, so
 * `extract` without `--build` never loads it), and {@link StatementContexts}, which reads a
 * statement's topic, chunks and sources back from the graph.
 *
 * Gotchas: one process at a time per store directory (the store's lock refuses a second
 * opener); different graph and vector URLs open two databases.
 */
import { GraphModel, GraphStore, VectorStore } from "@batch-extract/core"
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

/** What the command uses of the embedded store's module (`@batch-extract/store`'s `EmbeddedGraph`). */
interface EmbeddedModule {
  readonly layer: (options: { readonly dataDir: string }) => Layer.Layer<
    GraphStore.GraphStore | VectorStore.VectorStore | EmbeddedService,
    GraphStore.GraphStoreError
  >
  readonly EmbeddedGraph: Context.Key<EmbeddedService, EmbeddedService["Service"]>
}

interface EmbeddedService {
  readonly Service: {
    readonly cypher: (
      query: string,
      params?: { readonly [name: string]: unknown }
    ) => Effect.Effect<ReadonlyArray<Record<string, unknown>>, GraphStore.GraphStoreError>
  }
}

const loadEmbedded = Effect.promise(() => import("@batch-extract/store")).pipe(
  Effect.map((module) => (module as unknown as { readonly EmbeddedGraph?: EmbeddedModule }).EmbeddedGraph)
)

/** Stores in memory by URL, for a process without the embedded store (kept for the process's life). */
const memoryStores = new Map<
  string,
  { readonly graph: GraphStore.MemoryGraphStore; readonly vectors: VectorStore.VectorStore["Service"] }
>()

const memoryOf = (url: string) =>
  Effect.gen(function*() {
    const existing = memoryStores.get(url)
    if (existing !== undefined) return existing
    const created = { graph: yield* GraphStore.makeMemory, vectors: yield* VectorStore.makeMemory }
    memoryStores.set(url, created)
    return created
  })

const memoryContexts = (graph: GraphStore.MemoryGraphStore): StatementContexts["Service"] => ({
  of: (ids) =>
    Effect.gen(function*() {
      const nodes = yield* graph.nodes
      const edges = yield* graph.edges
      const byId = new Map(nodes.map((node) => [`${node.label}\u0000${node.id}`, node]))
      const rows: Array<Record<string, unknown>> = []
      for (const id of ids) {
        const node = byId.get(`${Statement}\u0000${id}`)
        if (node === undefined) continue
        const from = (label: GraphModel.EdgeLabel, nodeId: string) =>
          edges.filter((edge) => edge.label === label && edge.from.id === nodeId).map((edge) => edge.to.id)
        const topic = from(BelongsTo, id).map((t) => byId.get(`${Topic}\u0000${t}`)?.properties.value)[0]
        const chunks = from(MentionedIn, id)
        for (const chunkId of chunks.length === 0 ? [undefined] : chunks) {
          rows.push({
            statementId: id,
            statement: node.properties.value,
            topic,
            chunkId,
            sourceId: chunkId === undefined ? undefined : from(ExtractedFrom, chunkId)[0]
          })
        }
      }
      return contextsOf(rows)
    })
})

const openFailure = (url: string) => (error: { readonly message: string }) =>
  new StoreUnavailable({ url, message: `cannot open the store ${url}: ${error.message}`, cause: error })

/** One embedded database with both ports and its statement reader. */
const embeddedLayer = (Embedded: EmbeddedModule, url: string): Layer.Layer<Services, StoreUnavailable> =>
  Layer.effectContext(
    Effect.gen(function*() {
      const context = yield* Layer.build(Embedded.layer({ dataDir: directoryOf(url) }))
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
 * database when the URLs are the same.
 *
 * When `@batch-extract/store` has no embedded store, the stores are in memory (kept per URL
 * for the life of the process).
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
    const Embedded = yield* loadEmbedded
    // A reader (`existing`) never creates a store: opening a missing one would make it empty.
    for (const url of options.existing === true ? [...new Set([graphUrl, vectorUrl])] : []) {
      const found = Embedded === undefined ? memoryStores.has(url) : existsSync(directoryOf(url))
      if (!found) return yield* new StoreUnavailable({ url, message: `no store at ${url}: run build first` })
    }
    if (Embedded === undefined) {
      const graph = yield* memoryOf(graphUrl)
      const vectors = yield* memoryOf(vectorUrl)
      return Layer.mergeAll(
        Layer.succeed(GraphStore.GraphStore, graph.graph.service),
        Layer.succeed(VectorStore.VectorStore, vectors.vectors),
        Layer.succeed(StatementContexts, memoryContexts(graph.graph))
      )
    }
    if (graphUrl === vectorUrl) return embeddedLayer(Embedded, graphUrl)
    // Two databases: the graph (and its reader) from one, the vectors from the other.
    return Layer.effectContext(Effect.gen(function*() {
      const graph = yield* Layer.build(embeddedLayer(Embedded, graphUrl))
      const vectors = yield* Layer.build(embeddedLayer(Embedded, vectorUrl))
      return Context.add(graph, VectorStore.VectorStore, Context.get(vectors, VectorStore.VectorStore))
    }))
  }))
