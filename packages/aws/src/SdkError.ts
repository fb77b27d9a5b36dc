/**
 * The one place where AWS SDK v3 failures become the core's typed `ServiceError`s, and the
 * one way every SDK call is made (`attempt`: the Effect's abort signal passed down, the
 * exception mapped).
 *
 * When to use: every live Layer in this package wraps its `client.send` calls with
 * {@link attempt}; call {@link fromSdkError} yourself when you drive an SDK client directly.
 *
 * Details: the SDK exception's name, its request id (`$metadata.requestId`) and the exception
 * itself (as `cause`) are kept. The mapping reads the exception name first and falls back to
 * the HTTP status:
 *
 * | exception name / status | `ServiceError` |
 * |---|---|
 * | `ThrottlingException`, `TooManyRequestsException`, `SlowDown`, `ModelNotReadyException`, 429 | `Throttled` |
 * | `ServiceQuotaExceededException` | `QuotaExceeded` |
 * | `AccessDenied*`, `Forbidden`, invalid or expired credentials, 401, 403 | `AccessDenied` |
 * | `ResourceNotFoundException`, `NoSuchKey`, `NoSuchBucket`, `NoSuchUpload`, `NotFound`, 404 | `NotFound` |
 * | `ConflictException`, 409 | `Conflict` |
 * | `Validation*`, `InvalidRequest`, other 4xx | `InvalidRequest` |
 * | `InternalServer*`, `ServiceUnavailable*`, `ModelTimeout`/`ModelError`, 5xx, network errors, anything unknown | `Unavailable` |
 *
 * Gotchas: the clients of this package are built with `maxAttempts: 1`, so an exception
 * reaches the mapping on its first occurrence; retries belong to the engine's `Schedule`.
 *
 * @since 0.1.0
 */
import { ServiceError } from "@batch-extract/core"
import { Effect } from "effect"

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null

const throttledNames = new Set([
  "ThrottlingException",
  "Throttling",
  "ThrottledException",
  "TooManyRequestsException",
  "SlowDown",
  "RequestLimitExceeded",
  "RequestThrottled",
  "RequestThrottledException",
  "ProvisionedThroughputExceededException",
  "BandwidthLimitExceeded",
  "EC2ThrottledException",
  "PriorRequestNotComplete",
  "TransactionInProgressException",
  "ModelNotReadyException"
])

const accessDeniedNames = new Set([
  "Forbidden",
  "UnauthorizedOperation",
  "UnrecognizedClientException",
  "InvalidAccessKeyId",
  "InvalidClientTokenId",
  "InvalidToken",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "ExpiredTokenException",
  "MissingAuthenticationToken",
  "AllAccessDisabled",
  "CredentialsProviderError",
  "TokenProviderError"
])

const notFoundNames = new Set([
  "ResourceNotFoundException",
  "NoSuchKey",
  "NoSuchBucket",
  "NoSuchUpload",
  "NoSuchVersion",
  "NotFound",
  "NotFoundException"
])

const invalidNames = new Set([
  "InvalidRequest",
  "InvalidRequestException",
  "InvalidArgument",
  "InvalidParameterException",
  "InvalidParameterValue",
  "InvalidBucketName",
  "MalformedXML",
  "EntityTooLarge",
  "EntityTooSmall",
  "InvalidPart",
  "InvalidPartOrder",
  "KeyTooLongError",
  "BadRequest",
  "BadRequestException",
  "SerializationException",
  "TooManyTagsException",
  "UnknownOperationException"
])

/** What an SDK failure says about itself: name, HTTP status, request id, message. */
export interface SdkFailure {
  readonly name: string | undefined
  readonly status: number | undefined
  readonly requestId: string | undefined
  readonly message: string
}

/** Read the name, status, request id and message of an SDK exception (or any thrown value). */
export const describeFailure = (cause: unknown): SdkFailure => {
  if (!isRecord(cause)) return { name: undefined, status: undefined, requestId: undefined, message: String(cause) }
  const metadata = isRecord(cause.$metadata) ? cause.$metadata : {}
  const name = typeof cause.name === "string" && cause.name !== "Error"
    ? cause.name
    : typeof cause.Code === "string"
    ? cause.Code
    : typeof cause.code === "string"
    ? cause.code
    : undefined
  const status = typeof metadata.httpStatusCode === "number" ? metadata.httpStatusCode : undefined
  const requestId = typeof metadata.requestId === "string" ? metadata.requestId : undefined
  const message = typeof cause.message === "string" && cause.message !== ""
    ? cause.message
    : name ?? "unknown failure"
  return { name, status, requestId, message }
}

type Kind = ServiceError.ServiceError["_tag"]

/** The kind of `ServiceError` an exception name and HTTP status map to. */
export const classify = (name: string | undefined, status: number | undefined): Kind => {
  if (name !== undefined) {
    if (throttledNames.has(name)) return "Throttled"
    if (name === "ServiceQuotaExceededException" || name === "ServiceQuotaExceeded") return "QuotaExceeded"
    if (name.startsWith("AccessDenied") || accessDeniedNames.has(name)) return "AccessDenied"
    if (notFoundNames.has(name)) return "NotFound"
    if (name === "ConflictException" || name === "Conflict" || name === "OperationAborted") return "Conflict"
    if (name.startsWith("Validation") || invalidNames.has(name)) return "InvalidRequest"
    if (
      name.startsWith("InternalServer") || name.startsWith("ServiceUnavailable") || name === "InternalError" ||
      name === "ServiceFailure" || name === "ModelTimeoutException" || name === "ModelErrorException" ||
      name === "ModelStreamErrorException"
    ) return "Unavailable"
  }
  if (status !== undefined) {
    if (status === 429) return "Throttled"
    if (status === 401 || status === 403) return "AccessDenied"
    if (status === 404) return "NotFound"
    if (status === 409) return "Conflict"
    if (status >= 400 && status < 500 && status !== 408) return "InvalidRequest"
  }
  // 5xx, 408, network errors (ECONNREFUSED, ECONNRESET, timeouts) and anything unknown: the
  // service could not answer, so the request may succeed later.
  return "Unavailable"
}

/**
 * Map an SDK exception (or a network error) raised by `operation` to a typed `ServiceError`,
 * keeping its name, request id and the exception itself as `cause`.
 */
export const fromSdkError = (operation: string, cause: unknown): ServiceError.ServiceError => {
  if (ServiceError.isServiceError(cause)) return cause
  const failure = describeFailure(cause)
  const fields = {
    operation,
    message: failure.message,
    exceptionName: failure.name,
    requestId: failure.requestId,
    cause
  }
  switch (classify(failure.name, failure.status)) {
    case "Throttled":
      return new ServiceError.Throttled(fields)
    case "QuotaExceeded":
      return new ServiceError.QuotaExceeded(fields)
    case "AccessDenied":
      return new ServiceError.AccessDenied(fields)
    case "NotFound":
      return new ServiceError.NotFound(fields)
    case "Conflict":
      return new ServiceError.Conflict(fields)
    case "InvalidRequest":
      return new ServiceError.InvalidRequest(fields)
    case "Unavailable":
      return new ServiceError.Unavailable(fields)
  }
}

/**
 * Run one SDK call as an Effect: the call receives an `AbortSignal` that fires when the
 * Effect is interrupted (so a timeout or an interrupted fiber aborts the HTTP request), and
 * a rejection becomes a typed `ServiceError` through {@link fromSdkError}.
 *
 * Gotchas: declare the signal parameter (`(signal) => client.send(command, { abortSignal:
 * signal })`); a thunk without a parameter receives no signal.
 */
export const attempt = <A>(
  operation: string,
  call: (signal: AbortSignal) => Promise<A>
): Effect.Effect<A, ServiceError.ServiceError> =>
  Effect.tryPromise({
    try: (signal) => call(signal),
    catch: (cause) => fromSdkError(operation, cause)
  })
