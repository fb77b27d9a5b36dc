/**
 * One process of the local-lifecycle benchmark (`lifecycle.ts`): prints one JSON line
 * ({@link ChildFigures}) and must then end by itself (it never calls `process.exit`), so the
 * parent can time how long the process lingers after everything is released. When its event
 * loop has emptied (Node's `exit` event) it prints a second line, `{"loopEmptiedMs": …}`:
 * the time from the first line to that moment (writes to a pipe are synchronous on Linux).
 *
 * 1. Start the local emulation (`LocalBackend.layer`: the local S3, the Bedrock emulator and
 *    the three ports over real SDK clients) in a scope of its own.
 * 2. A run through it, as the aws package's lifecycle test does: stage 20 records, one batch
 *    job to its end, an `InvokeModel` and a `Converse` call.
 * 3. Aborts, with the emulator holding calls for 30 s: `--aborts` times an `InvokeModel` call
 *    (runtime, HTTP/2) and a `GetModelInvocationJob` call (control plane, HTTP/1.1), each
 *    interrupted once the emulator holds it; then `--uploads` times a multipart upload whose
 *    body never ends, interrupted once its first part is stored. Per call: the time from the
 *    interruption until the interrupted effect returned, and until the service saw the abort
 *    (the emulator's `requestsAborted`; the local S3's `AbortMultipartUpload`, a DELETE).
 * 4. Release the scope (timed); then start and release a second local backend in the same
 *    process (timed: what the first start paid once — modules' first use, JIT — it does not),
 *    and print.
 *
 * Usage: node packages/examples/bench/lifecycle-child.ts [--aborts 20] [--uploads 5]
 */
import { LocalBackend } from "@batch-extract/aws/local"
import { BatchInference, ModelFamily, ModelRuntime, ObjectStore } from "@batch-extract/core"
import { Effect, Exit, Fiber, Layer, Schedule, Scope, Stream } from "effect"
import { parseArgs } from "node:util"

/** Milliseconds of one interrupted call. */
export interface AbortTiming {
  /** From the interruption until the interrupted effect returned. */
  readonly returnedMs: number
  /** From the interruption until the service saw the request closed. */
  readonly seenMs: number
}

/** What one child measured (milliseconds; `performance.now()` is since the process started). */
export interface ChildFigures {
  /** Process start → the modules loaded (Node's own start, then importing the library). */
  readonly loadedMs: number
  /** Building `LocalBackend.layer` (servers listening, buckets made, SDK clients made). */
  readonly startupMs: number
  /** The run: stage, one batch job to its end, two runtime calls. */
  readonly runMs: number
  readonly status: string
  readonly runtime: ReadonlyArray<AbortTiming>
  readonly controlPlane: ReadonlyArray<AbortTiming>
  readonly upload: ReadonlyArray<AbortTiming>
  /** Closing the scope: clients destroyed, servers closed, job fibers interrupted. */
  readonly releaseMs: number
  /** Building a second `LocalBackend.layer` in the same process, after the first was released. */
  readonly secondStartupMs: number
}

const loadedMs = performance.now()
const { values } = parseArgs({
  options: { aborts: { type: "string", default: "20" }, uploads: { type: "string", default: "5" } }
})
const aborts = Number(values.aborts)
const uploads = Number(values.uploads)

const bucket = "lifecycle-bench"
const now = Effect.sync(() => performance.now())
const body = ModelFamily.anthropic.buildRequest({ user: "<text>Grace Hopper wrote compilers.</text>" }, {
  maxTokens: 100
})
const record = (i: number) =>
  `${
    JSON.stringify({
      recordId: `rec-${String(i).padStart(5, "0")}`,
      modelInput: ModelFamily.anthropic.buildRequest({ user: `<text>Alice met Bob in Paris, day ${i}.</text>` }, {
        maxTokens: 200
      })
    })
  }\n`

/** Poll (every millisecond) until `until` holds. */
const waitFor = <A>(read: Effect.Effect<A>, until: (a: A) => boolean) =>
  read.pipe(Effect.repeat({ until, schedule: Schedule.spaced("1 millis") }))

/**
 * Start `call`, wait until the service holds it (`held`), interrupt it, and time the
 * interruption until the effect returned and until the service saw the abort (`seen`).
 */
const timeAbort = <A, E, R>(
  call: Effect.Effect<A, E, R>,
  held: Effect.Effect<boolean>,
  seen: Effect.Effect<boolean>
) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(call)
    yield* waitFor(held, (ok) => ok)
    const interrupted = yield* now
    yield* Fiber.interrupt(fiber)
    const returned = yield* now
    yield* waitFor(seen, (ok) => ok)
    const sawIt = yield* now
    return { returnedMs: returned - interrupted, seenMs: sawIt - interrupted } satisfies AbortTiming
  })

const localLayer = LocalBackend.layer({
  buckets: [bucket],
  partSize: 5 * 1024 * 1024,
  emulator: { quotas: { minRecordsPerJob: 1 } }
})

const program = Effect.gen(function*() {
  const scope = yield* Scope.make()
  const beforeStart = yield* now
  const context = yield* Layer.buildWithScope(localLayer, scope)
  const startupMs = (yield* now) - beforeStart

  const measured = yield* Effect.gen(function*() {
    const local = yield* LocalBackend.LocalBackend
    const store = yield* ObjectStore.ObjectStore
    const bedrock = yield* BatchInference.BatchInference
    const runtime = yield* ModelRuntime.ModelRuntime

    // 2. The run.
    const beforeRun = yield* now
    const encoder = new TextEncoder()
    yield* store.put(
      { bucket, key: "input/run.jsonl" },
      Stream.range(0, 19).pipe(Stream.map((i) => encoder.encode(record(i)))),
      { contentType: "application/jsonl" }
    )
    const { jobArn } = yield* bedrock.createJob({
      jobName: "lifecycle",
      roleArn: "arn:aws:iam::123456789012:role/BedrockBatch",
      modelId: "anthropic.claude-3-haiku-20240307-v1:0",
      clientRequestToken: "lifecycle-token",
      inputDataConfig: { s3InputDataConfig: { s3Uri: `s3://${bucket}/input/run.jsonl`, s3InputFormat: "JSONL" } },
      outputDataConfig: { s3OutputDataConfig: { s3Uri: `s3://${bucket}/output/` } }
    })
    const job = yield* bedrock.getJob(jobArn).pipe(
      Effect.repeat({
        until: (job) => BatchInference.isTerminal(job.status),
        schedule: Schedule.spaced("10 millis")
      })
    )
    yield* Effect.all([
      runtime.invoke({ modelId: "anthropic.claude-3-haiku-20240307-v1:0", invocationType: "InvokeModel", body }),
      runtime.invoke({
        modelId: "us.amazon.nova-lite-v1:0",
        invocationType: "Converse",
        body: ModelFamily.converse.buildRequest({ user: "<text>Grace Hopper wrote compilers.</text>" }, {
          maxTokens: 100
        })
      })
    ])
    const runMs = (yield* now) - beforeRun

    // 3. Aborts.
    yield* local.bedrock.setFaults({ delayMs: { InvokeModel: 30_000, GetModelInvocationJob: 30_000 } })
    const counters = local.bedrock.counters
    const calls = (operation: string) => Effect.map(counters, (c) => c.callsByOperation[operation] ?? 0)
    const aborted = Effect.map(counters, (c) => c.requestsAborted)
    const timeEmulatorAbort = <A, E, R>(operation: string, call: Effect.Effect<A, E, R>) =>
      Effect.gen(function*() {
        const callsBefore = yield* calls(operation)
        const abortedBefore = yield* aborted
        return yield* timeAbort(
          call,
          Effect.map(calls(operation), (n) => n > callsBefore),
          Effect.map(aborted, (n) => n > abortedBefore)
        )
      })
    const runtimeAborts = yield* Effect.forEach(
      Array.from({ length: aborts }),
      () =>
        timeEmulatorAbort(
          "InvokeModel",
          runtime.invoke({ modelId: "anthropic.claude-3-haiku-20240307-v1:0", invocationType: "InvokeModel", body })
        )
    )
    const controlAborts = yield* Effect.forEach(
      Array.from({ length: aborts }),
      () => timeEmulatorAbort("GetModelInvocationJob", bedrock.getJob(jobArn))
    )
    yield* local.bedrock.setFaults({})

    const part = new Uint8Array(1024 * 1024)
    const requests = (method: string) => Effect.map(local.s3.requests, (r) => r[method] ?? 0)
    const uploadAborts = yield* Effect.forEach(Array.from({ length: uploads }), (_, i) =>
      Effect.gen(function*() {
        const putsBefore = yield* requests("PUT")
        const deletesBefore = yield* requests("DELETE")
        // Six MiB, then a body that never ends: the first part goes up, then the upload waits.
        const endless = Stream.concat(Stream.make(part, part, part, part, part, part), Stream.never)
        return yield* timeAbort(
          store.put({ bucket, key: `never-${i}.bin` }, endless),
          Effect.map(requests("PUT"), (n) => n > putsBefore),
          Effect.map(requests("DELETE"), (n) => n > deletesBefore)
        )
      }))
    return {
      runMs,
      status: job.status,
      runtime: runtimeAborts,
      controlPlane: controlAborts,
      upload: uploadAborts
    }
  }).pipe(
    Effect.provide(context),
    // A failed measurement still releases everything, so the process ends (with the error).
    Effect.onError(() => Scope.close(scope, Exit.void))
  )

  const beforeRelease = yield* now
  yield* Scope.close(scope, Exit.void)
  const releaseMs = (yield* now) - beforeRelease

  const secondScope = yield* Scope.make()
  const beforeSecond = yield* now
  yield* Layer.buildWithScope(localLayer, secondScope).pipe(Effect.onError(() => Scope.close(secondScope, Exit.void)))
  const secondStartupMs = (yield* now) - beforeSecond
  yield* Scope.close(secondScope, Exit.void)
  return { loadedMs, startupMs, ...measured, releaseMs, secondStartupMs } satisfies ChildFigures
})

Effect.runPromise(program).then((figures) => {
  const printed = performance.now()
  process.stdout.write(`${JSON.stringify(figures)}\n`)
  process.on("exit", () => {
    process.stdout.write(`${JSON.stringify({ loopEmptiedMs: performance.now() - printed })}\n`)
  })
})
