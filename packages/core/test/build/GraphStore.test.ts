import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as GraphModel from "../../src/build/GraphModel.ts"
import * as GraphStore from "../../src/build/GraphStore.ts"
import { buildGraph, chunk, contributionOf, fixture, sourceId } from "./support.ts"

const withMemory = <A, E>(
  f: (memory: GraphStore.MemoryGraphStore) => Effect.Effect<A, E, GraphStore.GraphStore>
): Effect.Effect<A, E> =>
  Effect.flatMap(
    GraphStore.makeMemory,
    (memory) => Effect.provideService(f(memory), GraphStore.GraphStore, memory.service)
  )

/** What a store holds, comparable with a model graph: ids and properties by element. */
const snapshot = (nodes: ReadonlyArray<GraphModel.GraphNode>, edges: ReadonlyArray<GraphModel.GraphEdge>) => ({
  nodes: nodes.map((n) => `${n.label} ${n.id} ${JSON.stringify(n.properties)}`).sort(),
  edges: edges.map((e) => `${e.label} ${e.id}`).sort()
})

const c1 = chunk(
  "c1",
  "topic: Neptune\nentities:\nNeptune|Service\nReplica|Product\nproposition: Neptune has replicas\nentity-entity relationships:\nNeptune|HAS|Replica\nproposition: Replicas read"
)
const c2 = chunk(
  "c2",
  "topic: Neptune\nentities:\nNeptune|Service\nWriter|Product\nproposition: Replicas read\nproposition: Neptune has a writer\nentity-entity relationships:\nNeptune|HAS|Writer",
  { start: 100 }
)
const c2Again = chunk(
  "c2",
  "topic: Neptune\nentities:\nNeptune|Service\nVolume|Product\nproposition: Neptune stores data in a volume\nentity-entity relationships:\nNeptune|USES|Volume",
  { start: 100 }
)

describe("GraphStore (in memory)", () => {
  it.effect("holds the fixture's counts after a write, in batches", () =>
    withMemory((memory) =>
      Effect.gen(function*() {
        const graph = buildGraph([fixture])
        yield* GraphStore.write(graph, { batchSize: 25 })
        const store = yield* GraphStore.GraphStore
        assert.deepStrictEqual(yield* store.counts, GraphModel.counts(graph))
        assert.strictEqual(yield* memory.upserts, Math.ceil(82 / 25) + Math.ceil(graph.edges.length / 25))
        assert.deepStrictEqual(snapshot(yield* memory.nodes, yield* memory.edges), snapshot(graph.nodes, graph.edges))
      })
    ))

  it.effect("is idempotent: writing the same graph twice changes no count and no property", () =>
    withMemory((memory) =>
      Effect.gen(function*() {
        const graph = buildGraph([fixture, c1, c2])
        yield* GraphStore.write(graph)
        const once = snapshot(yield* memory.nodes, yield* memory.edges)
        yield* GraphStore.write(graph, { batchSize: 7 })
        yield* GraphStore.write(buildGraph([c2, fixture, c1]))
        assert.deepStrictEqual(snapshot(yield* memory.nodes, yield* memory.edges), once)
        assert.deepStrictEqual(yield* (yield* GraphStore.GraphStore).counts, GraphModel.counts(graph))
      })
    ))

  it.effect("replaces one chunk's contribution: the result equals a fresh build with the new chunk", () =>
    withMemory((memory) =>
      Effect.gen(function*() {
        yield* GraphStore.write(buildGraph([c1, c2]))
        const removed = yield* GraphStore.replaceChunk(contributionOf(c2Again))
        const expected = buildGraph([c1, c2Again])
        assert.deepStrictEqual(
          snapshot(yield* memory.nodes, yield* memory.edges),
          snapshot(expected.nodes, expected.edges)
        )
        assert.deepStrictEqual(yield* (yield* GraphStore.GraphStore).counts, GraphModel.counts(expected))
        // Gone: the writer, its fact, statement and relation; kept: what c1 shares (source, topic, "Replicas read").
        assert.isAbove(removed.nodes, 0)
        assert.isAbove(removed.edges, 0)
        const nodes = yield* memory.nodes
        const topic = GraphModel.topicId(sourceId, "Neptune")
        const shared = GraphModel.statementId(topic, "Replicas read")
        assert.deepStrictEqual(nodes.find((n) => n.id === shared)!.chunkIds, [c1.id_])
        assert.deepStrictEqual(nodes.find((n) => n.id === topic)!.chunkIds, [c1.id_, c2Again.id_])
        assert.isUndefined(nodes.find((n) => n.id === GraphModel.entityId("Writer", "Product")))
      })
    ))

  it.effect("removing every chunk empties the store", () =>
    withMemory((memory) =>
      Effect.gen(function*() {
        const store = yield* GraphStore.GraphStore
        yield* GraphStore.write(buildGraph([fixture, c1, c2]))
        for (const id of [c1.id_, fixture.id_, c2.id_]) yield* store.removeChunk(id)
        assert.deepStrictEqual([yield* memory.nodes, yield* memory.edges], [[], []])
        assert.deepStrictEqual(yield* store.counts, GraphModel.emptyCounts())
      })
    ))

  it.effect("an edge to a missing node creates it bare, and the node's upsert fills it (MERGE semantics)", () =>
    withMemory((memory) =>
      Effect.gen(function*() {
        const store = yield* GraphStore.GraphStore
        const from = { label: GraphModel.NodeLabel.Chunk, id: "a" }
        const to = { label: GraphModel.NodeLabel.Chunk, id: "b" }
        yield* store.upsertEdges([{
          id: GraphModel.edgeId("__NEXT__", "a", "b"),
          label: "__NEXT__",
          from,
          to,
          chunkIds: ["a"]
        }])
        assert.deepStrictEqual((yield* memory.nodes).map((n) => [n.id, n.properties]), [["a", {}], ["b", {}]])
        yield* store.upsertNodes([{ ...to, properties: { value: "B" }, chunkIds: ["b"] }])
        yield* store.upsertNodes([{ ...to, properties: { value: "B2", extra: 1 }, chunkIds: ["b"] }])
        const b = (yield* memory.nodes).find((n) => n.id === "b")!
        assert.deepStrictEqual(b.properties, { value: "B2", extra: 1 })
        assert.deepStrictEqual(b.chunkIds, ["a", "b"])
        // Removing "a" deletes the edge and node a; b stays (chunk b contributed it too).
        const removed = yield* store.removeChunk("a")
        assert.deepStrictEqual({ nodes: removed.nodes, edges: removed.edges }, { nodes: 1, edges: 1 })
        assert.strictEqual(removed.deletedNodes.length, 1)
        assert.deepStrictEqual((yield* memory.nodes).map((n) => n.id), ["b"])
      })
    ))

  it.effect("records built chunks: the digests of the ids asked, replaced by a second record", () =>
    withMemory((memory) =>
      Effect.gen(function*() {
        const store = yield* GraphStore.GraphStore
        yield* store.recordBuilt([{ chunkId: "a", digest: "d1" }, { chunkId: "b", digest: "d2" }])
        yield* store.recordBuilt([{ chunkId: "c", digest: "d3" }])
        // Only the ids asked, in the order asked; an id never recorded is absent.
        assert.deepStrictEqual(
          [...(yield* store.builtDigests(["c", "a", "never"]))],
          [["c", "d3"], ["a", "d1"]]
        )
        yield* store.recordBuilt([{ chunkId: "a", digest: "d1'" }, { chunkId: "b", digest: "x" }, {
          chunkId: "b",
          digest: "d2'"
        }])
        assert.deepStrictEqual(
          yield* store.builtDigests(["a", "b", "c"]),
          new Map([["a", "d1'"], ["b", "d2'"], ["c", "d3"]])
        )
        // The record writes no element.
        assert.deepStrictEqual([yield* memory.nodes, yield* memory.edges, yield* memory.upserts], [[], [], 0])
      })
    ))

  it.effect("removeChunk forgets the chunk's recorded digest, and only that one", () =>
    withMemory(() =>
      Effect.gen(function*() {
        const store = yield* GraphStore.GraphStore
        yield* GraphStore.write(buildGraph([c1, c2]))
        yield* store.recordBuilt([{ chunkId: c1.id_, digest: "one" }, { chunkId: c2.id_, digest: "two" }])
        yield* GraphStore.replaceChunk(contributionOf(c2Again))
        assert.deepStrictEqual(yield* store.builtDigests([c1.id_, c2.id_]), new Map([[c1.id_, "one"]]))
        yield* store.recordBuilt([{ chunkId: c2.id_, digest: "two again" }])
        assert.deepStrictEqual(
          yield* store.builtDigests([c1.id_, c2.id_]),
          new Map([[c1.id_, "one"], [c2.id_, "two again"]])
        )
        // A chunk recorded but never written is forgotten too.
        yield* store.recordBuilt([{ chunkId: "empty", digest: "e" }])
        yield* store.removeChunk("empty")
        assert.deepStrictEqual(yield* store.builtDigests(["empty"]), new Map())
      })
    ))

  it.effect("an empty list of ids gives an empty map, an empty record changes nothing", () =>
    withMemory(() =>
      Effect.gen(function*() {
        const store = yield* GraphStore.GraphStore
        assert.deepStrictEqual(yield* store.builtDigests([]), new Map())
        yield* store.recordBuilt([])
        yield* store.recordBuilt([{ chunkId: "a", digest: "d" }])
        assert.deepStrictEqual(yield* store.builtDigests([]), new Map())
      })
    ))

  it.effect("is provided as a Layer", () =>
    Effect.gen(function*() {
      yield* GraphStore.write(buildGraph([fixture]))
      const counts = yield* (yield* GraphStore.GraphStore).counts
      assert.strictEqual(counts.nodes.__Fact__, 38)
    }).pipe(Effect.provide(GraphStore.layerMemory)))
})
