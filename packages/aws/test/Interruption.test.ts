import { BatchInference, ModelFamily, ModelRuntime, ObjectStore } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Option, Schedule, Stream } from "effect"
import * as LocalBackend from "../src/LocalBackend.ts"
import { bucket, localLayer } from "./fixtures.ts"

/** Wait (bounded) until a condition on a value holds. */
const eventually = <A>(read: Effect.Effect<A>, until: (a: A) => boolean) =>
  read.pipe(Effect.repeat({ until, schedule: Schedule.spaced("5 millis") }), Effect.timeout("3 seconds"))

const body = ModelFamily.anthropic.buildRequest({ user: "<text>One. Two.</text>" }, { maxTokens: 100 })

describe("interruption", () => {
  it.live("interrupting a runtime call (HTTP/2) or a control-plane call (HTTP/1.1) aborts its request", () =>
    Effect.gen(function*() {
      const local = yield* LocalBackend.LocalBackend
      const runtime = yield* ModelRuntime.ModelRuntime
      const bedrock = yield* BatchInference.BatchInference
      yield* local.bedrock.setFaults({ delayMs: { InvokeModel: 30_000, GetModelInvocationJob: 30_000 } })
      const started = yield* Clock.currentTimeMillis

      const invoked = yield* runtime.invoke({
        modelId: "anthropic.claude-3-haiku-20240307-v1:0",
        invocationType: "InvokeModel",
        body
      })
        .pipe(Effect.timeoutOption("100 millis"))
      assert.isTrue(Option.isNone(invoked))
      yield* eventually(local.bedrock.counters, (c) => c.requestsAborted === 1)

      const described = yield* bedrock.getJob("abcdefghijkl").pipe(Effect.timeoutOption("100 millis"))
      assert.isTrue(Option.isNone(described))
      yield* eventually(local.bedrock.counters, (c) => c.requestsAborted === 2)

      // Well before the emulator would have answered.
      assert.isBelow((yield* Clock.currentTimeMillis) - started, 5_000)
      // The clients are still usable.
      yield* local.bedrock.setFaults({})
      yield* runtime.invoke({ modelId: "anthropic.claude-3-haiku-20240307-v1:0", invocationType: "InvokeModel", body })
    }).pipe(Effect.provide(localLayer())))

  it.live("interrupting an upload aborts the multipart upload and leaves no object", () =>
    Effect.gen(function*() {
      const local = yield* LocalBackend.LocalBackend
      const store = yield* ObjectStore.ObjectStore
      const part = new Uint8Array(1024 * 1024)
      // Six MiB, then a body that never ends: the first part goes up, then the upload waits.
      const endless = Stream.concat(Stream.make(part, part, part, part, part, part), Stream.never)
      const put = yield* store.put({ bucket, key: "never.bin" }, endless).pipe(Effect.timeoutOption("500 millis"))
      assert.isTrue(Option.isNone(put))
      // lib-storage sends AbortMultipartUpload (a DELETE) once the part in flight is done.
      yield* eventually(local.s3.requests, (r) => (r.DELETE ?? 0) >= 1)
      assert.isTrue(Option.isNone(yield* store.head({ bucket, key: "never.bin" })))
    }).pipe(Effect.provide(localLayer({ partSize: 5 * 1024 * 1024 }))))
})
