import { ObjectStore } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted, Stream } from "effect"
import * as LocalS3 from "../src/LocalS3.ts"
import * as S3ObjectStore from "../src/S3ObjectStore.ts"

const credentials = { accessKeyId: "local", secretAccessKey: Redacted.make("local") }

const storeLayer = Layer.unwrap(Effect.gen(function*() {
  const s3 = yield* LocalS3.LocalS3
  return S3ObjectStore.layer({ client: { region: "us-east-1", endpoints: { s3: s3.endpoint }, credentials } })
}))

const TestLayer = storeLayer.pipe(Layer.provideMerge(LocalS3.layer({ buckets: ["bucket"] })))

describe("S3ObjectStore", () => {
  it.live("round trip", () =>
    Effect.gen(function*() {
      yield* ObjectStore.putString({ bucket: "bucket", key: "a/b.txt" }, "hello")
      const text = yield* ObjectStore.getString({ bucket: "bucket", key: "a/b.txt" })
      assert.strictEqual(text, "hello")
      const listed = yield* ObjectStore.ObjectStore.use((s) => Stream.runCollect(s.list("bucket", "a/")))
      assert.strictEqual(listed.length, 1)
      const missing = yield* ObjectStore.ObjectStore.use((s) => s.head({ bucket: "bucket", key: "nope" }))
      assert.isTrue(Option.isNone(missing))
    }).pipe(Effect.provide(TestLayer)))
})
