/**
 * A loopback emulator of Amazon Bedrock — the batch-inference control plane (HTTP/1.1,
 * restJson1) and the runtime (HTTP/2 cleartext) on one port — that the real AWS SDK clients
 * talk to, for integration tests and the offline mode of the node entrypoint.
 *
 * When to use: through `LocalBackend`, which wires it to a local S3; or alone, with an
 * `ObjectStore` (the emulator reads job inputs and writes job outputs through it, the way
 * Bedrock uses S3).
 *
 * Details — it behaves like the service:
 * - Jobs walk `Submitted → Validating → Scheduled → InProgress → Completed` on Effect timers
 *   ({@link Timings}). Validation reads the input from S3 (a `.jsonl` object or a folder of
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
 *   `InvokeModel` and `Converse` runtime calls too.
 * - Faults on request ({@link Faults}, seeded so runs repeat): throttling, imposed final
 *   statuses, errored / missing / malformed / truncated output lines, and exact exceptions
 *   for the next calls of an operation ({@link InjectedError}).
 * - {@link Counters}: jobs created, creates refused, repeated tokens, calls by operation.
 *
 * Gotchas: it listens on 127.0.0.1 only; releasing its scope closes the servers, destroys
 * open sockets and HTTP/2 sessions and interrupts every job fiber, so nothing keeps running.
 * It does not check signatures or IAM.
 *
 * @since 0.1.0
 */
import { BatchInference, type ModelFamily, ObjectStore, ServiceError } from "@batch-extract/core"
import { OfflineModel } from "@batch-extract/core/testing"
import {
  Clock,
  Context,
  Data,
  Duration,
  Effect,
  Fiber,
  FiberSet,
  Layer,
  Option,
  Result,
  type Scope,
  Stream
} from "effect"
import * as BatchOutput from "./internal/batchOutput.ts"
import * as CreateRequest from "./internal/createRequest.ts"
import * as Random from "./internal/random.ts"
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

/** A final status the emulator can impose on a job. */
export type ImposedStatus = "Completed" | "PartiallyCompleted" | "Failed" | "Stopped" | "Expired"

/** How long a job spends in each status (milliseconds). */
export interface Timings {
  readonly submittedMs: number
  readonly validatingMs: number
  readonly scheduledMs: number
  /** Least time in InProgress. */
  readonly inProgressMs: number
  /** InProgress time per record (the job takes the larger of the two). */
  readonly perRecordMs: number
  readonly stoppingMs: number
  /** Time an expiring job stays Scheduled before it expires. */
  readonly expireAfterMs: number
}

/** The service quotas the emulator enforces. */
export interface Quotas {
  /** Jobs in Submitted, Validating, Scheduled or InProgress at once. */
  readonly maxConcurrentJobs: number
  readonly minRecordsPerJob: number
  readonly maxRecordsPerJob: number
  readonly maxInputFileBytes: number
  readonly maxJobBytes: number
}

/** Faults to inject (fractions 0..1). */
export interface Faults {
  /** Control-plane calls answered with `ThrottlingException` (429). */
  readonly throttleRate?: number | undefined
  /** Runtime calls answered with `ThrottlingException` (429). */
  readonly runtimeThrottleRate?: number | undefined
  /** Final statuses imposed on the next created jobs, in order (then they run normally). */
  readonly jobStatuses?: ReadonlyArray<ImposedStatus> | undefined
  /** Fraction of records a `PartiallyCompleted` or imposed `Stopped` job answers (default 0.5). */
  readonly partialFraction?: number | undefined
  /** Records answered with an error line (`errorCode` 500). */
  readonly recordErrorRate?: number | undefined
  /** Records with no output line at all. */
  readonly recordMissingRate?: number | undefined
  /** Records whose output line is garbage (cut-off JSON). */
  readonly malformedRate?: number | undefined
  /** Records whose answer is cut off with the family's max-tokens stop reason. */
  readonly truncatedRate?: number | undefined
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

/** What the emulator counted. */
export interface Counters {
  readonly jobsCreated: number
  /** Creates refused with `ServiceQuotaExceededException`. */
  readonly createsRefused: number
  /** Creates that repeated a client request token (answered with the first job). */
  readonly repeatedTokens: number
  /** Calls answered with an injected `ThrottlingException`. */
  readonly throttled: number
  /** The most jobs that were in Submitted/Validating/Scheduled/InProgress at once. */
  readonly peakConcurrentJobs: number
  /** Requests the client abandoned (closed) before they were answered. */
  readonly requestsAborted: number
  readonly callsByOperation: Readonly<Record<string, number>>
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
export const defaultQuotas: Quotas = {
  maxConcurrentJobs: 10,
  minRecordsPerJob: 100,
  maxRecordsPerJob: 50_000,
  maxInputFileBytes: 1_000_000_000,
  maxJobBytes: 5_000_000_000
}

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
  /** Answer the next calls of the named operations with these exceptions, in order. */
  readonly failNext: (errors: ReadonlyArray<InjectedError>) => Effect.Effect<void>
  /** Every job the emulator knows, newest first. */
  readonly jobs: Effect.Effect<ReadonlyArray<BatchInference.JobDescription>>
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

const decoder = new TextDecoder()
const encoder = new TextEncoder()

const parseJson = (body: Uint8Array): Result.Result<unknown, string> => {
  const text = decoder.decode(body)
  if (text.trim() === "") return Result.succeed({})
  try {
    return Result.succeed(JSON.parse(text))
  } catch (error) {
    return Result.fail(error instanceof Error ? error.message : String(error))
  }
}

const iso = (millis: number | undefined): string | undefined =>
  millis === undefined ? undefined : new Date(millis).toISOString()

const activeStatuses: ReadonlySet<BatchInference.JobStatus> = new Set([
  "Submitted",
  "Validating",
  "Scheduled",
  "InProgress"
])
const finalStatuses: ReadonlySet<BatchInference.JobStatus> = new Set([
  "Completed",
  "PartiallyCompleted",
  "Failed",
  "Stopped",
  "Expired"
])

const jobIdPattern = /^[a-z0-9]{12}$/
const jobArnPattern = /^arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:model-invocation-job\/([a-z0-9]{12})$/

// -----------------------------------------------------------------------------
// Jobs
// -----------------------------------------------------------------------------

interface InputFile {
  readonly fileName: string
  readonly records: ReadonlyArray<BatchOutput.InputRecord>
}

interface PlannedRecord {
  readonly file: number
  readonly outcome: BatchOutput.RecordOutcome
}

interface Job {
  readonly id: string
  readonly arn: string
  readonly request: CreateRequest.ValidCreateRequest
  readonly family: ModelFamily.ModelFamily
  readonly imposed: ImposedStatus | undefined
  readonly submitTime: number
  status: BatchInference.JobStatus
  message: string | undefined
  lastModifiedTime: number
  endTime: number | undefined
  files: ReadonlyArray<InputFile> | undefined
  plan: ReadonlyArray<PlannedRecord> | undefined
  total: number | undefined
  processed: number
  manifest: BatchOutput.Manifest | undefined
  finishing: boolean
  lifecycle: Fiber.Fiber<void> | undefined
}

const describeJob = (job: Job) => ({
  jobArn: job.arn,
  jobName: job.request.jobName,
  modelId: job.request.modelId,
  roleArn: job.request.roleArn,
  clientRequestToken: job.request.clientRequestToken,
  status: job.status,
  message: job.message,
  submitTime: iso(job.submitTime),
  lastModifiedTime: iso(job.lastModifiedTime),
  endTime: iso(job.endTime),
  jobExpirationTime: iso(job.submitTime + job.request.timeoutDurationInHours * 3_600_000),
  timeoutDurationInHours: job.request.timeoutDurationInHours,
  modelInvocationType: job.request.modelInvocationType,
  inputDataConfig: {
    s3InputDataConfig: {
      s3Uri: job.request.inputS3Uri,
      s3InputFormat: job.request.inputFormat,
      s3BucketOwner: job.request.inputBucketOwner
    }
  },
  outputDataConfig: {
    s3OutputDataConfig: {
      s3Uri: job.request.outputS3Uri,
      s3EncryptionKeyId: job.request.outputKmsKeyId,
      s3BucketOwner: job.request.outputBucketOwner
    }
  },
  vpcConfig: job.request.vpcConfig,
  totalRecordCount: job.total ?? 0,
  processedRecordCount: job.manifest?.processedRecordCount ?? job.processed,
  successRecordCount: job.manifest?.successRecordCount ?? 0,
  errorRecordCount: job.manifest?.errorRecordCount ?? 0
})

const toJobDescription = (job: Job): BatchInference.JobDescription => ({
  jobArn: job.arn,
  jobName: job.request.jobName,
  status: job.status,
  message: job.message,
  modelId: job.request.modelId,
  clientRequestToken: job.request.clientRequestToken,
  submitTime: new Date(job.submitTime),
  lastModifiedTime: new Date(job.lastModifiedTime),
  endTime: job.endTime === undefined ? undefined : new Date(job.endTime),
  jobExpirationTime: new Date(job.submitTime + job.request.timeoutDurationInHours * 3_600_000),
  inputS3Uri: job.request.inputS3Uri,
  outputS3Uri: job.request.outputS3Uri,
  totalRecordCount: job.total ?? 0,
  processedRecordCount: job.manifest?.processedRecordCount ?? job.processed,
  successRecordCount: job.manifest?.successRecordCount ?? 0,
  errorRecordCount: job.manifest?.errorRecordCount ?? 0
})

const fileNameOf = (key: string) => key.slice(key.lastIndexOf("/") + 1)

const withSlash = (uri: string) => (uri.endsWith("/") ? uri : `${uri}/`)

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
    const store = yield* ObjectStore.ObjectStore
    const region = options.region ?? "us-east-1"
    const accountId = options.accountId ?? "123456789012"
    const seed = options.seed ?? 1
    const timings: Timings = { ...defaultTimings, ...options.timings }
    let quotas: Quotas = { ...defaultQuotas, ...options.quotas }
    let faults: Faults = options.faults ?? {}
    let imposedQueue: Array<ImposedStatus> = [...(faults.jobStatuses ?? [])]
    const injected: Array<InjectedError> = []
    const nextFaultRoll = Random.generator(seed)
    const nextIdRoll = Random.generator(Random.hash(`${seed}:job-ids`))

    const jobs = new Map<string, Job>()
    const jobsByToken = new Map<string, Job>()
    const jobsByName = new Map<string, Job>()
    const zeroCounters = () => ({
      jobsCreated: 0,
      createsRefused: 0,
      repeatedTokens: 0,
      throttled: 0,
      peakConcurrentJobs: 0,
      requestsAborted: 0,
      callsByOperation: {} as Record<string, number>
    })
    let counters = zeroCounters()

    const jobFibers = yield* FiberSet.make<void>()

    const activeJobs = () => [...jobs.values()].filter((job) => activeStatuses.has(job.status)).length

    const setStatus = (job: Job, status: BatchInference.JobStatus, message?: string) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        job.status = status
        job.lastModifiedTime = now
        if (message !== undefined) job.message = message
        if (finalStatuses.has(status)) job.endTime = now
      })

    const newJobId = () => {
      let id = ""
      do {
        id = ""
        for (let i = 0; i < 12; i++) id += "abcdefghijklmnopqrstuvwxyz0123456789"[Math.floor(nextIdRoll() * 36)]
      } while (jobs.has(id))
      return id
    }

    // --- validation: read the input the way the service does -------------------------------

    const loadInput = (job: Job): Effect.Effect<Result.Result<ReadonlyArray<InputFile>, string>> =>
      Effect.gen(function*() {
        const owners = [job.request.inputBucketOwner, job.request.outputBucketOwner]
        if (options.s3AccountId !== undefined && owners.some((o) => o !== undefined && o !== options.s3AccountId)) {
          return Result.fail("Access denied: the S3 bucket is not owned by the expected bucket owner.")
        }
        const input = Option.getOrUndefined(ObjectStore.fromUri(job.request.inputS3Uri))
        if (input === undefined) return Result.fail(`Invalid input S3 URI ${job.request.inputS3Uri}.`)
        let objects: ReadonlyArray<ObjectStore.ObjectInfo>
        if (input.key.endsWith(".jsonl")) {
          const info = yield* store.head(input)
          if (Option.isNone(info)) return Result.fail(`The input file ${job.request.inputS3Uri} was not found.`)
          objects = [info.value]
        } else {
          const prefix = input.key === "" ? "" : withSlash(input.key)
          objects = (yield* Stream.runCollect(store.list(input.bucket, prefix))).filter((o) => o.key.endsWith(".jsonl"))
          if (objects.length === 0) {
            return Result.fail(`No .jsonl input files were found under ${job.request.inputS3Uri}.`)
          }
        }
        const tooLarge = objects.find((o) => o.size > quotas.maxInputFileBytes)
        if (tooLarge !== undefined) {
          return Result.fail(
            `The input file ${fileNameOf(tooLarge.key)} is ${tooLarge.size} bytes, more than the quota of ` +
              `${quotas.maxInputFileBytes} bytes per file.`
          )
        }
        const jobBytes = objects.reduce((n, o) => n + o.size, 0)
        if (jobBytes > quotas.maxJobBytes) {
          return Result.fail(
            `The job's input is ${jobBytes} bytes, more than the quota of ${quotas.maxJobBytes} bytes per job.`
          )
        }
        const files: Array<InputFile> = []
        let count = 0
        for (const object of objects) {
          const fileName = fileNameOf(object.key)
          const records: Array<BatchOutput.InputRecord> = []
          let problem: string | undefined
          let lineNumber = 0
          yield* ObjectStore.getLines({ bucket: input.bucket, key: object.key }).pipe(
            Stream.runForEachWhile((line) =>
              Effect.sync(() => {
                lineNumber++
                const parsed = BatchOutput.parseLine(line, lineNumber, fileName)
                if (Result.isFailure(parsed)) {
                  problem = parsed.failure
                  return false
                }
                if (parsed.success !== undefined) records.push(parsed.success)
                return count + records.length <= quotas.maxRecordsPerJob
              })
            ),
            Effect.provideService(ObjectStore.ObjectStore, store)
          )
          if (problem !== undefined) return Result.fail(problem)
          count += records.length
          if (count > quotas.maxRecordsPerJob) {
            return Result.fail(
              `The job has more than ${quotas.maxRecordsPerJob} records, the quota of records per job.`
            )
          }
          files.push({ fileName, records })
        }
        if (count < quotas.minRecordsPerJob) {
          return Result.fail(
            `The job has ${count} records, fewer than the minimum of ${quotas.minRecordsPerJob} records per job.`
          )
        }
        return Result.succeed(files)
      }).pipe(
        Effect.catch((error: ServiceError.ServiceError) =>
          Effect.succeed(Result.fail(`Could not read the input: ${ServiceError.describe(error)}`))
        )
      )

    const planRecords = (job: Job, files: ReadonlyArray<InputFile>): ReadonlyArray<PlannedRecord> => {
      const roll = Random.generator(Random.hash(`${seed}:${job.id}`))
      const recordFaults: BatchOutput.RecordFaults = {
        recordErrorRate: faults.recordErrorRate ?? 0,
        recordMissingRate: faults.recordMissingRate ?? 0,
        malformedRate: faults.malformedRate ?? 0,
        truncatedRate: faults.truncatedRate ?? 0
      }
      const planned = files.flatMap((file, index) =>
        file.records.map((record) => ({
          file: index,
          outcome: BatchOutput.answerRecord(job.family, record, roll(), recordFaults)
        }))
      )
      return Random.shuffle(planned, roll)
    }

    // --- output ---------------------------------------------------------------------------

    const writeOutput = (job: Job, answered: number) =>
      Effect.gen(function*() {
        const output = Option.getOrUndefined(ObjectStore.fromUri(withSlash(job.request.outputS3Uri)))
        if (output === undefined || job.files === undefined || job.plan === undefined) return
        const folder = `${output.key}${job.id}/`
        const written = job.plan.slice(0, answered)
        const putOptions = { contentType: "application/jsonl", kmsKeyId: job.request.outputKmsKeyId }
        for (let index = 0; index < job.files.length; index++) {
          const lines = written.flatMap((entry) =>
            entry.file === index && entry.outcome._tag === "Line" ? [`${entry.outcome.line}\n`] : []
          )
          yield* store.put(
            { bucket: output.bucket, key: `${folder}${job.files[index]!.fileName}.out` },
            Stream.fromIterable(lines).pipe(Stream.map((line) => encoder.encode(line))),
            putOptions
          )
        }
        const manifest = BatchOutput.manifestOf(job.total ?? 0, written.map((entry) => entry.outcome))
        yield* store.put(
          { bucket: output.bucket, key: `${folder}manifest.json.out` },
          Stream.make(encoder.encode(JSON.stringify(manifest))),
          putOptions
        )
        job.manifest = manifest
      })

    const failJob = (job: Job) => (error: ServiceError.ServiceError) =>
      setStatus(job, "Failed", `Could not write the output: ${ServiceError.describe(error)}`)

    const stopping = (job: Job) =>
      Effect.gen(function*() {
        yield* Effect.sleep(Duration.millis(timings.stoppingMs))
        if (job.plan !== undefined && job.processed > 0) yield* writeOutput(job, job.processed)
        yield* setStatus(job, "Stopped", "Stopped by the user.")
      }).pipe(Effect.catch(failJob(job)))

    const lifecycle = (job: Job): Effect.Effect<void> =>
      Effect.gen(function*() {
        yield* Effect.sleep(Duration.millis(timings.submittedMs))
        yield* setStatus(job, "Validating")
        yield* Effect.sleep(Duration.millis(timings.validatingMs))
        const loaded = yield* loadInput(job)
        if (Result.isFailure(loaded)) return yield* setStatus(job, "Failed", loaded.failure)
        job.files = loaded.success
        job.total = loaded.success.reduce((n, file) => n + file.records.length, 0)
        job.plan = planRecords(job, loaded.success)
        if (job.imposed === "Failed") {
          return yield* setStatus(job, "Failed", "Internal error: the job failed (injected by the emulator).")
        }
        yield* setStatus(job, "Scheduled")
        yield* Effect.sleep(Duration.millis(timings.scheduledMs))
        if (job.imposed === "Expired") {
          yield* Effect.sleep(Duration.millis(timings.expireAfterMs))
          return yield* setStatus(job, "Expired", "The job expired before it could start.")
        }
        yield* setStatus(job, "InProgress")
        const total = job.total
        const partial = Math.floor(total * Math.min(1, Math.max(0, faults.partialFraction ?? 0.5)))
        const duration = Math.max(timings.inProgressMs, total * timings.perRecordMs)
        const ticks = 10
        for (let tick = 1; tick <= ticks; tick++) {
          yield* Effect.sleep(Duration.millis(duration / ticks))
          job.processed = Math.floor((total * tick) / ticks)
          if (job.imposed === "Stopped" && job.processed >= partial) {
            job.processed = partial
            yield* setStatus(job, "Stopping")
            return yield* stopping(job)
          }
        }
        job.finishing = true
        if (job.imposed === "PartiallyCompleted") {
          job.processed = partial
          yield* writeOutput(job, partial)
          return yield* setStatus(
            job,
            "PartiallyCompleted",
            "The job ended before every record was processed (injected by the emulator)."
          )
        }
        yield* writeOutput(job, total)
        yield* setStatus(job, "Completed")
      }).pipe(Effect.catch(failJob(job)))

    // --- control plane --------------------------------------------------------------------

    const findJob = (identifier: string): Result.Result<Job, WireResponse> => {
      const arnMatch = jobArnPattern.exec(identifier)
      if (arnMatch === null && !jobIdPattern.test(identifier)) {
        return Result.fail(
          exception(
            "ValidationException",
            `1 validation error detected: Value '${identifier}' at 'jobIdentifier' failed to satisfy constraint: ` +
              "Member must satisfy regular expression pattern: ((arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:" +
              "[0-9]{12}:model-invocation-job/)?[a-z0-9]{12})"
          )
        )
      }
      const id = arnMatch === null ? identifier : arnMatch[2]!
      const job = jobs.get(id)
      if (job === undefined || (arnMatch !== null && job.arn !== identifier)) {
        return Result.fail(
          exception("ResourceNotFoundException", `The model invocation job ${identifier} was not found.`)
        )
      }
      return Result.succeed(job)
    }

    const createJob = (body: unknown): Effect.Effect<WireResponse> =>
      Effect.gen(function*() {
        const validated = CreateRequest.validate(body)
        if (validated._tag === "Invalid") return exception("ValidationException", validated.message)
        const request = validated.request
        const family = BatchOutput.familyFor(request.modelId, request.modelInvocationType, options.family)
        if (family === undefined) {
          return exception("ValidationException", `The provided model identifier ${request.modelId} is invalid.`)
        }
        if (request.clientRequestToken !== undefined) {
          const existing = jobsByToken.get(request.clientRequestToken)
          if (existing !== undefined) {
            counters.repeatedTokens++
            return json(200, { jobArn: existing.arn })
          }
        }
        if (jobsByName.has(request.jobName)) {
          return exception("ConflictException", `A model invocation job named ${request.jobName} already exists.`)
        }
        if (activeJobs() >= quotas.maxConcurrentJobs) {
          counters.createsRefused++
          return exception(
            "ServiceQuotaExceededException",
            `The number of submitted and in-progress batch inference jobs has reached the quota of ` +
              `${quotas.maxConcurrentJobs}. Wait for a job to finish and try again.`
          )
        }
        const now = yield* Clock.currentTimeMillis
        const id = newJobId()
        const job: Job = {
          id,
          arn: `arn:aws:bedrock:${region}:${accountId}:model-invocation-job/${id}`,
          request,
          family,
          imposed: imposedQueue.shift(),
          submitTime: now,
          status: "Submitted",
          message: undefined,
          lastModifiedTime: now,
          endTime: undefined,
          files: undefined,
          plan: undefined,
          total: undefined,
          processed: 0,
          manifest: undefined,
          finishing: false,
          lifecycle: undefined
        }
        jobs.set(id, job)
        jobsByName.set(request.jobName, job)
        if (request.clientRequestToken !== undefined) jobsByToken.set(request.clientRequestToken, job)
        counters.jobsCreated++
        counters.peakConcurrentJobs = Math.max(counters.peakConcurrentJobs, activeJobs())
        job.lifecycle = yield* FiberSet.run(jobFibers, lifecycle(job))
        return json(200, { jobArn: job.arn })
      })

    const stopJob = (identifier: string): Effect.Effect<WireResponse> =>
      Effect.gen(function*() {
        const found = findJob(identifier)
        if (Result.isFailure(found)) return found.failure
        const job = found.success
        if (finalStatuses.has(job.status)) {
          return exception("ConflictException", `The job is ${job.status} and cannot be stopped.`)
        }
        if (job.status === "Stopping" || job.finishing) return json(200, {})
        yield* setStatus(job, "Stopping")
        if (job.lifecycle !== undefined) yield* Fiber.interrupt(job.lifecycle)
        job.lifecycle = yield* FiberSet.run(jobFibers, stopping(job))
        return json(200, {})
      })

    const listJobs = (query: URLSearchParams): WireResponse => {
      const maxResults = query.has("maxResults") ? Number(query.get("maxResults")) : 100
      if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 1000) {
        return exception(
          "ValidationException",
          `1 validation error detected: Value '${query.get("maxResults")}' at 'maxResults' failed to satisfy ` +
            "constraint: Member must have value between 1 and 1000"
        )
      }
      const status = query.get("statusEquals")
      if (status !== null && !BatchInference.isJobStatus(status)) {
        return exception(
          "ValidationException",
          `1 validation error detected: Value '${status}' at 'statusEquals' failed to satisfy constraint: ` +
            "Member must satisfy enum value set"
        )
      }
      let offset = 0
      const token = query.get("nextToken")
      if (token !== null) {
        offset = Number(Buffer.from(token, "base64url").toString("utf8").replace(/^offset:/, ""))
        if (!Number.isInteger(offset) || offset < 0) {
          return exception("ValidationException", "Invalid pagination token.")
        }
      }
      const nameContains = query.get("nameContains")
      const after = query.has("submitTimeAfter") ? Date.parse(query.get("submitTimeAfter")!) : undefined
      const before = query.has("submitTimeBefore") ? Date.parse(query.get("submitTimeBefore")!) : undefined
      const ascending = query.get("sortOrder") === "Ascending"
      const matching = [...jobs.values()]
        .filter((job) =>
          (nameContains === null || job.request.jobName.includes(nameContains)) &&
          (status === null || job.status === status) &&
          (after === undefined || job.submitTime > after) &&
          (before === undefined || job.submitTime < before)
        )
        .sort((a, b) => ascending ? a.submitTime - b.submitTime : b.submitTime - a.submitTime)
      const page = matching.slice(offset, offset + maxResults)
      const next = offset + maxResults < matching.length
        ? Buffer.from(`offset:${offset + maxResults}`, "utf8").toString("base64url")
        : undefined
      return json(200, {
        invocationJobSummaries: page.map(describeJob),
        ...(next !== undefined ? { nextToken: next } : {})
      })
    }

    // --- runtime --------------------------------------------------------------------------

    const invokeModel = (modelId: string, body: Uint8Array): WireResponse => {
      const family = BatchOutput.familyFor(modelId, "InvokeModel", options.family)
      if (family === undefined) {
        return exception("ValidationException", `The provided model identifier ${modelId} is invalid.`)
      }
      const parsed = parseJson(body)
      if (Result.isFailure(parsed)) {
        return exception("ValidationException", `Malformed input request: ${parsed.failure}`)
      }
      const answer = OfflineModel.respond(family, parsed.success)
      if (Result.isFailure(answer)) {
        return exception("ValidationException", `Malformed input request: ${answer.failure}`)
      }
      const usage = family.readOutput(answer.success)
      return json(
        200,
        answer.success,
        Result.isSuccess(usage) ?
          {
            "x-amzn-bedrock-input-token-count": String(usage.success.usage.inputTokens),
            "x-amzn-bedrock-output-token-count": String(usage.success.usage.outputTokens)
          } :
          {}
      )
    }

    const converse = (body: Uint8Array): WireResponse => {
      const parsed = parseJson(body)
      if (Result.isFailure(parsed)) {
        return exception("ValidationException", `Malformed input request: ${parsed.failure}`)
      }
      const family = BatchOutput.familyFor("", "Converse", undefined)!
      const answer = OfflineModel.respond(family, parsed.success)
      if (Result.isFailure(answer)) return exception("ValidationException", answer.failure)
      return json(200, { ...answer.success, metrics: { latencyMs: 1 } })
    }

    // --- routing --------------------------------------------------------------------------

    const route = (
      request: WireRequest
    ): { readonly operation: Operation | undefined; readonly run: () => Effect.Effect<WireResponse> } => {
      const segments = request.path.split("/").slice(1).map((s) => {
        try {
          return decodeURIComponent(s)
        } catch {
          return s
        }
      })
      const body = () => parseJson(request.body)
      const withBody = (f: (body: unknown) => Effect.Effect<WireResponse>) => () => {
        const parsed = body()
        return Result.isFailure(parsed)
          ? Effect.succeed(exception("SerializationException", `Could not parse the request body: ${parsed.failure}`))
          : f(parsed.success)
      }
      const [first, second, third] = segments
      if (request.method === "POST" && segments.length === 1 && first === "model-invocation-job") {
        return { operation: "CreateModelInvocationJob", run: withBody(createJob) }
      }
      if (request.method === "GET" && segments.length === 2 && first === "model-invocation-job") {
        return {
          operation: "GetModelInvocationJob",
          run: () => {
            const found = findJob(second!)
            return Effect.succeed(Result.isFailure(found) ? found.failure : json(200, describeJob(found.success)))
          }
        }
      }
      if (request.method === "POST" && segments.length === 3 && first === "model-invocation-job" && third === "stop") {
        return { operation: "StopModelInvocationJob", run: () => stopJob(second!) }
      }
      if (request.method === "GET" && segments.length === 1 && first === "model-invocation-jobs") {
        return { operation: "ListModelInvocationJobs", run: () => Effect.succeed(listJobs(request.query)) }
      }
      if (request.method === "POST" && segments.length === 3 && first === "model" && third === "invoke") {
        return { operation: "InvokeModel", run: () => Effect.succeed(invokeModel(second!, request.body)) }
      }
      if (request.method === "POST" && segments.length === 3 && first === "model" && third === "converse") {
        return { operation: "Converse", run: () => Effect.succeed(converse(request.body)) }
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
      Effect.suspend(() => {
        const { operation, run } = route(request)
        if (operation === undefined) return run()
        counters.callsByOperation[operation] = (counters.callsByOperation[operation] ?? 0) + 1
        const injectedIndex = injected.findIndex((error) => error.operation === operation)
        if (injectedIndex >= 0) {
          const [error] = injected.splice(injectedIndex, 1)
          return Effect.succeed(
            exception(
              error!.exceptionName,
              error!.message ?? `${error!.exceptionName} (injected by the emulator).`,
              error!.status
            )
          )
        }
        const isRuntime = operation === "InvokeModel" || operation === "Converse"
        const throttleRate = (isRuntime ? faults.runtimeThrottleRate : faults.throttleRate) ?? 0
        if (throttleRate > 0 && nextFaultRoll() < throttleRate) {
          counters.throttled++
          return Effect.succeed(exception("ThrottlingException", "Too many requests, please wait before trying again."))
        }
        const delay = faults.delayMs?.[operation] ?? 0
        return delay > 0 ? Effect.andThen(Effect.sleep(Duration.millis(delay)), run()) : run()
      })

    // --- server -------------------------------------------------------------------------

    const server = yield* WireServer.serve({
      port: options.port ?? 0,
      handle,
      onAbort: () => {
        counters.requestsAborted++
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
      region,
      accountId,
      counters: Effect.sync(() => ({ ...counters, callsByOperation: { ...counters.callsByOperation } })),
      resetCounters: Effect.sync(() => {
        counters = zeroCounters()
      }),
      setFaults: (next) =>
        Effect.sync(() => {
          faults = next
          imposedQueue = [...(next.jobStatuses ?? [])]
        }),
      setQuotas: (next) =>
        Effect.sync(() => {
          quotas = { ...quotas, ...next }
        }),
      failNext: (errors) => Effect.sync(() => void injected.push(...errors)),
      jobs: Effect.sync(() => [...jobs.values()].sort((a, b) => b.submitTime - a.submitTime).map(toJobDescription))
    } satisfies BedrockEmulatorShape
  })

/** The emulator as a Layer: started when built, stopped (nothing left running) when released. */
export const layer = (
  options: Options = {}
): Layer.Layer<BedrockEmulator, EmulatorError, ObjectStore.ObjectStore> => Layer.effect(BedrockEmulator, make(options))
