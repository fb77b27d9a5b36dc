import { Duration, Effect, Schedule } from "effect"
import * as ServiceError from "../engine/ServiceError.ts"

/**
 * The one place that retries transient service errors (throttling, unavailability):
 * exponential backoff from one second, jittered, capped at a minute, at most `times` retries.
 * Clients are configured not to retry on their own, so retries never multiply.
 */
export const transientSchedule = (times = 8) =>
  Schedule.exponential(Duration.seconds(1), 2).pipe(
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.minutes(1)))),
    Schedule.jittered,
    Schedule.upTo({ times })
  )

/** Retry an effect on transient service errors only. */
export const retryTransient = <A, E, R>(effect: Effect.Effect<A, E, R>, times = 8): Effect.Effect<A, E, R> =>
  Effect.retry(effect, {
    schedule: transientSchedule(times),
    while: (error) => ServiceError.isServiceError(error) && ServiceError.isRetryable(error)
  })
