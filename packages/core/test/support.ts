/**
 * Shared helpers for the engine tests: a full simulated environment and a driver that
 * advances the TestClock until an effect is done.
 */
import {
  BatchConfig,
  BatchInference,
  BatchRecord,
  JobSlots,
  ModelFamily,
  ModelRuntime,
  ObjectStore
} from "@batch-extract/core"
import { DeterministicModelRuntime, InMemoryObjectStore, SimulatedBatchInference } from "@batch-extract/core/testing"
import { Duration, Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"

export const baseConfig: BatchConfig.BatchConfigInput = {
  bucketName: "extract-bucket",
  region: "us-east-1",
  roleArn: "arn:aws:iam::123456789012:role/BedrockBatch",
  model: { modelId: "us.anthropic.claude-3-5-haiku-20241022-v1:0", maxTokens: 2000, temperature: 0 }
}

export const config = (overrides: Partial<BatchConfig.BatchConfigInput> = {}) =>
  BatchConfig.decode({ ...baseConfig, ...overrides }).pipe(Effect.orDie)

/** A stage-1 style record for the given index. */
export const record = (i: number): BatchRecord.BatchRecord => ({
  recordId: `aws::doc${Math.floor(i / 10)}:c${i}`,
  modelInput: ModelFamily.anthropic.buildRequest(
    {
      system: "Extract propositions.",
      user: `<text>Record ${i} was written in Boston. It mentions Alice Smith.</text>`
    },
    { maxTokens: 2000, temperature: 0 }
  )
})

export const records = (n: number) => Array.from({ length: n }, (_, i) => record(i))

export interface Env {
  readonly store: InMemoryObjectStore.InMemoryObjectStore
  readonly sim: SimulatedBatchInference.SimulatedBatchInference
  readonly runtime: DeterministicModelRuntime.DeterministicModelRuntime
  readonly slots: JobSlots.JobSlots["Service"]
  readonly layer: Layer.Layer<
    ObjectStore.ObjectStore | BatchInference.BatchInference | ModelRuntime.ModelRuntime | JobSlots.JobSlots
  >
}

/** Build a simulated environment (in-memory S3, simulated Bedrock, deterministic runtime). */
export const makeEnv = (options: {
  readonly sim?: SimulatedBatchInference.Options
  readonly runtime?: DeterministicModelRuntime.Options
  readonly store?: InMemoryObjectStore.Options
  readonly slots?: number
} = {}): Effect.Effect<Env> =>
  Effect.gen(function*() {
    const store = yield* InMemoryObjectStore.make(options.store)
    const sim = yield* SimulatedBatchInference.make(options.sim).pipe(
      Effect.provideService(ObjectStore.ObjectStore, store.unfaulted)
    )
    const runtime = yield* DeterministicModelRuntime.make(options.runtime)
    const slots = yield* JobSlots.make(options.slots ?? 10)
    const layer = Layer.mergeAll(
      Layer.succeed(ObjectStore.ObjectStore, store.service),
      Layer.succeed(BatchInference.BatchInference, sim.service),
      Layer.succeed(ModelRuntime.ModelRuntime, runtime.service),
      Layer.succeed(JobSlots.JobSlots, slots)
    )
    return { store, sim, runtime, slots, layer }
  })

/** Run an effect to its end, moving the TestClock forward in steps (bounded). */
export const runOnTestClock = <A, E>(
  effect: Effect.Effect<A, E>,
  options: { readonly step?: Duration.Input; readonly maxSteps?: number } = {}
): Effect.Effect<A, E> =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(effect)
    const maxSteps = options.maxSteps ?? 200_000
    for (let i = 0; i < maxSteps; i++) {
      if (fiber.pollUnsafe() !== undefined) break
      yield* TestClock.adjust(options.step ?? Duration.seconds(10))
    }
    if (fiber.pollUnsafe() === undefined) {
      yield* Fiber.interrupt(fiber)
      return yield* Effect.die(new Error(`did not finish within ${maxSteps} clock steps`))
    }
    return yield* Fiber.join(fiber)
  })
