/**
 * The graph-store port: where the build writes the lexical graph ({@link GraphModel}).
 *
 * Contract of every implementation:
 * - `upsertNodes`/`upsertEdges` are idempotent upserts by id (openCypher `MERGE`, see
 *   {@link OpenCypher}): properties are overwritten per key (last writer wins), the contributing
 *   chunks (`chunkIds`) are united, and an edge whose endpoint is missing creates it bare.
 * - `removeChunk` removes one chunk from every element's contributors and deletes the elements
 *   left with none (nodes with their edges), and forgets the chunk's recorded digest. With
 *   `upsert*` of the chunk's new {@link GraphModel.Contribution} it replaces what the chunk
 *   contributed ({@link replaceChunk}) and nothing else.
 * - `recordBuilt` records, per chunk, the digest of what its graph was built from (an upsert: a
 *   chunk recorded again takes the new digest); `builtDigests` gives back the digest recorded for
 *   each chunk asked that has one (none for a chunk never recorded or removed since, an empty map
 *   for no ids). A build compares them to skip rewriting a chunk that is unchanged. The record
 *   lives with the graph (it persists when the graph does) and is independent of it: recording a
 *   chunk writes no element, upserting elements records no chunk.
 * - `counts` gives nodes and edges by label.
 *
 * The store keeps the contributor ledger however suits it (a property, a side table); the
 * graph itself carries the reference's properties only. A store that can enforce unique ids
 * (a uniqueness constraint or unique index per label and id key) should, so concurrent writers
 * MERGEing the same entity cannot duplicate it (the reference's Neo4j store could, BUILD.md
 * §9.11).
 *
 * Live Layer: the embedded store package (PGlite with Apache AGE). For tests: {@link makeMemory}
 * / {@link layerMemory}.
 *
 * @since 0.1.0
 */
import { Context, Data, Effect, Layer } from "effect"
import * as GraphModel from "./GraphModel.ts"
import * as OpenCypher from "./OpenCypher.ts"

/** A store operation failed (connection, query, constraint). */
export class GraphStoreError extends Data.TaggedError("GraphStoreError")<{
  /** The port operation, e.g. `"GraphStore.upsertNodes"`. */
  readonly operation: string
  readonly message: string
  /** Whether trying again may succeed (a lost connection) or not (a rejected query). */
  readonly retryable: boolean
  readonly cause?: unknown
}> {}

/** What a removal deleted. */
export interface Removed {
  readonly nodes: number
  readonly edges: number
  /** The nodes deleted (their rows in the vector indexes go with them). */
  readonly deletedNodes: ReadonlyArray<GraphModel.NodeRef>
}

/**
 * The graph-store service.
 *
 * Gotchas:
 * - Send nodes before the edges that join them: an edge to a missing node creates a bare
 *   placeholder, which the node's upsert then fills.
 * - Each call is one batch; {@link write} cuts a graph into batches.
 * - The built-chunk record is written only by `recordBuilt`: record a chunk after its
 *   contribution is written, so a build stopped in between rewrites it next time.
 */
export class GraphStore extends Context.Service<GraphStore, {
  /** Upsert nodes by label and id (one batch). */
  readonly upsertNodes: (nodes: ReadonlyArray<GraphModel.GraphNode>) => Effect.Effect<void, GraphStoreError>
  /** Upsert edges by id, creating missing endpoints bare (one batch). */
  readonly upsertEdges: (edges: ReadonlyArray<GraphModel.GraphEdge>) => Effect.Effect<void, GraphStoreError>
  /**
   * Remove what a chunk contributed: elements only it contributed are deleted, and the chunk's
   * recorded digest is forgotten.
   */
  readonly removeChunk: (chunkId: string) => Effect.Effect<Removed, GraphStoreError>
  /**
   * The digest recorded by `recordBuilt` for each of these chunks, keyed by chunk id; a chunk never
   * recorded, or removed since, is absent.
   */
  readonly builtDigests: (
    chunkIds: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyMap<string, string>, GraphStoreError>
  /**
   * Record that these chunks were built from these digests (upsert: a chunk recorded again takes
   * the new digest; the last of a chunk listed twice wins).
   */
  readonly recordBuilt: (
    chunks: ReadonlyArray<{ readonly chunkId: string; readonly digest: string }>
  ) => Effect.Effect<void, GraphStoreError>
  /** Nodes and edges by label. */
  readonly counts: Effect.Effect<GraphModel.Counts, GraphStoreError>
}>()("@batch-extract/core/GraphStore") {}

const slices = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  const step = Math.max(1, Math.floor(size))
  for (let i = 0; i < items.length; i += step) out.push(items.slice(i, i + step))
  return out
}

/** Write a graph or a contribution: nodes, then edges, `batchSize` elements per call. */
export const write = Effect.fn("GraphStore.write")(function*(
  graph: Pick<GraphModel.Graph, "nodes" | "edges">,
  options: { readonly batchSize?: number | undefined } = {}
) {
  const store = yield* GraphStore
  const size = options.batchSize ?? OpenCypher.defaultBatchSize
  for (const batch of slices(graph.nodes, size)) yield* store.upsertNodes(batch)
  for (const batch of slices(graph.edges, size)) yield* store.upsertEdges(batch)
})

/**
 * Replace what a chunk contributed with its new contribution (a chunk extracted again):
 * elements only the old chunk had disappear, shared ones stay, the new ones are upserted.
 */
export const replaceChunk = Effect.fn("GraphStore.replaceChunk")(function*(
  contribution: GraphModel.Contribution,
  options: { readonly batchSize?: number | undefined } = {}
) {
  const store = yield* GraphStore
  const removed = yield* store.removeChunk(contribution.chunkId)
  yield* write(contribution, options)
  return removed
})

// -----------------------------------------------------------------------------
// In memory
// -----------------------------------------------------------------------------

/** The in-memory store plus what tests inspect. */
export interface MemoryGraphStore {
  readonly service: GraphStore["Service"]
  /** Every node, in insertion order. */
  readonly nodes: Effect.Effect<ReadonlyArray<GraphModel.GraphNode>>
  /** Every edge, in insertion order. */
  readonly edges: Effect.Effect<ReadonlyArray<GraphModel.GraphEdge>>
  /** How many upsert calls (batches) the store received. */
  readonly upserts: Effect.Effect<number>
}

interface State {
  readonly nodes: Map<string, GraphModel.GraphNode>
  readonly edges: Map<string, GraphModel.GraphEdge>
  /** Digest by chunk id, as `recordBuilt` left it. */
  readonly built: Map<string, string>
  upserts: number
}

const nodeKey = (ref: GraphModel.NodeRef) => `${ref.label}\u0000${ref.id}`

const upsertNode = (state: State, node: GraphModel.GraphNode) => {
  const key = nodeKey(node)
  const existing = state.nodes.get(key)
  state.nodes.set(
    key,
    existing === undefined ? node : {
      ...existing,
      properties: { ...existing.properties, ...node.properties },
      chunkIds: GraphModel.uniteChunkIds(existing.chunkIds, node.chunkIds)
    }
  )
}

const removeChunkFrom = (state: State, chunkId: string): Removed => {
  let nodes = 0
  let edges = 0
  const deletedNodes: Array<GraphModel.NodeRef> = []
  for (const [key, edge] of state.edges) {
    if (!edge.chunkIds.includes(chunkId)) continue
    const rest = edge.chunkIds.filter((id) => id !== chunkId)
    if (rest.length === 0) {
      state.edges.delete(key)
      edges += 1
    } else {
      state.edges.set(key, { ...edge, chunkIds: rest })
    }
  }
  for (const [key, node] of state.nodes) {
    if (!node.chunkIds.includes(chunkId)) continue
    const rest = node.chunkIds.filter((id) => id !== chunkId)
    if (rest.length > 0) {
      state.nodes.set(key, { ...node, chunkIds: rest })
      continue
    }
    state.nodes.delete(key)
    nodes += 1
    deletedNodes.push({ label: node.label, id: node.id })
    // DETACH DELETE: edges of other chunks attached to the node go with it.
    for (const [edgeKey, edge] of state.edges) {
      if (nodeKey(edge.from) === key || nodeKey(edge.to) === key) {
        state.edges.delete(edgeKey)
        edges += 1
      }
    }
  }
  return { nodes, edges, deletedNodes }
}

/**
 * A store in memory with the port's exact semantics (MERGE by id, per-key overwrite, bare
 * endpoints, contributor ledger, built-chunk record). Never fails.
 */
export const makeMemory: Effect.Effect<MemoryGraphStore> = Effect.sync(() => {
  const state: State = { nodes: new Map(), edges: new Map(), built: new Map(), upserts: 0 }
  // Each operation runs synchronously to its end, so operations never interleave.
  const run = <A>(f: () => A): Effect.Effect<A> => Effect.sync(f)
  const service: GraphStore["Service"] = {
    upsertNodes: (nodes) =>
      run(() => {
        state.upserts += 1
        for (const node of nodes) upsertNode(state, node)
      }),
    upsertEdges: (edges) =>
      run(() => {
        state.upserts += 1
        for (const edge of edges) {
          for (const end of [edge.from, edge.to]) {
            if (!state.nodes.has(nodeKey(end))) upsertNode(state, { ...end, properties: {}, chunkIds: edge.chunkIds })
          }
          const existing = state.edges.get(edge.id)
          state.edges.set(
            edge.id,
            existing === undefined
              ? edge
              : { ...existing, chunkIds: GraphModel.uniteChunkIds(existing.chunkIds, edge.chunkIds) }
          )
        }
      }),
    removeChunk: (chunkId) =>
      run(() => {
        state.built.delete(chunkId)
        return removeChunkFrom(state, chunkId)
      }),
    builtDigests: (chunkIds) =>
      run(() => {
        const found = new Map<string, string>()
        for (const id of chunkIds) {
          const digest = state.built.get(id)
          if (digest !== undefined) found.set(id, digest)
        }
        return found
      }),
    recordBuilt: (chunks) =>
      run(() => {
        for (const { chunkId, digest } of chunks) state.built.set(chunkId, digest)
      }),
    counts: run(() => GraphModel.counts({ nodes: [...state.nodes.values()], edges: [...state.edges.values()] }))
  }
  return {
    service,
    nodes: run(() => [...state.nodes.values()]),
    edges: run(() => [...state.edges.values()]),
    upserts: run(() => state.upserts)
  }
})

/** The in-memory store as a Layer (a fresh, empty store per build of the Layer). */
export const layerMemory: Layer.Layer<GraphStore> = Layer.effect(GraphStore, Effect.map(makeMemory, (m) => m.service))
