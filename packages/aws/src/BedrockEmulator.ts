/**
 * A loopback emulator of Amazon Bedrock — the batch-inference control plane (HTTP/1.1,
 * restJson1) and the runtime (HTTP/2 cleartext) on one port — that the real AWS SDK clients
 * talk to, for integration tests and the offline mode of the node entrypoint.
 *
 * When to use: through `LocalBackend`, which wires it to a local S3; or alone, with an
 * `ObjectStore` (the emulator reads job inputs and writes job outputs through it, the way
 * Bedrock uses S3).
 *
 * Details — it is the HTTP face of the test kit's `BedrockBatchModel`, the one model of the
 * batch service (the port-level `SimulatedBatchInference` is the other face), so it behaves
 * like the service in the same ways:
 * - Jobs walk `Submitted → Validating → Scheduled → InProgress → Completed` on the `Clock`
 *   ({@link Timings}); a background fiber brings them up to date every few milliseconds. Validation reads the input from S3 (a `.jsonl` object or a folder of
 *   them) and fails the job (`Failed` with a message) on bad JSONL, too few or too many
 *   records, or a file or job too large ({@link Quotas}). Outputs go to
 *   `<output>/<jobId>/<input>.jsonl.out` (lines in a deterministic shuffled order, with the
 *   KMS key of `s3OutputDataConfig`) and `<output>/<jobId>/manifest.json.out`.
 * - `StopModelInvocationJob` moves a running job to `Stopping`, then `Stopped` with the
 *   records answered so far.
 * - Creates are validated like the service does (job-name, role-ARN and token patterns, the
 *   KMS key inside `s3OutputDataConfig`, VPC lists, timeout range, tags); a repeated client
 *   request token returns the first job; a create beyond `maxConcurrentJobs` jobs in
 *   Submitted/Validating/Scheduled/InProgress is refused with `ServiceQuotaExceededException`.
 * - Records are answered by the deterministic `OfflineModel` in the model family's shape;
 *   `InvokeModel` and `Converse` runtime calls too. Embedding models (Titan Text Embeddings
 *   V2, Cohere Embed v3) get deterministic vectors, in batch and on demand alike — except that
 *   a batch job for a model batch inference does not accept (Cohere Embed) is refused, as is
 *   Converse for any embedding model. Bodies are validated per family as the service
 *   documents them (`RequestBodies`): an invalid record gets an error line (400), an invalid
 *   runtime call a `ValidationException`.
 * - Faults on request ({@link Faults}, seeded so runs repeat): throttling, imposed final
 *   statuses, errored / missing / malformed / truncated output lines, and exact exceptions
 *   for the next calls of an operation ({@link InjectedError}).
 * - {@link Counters}: jobs created, creates refused, repeated tokens, calls by operation, and
 *   every injected fault that fired (throttles, imposed statuses, record faults, injected
 *   exceptions).
 * - AWS Service Quotas on the same port (`ListServiceQuotas`, `ListAWSDefaultServiceQuotas` for
 *   service code `bedrock`; point `AWS_ENDPOINT_URL_SERVICE_QUOTAS` at {@link
 *   BedrockEmulatorShape.endpoint}): the emulated account's batch quotas per model
 *   ({@link ServiceQuotasOptions}) — by default the documented ones, whatever the emulator
 *   enforces, so a test can make what the account says and what it enforces differ — or
 *   `AccessDeniedException` for an account whose policy does not allow reading them.
 *
 * Gotchas: it listens on 127.0.0.1 only; releasing its scope closes the servers, destroys
 * open sockets and HTTP/2 sessions and interrupts every job fiber, so nothing keeps running.
 * It does not check signatures or IAM.
 *
 * @since 0.1.0
 */
import { type AccountQuotas, BatchInference, type ModelFamily, type ObjectStore } from "@batch-extract/core"
import { BedrockBatchModel as Model } from "@batch-extract/core/testing"
import { Context, Data, Duration, Effect, Layer, Result, Schedule, type Scope } from "effect"
import * as ServiceQuotasEmulation from "./internal/serviceQuotasEmulation.ts"
import * as WireServer from "./internal/wireServer.ts"

// -----------------------------------------------------------------------------
// Options
// -----------------------------------------------------------------------------

/** The operations the emulator serves. */
export type Operation =
  | "CreateModelInvocationJob"
  | "GetModelInvocationJob"
  | "StopModelInvocationJob"
  | "ListModelInvocationJobs"
  | "InvokeModel"
  | "Converse"
  | "ListServiceQuotas"
  | "ListAWSDefaultServiceQuotas"

/** A final status the emulator can impose on a job. */
export type ImposedStatus = Model.ImposedStatus

/** How long a job spends in each status (milliseconds). */
export type Timings = Model.Timings

/** The service quotas the emulator enforces. */
export type Quotas = Model.Quotas

/** Faults to inject: the model's, plus delays of the wire. */
export interface Faults extends Model.Faults {
  /** Extra time before answering calls of an operation (milliseconds), e.g. to interrupt them. */
  readonly delayMs?: Partial<Record<Operation, number>> | undefined
}

/** An exception to answer the next call of an operation with. */
export interface InjectedError {
  readonly operation: Operation
  /** E.g. `"AccessDeniedException"`, `"InternalServerException"`, `"ServiceUnavailableException"`. */
  readonly exceptionName: string
  /** HTTP status (default: the status the service uses for that exception). */
  readonly status?: number | undefined
  readonly message?: string | undefined
}

/** What the emulator counted: the model's counters, plus what happened on the wire. */
export interface Counters extends Model.Counters {
  /** Requests the client abandoned (closed) before they were answered. */
  readonly requestsAborted: number
  /** Calls answered with an exception queued by `failNext`. */
  readonly injectedErrors: number
  /** Service Quotas calls answered (denials included; injected exceptions are `injectedErrors`). */
  readonly serviceQuotaCalls: number
}

/**
 * What the emulated account's Service Quotas answers: its applied batch quotas (the same for
 * every model it lists), or a denial.
 */
export interface ServiceQuotasOptions {
  /** The applied values (default: the documented quotas, `AccountQuotas.defaults`). */
  readonly quotas?: Partial<AccountQuotas.Values> | undefined
  /** Answer every Service Quotas call with `AccessDeniedException` (403). */
  readonly denied?: boolean | undefined
}

/** Options of the emulator. */
export interface Options {
  /** Port on 127.0.0.1 (default 0: a free port). */
  readonly port?: number | undefined
  /** Region and account in job ARNs (default `us-east-1`, `123456789012`). */
  readonly region?: string | undefined
  readonly accountId?: string | undefined
  /** The account that owns the emulated buckets: jobs naming another `s3BucketOwner` fail. */
  readonly s3AccountId?: string | undefined
  /** Family for model ids that name none (e.g. application inference profiles). */
  readonly family?: ModelFamily.FamilyName | undefined
  readonly timings?: Partial<Timings> | undefined
  readonly quotas?: Partial<Quotas> | undefined
  readonly faults?: Faults | undefined
  /** Seed of every random choice (faults, job ids, output order). Default 1. */
  readonly seed?: number | undefined
  /** What Service Quotas answers (default: the documented quotas, independent of `quotas`). */
  readonly serviceQuotas?: ServiceQuotasOptions | undefined
}

/** Default timings: a job completes in well under a second. */
export const defaultTimings: Timings = {
  submittedMs: 10,
  validatingMs: 10,
  scheduledMs: 10,
  inProgressMs: 20,
  perRecordMs: 0,
  stoppingMs: 10,
  expireAfterMs: 20
}

/** Default quotas: the service's documented ones. */
export const defaultQuotas: Quotas = Model.defaultQuotas

// -----------------------------------------------------------------------------
// Service
// -----------------------------------------------------------------------------

/** The running emulator. */
export interface BedrockEmulatorShape {
  /** `http://127.0.0.1:<port>` — the endpoint for both Bedrock clients. */
  readonly endpoint: string
  readonly port: number
  readonly region: string
  readonly accountId: string
  readonly counters: Effect.Effect<Counters>
  /** Zero every counter. */
  readonly resetCounters: Effect.Effect<void>
  /** Replace the fault settings (the queue of imposed statuses included). */
  readonly setFaults: (faults: Faults) => Effect.Effect<void>
  /** Change quotas (e.g. `maxConcurrentJobs`) while running. */
  readonly setQuotas: (quotas: Partial<Quotas>) => Effect.Effect<void>
  /** Change what Service Quotas answers (the applied values, a denial) while running. */
  readonly setServiceQuotas: (options: ServiceQuotasOptions) => Effect.Effect<void>
  /** Answer the next calls of the named operations with these exceptions, in order. */
  readonly failNext: (errors: ReadonlyArray<InjectedError>) => Effect.Effect<void>
  /** Every job the emulator knows, newest first. */
  readonly jobs: Effect.Effect<ReadonlyArray<BatchInference.JobDescription>>
  /** Every job as the service describes it (`GetModelInvocationJob`'s JSON: VPC, tags, …), newest first. */
  readonly describedJobs: Effect.Effect<ReadonlyArray<Record<string, unknown>>>
}

/** The emulator as a service (provided by {@link layer}). */
export class BedrockEmulator extends Context.Service<BedrockEmulator, BedrockEmulatorShape>()(
  "@batch-extract/aws/BedrockEmulator"
) {}

/** The emulator could not start. */
export class EmulatorError extends Data.TaggedError("EmulatorError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

// -----------------------------------------------------------------------------
// Wire
// -----------------------------------------------------------------------------

type WireRequest = WireServer.WireRequest
type WireResponse = WireServer.WireResponse

const statusOfException: Readonly<Record<string, number>> = {
  ThrottlingException: 429,
  ServiceQuotaExceededException: 400,
  ValidationException: 400,
  ConflictException: 400,
  AccessDeniedException: 403,
  ResourceNotFoundException: 404,
  InternalServerException: 500,
  ServiceUnavailableException: 503,
  ModelTimeoutException: 408,
  ModelNotReadyException: 429,
  ModelErrorException: 424,
  UnknownOperationException: 404
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): WireResponse => ({
  status,
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(body)
})

const exception = (name: string, message: string, status?: number): WireResponse =>
  json(status ?? statusOfException[name] ?? 400, { message }, { "x-amzn-errortype": name })

const refused = (refusal: Model.Refusal): WireResponse => exception(refusal.exceptionName, refusal.message)

const decoder = new TextDecoder()

const parseJson = (body: Uint8Array): Result.Result<unknown, string> => {
  const text = decoder.decode(body)
  if (text.trim() === "") return Result.succeed({})
  try {
    return Result.succeed(JSON.parse(text))
  } catch (error) {
    return Result.fail(error instanceof Error ? error.message : String(error))
  }
}

const validationError = (value: string | null, field: string, constraint: string) =>
  exception(
    "ValidationException",
    `1 validation error detected: Value '${value}' at '${field}' failed to satisfy constraint: ${constraint}`
  )

// -----------------------------------------------------------------------------
// The emulator
// -----------------------------------------------------------------------------

/**
 * Start the emulator on 127.0.0.1; it stops when the scope closes. It reads and writes job
 * files through the `ObjectStore` in context.
 */
export const make = (
  options: Options = {}
): Effect.Effect<BedrockEmulatorShape, EmulatorError, Scope.Scope | ObjectStore.ObjectStore> =>
  Effect.gen(function*() {
    const model = yield* Model.make({
      timings: { ...defaultTimings, ...options.timings },
      quotas: options.quotas,
      faults: options.faults,
      seed: options.seed,
      region: options.region,
      accountId: options.accountId,
      s3AccountId: options.s3AccountId,
      family: options.family
    })
    let delays: Faults["delayMs"] = options.faults?.delayMs
    const injected: Array<InjectedError> = []
    let wire = { requestsAborted: 0, injectedErrors: 0 }
    const serviceQuotas = ServiceQuotasEmulation.make({
      quotas: options.serviceQuotas?.quotas,
      denied: options.serviceQuotas?.denied,
      region: model.region,
      accountId: model.accountId
    })

    // Jobs move on their own, as on the service: outputs appear without anyone asking.
    yield* Effect.forkScoped(Effect.repeat(model.advance, Schedule.spaced(Duration.millis(5))))

    // --- control plane --------------------------------------------------------------------

    const createJob = (body: unknown): Effect.Effect<WireResponse> =>
      Effect.map(
        model.create(body),
        (result) => Result.isFailure(result) ? refused(result.failure) : json(200, { jobArn: result.success.arn })
      )

    const getJob = (identifier: string): Effect.Effect<WireResponse> =>
      Effect.map(
        model.get(identifier),
        (result) => Result.isFailure(result) ? refused(result.failure) : json(200, Model.toWire(result.success))
      )

    const stopJob = (identifier: string): Effect.Effect<WireResponse> =>
      Effect.map(model.stop(identifier), (result) => Result.isFailure(result) ? refused(result.failure) : json(200, {}))

    const listJobs = (query: URLSearchParams): Effect.Effect<WireResponse> =>
      Effect.suspend(() => {
        const maxResults = query.has("maxResults") ? Number(query.get("maxResults")) : 100
        if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 1000) {
          return Effect.succeed(
            validationError(query.get("maxResults"), "maxResults", "Member must have value between 1 and 1000")
          )
        }
        const status = query.get("statusEquals")
        if (status !== null && !BatchInference.isJobStatus(status)) {
          return Effect.succeed(validationError(status, "statusEquals", "Member must satisfy enum value set"))
        }
        let offset = 0
        const token = query.get("nextToken")
        if (token !== null) {
          offset = Number(Buffer.from(token, "base64url").toString("utf8").replace(/^offset:/, ""))
          if (!Number.isInteger(offset) || offset < 0) {
            return Effect.succeed(exception("ValidationException", "Invalid pagination token."))
          }
        }
        return Effect.map(
          model.list({
            nameContains: query.get("nameContains") ?? undefined,
            statusEquals: status ?? undefined,
            submitTimeAfter: query.has("submitTimeAfter") ? Date.parse(query.get("submitTimeAfter")!) : undefined,
            submitTimeBefore: query.has("submitTimeBefore") ? Date.parse(query.get("submitTimeBefore")!) : undefined,
            ascending: query.get("sortOrder") === "Ascending"
          }),
          (matching) => {
            const page = matching.slice(offset, offset + maxResults)
            const next = offset + maxResults < matching.length
              ? Buffer.from(`offset:${offset + maxResults}`, "utf8").toString("base64url")
              : undefined
            return json(200, {
              invocationJobSummaries: page.map(Model.toWire),
              ...(next !== undefined ? { nextToken: next } : {})
            })
          }
        )
      })

    // --- runtime --------------------------------------------------------------------------

    const invoke = (modelId: string, invocationType: BatchInference.InvocationType, body: Uint8Array) => {
      const parsed = parseJson(body)
      if (Result.isFailure(parsed)) {
        return exception("ValidationException", `Malformed input request: ${parsed.failure}`)
      }
      const answer = model.invoke(modelId, invocationType, parsed.success)
      if (Result.isFailure(answer)) return refused(answer.failure)
      const { response, usage } = answer.success
      if (invocationType === "Converse") return json(200, { ...(response as object), metrics: { latencyMs: 1 } })
      return json(
        200,
        response,
        usage === undefined ? {} : {
          "x-amzn-bedrock-input-token-count": String(usage.inputTokens),
          "x-amzn-bedrock-output-token-count": String(usage.outputTokens)
        }
      )
    }

    // --- routing --------------------------------------------------------------------------

    const route = (
      request: WireRequest
    ): { readonly operation: Operation | undefined; readonly run: () => Effect.Effect<WireResponse> } => {
      const quotasOperation = ServiceQuotasEmulation.operationOf(request)
      if (quotasOperation !== undefined) {
        return {
          operation: quotasOperation === "unknown" ? undefined : quotasOperation,
          run: () => Effect.sync(() => serviceQuotas.handle(quotasOperation, request))
        }
      }
      const segments = request.path.split("/").slice(1).map((s) => {
        try {
          return decodeURIComponent(s)
        } catch {
          return s
        }
      })
      const withBody = (f: (body: unknown) => Effect.Effect<WireResponse>) => () => {
        const parsed = parseJson(request.body)
        return Result.isFailure(parsed)
          ? Effect.succeed(exception("SerializationException", `Could not parse the request body: ${parsed.failure}`))
          : f(parsed.success)
      }
      const [first, second, third] = segments
      if (request.method === "POST" && segments.length === 1 && first === "model-invocation-job") {
        return { operation: "CreateModelInvocationJob", run: withBody(createJob) }
      }
      if (request.method === "GET" && segments.length === 2 && first === "model-invocation-job") {
        return { operation: "GetModelInvocationJob", run: () => getJob(second!) }
      }
      if (request.method === "POST" && segments.length === 3 && first === "model-invocation-job" && third === "stop") {
        return { operation: "StopModelInvocationJob", run: () => stopJob(second!) }
      }
      if (request.method === "GET" && segments.length === 1 && first === "model-invocation-jobs") {
        return { operation: "ListModelInvocationJobs", run: () => listJobs(request.query) }
      }
      if (request.method === "POST" && segments.length === 3 && first === "model" && third === "invoke") {
        return { operation: "InvokeModel", run: () => Effect.sync(() => invoke(second!, "InvokeModel", request.body)) }
      }
      if (request.method === "POST" && segments.length === 3 && first === "model" && third === "converse") {
        return { operation: "Converse", run: () => Effect.sync(() => invoke(second!, "Converse", request.body)) }
      }
      return {
        operation: undefined,
        run: () =>
          Effect.succeed(
            exception("UnknownOperationException", `The emulator does not serve ${request.method} ${request.path}.`)
          )
      }
    }

    const handle = (request: WireRequest): Effect.Effect<WireResponse> =>
      Effect.gen(function*() {
        const { operation, run } = route(request)
        if (operation === undefined) return yield* run()
        yield* model.count(operation)
        const injectedIndex = injected.findIndex((error) => error.operation === operation)
        if (injectedIndex >= 0) {
          const [error] = injected.splice(injectedIndex, 1)
          wire = { ...wire, injectedErrors: wire.injectedErrors + 1 }
          return exception(
            error!.exceptionName,
            error!.message ?? `${error!.exceptionName} (injected by the emulator).`,
            error!.status
          )
        }
        const isRuntime = operation === "InvokeModel" || operation === "Converse"
        // Service Quotas is not the batch service: the model neither counts nor throttles it.
        if (operation !== "ListServiceQuotas" && operation !== "ListAWSDefaultServiceQuotas") {
          const throttled = yield* model.throttle(isRuntime ? "runtime" : "control")
          if (throttled !== undefined) return refused(throttled)
        }
        const delay = delays?.[operation] ?? 0
        if (delay > 0) yield* Effect.sleep(Duration.millis(delay))
        return yield* run()
      })

    // --- server -------------------------------------------------------------------------

    const server = yield* WireServer.serve({
      port: options.port ?? 0,
      handle,
      onAbort: () => {
        wire = { ...wire, requestsAborted: wire.requestsAborted + 1 }
      }
    }).pipe(
      Effect.mapError((error) =>
        new EmulatorError({ message: `the Bedrock emulator could not start: ${error.message}`, cause: error })
      )
    )
    const port = server.port

    return {
      endpoint: `http://127.0.0.1:${port}`,
      port,
      region: model.region,
      accountId: model.accountId,
      counters: Effect.map(
        model.counters,
        (counters) => ({ ...counters, ...wire, serviceQuotaCalls: serviceQuotas.calls() })
      ),
      resetCounters: Effect.andThen(
        model.resetCounters,
        Effect.sync(() => {
          wire = { requestsAborted: 0, injectedErrors: 0 }
          serviceQuotas.resetCalls()
        })
      ),
      setFaults: (next) =>
        Effect.andThen(
          model.setFaults(next),
          Effect.sync(() => {
            delays = next.delayMs
          })
        ),
      setQuotas: model.setQuotas,
      setServiceQuotas: (next) => Effect.sync(() => serviceQuotas.set(next)),
      failNext: (errors) => Effect.sync(() => void injected.push(...errors)),
      jobs: Effect.map(model.jobs, (jobs) => jobs.map(Model.describe)),
      describedJobs: Effect.map(model.jobs, (jobs) => jobs.map(Model.toWire))
    } satisfies BedrockEmulatorShape
  })

/** The emulator as a Layer: started when built, stopped (nothing left running) when released. */
export const layer = (
  options: Options = {}
): Layer.Layer<BedrockEmulator, EmulatorError, ObjectStore.ObjectStore> => Layer.effect(BedrockEmulator, make(options))
