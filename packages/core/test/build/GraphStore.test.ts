/**
 * The in-memory graph store: the port's contract (`StoreContract.graphStoreCases`, each on a
 * fresh store, its elements read back for the cases that check them), then what only it has:
 * the upsert calls it counts, its Layer.
 */
import { StoreContract } from "@batch-extract/core/testing"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as GraphModel from "../../src/build/GraphModel.ts"
import * as GraphStore from "../../src/build/GraphStore.ts"
import { buildGraph, fixture } from "./support.ts"

const withMemory = <A, E>(
  f: (memory: GraphStore.MemoryGraphStore) => Effect.Effect<A, E, GraphStore.GraphStore>
): Effect.Effect<A, E> =>
  Effect.flatMap(
    GraphStore.makeMemory,
    (memory) => Effect.provideService(f(memory), GraphStore.GraphStore, memory.service)
  )

/** A fresh in-memory store, and its elements for the contract to read back. */
const contractLayer: Layer.Layer<GraphStore.GraphStore | StoreContract.GraphContents> = Layer.effectContext(
  Effect.map(GraphStore.makeMemory, (memory) =>
    Context.make(GraphStore.GraphStore, memory.service).pipe(
      Context.add(StoreContract.GraphContents, { read: Effect.all({ nodes: memory.nodes, edges: memory.edges }) })
    ))
)

/** What a store holds, comparable with a model graph: ids and properties by element. */
const snapshot = (nodes: ReadonlyArray<GraphModel.GraphNode>, edges: ReadonlyArray<GraphModel.GraphEdge>) => ({
  nodes: nodes.map((n) => `${n.label} ${n.id} ${JSON.stringify(n.properties)}`).sort(),
  edges: edges.map((e) => `${e.label} ${e.id}`).sort()
})

describe("GraphStore (in memory)", () => {
  describe("the store contract", () => {
    for (const c of StoreContract.graphStoreCases) {
      it.effect(c.name, () => c.run.pipe(Effect.provide(Layer.fresh(contractLayer))))
    }
  })

  it.effect("holds the fixture's counts after a write, one upsert call per batch", () =>
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

  it.effect("records built chunks without an upsert call", () =>
    withMemory((memory) =>
      Effect.gen(function*() {
        const store = yield* GraphStore.GraphStore
        yield* store.recordBuilt([{ chunkId: "a", digest: "d1" }, { chunkId: "b", digest: "d2" }])
        yield* store.recordBuilt([])
        assert.deepStrictEqual([yield* memory.nodes, yield* memory.edges, yield* memory.upserts], [[], [], 0])
      })
    ))

  it.effect("is provided as a Layer", () =>
    Effect.gen(function*() {
      yield* GraphStore.write(buildGraph([fixture]))
      const counts = yield* (yield* GraphStore.GraphStore).counts
      assert.strictEqual(counts.nodes.__Fact__, 38)
    }).pipe(Effect.provide(GraphStore.layerMemory)))
})
