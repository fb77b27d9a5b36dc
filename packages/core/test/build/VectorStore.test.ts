/**
 * The in-memory vector store: the port's contract (`StoreContract.vectorStoreCases`, each on a
 * fresh store), then what only it has: exact double-precision scores, its Layer, the cosine.
 */
import { StoreContract } from "@batch-extract/core/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as VectorStore from "../../src/build/VectorStore.ts"

describe("VectorStore (in memory)", () => {
  describe("the store contract", () => {
    for (const c of StoreContract.vectorStoreCases) {
      it.effect(c.name, () => c.run.pipe(Effect.provide(Layer.fresh(VectorStore.layerMemory))))
    }
  })

  it.effect("scores in double precision (an exhaustive search)", () =>
    Effect.gen(function*() {
      const store = yield* VectorStore.makeMemory
      yield* store.createIndex("statement", { dimensions: 2, model: "m" })
      yield* store.upsert("statement", [{ id: "near", vector: [10, 1], digest: "d", metadata: {} }])
      const [near] = yield* store.nearest("statement", [1, 0], 1)
      assert.closeTo(near!.score, 10 / Math.sqrt(101), 1e-12)
    }))

  it.effect("is provided as a Layer", () =>
    Effect.gen(function*() {
      const store = yield* VectorStore.VectorStore
      yield* store.createIndex("chunk", { dimensions: 1, model: "m" })
      assert.strictEqual(yield* store.count("chunk"), 0)
    }).pipe(Effect.provide(VectorStore.layerMemory)))

  it("computes cosine similarity, 0 for a zero vector", () => {
    assert.strictEqual(VectorStore.cosine([1, 2], [2, 4]), 1)
    assert.strictEqual(VectorStore.cosine([0, 0], [1, 1]), 0)
  })
})
