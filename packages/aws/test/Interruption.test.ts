import { BatchInference, ModelFamily, ModelRuntime, ObjectStore } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, Schedule, Stream } from "effect"
import * as LocalBackend from "../src/LocalBackend.ts"
import { bucket, localLayer } from "./fixtures.ts"

/**
 * Wait until a condition on a value holds. The timeout is a safety net (so a missing abort
 * fails instead of hanging), not the proof: the emulator holds the calls for 30 s and counts
 * a request as aborted only when the client closes it before the answer. How soon the abort
 * arrives is measured by the "local-lifecycle" benchmark (BENCHMARKS.md).
 */
const eventually = <A>(read: Effect.Effect<A>, until: (a: A) => boolean) =>
  read.pipe(Effect.repeat({ until, schedule: Schedule.spaced("5 millis") }), Effect.timeout("20 seconds"))

const body = ModelFamily.anthropic.buildRequest({ user: "<text>One. Two.</text>" }, { maxTokens: 100 })

/**
 * Start a call, wait until the service has its request (`arrivals` went up), interrupt it,
 * and return how it ended. Interrupting only once the request is at the service makes the
 * abort observable there, however slow the machine.
 */
const interruptOnceArrived = <A, E, R>(arrivals: Effect.Effect<number>, call: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const before = yield* arrivals
    const fiber = yield* Effect.forkChild(call)
    yield* eventually(arrivals, (n) => n > before)
    yield* Fiber.interrupt(fiber)
    return yield* Fiber.await(fiber)
  })

/** Calls of an operation the emulator received (it counts a call on arrival, before holding it). */
const emulatorCalls = (local: LocalBackend.LocalBackendShape, operation: string) =>
  Effect.map(local.bedrock.counters, (c) => c.callsByOperation[operation] ?? 0)

describe("interruption", () => {
  it.live("interrupting a runtime call (HTTP/2) or a control-plane call (HTTP/1.1) aborts its request", () =>
    Effect.gen(function*() {
      const local = yield* LocalBackend.LocalBackend
      const runtime = yield* ModelRuntime.ModelRuntime
      const bedrock = yield* BatchInference.BatchInference
      yield* local.bedrock.setFaults({ delayMs: { InvokeModel: 30_000, GetModelInvocationJob: 30_000 } })

      const invoked = yield* interruptOnceArrived(
        emulatorCalls(local, "InvokeModel"),
        runtime.invoke({ modelId: "anthropic.claude-3-haiku-20240307-v1:0", invocationType: "InvokeModel", body })
      )
      assert.isTrue(Exit.hasInterrupts(invoked))
      yield* eventually(local.bedrock.counters, (c) => c.requestsAborted === 1)

      const described = yield* interruptOnceArrived(
        emulatorCalls(local, "GetModelInvocationJob"),
        bedrock.getJob("abcdefghijkl")
      )
      assert.isTrue(Exit.hasInterrupts(described))
      yield* eventually(local.bedrock.counters, (c) => c.requestsAborted === 2)

      // Each call was sent once: the interruption closed it, nothing sent it again.
      const counters = yield* local.bedrock.counters
      assert.strictEqual(counters.callsByOperation.InvokeModel, 1)
      assert.strictEqual(counters.callsByOperation.GetModelInvocationJob, 1)
      // The clients are still usable: the runtime answers, the control plane answers (the job is unknown).
      yield* local.bedrock.setFaults({})
      yield* runtime.invoke({ modelId: "anthropic.claude-3-haiku-20240307-v1:0", invocationType: "InvokeModel", body })
      const unknown = yield* bedrock.getJob("abcdefghijkl").pipe(Effect.flip)
      assert.strictEqual(unknown._tag, "NotFound")
      assert.strictEqual((yield* local.bedrock.counters).requestsAborted, 2)
    }).pipe(Effect.provide(localLayer())))

  it.live("interrupting an upload aborts the multipart upload and leaves no object", () =>
    Effect.gen(function*() {
      const local = yield* LocalBackend.LocalBackend
      const store = yield* ObjectStore.ObjectStore
      const part = new Uint8Array(1024 * 1024)
      // Six MiB, then a body that never ends: the first part goes up, then the upload waits.
      const endless = Stream.concat(Stream.make(part, part, part, part, part, part), Stream.never)
      // Interrupted once the first part is at the local S3.
      const put = yield* interruptOnceArrived(
        Effect.map(local.s3.requests, (r) => r.PUT ?? 0),
        store.put({ bucket, key: "never.bin" }, endless)
      )
      assert.isTrue(Exit.hasInterrupts(put))
      // lib-storage sends AbortMultipartUpload (a DELETE) once the part in flight is done.
      yield* eventually(local.s3.requests, (r) => (r.DELETE ?? 0) >= 1)
      assert.isTrue(Option.isNone(yield* store.head({ bucket, key: "never.bin" })))
    }).pipe(Effect.provide(localLayer({ partSize: 5 * 1024 * 1024 }))))
})
