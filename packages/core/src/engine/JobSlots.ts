/**
 * Job slots: one process-wide semaphore sized to the account's quota of concurrent batch
 * jobs (submitted + validating + scheduled + in progress), shared by every run and stage in
 * the process.
 *
 * A slot is taken before a job is created and given back when the job is seen in a terminal
 * status, so the process never has more live jobs than the quota allows.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Semaphore } from "effect"
import type { BatchConfig } from "./BatchConfig.ts"

/** The job a slot is taken for: its model's quota applies, and the slot is the job's. */
export interface SlotClaim {
  readonly runId: string
  readonly jobName: string
  /** The model id the job runs (quotas are per model). */
  readonly model: string
  /** The model's quota of live jobs, as the run's settings give it. */
  readonly limit: number
}

/** The job-slot service. */
export class JobSlots extends Context.Service<JobSlots, {
  /** Total slots (of this process; a shared store's per-model limit comes with each claim). */
  readonly capacity: number
  /**
   * Run an effect while holding the job's slot (waits for a free slot first). The slot is
   * given back when the effect ends; a shared store keeps it when the effect is interrupted
   * (the job still runs at Bedrock, whoever follows it next holds the same slot).
   */
  readonly withSlot: <A, E, R>(claim: SlotClaim, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Slots in use right now. */
  readonly inUse: Effect.Effect<number>
  /** The most slots ever in use at once (for tests and reports). */
  readonly peak: Effect.Effect<number>
}>()("@batch-extract/core/JobSlots") {}

/** Build job slots with the given capacity. */
export const make = (capacity: number): Effect.Effect<JobSlots["Service"]> =>
  Effect.gen(function*() {
    const semaphore = yield* Semaphore.make(capacity)
    let inUse = 0
    let peak = 0
    const acquire = Effect.andThen(
      semaphore.take(1),
      Effect.sync(() => {
        inUse += 1
        peak = Math.max(peak, inUse)
      })
    )
    const release = Effect.andThen(
      Effect.sync(() => {
        inUse -= 1
      }),
      semaphore.release(1)
    )
    return JobSlots.of({
      capacity,
      withSlot: (_claim, effect) => Effect.acquireUseRelease(acquire, () => effect, () => release),
      inUse: Effect.sync(() => inUse),
      peak: Effect.sync(() => peak)
    })
  })

/**
 * Job slots per model, sized by each claim's limit (the quota the claiming run's settings give
 * its model): a process that works on runs of different models or quotas.
 */
export const makePerModel: Effect.Effect<JobSlots["Service"]> = Effect.gen(function*() {
  const models = new Map<string, JobSlots["Service"]>()
  let inUse = 0
  let peak = 0
  const slotsOf = (model: string, limit: number) =>
    Effect.suspend(() => {
      const found = models.get(model)
      if (found !== undefined) return Effect.succeed(found)
      return Effect.tap(make(limit), (made) => Effect.sync(() => models.set(model, made)))
    })
  return JobSlots.of({
    capacity: Number.POSITIVE_INFINITY,
    withSlot: (claim, effect) =>
      Effect.flatMap(slotsOf(claim.model, claim.limit), (slots) =>
        slots.withSlot(
          claim,
          Effect.acquireUseRelease(
            Effect.sync(() => {
              inUse += 1
              peak = Math.max(peak, inUse)
            }),
            () => effect,
            () => Effect.sync(() => void (inUse -= 1))
          )
        )),
    inUse: Effect.sync(() => inUse),
    peak: Effect.sync(() => peak)
  })
})

/** Job slots per model, sized by each claim's limit (see {@link makePerModel}). */
export const layerPerModel: Layer.Layer<JobSlots> = Layer.effect(JobSlots, makePerModel)

/** Job slots of a fixed capacity. */
export const layer = (capacity: number): Layer.Layer<JobSlots> => Layer.effect(JobSlots, make(capacity))

/** Job slots sized to `maxConcurrentJobs`. */
export const layerFromConfig = (config: BatchConfig): Layer.Layer<JobSlots> => layer(config.maxConcurrentJobs)
