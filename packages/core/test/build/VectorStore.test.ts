import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as VectorStore from "../../src/build/VectorStore.ts"

const row = (id: string, vector: ReadonlyArray<number>, text = id): VectorStore.VectorRow => ({
  id,
  vector,
  digest: `d-${text}`,
  metadata: { text }
})

const withStore = <A, E>(f: (store: VectorStore.VectorStore["Service"]) => Effect.Effect<A, E>) =>
  Effect.flatMap(VectorStore.makeMemory, f)

describe("VectorStore (in memory)", () => {
  it.effect("creates an index once; other dimensions are a typed error", () =>
    withStore((store) =>
      Effect.gen(function*() {
        yield* store.createIndex("statement", { dimensions: 3, model: "m" })
        yield* store.createIndex("statement", { dimensions: 3, model: "m" })
        const error = yield* Effect.flip(store.createIndex("statement", { dimensions: 1024, model: "m" }))
        assert.strictEqual(error._tag, "DimensionMismatch")
        if (error._tag === "DimensionMismatch") {
          assert.strictEqual(error.index, "statement")
          assert.strictEqual(error.expected, 3)
          assert.strictEqual(error.actual, 1024)
        }
        const invalid = yield* Effect.flip(store.createIndex("chunk", { dimensions: 0, model: "m" }))
        assert.strictEqual(invalid._tag, "VectorStoreError")
        const other = yield* Effect.flip(store.createIndex("statement", { dimensions: 3, model: "other" }))
        assert.strictEqual(other._tag, "ModelMismatch")
        assert.include(other.message, "holds vectors of m, not other")
        assert.deepStrictEqual(yield* store.describeIndex("statement"), { dimensions: 3, model: "m" })
        assert.isUndefined(yield* store.describeIndex("topic"))
      })
    ))

  it.effect("upserts by id: the same id twice is one row, replaced", () =>
    withStore((store) =>
      Effect.gen(function*() {
        yield* store.createIndex("chunk", { dimensions: 2, model: "m" })
        yield* store.upsert("chunk", [row("a", [1, 0], "old"), row("b", [0, 1])])
        yield* store.upsert("chunk", [row("a", [1, 0], "new")])
        assert.strictEqual(yield* store.count("chunk"), 2)
        const [best] = yield* store.nearest("chunk", [1, 0], 1)
        assert.deepStrictEqual(best, { id: "a", score: 1, metadata: { text: "new" } })
        assert.deepStrictEqual(
          [...(yield* store.digests("chunk", ["b", "a", "missing"]))],
          [["b", "d-b"], ["a", "d-new"]]
        )
        yield* store.remove("chunk", ["a", "missing"])
        assert.strictEqual(yield* store.count("chunk"), 1)
      })
    ))

  it.effect("refuses a batch with a vector of the wrong length, writing nothing", () =>
    withStore((store) =>
      Effect.gen(function*() {
        yield* store.createIndex("chunk", { dimensions: 2, model: "m" })
        const error = yield* Effect.flip(store.upsert("chunk", [row("a", [1, 0]), row("b", [1, 0, 0])]))
        assert.strictEqual(error._tag, "DimensionMismatch")
        assert.strictEqual(yield* store.count("chunk"), 0)
        assert.strictEqual((yield* Effect.flip(store.nearest("chunk", [1], 1)))._tag, "DimensionMismatch")
      })
    ))

  it.effect("ranks by cosine similarity, best first, ties by id, k at most", () =>
    withStore((store) =>
      Effect.gen(function*() {
        yield* store.createIndex("statement", { dimensions: 2, model: "m" })
        yield* store.upsert("statement", [
          row("opposite", [-1, 0]),
          row("far", [0, 1]),
          row("near", [10, 1]),
          row("same-b", [2, 0]),
          row("same-a", [5, 0]),
          row("zero", [0, 0])
        ])
        const matches = yield* store.nearest("statement", [1, 0], 10)
        assert.deepStrictEqual(matches.map((m) => m.id), ["same-a", "same-b", "near", "far", "zero", "opposite"])
        assert.closeTo(matches[2]!.score, 10 / Math.sqrt(101), 1e-12)
        assert.strictEqual(matches[5]!.score, -1)
        assert.deepStrictEqual((yield* store.nearest("statement", [1, 0], 2)).map((m) => m.id), ["same-a", "same-b"])
        assert.deepStrictEqual(yield* store.nearest("statement", [1, 0], 0), [])
      })
    ))

  it.effect("names a missing index", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(store.count("topic"))
        assert.strictEqual(error._tag, "IndexNotFound")
        assert.strictEqual((yield* Effect.flip(store.upsert("topic", [])))._tag, "IndexNotFound")
        assert.strictEqual((yield* Effect.flip(store.finishWrites("topic")))._tag, "IndexNotFound")
      })
    ))

  it.effect("finishWrites changes nothing a search sees, as often as called", () =>
    withStore((store) =>
      Effect.gen(function*() {
        yield* store.createIndex("chunk", { dimensions: 2, model: "m" })
        yield* store.finishWrites("chunk")
        yield* store.upsert("chunk", [row("a", [1, 0]), row("b", [0, 1])])
        const before = yield* store.nearest("chunk", [1, 1], 2)
        yield* store.finishWrites("chunk")
        yield* store.finishWrites("chunk")
        assert.deepStrictEqual(yield* store.nearest("chunk", [1, 1], 2), before)
        assert.deepStrictEqual(before.map((m) => m.id), ["a", "b"])
        assert.strictEqual(yield* store.count("chunk"), 2)
      })
    ))

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
