/**
 * Job slots shared by every process on one run state (`JobSlots` over the store's `be_slots`
 * table): never more live jobs of a model than its quota, counted over every worker on every
 * host — effect 4.1 has no cross-process semaphore, so this is a small SQL-backed one.
 *
 * A slot belongs to a job, not to a process: it is taken before the job is created (in one
 * transaction that counts the model's slots, serialised per model on PostgreSQL) and given
 * back when the job is seen in a terminal status or its create was refused. When the process
 * following a job dies, the job still runs at Bedrock and still takes the account's quota, so
 * its slot stays taken: the process that takes the run over claims the same slot again (a
 * claim by a job that holds its slot succeeds at once) and gives it back when the job ends.
 * A run that finishes, or whose jobs are stopped, gives back any slot it still holds.
 *
 * Waiting for a slot polls the table (every second by default, on the Clock).
 *
 * @since 0.3.0
 */
import { Cause, Clock, Duration, Effect, Exit, Layer, Schedule } from "effect"
import type { SqlClient } from "effect/sql"
import { JobSlots } from "../engine/JobSlots.ts"
import * as RunStore from "./RunStore.ts"

/** Options of the shared slots. */
export interface Options {
  /** How often a job waiting for a slot looks again (default 1 second). */
  readonly pollInterval?: Duration.Input | undefined
}

/** Job slots on the store in the environment. */
export const make = (options: Options = {}): Effect.Effect<JobSlots["Service"], never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<SqlClient.SqlClient>()
    const poll = Duration.fromInputUnsafe(options.pollInterval ?? "1 second")
    let inUse = 0
    let peak = 0
    const take = (claim: Parameters<JobSlots["Service"]["withSlot"]>[0]) =>
      Clock.currentTimeMillis.pipe(
        Effect.flatMap((now) => RunStore.retrying(RunStore.takeSlot(claim, now))),
        Effect.repeat({ schedule: Schedule.spaced(poll), until: (taken) => taken }),
        Effect.provide(context),
        Effect.orDie
      )
    const give = (jobName: string) => RunStore.retrying(RunStore.releaseSlot(jobName)).pipe(Effect.provide(context))
    return JobSlots.of({
      capacity: Number.POSITIVE_INFINITY,
      withSlot: (claim, effect) =>
        Effect.gen(function*() {
          yield* take(claim)
          inUse += 1
          peak = Math.max(peak, inUse)
          return yield* effect.pipe(
            Effect.onExit((exit) => {
              inUse -= 1
              // Interrupted: the job may still be live; whoever follows it next holds its slot.
              const interrupted = Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)
              return interrupted ? Effect.void : Effect.orDie(give(claim.jobName))
            })
          )
        }),
      inUse: Effect.sync(() => inUse),
      peak: Effect.sync(() => peak)
    })
  })

/** {@link make} as the `JobSlots` Layer. */
export const layer = (options: Options = {}): Layer.Layer<JobSlots, never, SqlClient.SqlClient> =>
  Layer.effect(JobSlots, make(options))
