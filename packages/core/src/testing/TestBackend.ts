/**
 * Everything a pipeline needs, simulated, in one place: an in-memory object store, the
 * simulated Bedrock batch service (on Effect's `Clock`), a deterministic model runtime and
 * job slots — plus {@link runToCompletion}, which moves the `TestClock` until your effect is
 * done, since simulated jobs take simulated minutes.
 *
 * When to use: tests of your own pipelines, offline and in milliseconds.
 *
 * ```ts
 * const backend = yield* TestBackend.make({ batch: { recordErrorRate: 0.05 } })
 * const result = yield* TestBackend.runToCompletion(
 *   BatchRunner.runCollect(records, { config, runId: "t", stage: "s" }).pipe(Effect.provide(backend.layer))
 * )
 * ```
 *
 * @since 0.1.0
 */
import { Duration, Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import { BatchInference } from "../engine/BatchInference.ts"
import * as JobSlots from "../engine/JobSlots.ts"
import { ModelRuntime } from "../engine/ModelRuntime.ts"
import { ObjectStore } from "../engine/ObjectStore.ts"
import * as DeterministicModelRuntime from "./DeterministicModelRuntime.ts"
import * as InMemoryObjectStore from "./InMemoryObjectStore.ts"
import * as SimulatedBatchInference from "./SimulatedBatchInference.ts"

/** Options of the simulated backend. */
export interface Options {
  readonly batch?: SimulatedBatchInference.Options | undefined
  readonly runtime?: DeterministicModelRuntime.Options | undefined
  readonly store?: InMemoryObjectStore.Options | undefined
  /** Job slots of the process (default 10). */
  readonly jobSlots?: number | undefined
}

/** The simulated backend: its parts, for assertions, and one Layer with every port. */
export interface TestBackend {
  readonly store: InMemoryObjectStore.InMemoryObjectStore
  readonly batch: SimulatedBatchInference.SimulatedBatchInference
  readonly runtime: DeterministicModelRuntime.DeterministicModelRuntime
  readonly slots: JobSlots.JobSlots["Service"]
  readonly layer: Layer.Layer<ObjectStore | BatchInference | ModelRuntime | JobSlots.JobSlots>
}

/** Build a simulated backend. The simulated service reads the store without its injected faults. */
export const make = (options: Options = {}): Effect.Effect<TestBackend> =>
  Effect.gen(function*() {
    const store = yield* InMemoryObjectStore.make(options.store)
    const batch = yield* SimulatedBatchInference.make(options.batch).pipe(
      Effect.provideService(ObjectStore, store.unfaulted)
    )
    const runtime = yield* DeterministicModelRuntime.make(options.runtime)
    const slots = yield* JobSlots.make(options.jobSlots ?? 10)
    const layer = Layer.mergeAll(
      Layer.succeed(ObjectStore, store.service),
      Layer.succeed(BatchInference, batch.service),
      Layer.succeed(ModelRuntime, runtime.service),
      Layer.succeed(JobSlots.JobSlots, slots)
    )
    return { store, batch, runtime, slots, layer }
  })

/** A Layer with a fresh simulated backend (use {@link make} to inspect it). */
export const layer = (options: Options = {}) => Layer.unwrap(Effect.map(make(options), (backend) => backend.layer))

/**
 * Run an effect to its end under `TestClock`, moving the clock forward in steps (10 simulated
 * seconds by default) until the effect is done. Dies if it is not done after `maxSteps`.
 */
export const runToCompletion = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  options: { readonly step?: Duration.Input | undefined; readonly maxSteps?: number | undefined } = {}
): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(effect)
    const maxSteps = options.maxSteps ?? 200_000
    for (let i = 0; i < maxSteps && fiber.pollUnsafe() === undefined; i++) {
      yield* TestClock.adjust(options.step ?? Duration.seconds(10))
    }
    if (fiber.pollUnsafe() === undefined) {
      yield* Fiber.interrupt(fiber)
      return yield* Effect.die(new Error(`not done after ${maxSteps} steps of simulated time`))
    }
    return yield* Fiber.join(fiber)
  })
