/**
 * The conformance suite of the `GraphStore` and `VectorStore` ports: every item of their
 * contracts (the module docs of `GraphStore` and `VectorStore`) as a case to run on a store. The
 * in-memory stores and the embedded PGlite store pass them; a store of your own (Neptune,
 * Neo4j, OpenSearch…) should too.
 *
 * **When to use**
 *
 * Tests of a store adapter: run {@link graphStoreCases} on your `GraphStore` Layer and
 * {@link vectorStoreCases} on your `VectorStore` Layer, one test per case. Each case is plain
 * data, a name and an effect, so any test runner serves; under `@effect/vitest`:
 *
 * ```ts
 * import { StoreContract } from "@batch-extract/core/testing"
 * import { describe, it } from "@effect/vitest"
 * import { Effect, Layer } from "effect"
 *
 * describe("my stores", () => {
 *   for (const c of StoreContract.graphStoreCases) {
 *     it.effect(c.name, () => c.run.pipe(Effect.provide(Layer.fresh(myGraphStoreLayer))))
 *   }
 *   for (const c of StoreContract.vectorStoreCases) {
 *     it.effect(c.name, () => c.run.pipe(Effect.provide(Layer.fresh(myVectorStoreLayer))))
 *   }
 * })
 * ```
 *
 * To have the graph cases check elements too, provide {@link GraphContents} from the same
 * Layer as the store (`Layer.effectContext`, one store behind both services).
 *
 * **Details**
 *
 * - Each case starts from an EMPTY store: run each on a fresh one (a Layer per case:
 *   `Layer.fresh(layer)`, or a Layer that empties a shared store first). A graph case checks
 *   that the store's counts are zero before anything else; a vector case that none of the
 *   indexes it uses exists.
 * - A case fails with a {@link ContractViolation} (what was checked, expected, actual), or with
 *   the store's own error when an operation fails that should not.
 * - Graph cases see the store through the port, which reads back only counts, removals and
 *   built digests. Every step also runs on the in-memory store (`GraphStore.makeMemory`, the
 *   port's reference semantics) and the store must answer as it does. Provide
 *   {@link GraphContents} beside the store, reading back its nodes and edges, and the cases also
 *   check every element (properties, endpoints, contributing chunks) against the graph built and
 *   against the reference.
 * - Vector cases check scores to 1e-6, so a store may keep 32-bit floats.
 *
 * **Gotchas**
 *
 * - The cases use index names `chunk`, `statement` and `topic`, graph elements of two synthetic
 *   sources (ids `aws::00000001:abcd…` and `aws::00000002:efgh…`) and bare chunk nodes `a`, `b`.
 * - What the port leaves to each store is not checked: invalid index names, NaN in vectors,
 *   whether a failed graph batch writes nothing, search structures. Test those beside the
 *   contract.
 *
 * @since 0.5.0
 */
import { Context, Effect, Option, Result } from "effect"
import * as GraphModel from "../build/GraphModel.ts"
import * as GraphStore from "../build/GraphStore.ts"
import * as VectorStore from "../build/VectorStore.ts"
import * as Topics from "../extraction/Topics.ts"
import * as expect from "./internal/expect.ts"

export {
  /**
   * A store broke its port's contract: `check` says what was checked, `expected` and `actual`
   * what the contract asks and what the store did.
   *
   * @since 0.5.0
   */
  ContractViolation
} from "./internal/expect.ts"

/**
 * One case of the suite: run it on a fresh, empty store.
 *
 * @since 0.5.0
 */
export interface Case<R> {
  readonly name: string
  readonly run: Effect.Effect<void, unknown, R>
}

/**
 * Reads back every node and edge of the graph store under test (optional: provide it beside the
 * store and the graph cases check elements too). Nodes carry their properties without the id
 * key, and the chunks that contributed them, in any order.
 *
 * @since 0.5.0
 */
export class GraphContents extends Context.Service<GraphContents, {
  readonly read: Effect.Effect<Pick<GraphModel.Graph, "nodes" | "edges">, unknown>
}>()("@batch-extract/core/testing/StoreContract/GraphContents") {}

// -----------------------------------------------------------------------------
// Chunks
// -----------------------------------------------------------------------------

const options: GraphModel.Options = { buildTimestamp: 1_760_000_000_000 }
/** The source of {@link chunk}'s chunks unless told otherwise. */
export const sourceId = "aws::00000001:abcd"
const otherSourceId = "aws::00000002:efgh"

/**
 * A chunk file's content, for tests: chunk `id` of a source (default the contract's first,
 * `aws::00000001:abcd`) whose topics are the given model output in the topic stage's grammar
 * (`Topics.parse`; none when `undefined`), with its text, position, source metadata and
 * relationships. Throws on a chunk that does not decode.
 */
export const chunk = (
  id: string,
  modelOutput: string | undefined,
  options: {
    readonly start?: number | null
    readonly source?: string
    readonly sourceMetadata?: Record<string, unknown>
    readonly metadata?: Record<string, unknown>
    readonly relationships?: Record<string, unknown>
    readonly text?: string
  } = {}
): GraphModel.ChunkInput => {
  const source = options.source ?? sourceId
  return Result.getOrThrow(GraphModel.decodeChunk({
    id_: `${source}:${id}`,
    metadata: {
      ...(modelOutput === undefined ? {} : { [Topics.metadataKey]: Topics.parse(modelOutput).topics }),
      ...options.metadata
    },
    relationships: {
      "1": { node_id: source, metadata: options.sourceMetadata ?? { title: "T" } },
      ...options.relationships
    },
    text: options.text ?? `text of ${id}`,
    start_char_idx: options.start === undefined ? 0 : options.start
  }))
}

const graphOf = (chunks: ReadonlyArray<GraphModel.ChunkInput>): GraphModel.Graph =>
  Result.getOrThrow(GraphModel.build(chunks, options))

const contributionOf = (input: GraphModel.ChunkInput): GraphModel.Contribution => {
  const result = Result.getOrThrow(GraphModel.contribution(input, options))
  if (result === undefined) throw new Error(`${input.id_} was skipped`)
  return result
}

interface Chunks {
  readonly c1: GraphModel.ChunkInput
  /** Shares the topic, an entity and a statement with c1; its source metadata has numbers, a boolean, a date. */
  readonly c2: GraphModel.ChunkInput
  /** c2 extracted again: another entity, relation and statement. */
  readonly c2Again: GraphModel.ChunkInput
  /** Quotes, `$$`, a backslash and an emoji; its NEXT chunk is never built (a bare `__Chunk__`). */
  readonly c3: GraphModel.ChunkInput
  /** Another source, no position: two topics, attributes (complements), a statement twice, details. */
  readonly c4: GraphModel.ChunkInput
}

let chunksMemo: Chunks | undefined

/** The chunks of the graph cases (built on first use, not when the test kit is imported). */
const chunks = (): Chunks =>
  chunksMemo ??= {
    c1: chunk(
      "c1",
      "topic: Neptune\nentities:\nNeptune|Service\nReplica|Product\nproposition: Neptune has replicas\nentity-entity relationships:\nNeptune|HAS|Replica\nproposition: Replicas read"
    ),
    c2: chunk(
      "c2",
      "topic: Neptune\nentities:\nNeptune|Service\nWriter|Product\nproposition: Replicas read\nproposition: Neptune has a writer\nentity-entity relationships:\nNeptune|HAS|Writer",
      {
        start: 100,
        sourceMetadata: { title: "T", pages: 12, score: 0.5, draft: false, "last modified_date": "2025-02-12" }
      }
    ),
    c2Again: chunk(
      "c2",
      "topic: Neptune\nentities:\nNeptune|Service\nVolume|Product\nproposition: Neptune stores data in a volume\nentity-entity relationships:\nNeptune|USES|Volume",
      { start: 100 }
    ),
    c3: chunk(
      "c3",
      "topic: Storage\nentities:\nVolume|Product\nproposition: Volumes grow with \"quotes\", $$ and 'apostrophes' 😀\nentity-entity relationships:\nVolume|PART OF|Neptune",
      {
        start: 200,
        relationships: { "3": { node_id: `${sourceId}:c9`, metadata: {} } },
        text: "text with a\\backslash, $$dollars$$ and a 'quote'"
      }
    ),
    c4: chunk(
      "c4",
      [
        "topic: Storage engine",
        "entities:",
        "Volume|Product",
        "Amazon S3|Service",
        "proposition: The volume grows to 128 TiB",
        "entity-attribute relationships:",
        "Volume|GROWS TO|128 TiB",
        "proposition: Volume backups go to Amazon S3",
        "entity-entity relationships:",
        "Volume|IS BACKED UP TO|Amazon S3",
        "Snapshots|ARE|incremental",
        "proposition: The volume grows to 128 TiB",
        "Volume|GROWS IN|10 GiB steps",
        "topic: Pricing",
        "entities:",
        "Volume|Product",
        "proposition: The volume grows to 128 TiB",
        "Volume|IS BILLED PER|GB-month"
      ].join("\n"),
      { source: otherSourceId, start: null, sourceMetadata: { title: "Other", "created_date": "2024-01-31" } }
    )
  }

// -----------------------------------------------------------------------------
// Graph: the store under test beside the reference
// -----------------------------------------------------------------------------

const stableJson = (value: object): string =>
  JSON.stringify(Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))))

const chunksText = (chunkIds: ReadonlyArray<string>) => `[${[...chunkIds].sort().join(",")}]`

const nodeLine = (n: GraphModel.GraphNode) => `${n.label} ${n.id} ${stableJson(n.properties)} ${chunksText(n.chunkIds)}`

const edgeLine = (e: GraphModel.GraphEdge) =>
  `${e.label} ${e.id} ${e.from.label}:${e.from.id} -> ${e.to.label}:${e.to.id} ${e.value ?? "-"} ${
    chunksText(e.chunkIds)
  }`

const refLine = (ref: GraphModel.NodeRef) => `${ref.label} ${ref.id}`

/** A removal with its deleted nodes in a canonical order (stores delete in any order). */
const removal = (removed: GraphStore.Removed) => ({
  nodes: removed.nodes,
  edges: removed.edges,
  deletedNodes: removed.deletedNodes.map(refLine).sort()
})

interface Both<A> {
  /** What the store under test answered. */
  readonly actual: A
  /** What the reference answered. */
  readonly expected: A
}

interface GraphHarness {
  readonly store: GraphStore.GraphStore["Service"]
  /** The in-memory store, given every operation the store is. */
  readonly reference: GraphStore.MemoryGraphStore
  /** Run an operation on the reference, then on the store; the counts (and elements) must agree after. */
  readonly step: <A, E>(
    what: string,
    program: Effect.Effect<A, E, GraphStore.GraphStore>
  ) => Effect.Effect<Both<A>, unknown>
  /** Both removed the same elements. */
  readonly sameRemoval: (what: string, both: Both<GraphStore.Removed>) => Effect.Effect<void, unknown>
  /** The store holds these elements (when {@link GraphContents} is provided). */
  readonly holds: (what: string, graph: Pick<GraphModel.Graph, "nodes" | "edges">) => Effect.Effect<void, unknown>
  /** The store's elements (when {@link GraphContents} is provided). */
  readonly contents: Effect.Effect<Option.Option<Pick<GraphModel.Graph, "nodes" | "edges">>, unknown>
}

const graphHarness: Effect.Effect<GraphHarness, unknown, GraphStore.GraphStore> = Effect.gen(function*() {
  const store = yield* GraphStore.GraphStore
  const reference = yield* GraphStore.makeMemory
  const reader = yield* Effect.serviceOption(GraphContents)
  const contents = Option.match(reader, {
    onNone: () => Effect.succeedNone,
    onSome: (service) => Effect.asSome(service.read)
  })
  const holds = (what: string, graph: Pick<GraphModel.Graph, "nodes" | "edges">) =>
    Effect.gen(function*() {
      const found = yield* contents
      if (Option.isNone(found)) return
      yield* expect.sameLines(`${what}: the nodes`, found.value.nodes.map(nodeLine), graph.nodes.map(nodeLine))
      yield* expect.sameLines(`${what}: the edges`, found.value.edges.map(edgeLine), graph.edges.map(edgeLine))
    })
  yield* expect.equal(
    "the counts of the store given (each case needs an empty store)",
    yield* store.counts,
    GraphModel.emptyCounts()
  )
  yield* holds("the store given (each case needs an empty store)", { nodes: [], edges: [] })
  return {
    store,
    reference,
    contents,
    holds,
    step: <A, E>(what: string, program: Effect.Effect<A, E, GraphStore.GraphStore>) =>
      Effect.gen(function*() {
        const expected = yield* Effect.provideService(program, GraphStore.GraphStore, reference.service)
        const actual = yield* Effect.provideService(program, GraphStore.GraphStore, store)
        yield* expect.equal(`the counts after ${what}`, yield* store.counts, yield* reference.service.counts)
        yield* holds(`after ${what}, as the in-memory store`, {
          nodes: yield* reference.nodes,
          edges: yield* reference.edges
        })
        return { actual, expected }
      }),
    sameRemoval: (what, both) =>
      expect.equal(`what ${what} removed, as the in-memory store`, removal(both.actual), removal(both.expected))
  }
})

const removeChunk = (chunkId: string) => GraphStore.GraphStore.use((store) => store.removeChunk(chunkId))

/** The digests of `ids` as entries, in the order the store returned them. */
const digestsOf = (store: GraphStore.GraphStore["Service"], ids: ReadonlyArray<string>) =>
  Effect.map(store.builtDigests(ids), (found) => [...found])

/** The node of a label and id, if the store holds it. */
const nodeOf = (graph: Pick<GraphModel.Graph, "nodes">, label: GraphModel.NodeLabel, id: string) =>
  graph.nodes.find((node) => node.label === label && node.id === id)

const bareA: GraphModel.NodeRef = { label: GraphModel.NodeLabel.Chunk, id: "a" }
const bareB: GraphModel.NodeRef = { label: GraphModel.NodeLabel.Chunk, id: "b" }

/** `__NEXT__` from a to b, contributed by chunk `a`. */
const nextAB: GraphModel.GraphEdge = {
  id: GraphModel.edgeId("__NEXT__", "a", "b"),
  label: "__NEXT__",
  from: bareA,
  to: bareB,
  chunkIds: ["a"]
}

// -----------------------------------------------------------------------------
// Graph cases
// -----------------------------------------------------------------------------

/**
 * The `GraphStore` contract, one case per item: run each on a fresh, empty store (see the
 * module doc).
 *
 * @since 0.5.0
 */
export const graphStoreCases: ReadonlyArray<Case<GraphStore.GraphStore>> = [
  {
    name: "writes a graph in batches: the counts and elements of the graph built, bare endpoints included",
    run: Effect.gen(function*() {
      const { c1, c2, c3, c4 } = chunks()
      const h = yield* graphHarness
      const graph = graphOf([c1, c2, c3, c4])
      yield* h.step("a write in batches of 7", GraphStore.write(graph, { batchSize: 7 }))
      const counts = yield* h.store.counts
      yield* expect.equal("the counts after the write", counts, GraphModel.counts(graph))
      yield* expect.equal("the __NEXT__ edges (to c3's bare NEXT chunk)", counts.edges.__NEXT__, 1)
      yield* h.holds("after the write", graph)
    })
  },
  {
    name: "is idempotent: writing the same graph again, in other batches and order, changes nothing",
    run: Effect.gen(function*() {
      const { c1, c2, c3, c4 } = chunks()
      const h = yield* graphHarness
      const graph = graphOf([c1, c2, c3, c4])
      yield* h.step("the first write", GraphStore.write(graph))
      const once = yield* h.contents
      yield* h.step("the same graph in batches of 7", GraphStore.write(graph, { batchSize: 7 }))
      yield* h.step("the same graph in batches of 500", GraphStore.write(graph, { batchSize: 500 }))
      yield* h.step("the graph of the chunks in another order", GraphStore.write(graphOf([c4, c3, c2, c1])))
      yield* expect.equal("the counts after writing the graph again", yield* h.store.counts, GraphModel.counts(graph))
      if (Option.isSome(once)) yield* h.holds("after writing the graph again, as after the first write", once.value)
      yield* h.holds("after writing the graph again", graph)
    })
  },
  {
    name:
      "replaces one chunk's contribution: the result is a fresh build with the new chunk, properties overwritten per key",
    run: Effect.gen(function*() {
      const { c1, c2, c2Again, c3, c4 } = chunks()
      const h = yield* graphHarness
      const before = graphOf([c1, c2, c3, c4])
      yield* h.step("the write", GraphStore.write(before))
      const replacement = contributionOf(c2Again)
      const removed = yield* h.step("replaceChunk", GraphStore.replaceChunk(replacement, { batchSize: 10 }))
      yield* h.sameRemoval("replaceChunk", removed)
      // Gone: the writer, its fact, statement and relation; kept: what others share.
      yield* expect.isTrue("replaceChunk removed nodes", removed.actual.nodes > 0, removed.actual)
      yield* expect.isTrue("replaceChunk removed edges", removed.actual.edges > 0, removed.actual)
      const fresh = graphOf([c1, c2Again, c3, c4])
      yield* expect.equal("the counts after replaceChunk", yield* h.store.counts, GraphModel.counts(fresh))
      // A property the old chunk wrote and the new one does not (the source's `pages`) stays:
      // properties are overwritten per key, last writer wins.
      const expected = {
        nodes: fresh.nodes.map((node) => {
          const old = nodeOf(before, node.label, node.id)
          const last = nodeOf(replacement, node.label, node.id)
          return old === undefined ? node : { ...node, properties: { ...old.properties, ...last?.properties } }
        }),
        edges: fresh.edges
      }
      yield* expect.isTrue(
        "the source keeps c2's `pages` (a key c2 again does not write)",
        nodeOf(expected, GraphModel.NodeLabel.Source, sourceId)?.properties.pages === 12
      )
      yield* h.holds("after replaceChunk", expected)
      const found = yield* h.contents
      if (Option.isSome(found)) {
        const topic = GraphModel.topicId(sourceId, "Neptune")
        const shared = GraphModel.statementId(topic, "Replicas read")
        yield* expect.equal(
          "the chunks of the statement c1 and c2 shared",
          nodeOf(found.value, GraphModel.NodeLabel.Statement, shared)?.chunkIds,
          [c1.id_]
        )
        yield* expect.equal(
          "the chunks of the topic (c1's and c2 again's)",
          [...nodeOf(found.value, GraphModel.NodeLabel.Topic, topic)?.chunkIds ?? []].sort(),
          [c1.id_, c2Again.id_].sort()
        )
        yield* expect.equal(
          "the entity only c2 had",
          nodeOf(found.value, GraphModel.NodeLabel.Entity, GraphModel.entityId("Writer", "Product")),
          undefined
        )
      }
    })
  },
  {
    name: "removes chunk by chunk as the in-memory store does, a chunk never written removing nothing, down to empty",
    run: Effect.gen(function*() {
      const { c1, c2, c2Again, c3, c4 } = chunks()
      const h = yield* graphHarness
      yield* h.step("the write", GraphStore.write(graphOf([c1, c2, c3, c4]), { batchSize: 7 }))
      yield* h.sameRemoval(
        "replaceChunk",
        yield* h.step("replaceChunk", GraphStore.replaceChunk(contributionOf(c2Again), { batchSize: 10 }))
      )
      for (const id of [c1.id_, "no-such-chunk", c3.id_, c4.id_, c2.id_]) {
        const removed = yield* h.step(`removeChunk(${id})`, removeChunk(id))
        yield* h.sameRemoval(`removeChunk(${id})`, removed)
        if (id === "no-such-chunk") {
          yield* expect.equal("what removing a chunk never written removed", removed.actual, {
            nodes: 0,
            edges: 0,
            deletedNodes: []
          })
        }
      }
      yield* expect.equal("the counts once every chunk is removed", yield* h.store.counts, GraphModel.emptyCounts())
      yield* h.holds("once every chunk is removed", { nodes: [], edges: [] })
    })
  },
  {
    name: "an edge to a missing node creates it bare, and the node's upsert fills it (MERGE semantics)",
    run: Effect.gen(function*() {
      const h = yield* graphHarness
      yield* h.step("the edge a -> b", GraphStore.GraphStore.use((s) => s.upsertEdges([nextAB])))
      const counts = yield* h.store.counts
      yield* expect.equal("the chunk nodes after the edge", counts.nodes.__Chunk__, 2)
      yield* expect.equal("the __NEXT__ edges after the edge", counts.edges.__NEXT__, 1)
      // Bare: no property, contributed by the edge's chunk.
      yield* h.holds("after the edge", {
        nodes: [{ ...bareA, properties: {}, chunkIds: ["a"] }, { ...bareB, properties: {}, chunkIds: ["a"] }],
        edges: [nextAB]
      })
      yield* h.step(
        "the upsert of b",
        GraphStore.GraphStore.use((s) => s.upsertNodes([{ ...bareB, properties: { value: "B" }, chunkIds: ["b"] }]))
      )
      yield* h.step(
        "the upsert of b again",
        GraphStore.GraphStore.use((s) =>
          s.upsertNodes([{ ...bareB, properties: { value: "B2", extra: 1 }, chunkIds: ["b"] }])
        )
      )
      yield* h.holds("after the upserts of b", {
        nodes: [
          { ...bareA, properties: {}, chunkIds: ["a"] },
          { ...bareB, properties: { value: "B2", extra: 1 }, chunkIds: ["a", "b"] }
        ],
        edges: [nextAB]
      })
      // Removing "a" deletes the edge and node a; b stays (chunk b contributed it too).
      const removed = yield* h.step("removeChunk(a)", removeChunk("a"))
      yield* h.sameRemoval("removeChunk(a)", removed)
      yield* expect.equal("what removeChunk(a) removed", removal(removed.actual), {
        nodes: 1,
        edges: 1,
        deletedNodes: [refLine(bareA)]
      })
      yield* expect.equal("the chunk nodes after removeChunk(a)", (yield* h.store.counts).nodes.__Chunk__, 1)
      yield* h.holds("after removeChunk(a)", {
        nodes: [{ ...bareB, properties: { value: "B2", extra: 1 }, chunkIds: ["b"] }],
        edges: []
      })
    })
  },
  {
    name:
      "merges an element upserted twice in one batch, keeps the keys a later upsert does not write, and deletes a node with every edge attached (DETACH)",
    run: Effect.gen(function*() {
      const h = yield* graphHarness
      const other: GraphModel.GraphEdge = {
        id: GraphModel.edgeId("__PREVIOUS__", "b", "a"),
        label: "__PREVIOUS__",
        from: bareB,
        to: bareA,
        chunkIds: ["b"]
      }
      const run = <A, E>(what: string, program: (s: GraphStore.GraphStore["Service"]) => Effect.Effect<A, E>) =>
        h.step(what, GraphStore.GraphStore.use(program))
      // The same edge twice in one batch is one edge with both chunks' contributions.
      yield* run("the edge a -> b twice in a batch", (s) => s.upsertEdges([nextAB, { ...nextAB, chunkIds: ["c"] }]))
      yield* run("the upsert of b", (s) => s.upsertNodes([{ ...bareB, properties: { value: "B" }, chunkIds: ["b"] }]))
      yield* run("two upserts of b in a batch", (s) =>
        s.upsertNodes([
          { ...bareB, properties: { value: "B2", extra: 1 }, chunkIds: ["b"] },
          { ...bareB, properties: { more: true }, chunkIds: ["d"] }
        ]))
      yield* run("the edge b -> a", (s) => s.upsertEdges([other]))
      // Bare a and b take the chunks of the edge that created them (a); the upserts add theirs.
      yield* h.holds("after the upserts", {
        nodes: [
          { ...bareA, properties: {}, chunkIds: ["a"] },
          { ...bareB, properties: { value: "B2", extra: 1, more: true }, chunkIds: ["a", "b", "d"] }
        ],
        edges: [{ ...nextAB, chunkIds: ["a", "c"] }, other]
      })
      // Node a was created bare by the first edge (chunk a only): removing chunk a deletes it, and
      // with it the edge a -> b (still contributed by c) and b -> a (of chunk b): no dangling edge.
      const removed = yield* run("removeChunk(a)", (s) => s.removeChunk("a"))
      yield* h.sameRemoval("removeChunk(a)", removed)
      yield* expect.equal("what removeChunk(a) removed", removal(removed.actual), {
        nodes: 1,
        edges: 2,
        deletedNodes: [refLine(bareA)]
      })
      yield* h.holds("after removeChunk(a)", {
        nodes: [{ ...bareB, properties: { value: "B2", extra: 1, more: true }, chunkIds: ["b", "d"] }],
        edges: []
      })
      for (const id of ["c", "b", "d"]) {
        yield* h.sameRemoval(
          `removeChunk(${id})`,
          yield* run(id, (s) => s.removeChunk(id))
        )
      }
      yield* expect.equal("the counts once every chunk is removed", yield* h.store.counts, GraphModel.emptyCounts())
    })
  },
  {
    name: "records built chunks: the digests of the ids asked, in the order asked, replaced by a later record",
    run: Effect.gen(function*() {
      const h = yield* graphHarness
      const store = h.store
      yield* expect.equal("builtDigests of no id", yield* digestsOf(store, []), [])
      yield* store.recordBuilt([])
      yield* store.recordBuilt([{ chunkId: "a", digest: "d1" }, { chunkId: "b", digest: "d2" }])
      yield* store.recordBuilt([{ chunkId: "c", digest: "d3" }])
      // Only the ids asked, in the order asked; an id never recorded is absent.
      yield* expect.equal("builtDigests(c, a, never)", yield* digestsOf(store, ["c", "a", "never"]), [
        ["c", "d3"],
        ["a", "d1"]
      ])
      yield* expect.equal("builtDigests of no id, after records", yield* digestsOf(store, []), [])
      // A second record replaces; a chunk listed twice in one record keeps its last digest.
      yield* store.recordBuilt([{ chunkId: "a", digest: "d1'" }, { chunkId: "b", digest: "x" }, {
        chunkId: "b",
        digest: "d2'"
      }])
      yield* expect.equal("builtDigests(a, b, c) after a second record", yield* digestsOf(store, ["a", "b", "c"]), [
        ["a", "d1'"],
        ["b", "d2'"],
        ["c", "d3"]
      ])
      // The record writes no element.
      yield* expect.equal("the counts after records only", yield* store.counts, GraphModel.emptyCounts())
      yield* h.holds("after records only", { nodes: [], edges: [] })
    })
  },
  {
    name: "removeChunk forgets the chunk's recorded digest, and only that one, with its elements or without any",
    run: Effect.gen(function*() {
      const { c1, c2, c2Again } = chunks()
      const h = yield* graphHarness
      const store = h.store
      yield* h.step("the write", GraphStore.write(graphOf([c1, c2])))
      // Upserting elements records no chunk.
      yield* expect.equal("builtDigests after a write only", yield* digestsOf(store, [c1.id_, c2.id_]), [])
      yield* store.recordBuilt([{ chunkId: c1.id_, digest: "one" }, { chunkId: c2.id_, digest: "two" }])
      yield* store.recordBuilt([{ chunkId: "bare", digest: "b" }])
      yield* expect.equal("builtDigests(c2, never, c1)", yield* digestsOf(store, [c2.id_, "never", c1.id_]), [
        [c2.id_, "two"],
        [c1.id_, "one"]
      ])
      yield* h.sameRemoval(
        "replaceChunk(c2)",
        yield* h.step("replaceChunk(c2)", GraphStore.replaceChunk(contributionOf(c2Again)))
      )
      yield* expect.equal(
        "builtDigests after replaceChunk(c2)",
        yield* digestsOf(store, [c1.id_, c2.id_, "bare"]),
        [[c1.id_, "one"], ["bare", "b"]]
      )
      yield* store.recordBuilt([{ chunkId: c2.id_, digest: "two again" }])
      yield* expect.equal("builtDigests after recording c2 again", yield* digestsOf(store, [c1.id_, c2.id_]), [
        [c1.id_, "one"],
        [c2.id_, "two again"]
      ])
      // A chunk recorded but never written is forgotten too.
      yield* h.step("removeChunk(bare)", removeChunk("bare"))
      yield* expect.equal(
        "builtDigests after removeChunk(bare)",
        yield* digestsOf(store, [c1.id_, c2.id_, "bare"]),
        [[c1.id_, "one"], [c2.id_, "two again"]]
      )
      for (const id of [c1.id_, c2.id_]) {
        yield* h.sameRemoval(`removeChunk(${id})`, yield* h.step(`removeChunk(${id})`, removeChunk(id)))
      }
      yield* expect.equal(
        "builtDigests once every chunk is removed",
        yield* digestsOf(store, [c1.id_, c2.id_, "bare"]),
        []
      )
      yield* expect.equal("the counts once every chunk is removed", yield* store.counts, GraphModel.emptyCounts())
    })
  },
  {
    name: "an empty list of ids gives an empty map, an empty record changes nothing",
    run: Effect.gen(function*() {
      const { store } = yield* graphHarness
      yield* expect.equal("builtDigests of no id", yield* store.builtDigests([]), new Map())
      yield* store.recordBuilt([])
      yield* expect.equal("builtDigests(a) after an empty record", yield* store.builtDigests(["a"]), new Map())
      yield* store.recordBuilt([{ chunkId: "a", digest: "d" }])
      yield* expect.equal("builtDigests of no id, after a record", yield* store.builtDigests([]), new Map())
      yield* expect.equal("builtDigests(a)", yield* store.builtDigests(["a"]), new Map([["a", "d"]]))
    })
  }
]

// -----------------------------------------------------------------------------
// Vector cases
// -----------------------------------------------------------------------------

const row = (id: string, vector: ReadonlyArray<number>, text = id): VectorStore.VectorRow => ({
  id,
  vector,
  digest: `d-${text}`,
  metadata: { text }
})

/** The vector store, once none of the indexes a case uses exists. */
const vectorStore = (...indexes: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const store = yield* VectorStore.VectorStore
    for (const name of indexes) {
      yield* expect.equal(
        `describeIndex(${name}) on the store given (each case needs an empty store)`,
        yield* store.describeIndex(name),
        undefined
      )
    }
    return store
  })

/**
 * The `VectorStore` contract, one case per item: run each on a fresh, empty store (see the
 * module doc).
 *
 * @since 0.5.0
 */
export const vectorStoreCases: ReadonlyArray<Case<VectorStore.VectorStore>> = [
  {
    name: "creates an index once; other dimensions or another model are typed errors; describeIndex tells which",
    run: Effect.gen(function*() {
      const store = yield* vectorStore("statement", "chunk", "topic")
      yield* store.createIndex("statement", { dimensions: 3, model: "m" })
      yield* store.createIndex("statement", { dimensions: 3, model: "m" })
      const error = yield* expect.fails(
        "createIndex with other dimensions",
        store.createIndex("statement", { dimensions: 1024, model: "m" }),
        "DimensionMismatch"
      )
      yield* expect.equal("the DimensionMismatch's index, expected and actual", {
        index: error.index,
        expected: error.expected,
        actual: error.actual
      }, { index: "statement", expected: 3, actual: 1024 })
      yield* expect.fails(
        "createIndex with 0 dimensions",
        store.createIndex("chunk", { dimensions: 0, model: "m" }),
        "VectorStoreError"
      )
      yield* expect.equal(
        "describeIndex(chunk) after a refused createIndex",
        yield* store.describeIndex("chunk"),
        undefined
      )
      const other = yield* expect.fails(
        "createIndex with another model",
        store.createIndex("statement", { dimensions: 3, model: "other" }),
        "ModelMismatch"
      )
      yield* expect.includes("the ModelMismatch's message", other.message, "holds vectors of m, not other")
      yield* expect.equal("the ModelMismatch's index, expected and actual", {
        index: other.index,
        expected: other.expected,
        actual: other.actual
      }, { index: "statement", expected: "m", actual: "other" })
      yield* expect.equal("describeIndex(statement)", yield* store.describeIndex("statement"), {
        dimensions: 3,
        model: "m"
      })
      yield* expect.equal("describeIndex(topic), never created", yield* store.describeIndex("topic"), undefined)
    })
  },
  {
    name: "upserts by id: the same id twice is one row, replaced (the last of a batch wins); digests and remove by id",
    run: Effect.gen(function*() {
      const store = yield* vectorStore("chunk")
      yield* store.createIndex("chunk", { dimensions: 2, model: "m" })
      yield* store.upsert("chunk", [row("a", [1, 0], "old"), row("b", [0, 1])])
      yield* store.upsert("chunk", [row("a", [1, 0], "new")])
      yield* expect.equal("the count after replacing a", yield* store.count("chunk"), 2)
      yield* expect.equal("the nearest row to [1, 0]", yield* store.nearest("chunk", [1, 0], 1), [
        { id: "a", score: 1, metadata: { text: "new" } }
      ])
      yield* expect.equal("the digests of b, a, missing", [...(yield* store.digests("chunk", ["b", "a", "missing"]))], [
        ["b", "d-b"],
        ["a", "d-new"]
      ])
      yield* store.upsert("chunk", [row("c", [1, 1], "first"), row("c", [1, 1], "last")])
      yield* expect.equal("the digest of c, twice in a batch", [...(yield* store.digests("chunk", ["c"]))], [[
        "c",
        "d-last"
      ]])
      yield* expect.equal("the count after c", yield* store.count("chunk"), 3)
      yield* store.remove("chunk", ["a", "c", "missing"])
      yield* expect.equal("the count after removing a and c", yield* store.count("chunk"), 1)
      yield* expect.equal("the digests after removing a and c", [...(yield* store.digests("chunk", ["a", "b", "c"]))], [
        ["b", "d-b"]
      ])
    })
  },
  {
    name: "refuses a batch with a vector of the wrong length, writing nothing",
    run: Effect.gen(function*() {
      const store = yield* vectorStore("chunk")
      yield* store.createIndex("chunk", { dimensions: 2, model: "m" })
      yield* expect.fails(
        "an upsert with a vector of 3 dimensions",
        store.upsert("chunk", [row("a", [1, 0]), row("b", [1, 0, 0])]),
        "DimensionMismatch"
      )
      yield* expect.equal("the count after the refused batch", yield* store.count("chunk"), 0)
      yield* expect.equal("the digests after the refused batch", yield* store.digests("chunk", ["a", "b"]), new Map())
      yield* expect.fails("nearest with a vector of 1 dimension", store.nearest("chunk", [1], 1), "DimensionMismatch")
    })
  },
  {
    name: "ranks by cosine similarity, best first, ties by id, k at most, the same after finishWrites",
    run: Effect.gen(function*() {
      const store = yield* vectorStore("statement")
      yield* store.createIndex("statement", { dimensions: 2, model: "m" })
      yield* store.upsert("statement", [
        row("opposite", [-1, 0]),
        row("far", [0, 1]),
        row("near", [10, 1]),
        row("same-b", [2, 0]),
        row("same-a", [5, 0]),
        row("zero", [0, 0])
      ])
      for (const finished of [false, true]) {
        if (finished) yield* store.finishWrites("statement")
        const when = finished ? " (after finishWrites)" : ""
        const matches = yield* store.nearest("statement", [1, 0], 10)
        yield* expect.equal(`the ranking of [1, 0]${when}`, matches.map((m) => m.id), [
          "same-a",
          "same-b",
          "near",
          "far",
          "zero",
          "opposite"
        ])
        yield* expect.closeTo(`the score of near${when}`, matches[2]!.score, 10 / Math.sqrt(101), 1e-6)
        yield* expect.equal(`the score of opposite${when}`, matches[5]!.score, -1)
        // A zero vector has no direction: its similarity is 0.
        yield* expect.equal(`the match of zero${when}`, matches[4], {
          id: "zero",
          score: 0,
          metadata: { text: "zero" }
        })
        yield* expect.equal(
          `the 2 nearest to [1, 0]${when}`,
          (yield* store.nearest("statement", [1, 0], 2)).map((m) => m.id),
          ["same-a", "same-b"]
        )
        yield* expect.equal(`the 0 nearest${when}`, yield* store.nearest("statement", [1, 0], 0), [])
        // A zero query has no direction: every similarity is 0, so by id.
        yield* expect.equal(
          `the 3 nearest to [0, 0]${when}`,
          (yield* store.nearest("statement", [0, 0], 3)).map((m) => [m.id, m.score]),
          [["far", 0], ["near", 0], ["opposite", 0]]
        )
      }
    })
  },
  {
    name: "names a missing index",
    run: Effect.gen(function*() {
      const store = yield* vectorStore("topic")
      const error = yield* expect.fails("count of a missing index", store.count("topic"), "IndexNotFound")
      yield* expect.equal("the IndexNotFound's index", error.index, "topic")
      yield* expect.fails("upsert into a missing index", store.upsert("topic", []), "IndexNotFound")
      yield* expect.fails("digests of a missing index", store.digests("topic", ["a"]), "IndexNotFound")
      yield* expect.fails("remove from a missing index", store.remove("topic", ["a"]), "IndexNotFound")
      yield* expect.fails("nearest in a missing index", store.nearest("topic", [1], 1), "IndexNotFound")
      yield* expect.fails("finishWrites of a missing index", store.finishWrites("topic"), "IndexNotFound")
    })
  },
  {
    name: "finishWrites changes nothing a search sees, as often as called",
    run: Effect.gen(function*() {
      const store = yield* vectorStore("chunk")
      yield* store.createIndex("chunk", { dimensions: 2, model: "m" })
      yield* store.finishWrites("chunk")
      yield* store.upsert("chunk", [row("a", [1, 0]), row("b", [0, 1])])
      const before = yield* store.nearest("chunk", [1, 1], 2)
      yield* store.finishWrites("chunk")
      yield* store.finishWrites("chunk")
      yield* expect.equal(
        "the 2 nearest to [1, 1] after finishWrites",
        yield* store.nearest("chunk", [1, 1], 2),
        before
      )
      yield* expect.equal("the 2 nearest to [1, 1]", before.map((m) => m.id), ["a", "b"])
      yield* expect.equal("the count after finishWrites", yield* store.count("chunk"), 2)
    })
  }
]
