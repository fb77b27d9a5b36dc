/**
 * Virtual time and the simulated environment shared by the makespan, polling, batch-share and
 * memory benchmarks: Effect's `TestClock` drives the simulated Bedrock service, so a
 * 30-hour workload runs in seconds, and every timing is exact (not sampled).
 */
import {
  BatchConfig,
  BatchInference,
  type BatchRecord,
  BatchRunner,
  JobSlots,
  type ModelFamily,
  ModelRuntime,
  ObjectStore,
  type RunState,
  RunSummary
} from "@batch-extract/core"
import { DeterministicModelRuntime, InMemoryObjectStore, SimulatedBatchInference } from "@batch-extract/core/testing"
import { Clock, Duration, Effect, Fiber, Layer, Random, Result, Scheduler, Stream } from "effect"
import { TestClock } from "effect/testing"
import { lightAnswer, lightRecord } from "./corpus.ts"

/**
 * A scheduler that counts the tasks waiting to run, so the clock driver can tell when every
 * fiber is suspended (waiting on the clock or on another fiber) rather than busy.
 */
class CountingScheduler implements Scheduler.Scheduler {
  outstanding = 0
  readonly inner = new Scheduler.MixedScheduler()
  get executionMode() {
    return this.inner.executionMode
  }
  shouldYield(fiber: Parameters<Scheduler.Scheduler["shouldYield"]>[0]) {
    return this.inner.shouldYield(fiber)
  }
  makeDispatcher(): Scheduler.SchedulerDispatcher {
    const dispatcher = this.inner.makeDispatcher()
    return {
      scheduleTask: (task, priority) => {
        this.outstanding++
        dispatcher.scheduleTask(() => {
          this.outstanding--
          task()
        }, priority)
      },
      flush: () => dispatcher.flush()
    }
  }
}

/**
 * Run an effect on a `TestClock`, advancing it in steps until the effect ends.
 *
 * The clock moves only when every fiber is suspended: a fiber busy with CPU work (packing,
 * staging, parsing) would otherwise see the clock jump ahead of it. Within a step, sleeps wake
 * in order at their exact times (`TestClock.adjust` waits for each woken fiber to suspend
 * again), so every virtual timing is exact, whatever the step.
 */
export const runVirtual = <A, E>(
  effect: Effect.Effect<A, E>,
  options: { readonly step?: Duration.Input; readonly seed?: number } = {}
): Promise<A> => {
  const scheduler = new CountingScheduler()
  const quiet = Effect.promise(() =>
    new Promise<void>((resolve) => {
      const check = () => (scheduler.outstanding === 0 ? resolve() : setImmediate(check))
      setImmediate(check)
    })
  )
  return Effect.runPromise(
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(effect)
      while (true) {
        yield* quiet
        if (fiber.pollUnsafe() !== undefined) break
        yield* TestClock.adjust(options.step ?? Duration.minutes(10))
      }
      return yield* Fiber.join(fiber)
    }).pipe(
      Random.withSeed(options.seed ?? 7),
      Effect.provide(TestClock.layer({ warningDelay: "1 hour" })),
      Effect.provideService(Scheduler.Scheduler, scheduler)
    )
  )
}

/** Seconds on the current clock. */
export const nowSeconds = Effect.map(Clock.currentTimeMillis, (ms) => ms / 1000)

/** The bench's account: the settings every engine run shares. */
export const baseConfig: BatchConfig.BatchConfigInput = {
  bucketName: "bench-bucket",
  region: "us-east-1",
  roleArn: "arn:aws:iam::123456789012:role/BedrockBatch",
  model: { modelId: "us.anthropic.claude-3-5-haiku-20241022-v1:0", maxTokens: 4096, temperature: 0 }
}

/** Decode a configuration (the bench's settings are known to be valid). */
export const configOf = (overrides: Partial<BatchConfig.BatchConfigInput>) =>
  BatchConfig.decode({ ...baseConfig, ...overrides }).pipe(Effect.orDie)

/** The light answer of the large simulations. */
export const respondLight = () => Result.succeed(lightAnswer)

/** A simulated environment: simulated Bedrock over a store, deterministic runtime, job slots. */
export interface SimEnv {
  readonly sim: SimulatedBatchInference.SimulatedBatchInference
  readonly runtime: DeterministicModelRuntime.DeterministicModelRuntime
  readonly layer: Layer.Layer<
    ObjectStore.ObjectStore | BatchInference.BatchInference | ModelRuntime.ModelRuntime | JobSlots.JobSlots
  >
}

/** Build a simulated environment over `store` (an in-memory one when omitted). */
export const makeSimEnv = (options: {
  readonly sim: SimulatedBatchInference.Options
  readonly slots: number
  readonly store?: ObjectStore.ObjectStore["Service"] | undefined
  readonly runtime?: DeterministicModelRuntime.Options | undefined
}): Effect.Effect<SimEnv> =>
  Effect.gen(function*() {
    const store = options.store ?? (yield* InMemoryObjectStore.make()).service
    const sim = yield* SimulatedBatchInference.make(options.sim).pipe(
      Effect.provideService(ObjectStore.ObjectStore, store)
    )
    const runtime = yield* DeterministicModelRuntime.make(options.runtime)
    const slots = yield* JobSlots.make(options.slots)
    const layer = Layer.mergeAll(
      Layer.succeed(ObjectStore.ObjectStore, store),
      Layer.succeed(BatchInference.BatchInference, sim.service),
      Layer.succeed(ModelRuntime.ModelRuntime, runtime.service),
      Layer.succeed(JobSlots.JobSlots, slots)
    )
    return { sim, runtime, layer }
  })

/**
 * The engine on two stages, pipelined as the extraction pipeline runs them: every chunk's
 * topic record enters the topic stage as soon as its proposition job has been read (both
 * stages share the job slots).
 */
export const engineTwoStages = (
  chunks: Stream.Stream<BatchRecord.BatchRecord>,
  config: BatchConfig.BatchConfig,
  topicRecord: (outcome: BatchRecord.Succeeded) => BatchRecord.BatchRecord
): Stream.Stream<
  BatchRecord.RecordOutcome,
  BatchRunner.InvalidRunOptions | ModelFamily.UnknownModelFamily | RunState.StateError,
  BatchRunner.Services
> =>
  BatchRunner.run(
    BatchRunner.run(chunks, { config, runId: "bench", stage: "propositions" }).pipe(
      Stream.filter((outcome): outcome is BatchRecord.Succeeded => outcome._tag === "Succeeded"),
      Stream.map(topicRecord)
    ),
    { config, runId: "bench", stage: "topics" }
  )

/** What an engine run on the simulator measured. */
export interface EngineRun {
  /** Virtual seconds from the start to the last outcome. */
  readonly seconds: number
  readonly summary: RunSummary.RunSummary
  readonly counters: SimulatedBatchInference.Counters
}

/**
 * Run `chunks` light records through both stages of the engine on the simulator, in virtual
 * time.
 */
export const runEngineLight = (options: {
  readonly chunks: number
  readonly config: Partial<BatchConfig.BatchConfigInput>
  readonly sim: SimulatedBatchInference.Options
}): Promise<EngineRun> =>
  runVirtual(Effect.gen(function*() {
    const config = yield* configOf(options.config)
    const env = yield* makeSimEnv({
      sim: { respond: respondLight, ...options.sim },
      slots: config.maxConcurrentJobs,
      runtime: { respond: respondLight }
    })
    const start = yield* nowSeconds
    const records = Stream.range(0, options.chunks - 1).pipe(Stream.map((i) => lightRecord(i)))
    const [, summary] = yield* RunSummary.collect(
      Stream.runDrain(engineTwoStages(records, config, (outcome) => ({
        recordId: outcome.recordId,
        modelInput: lightRecord(0, `t${outcome.recordId}`).modelInput
      })))
    ).pipe(Effect.provide(env.layer), Effect.orDie)
    const end = yield* nowSeconds
    return { seconds: end - start, summary, counters: yield* env.sim.counters }
  }))
