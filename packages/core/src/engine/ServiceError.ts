/**
 * Typed, retry-classified errors raised by the ports (`ObjectStore`, `BatchInference`,
 * `ModelRuntime`).
 *
 * Every live or simulated Layer maps its failures onto these seven kinds, so the engine can
 * decide once, in one place, what to retry: throttling and unavailability are retried with
 * backoff, a refused create for quota waits for a job slot, and the rest fail the one
 * operation (and only that one).
 *
 * @since 0.1.0
 */
import { Data, Duration, Effect, Schedule } from "effect"

/** Fields every service error carries. */
export interface ServiceErrorFields {
  /** The port operation that failed, e.g. `"BatchInference.createJob"`. */
  readonly operation: string
  /** A human-readable explanation (from the service when it sent one). */
  readonly message: string
  /** The service's own exception name, e.g. `"ThrottlingException"`, when known. */
  readonly exceptionName?: string | undefined
  /** The service's request id, when known (useful for support cases). */
  readonly requestId?: string | undefined
  /** The original failure, kept for diagnostics. */
  readonly cause?: unknown
}

/** The caller sent too many requests; retry with backoff. */
export class Throttled extends Data.TaggedError("Throttled")<ServiceErrorFields> {
  readonly retryable = true
}

/**
 * A service quota was exceeded (for batch jobs: too many submitted or in-progress jobs).
 * Not retryable right away, but worth retrying once capacity frees up.
 */
export class QuotaExceeded extends Data.TaggedError("QuotaExceeded")<ServiceErrorFields> {
  readonly retryable = false
}

/** The caller lacks a permission (IAM policy, role trust, KMS grant). */
export class AccessDenied extends Data.TaggedError("AccessDenied")<ServiceErrorFields> {
  readonly retryable = false
}

/** The bucket, object, job or model does not exist. */
export class NotFound extends Data.TaggedError("NotFound")<ServiceErrorFields> {
  readonly retryable = false
}

/** The request conflicts with the resource's state (e.g. stopping a finished job). */
export class Conflict extends Data.TaggedError("Conflict")<ServiceErrorFields> {
  readonly retryable = false
}

/** The service rejected the request as malformed or invalid. */
export class InvalidRequest extends Data.TaggedError("InvalidRequest")<ServiceErrorFields> {
  readonly retryable = false
}

/** The service failed or could not be reached (5xx, network); retry with backoff. */
export class Unavailable extends Data.TaggedError("Unavailable")<ServiceErrorFields> {
  readonly retryable = true
}

/** Any error a port can raise. */
export type ServiceError = Throttled | QuotaExceeded | AccessDenied | NotFound | Conflict | InvalidRequest | Unavailable

const tags = new Set([
  "Throttled",
  "QuotaExceeded",
  "AccessDenied",
  "NotFound",
  "Conflict",
  "InvalidRequest",
  "Unavailable"
])

/** Whether a value is one of the port errors. */
export const isServiceError = (u: unknown): u is ServiceError =>
  typeof u === "object" && u !== null && "_tag" in u && tags.has((u as { _tag: string })._tag)

/** Whether the engine retries this error with backoff (throttling and unavailability). */
export const isRetryable = (error: ServiceError): boolean => error.retryable

/** A one-line description for logs and failure reasons (never includes the cause). */
export const describe = (error: ServiceError): string =>
  `${error._tag} in ${error.operation}: ${error.message}` +
  (error.exceptionName !== undefined ? ` (${error.exceptionName})` : "") +
  (error.requestId !== undefined ? ` [request ${error.requestId}]` : "")

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
    while: (error) => isServiceError(error) && isRetryable(error)
  })
