/**
 * Chunk files read back for a build: the reference's layout, what is ignored, bad files, and
 * the same files from an object store.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import * as ChunkFiles from "../../src/build/ChunkFiles.ts"
import { ObjectStore, putString } from "../../src/engine/ObjectStore.ts"
import * as InMemoryObjectStore from "../../src/testing/InMemoryObjectStore.ts"
import { tempTree } from "../support.ts"
import { chunk, fixture, fixtureJson } from "./support.ts"

const later = chunk("later", "topic: T\nproposition: p", { start: 500 })
const earlier = chunk("earlier", "topic: T\nproposition: q", { start: 10 })
const files = {
  "summary.json": "{}",
  // The reference's file, under its Windows-safe names.
  [`default/aws__x/${fixture.id_.replace(/::/g, "__").replace(/:/g, "_")}.json`]: JSON.stringify(fixtureJson),
  "default/aws__00000001/b.json": JSON.stringify(later),
  "default/aws__00000001/a.json": JSON.stringify(earlier),
  "default/aws__00000001/notes.txt": "not a chunk",
  "default/.batch-extract/state.json": "{not json",
  "default/.hidden/x.json": "{not json",
  ".batch-extract/graph/x.json": "{not json"
}

const provide = <A, E>(effect: Effect.Effect<A, E, any>) =>
  effect.pipe(Effect.scoped, Effect.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer)))

describe("ChunkFiles", () => {
  it.effect("reads the chunk files of a collection, sources in name order, chunks in document order", () =>
    provide(Effect.gen(function*() {
      const dir = yield* tempTree(files)
      const location = ChunkFiles.locationOf(dir, "default")
      const chunks = yield* Stream.runCollect(ChunkFiles.read(location)).pipe(
        Effect.provideService(ObjectStore, undefined as never)
      )
      assert.deepStrictEqual(chunks.map((c) => c.id_), [earlier.id_, later.id_, fixture.id_])
      const checked = yield* ChunkFiles.check(location).pipe(Effect.provideService(ObjectStore, undefined as never))
      assert.deepStrictEqual(checked, { sources: 2, chunks: 3 })
    })))

  it.effect("names the file that is not a chunk, and an empty collection", () =>
    provide(Effect.gen(function*() {
      const dir = yield* tempTree({ ...files, "default/aws__00000001/c.json": JSON.stringify({ id_: "x", text: 1 }) })
      const error = yield* Effect.flip(
        ChunkFiles.check(ChunkFiles.locationOf(dir, "default")).pipe(
          Effect.provideService(ObjectStore, undefined as never)
        )
      )
      assert.strictEqual(error._tag, "ChunkFileError")
      assert.include(error.message, "c.json")
      const broken = yield* tempTree({ "default/s/a.json": "{" })
      const invalid = yield* Effect.flip(
        ChunkFiles.check(ChunkFiles.locationOf(broken, "default")).pipe(
          Effect.provideService(ObjectStore, undefined as never)
        )
      )
      assert.include(invalid.message, "a.json: not valid JSON")
      const empty = yield* tempTree({ "default/s/notes.txt": "x" })
      const none = yield* Effect.flip(
        ChunkFiles.check(ChunkFiles.locationOf(empty, "default")).pipe(
          Effect.provideService(ObjectStore, undefined as never)
        )
      )
      assert.include(none.message, "no chunk files under")
      const missing = yield* Effect.flip(
        ChunkFiles.check(ChunkFiles.locationOf(`${empty}/nowhere`, "default")).pipe(
          Effect.provideService(ObjectStore, undefined as never)
        )
      )
      assert.include(missing.message, "cannot list")
    })))

  it.effect("reads the same layout from an object store under a prefix", () =>
    provide(Effect.gen(function*() {
      const store = yield* InMemoryObjectStore.make()
      const put = (key: string, body: string) =>
        putString({ bucket: "b", key }, body).pipe(Effect.provideService(ObjectStore, store.service))
      yield* put("runs/1/default/aws__00000001/b.json", JSON.stringify(later))
      yield* put("runs/1/default/aws__00000001/a.json", JSON.stringify(earlier))
      yield* put("runs/1/default/.batch-extract/x.json", "{")
      yield* put("runs/1/summary.json", "{}")
      const location = ChunkFiles.locationOf("s3://b/runs/1/", "default")
      assert.deepStrictEqual(location, { _tag: "ObjectStore", bucket: "b", prefix: "runs/1", collectionId: "default" })
      const chunks = yield* Stream.runCollect(ChunkFiles.read(location)).pipe(
        Effect.provideService(ObjectStore, store.service)
      )
      assert.deepStrictEqual(chunks.map((c) => c.id_), [earlier.id_, later.id_])
    })))
})
