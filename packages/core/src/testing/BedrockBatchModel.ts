/**
 * One model of the Amazon Bedrock batch-inference service, on Effect's `Clock`. It has two
 * faces: {@link SimulatedBatchInference} (the `BatchInference` port, under `TestClock`) and
 * the loopback HTTP emulator of `@batch-extract/aws/local` (the real SDK clients, real
 * time). Both answer from this model, so they agree on every behaviour below.
 *
 * - Jobs walk `Submitted → Validating → Scheduled → InProgress → Completed` ({@link Timings}).
 *   The state is a function of the clock: it moves when the model is asked (every call
 *   brings the jobs up to now), so a simulated job takes exactly its timings whatever the
 *   polling interval.
 * - Validation reads the input from the `ObjectStore` (a `.jsonl` object or a folder of
 *   them) and fails the job on bad JSONL, too few or too many records, or a file or job too
 *   large ({@link Quotas}); a bucket owner other than `s3AccountId` fails it too.
 * - Outputs: `<output>/<jobId>/<input>.jsonl.out` (lines in a seeded shuffled order, with the
 *   KMS key of `s3OutputDataConfig`) and `<output>/<jobId>/manifest.json.out`.
 * - Records are answered by the `OfflineModel` in the family's shape (embedding models with
 *   deterministic vectors); a body the service would refuse ({@link RequestBodies}) gets an
 *   error line with `errorCode` 400. A batch job for an embedding model batch inference does
 *   not accept (Cohere Embed) and a Converse call or job for an embedding model are refused.
 * - Creates are validated as the service does (patterns, the KMS key's place, VPC lists,
 *   timeout range, tags, the model id's family); a repeated client request token returns the
 *   first job; a name in use is a conflict; a create beyond `maxConcurrentJobs` live jobs
 *   (Submitted, Validating, Scheduled, InProgress) is refused.
 * - `stop` moves a job to `Stopping`, then `Stopped` with the records answered so far.
 * - Faults ({@link Faults}, seeded so runs repeat): throttling, imposed final statuses — an
 *   imposed `Stopped` or `PartiallyCompleted` job answers only `partialFraction` of its
 *   records — and errored, missing, malformed and truncated output lines. Every fault that
 *   fires is counted ({@link Counters}), so a test can show its fault happened.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Option, Result, Semaphore, Stream } from "effect"
import * as BatchInference from "../engine/BatchInference.ts"
import * as ModelFamily from "../engine/ModelFamily.ts"
import * as ObjectStore from "../engine/ObjectStore.ts"
import * as ServiceError from "../engine/ServiceError.ts"
import * as BatchRecords from "./internal/batchRecords.ts"
import * as CreateRequest from "./internal/createRequest.ts"
import * as OfflineModel from "./OfflineModel.ts"
import * as RequestBodies from "./RequestBodies.ts"
import * as SeededRandom from "./SeededRandom.ts"

// -----------------------------------------------------------------------------
// Options
// -----------------------------------------------------------------------------

/** How long a job spends in each status (milliseconds of the `Clock`). */
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

/** The service quotas the model enforces. */
export interface Quotas {
  /** Jobs in Submitted, Validating, Scheduled or InProgress at once. */
  readonly maxConcurrentJobs: number
  readonly minRecordsPerJob: number
  readonly maxRecordsPerJob: number
  readonly maxInputFileBytes: number
  readonly maxJobBytes: number
}

/** The service's documented quotas. */
export const defaultQuotas: Quotas = {
  maxConcurrentJobs: 10,
  minRecordsPerJob: 100,
  maxRecordsPerJob: 50_000,
  maxInputFileBytes: 1_000_000_000,
  maxJobBytes: 5_000_000_000
}

/** A final status to impose on a job instead of `Completed`. */
export type ImposedStatus = "Completed" | "PartiallyCompleted" | "Failed" | "Stopped" | "Expired"

/** Faults to inject (fractions 0..1). */
export interface Faults {
  /** Control-plane calls answered with `ThrottlingException`. */
  readonly throttleRate?: number | undefined
  /** Runtime calls answered with `ThrottlingException`. */
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
}

/** Options of the model. */
export interface Options {
  readonly timings: Timings
  readonly quotas?: Partial<Quotas> | undefined
  readonly faults?: Faults | undefined
  /** Seed of every random choice (faults, job ids, output order). Default 1. */
  readonly seed?: number | undefined
  /** Region and account in job ARNs (default `us-east-1`, `123456789012`). */
  readonly region?: string | undefined
  readonly accountId?: string | undefined
  /** The account that owns the buckets: jobs naming another `s3BucketOwner` fail. */
  readonly s3AccountId?: string | undefined
  /** Family for model ids that name none (e.g. application inference profiles). */
  readonly family?: ModelFamily.FamilyName | undefined
  /** Replace the offline model's answers to valid bodies. */
  readonly respond?: BatchRecords.Respond | undefined
}

/** What the model counted: calls, refusals, and every fault that fired. */
export interface Counters {
  readonly jobsCreated: number
  /** Creates refused with `ServiceQuotaExceededException`. */
  readonly createsRefused: number
  /** Creates that repeated a client request token (answered with the first job). */
  readonly repeatedTokens: number
  /** Calls answered with an injected `ThrottlingException`. */
  readonly throttled: number
  /** The most live jobs (Submitted, Validating, Scheduled, InProgress) at once. */
  readonly peakConcurrentJobs: number
  readonly callsByOperation: Readonly<Record<string, number>>
  /** Jobs that ended with an imposed status, by status. */
  readonly statusesImposed: Readonly<Partial<Record<ImposedStatus, number>>>
  /** Records answered normally (no fault). */
  readonly recordsAnswered: number
  /** Records answered with an injected error line. */
  readonly recordsErrored: number
  /** Records left without an output line by an injected fault. */
  readonly recordsMissing: number
  /** Records with an injected malformed line. */
  readonly recordsMalformed: number
  /** Records whose answer was cut off by an injected fault. */
  readonly recordsTruncated: number
  /** Records refused because their body is invalid for the family (error line 400). */
  readonly recordsRejected: number
  /** Records a Stopped, PartiallyCompleted or Expired job left unanswered. */
  readonly recordsUnanswered: number
}

/** How the service refuses a call. */
export interface Refusal {
  readonly kind: "Throttled" | "QuotaExceeded" | "InvalidRequest" | "Conflict" | "NotFound"
  readonly exceptionName: string
  readonly message: string
}

/** A job as the model sees it (read-only snapshot). */
export interface ModelJob {
  readonly id: string
  readonly arn: string
  readonly request: CreateRequest.ValidCreateRequest
  readonly status: BatchInference.JobStatus
  readonly message: string | undefined
  readonly submitTime: number
  readonly lastModifiedTime: number
  readonly endTime: number | undefined
  readonly totalRecordCount: number
  readonly processedRecordCount: number
  readonly successRecordCount: number
  readonly errorRecordCount: number
}

/** Filters of `list`. */
export interface ListQuery {
  readonly nameContains?: string | undefined
  readonly statusEquals?: BatchInference.JobStatus | undefined
  readonly submitTimeAfter?: number | undefined
  readonly submitTimeBefore?: number | undefined
  readonly ascending?: boolean | undefined
}

/** The model. */
export interface BedrockBatchModel {
  readonly region: string
  readonly accountId: string
  /** Count a call of an operation. */
  readonly count: (operation: string) => Effect.Effect<void>
  /** Roll the throttling of a call (control plane or runtime): the refusal when it is throttled. */
  readonly throttle: (plane: "control" | "runtime") => Effect.Effect<Refusal | undefined>
  /** Count a call of an operation and roll its throttling. */
  readonly call: (operation: string, plane: "control" | "runtime") => Effect.Effect<Refusal | undefined>
  readonly create: (body: unknown) => Effect.Effect<Result.Result<ModelJob, Refusal>>
  readonly get: (identifier: string) => Effect.Effect<Result.Result<ModelJob, Refusal>>
  readonly stop: (identifier: string) => Effect.Effect<Result.Result<void, Refusal>>
  /** Jobs matching the query, newest first unless `ascending`. */
  readonly list: (query: ListQuery) => Effect.Effect<ReadonlyArray<ModelJob>>
  /** A runtime call (InvokeModel or Converse): the response body and its usage, or the refusal. */
  readonly invoke: (
    modelId: string,
    invocationType: BatchInference.InvocationType,
    body: unknown
  ) => Result.Result<{ readonly response: unknown; readonly usage: ModelFamily.Usage | undefined }, Refusal>
  /** Every job, newest first. */
  readonly jobs: Effect.Effect<ReadonlyArray<ModelJob>>
  /** Live jobs right now. */
  readonly liveJobs: Effect.Effect<number>
  /** Bring every job up to now (writing the outputs of those that ended). */
  readonly advance: Effect.Effect<void>
  readonly counters: Effect.Effect<Counters>
  readonly resetCounters: Effect.Effect<void>
  /** Replace the fault settings (the queue of imposed statuses included). */
  readonly setFaults: (faults: Faults) => Effect.Effect<void>
  readonly setQuotas: (quotas: Partial<Quotas>) => Effect.Effect<void>
}

// -----------------------------------------------------------------------------
// Views
// -----------------------------------------------------------------------------

/** The port's description of a job. */
export const describe = (job: ModelJob): BatchInference.JobDescription => ({
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
  totalRecordCount: job.totalRecordCount,
  processedRecordCount: job.processedRecordCount,
  successRecordCount: job.successRecordCount,
  errorRecordCount: job.errorRecordCount
})

const iso = (millis: number | undefined): string | undefined =>
  millis === undefined ? undefined : new Date(millis).toISOString()

/** The service's JSON description of a job (`GetModelInvocationJob`, list summaries). */
export const toWire = (job: ModelJob): Record<string, unknown> => ({
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
  tags: job.request.tags.length === 0 ? undefined : job.request.tags,
  totalRecordCount: job.totalRecordCount,
  processedRecordCount: job.processedRecordCount,
  successRecordCount: job.successRecordCount,
  errorRecordCount: job.errorRecordCount
})

/** A refusal as the port's typed error. */
export const toServiceError = (operation: string, refusal: Refusal): ServiceError.ServiceError => {
  const fields = { operation, message: refusal.message, exceptionName: refusal.exceptionName }
  switch (refusal.kind) {
    case "Throttled":
      return new ServiceError.Throttled(fields)
    case "QuotaExceeded":
      return new ServiceError.QuotaExceeded(fields)
    case "InvalidRequest":
      return new ServiceError.InvalidRequest(fields)
    case "Conflict":
      return new ServiceError.Conflict(fields)
    case "NotFound":
      return new ServiceError.NotFound(fields)
  }
}

// -----------------------------------------------------------------------------
// Jobs
// -----------------------------------------------------------------------------

interface InputFile {
  readonly fileName: string
  readonly records: ReadonlyArray<BatchRecords.InputRecord>
}

interface PlannedRecord {
  readonly file: number
  readonly outcome: BatchRecords.RecordOutcome
}

type Loaded =
  | { readonly _tag: "Invalid"; readonly message: string }
  | {
    readonly _tag: "Valid"
    readonly files: ReadonlyArray<InputFile>
    readonly plan: ReadonlyArray<PlannedRecord>
    readonly total: number
  }

interface Job {
  readonly id: string
  readonly arn: string
  readonly request: CreateRequest.ValidCreateRequest
  readonly family: ModelFamily.ModelFamily
  readonly imposed: ImposedStatus | undefined
  readonly submitTime: number
  stopRequestedAt: number | undefined
  loaded: Loaded | undefined
  final:
    | {
      readonly status: BatchInference.JobStatus
      readonly at: number
      readonly message: string | undefined
      readonly manifest: BatchRecords.Manifest | undefined
    }
    | undefined
}

/** Where a job stands at a time: its status, and when terminal, how many records it answered. */
interface State {
  readonly status: BatchInference.JobStatus
  readonly since: number
  readonly message?: string | undefined
  readonly terminal?: { readonly answered: number } | undefined
  /** Records processed so far. */
  readonly processed: number
}

const jobIdPattern = /^[a-z0-9]{12}$/
const jobArnPattern = /^arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:model-invocation-job\/([a-z0-9]{12})$/

const fileNameOf = (key: string) => key.slice(key.lastIndexOf("/") + 1)
const withSlash = (uri: string) => (uri.endsWith("/") ? uri : `${uri}/`)
const encoder = new TextEncoder()

const refuse = (kind: Refusal["kind"], exceptionName: string, message: string): Refusal => ({
  kind,
  exceptionName,
  message
})

/** The family answering a job's or a call's bodies: Converse for that type, else the model id's, else the override. */
const familyFor = (
  modelId: string,
  invocationType: BatchInference.InvocationType,
  override: ModelFamily.FamilyName | undefined
): ModelFamily.ModelFamily | undefined => {
  const resolved = ModelFamily.resolve({ modelId, invocationType })
  if (Result.isSuccess(resolved)) return resolved.success
  return override === undefined ? undefined : ModelFamily.families[override]
}

/**
 * Why the service refuses an embedding model on this path, or `undefined`: embedding models
 * have no Converse API, and batch jobs take only those Bedrock batch inference accepts
 * (`ModelFamily.Embedding.batch`).
 */
const embeddingRefusal = (
  modelId: string,
  invocationType: BatchInference.InvocationType,
  override: ModelFamily.FamilyName | undefined,
  plane: "batch" | "runtime"
): Refusal | undefined => {
  const named = ModelFamily.familyOfModelId(modelId) ?? override
  const embedding = named === undefined ? undefined : ModelFamily.families[named].embedding
  if (embedding === undefined) return undefined
  if (invocationType === "Converse") {
    return refuse("InvalidRequest", "ValidationException", `The model ${modelId} does not support the Converse API.`)
  }
  if (plane === "batch" && !embedding.batch) {
    return refuse("InvalidRequest", "ValidationException", `The model ${modelId} does not support batch inference.`)
  }
  return undefined
}

const zeroCounters = (): Counters => ({
  jobsCreated: 0,
  createsRefused: 0,
  repeatedTokens: 0,
  throttled: 0,
  peakConcurrentJobs: 0,
  callsByOperation: {},
  statusesImposed: {},
  recordsAnswered: 0,
  recordsErrored: 0,
  recordsMissing: 0,
  recordsMalformed: 0,
  recordsTruncated: 0,
  recordsRejected: 0,
  recordsUnanswered: 0
})

// -----------------------------------------------------------------------------
// The model
// -----------------------------------------------------------------------------

/** Build a model reading job inputs and writing job outputs through the `ObjectStore`. */
export const make = (options: Options): Effect.Effect<BedrockBatchModel, never, ObjectStore.ObjectStore> =>
  Effect.gen(function*() {
    const store = yield* ObjectStore.ObjectStore
    const region = options.region ?? "us-east-1"
    const accountId = options.accountId ?? "123456789012"
    const seed = options.seed ?? 1
    const timings = options.timings
    const respond = options.respond ?? OfflineModel.respond
    let quotas: Quotas = { ...defaultQuotas, ...options.quotas }
    let faults: Faults = options.faults ?? {}
    let imposedQueue: Array<ImposedStatus> = [...(faults.jobStatuses ?? [])]
    const nextFaultRoll = SeededRandom.generator(seed)
    const nextIdRoll = SeededRandom.generator(SeededRandom.hash(`${seed}:job-ids`))
    const lock = yield* Semaphore.make(1)

    const jobs = new Map<string, Job>()
    const jobsByToken = new Map<string, Job>()
    const jobsByName = new Map<string, Job>()
    let counters: { -readonly [K in keyof Counters]: Counters[K] } = zeroCounters()

    const newJobId = () => {
      let id = ""
      do {
        id = ""
        for (let i = 0; i < 12; i++) id += "abcdefghijklmnopqrstuvwxyz0123456789"[Math.floor(nextIdRoll() * 36)]
      } while (jobs.has(id))
      return id
    }

    // --- time ---------------------------------------------------------------------------

    const scheduleOf = (job: Job) => {
      const validatingAt = job.submitTime + timings.submittedMs
      const scheduledAt = validatingAt + timings.validatingMs
      const runningAt = scheduledAt + timings.scheduledMs
      const total = job.loaded?._tag === "Valid" ? job.loaded.total : 0
      const duration = Math.max(timings.inProgressMs, total * timings.perRecordMs, 1)
      return { validatingAt, scheduledAt, runningAt, duration, endsAt: runningAt + duration, total }
    }

    const partialOf = (total: number) => Math.floor(total * Math.min(1, Math.max(0, faults.partialFraction ?? 0.5)))

    /** Records processed by a time (in proportion while in progress). */
    const processedAt = (job: Job, at: number): number => {
      const s = scheduleOf(job)
      if (at <= s.runningAt) return 0
      return Math.floor(s.total * Math.min(1, (at - s.runningAt) / s.duration))
    }

    /** Where a job stands at `now` (pure: the input must be loaded once validation is over). */
    const stateAt = (job: Job, now: number): State => {
      if (job.final !== undefined) {
        return {
          status: job.final.status,
          since: job.final.at,
          message: job.final.message,
          processed: job.final.manifest?.processedRecordCount ?? 0
        }
      }
      const s = scheduleOf(job)
      const stopping = (requestedAt: number, answered: number, message: string): State => {
        const stoppedAt = requestedAt + timings.stoppingMs
        return now >= stoppedAt
          ? { status: "Stopped", since: stoppedAt, message, terminal: { answered }, processed: answered }
          : { status: "Stopping", since: requestedAt, processed: answered }
      }
      // An imposed stop happens once the job has answered its share of the records.
      const imposedStopAt = job.imposed === "Stopped" && job.loaded?._tag === "Valid"
        ? s.runningAt + s.duration * (partialOf(s.total) / Math.max(1, s.total))
        : undefined
      const userStop = job.stopRequestedAt
      if (userStop !== undefined && (imposedStopAt === undefined || userStop < imposedStopAt)) {
        return stopping(userStop, processedAt(job, userStop), "Stopped by the user.")
      }
      if (now < s.validatingAt) return { status: "Submitted", since: job.submitTime, processed: 0 }
      if (now < s.scheduledAt) return { status: "Validating", since: s.validatingAt, processed: 0 }
      const loaded = job.loaded
      if (loaded === undefined || loaded._tag === "Invalid") {
        const message = loaded?.message ?? "The input could not be read."
        return { status: "Failed", since: s.scheduledAt, message, terminal: { answered: 0 }, processed: 0 }
      }
      if (job.imposed === "Failed") {
        return {
          status: "Failed",
          since: s.scheduledAt,
          message: "Internal error: the job failed (injected).",
          terminal: { answered: 0 },
          processed: 0
        }
      }
      if (job.imposed === "Expired") {
        const expiresAt = s.runningAt + timings.expireAfterMs
        return now < expiresAt
          ? { status: "Scheduled", since: s.scheduledAt, processed: 0 }
          : {
            status: "Expired",
            since: expiresAt,
            message: "The job expired before it could start.",
            terminal: { answered: 0 },
            processed: 0
          }
      }
      if (now < s.runningAt) return { status: "Scheduled", since: s.scheduledAt, processed: 0 }
      if (imposedStopAt !== undefined && now >= imposedStopAt) {
        return stopping(imposedStopAt, partialOf(s.total), "The job was stopped (injected).")
      }
      if (now < s.endsAt) return { status: "InProgress", since: s.runningAt, processed: processedAt(job, now) }
      if (job.imposed === "PartiallyCompleted") {
        const answered = partialOf(s.total)
        return {
          status: "PartiallyCompleted",
          since: s.endsAt,
          message: "The job ended before every record was processed (injected).",
          terminal: { answered },
          processed: answered
        }
      }
      return { status: "Completed", since: s.endsAt, terminal: { answered: s.total }, processed: s.total }
    }

    // --- validation: read the input the way the service does ------------------------------

    const loadInput = (job: Job): Effect.Effect<Loaded> =>
      Effect.gen(function*() {
        const invalid = (message: string): Loaded => ({ _tag: "Invalid", message })
        const owners = [job.request.inputBucketOwner, job.request.outputBucketOwner]
        if (options.s3AccountId !== undefined && owners.some((o) => o !== undefined && o !== options.s3AccountId)) {
          return invalid("Access denied: the S3 bucket is not owned by the expected bucket owner.")
        }
        const input = Option.getOrUndefined(ObjectStore.fromUri(job.request.inputS3Uri))
        if (input === undefined) return invalid(`Invalid input S3 URI ${job.request.inputS3Uri}.`)
        let objects: ReadonlyArray<ObjectStore.ObjectInfo>
        if (input.key.endsWith(".jsonl")) {
          const info = yield* store.head(input)
          if (Option.isNone(info)) return invalid(`The input file ${job.request.inputS3Uri} was not found.`)
          objects = [info.value]
        } else {
          const prefix = input.key === "" ? "" : withSlash(input.key)
          objects = (yield* Stream.runCollect(store.list(input.bucket, prefix))).filter((o) => o.key.endsWith(".jsonl"))
          if (objects.length === 0) return invalid(`No .jsonl input files were found under ${job.request.inputS3Uri}.`)
        }
        const tooLarge = objects.find((o) => o.size > quotas.maxInputFileBytes)
        if (tooLarge !== undefined) {
          return invalid(
            `The input file ${fileNameOf(tooLarge.key)} is ${tooLarge.size} bytes, more than the quota of ` +
              `${quotas.maxInputFileBytes} bytes per file.`
          )
        }
        const jobBytes = objects.reduce((n, o) => n + o.size, 0)
        if (jobBytes > quotas.maxJobBytes) {
          return invalid(
            `The job's input is ${jobBytes} bytes, more than the quota of ${quotas.maxJobBytes} bytes per job.`
          )
        }
        const files: Array<InputFile> = []
        let count = 0
        for (const object of objects) {
          const fileName = fileNameOf(object.key)
          // Output lines are matched to records by id within a file.
          const ids = new Set<string>()
          const records: Array<BatchRecords.InputRecord> = []
          let problem: string | undefined
          let lineNumber = 0
          yield* ObjectStore.getLines({ bucket: input.bucket, key: object.key }).pipe(
            Stream.runForEachWhile((line) =>
              Effect.sync(() => {
                lineNumber++
                const parsed = BatchRecords.parseLine(line, lineNumber, fileName)
                if (Result.isFailure(parsed)) {
                  problem = parsed.failure
                  return false
                }
                if (parsed.success !== undefined) {
                  if (ids.has(parsed.success.recordId)) {
                    problem = `Invalid JSONL in ${fileName} at line ${lineNumber}: the recordId ` +
                      `${parsed.success.recordId} is used twice.`
                    return false
                  }
                  ids.add(parsed.success.recordId)
                  records.push(parsed.success)
                }
                return count + records.length <= quotas.maxRecordsPerJob
              })
            ),
            Effect.provideService(ObjectStore.ObjectStore, store)
          )
          if (problem !== undefined) return invalid(problem)
          count += records.length
          if (count > quotas.maxRecordsPerJob) {
            return invalid(`The job has more than ${quotas.maxRecordsPerJob} records, the quota of records per job.`)
          }
          files.push({ fileName, records })
        }
        if (count < quotas.minRecordsPerJob) {
          return invalid(
            `The job has ${count} records, fewer than the minimum of ${quotas.minRecordsPerJob} records per job.`
          )
        }
        const roll = SeededRandom.generator(SeededRandom.hash(`${seed}:${job.id}`))
        const recordFaults: BatchRecords.RecordFaults = {
          recordErrorRate: faults.recordErrorRate ?? 0,
          recordMissingRate: faults.recordMissingRate ?? 0,
          malformedRate: faults.malformedRate ?? 0,
          truncatedRate: faults.truncatedRate ?? 0
        }
        const planned = files.flatMap((file, index) =>
          file.records.map((record) => ({
            file: index,
            outcome: BatchRecords.answerRecord(job.family, record, roll(), recordFaults, respond)
          }))
        )
        return { _tag: "Valid", files, plan: SeededRandom.shuffle(planned, roll), total: count } satisfies Loaded
      }).pipe(
        Effect.catch((error: ServiceError.ServiceError) =>
          Effect.succeed<Loaded>({
            _tag: "Invalid",
            message: `Could not read the input: ${ServiceError.describe(error)}`
          })
        )
      )

    // --- output -------------------------------------------------------------------------

    const writeOutput = (job: Job, answered: number) =>
      Effect.gen(function*() {
        const output = Option.getOrUndefined(ObjectStore.fromUri(withSlash(job.request.outputS3Uri)))
        const loaded = job.loaded
        if (output === undefined || loaded?._tag !== "Valid") return undefined
        const folder = `${output.key}${job.id}/`
        const written = loaded.plan.slice(0, answered)
        const putOptions = { contentType: "application/jsonl", kmsKeyId: job.request.outputKmsKeyId }
        for (let index = 0; index < loaded.files.length; index++) {
          const lines = written.flatMap((entry) =>
            entry.file === index && entry.outcome._tag === "Line" ? [`${entry.outcome.line}\n`] : []
          )
          yield* store.put(
            { bucket: output.bucket, key: `${folder}${loaded.files[index]!.fileName}.out` },
            Stream.fromIterable(lines).pipe(Stream.map((line) => encoder.encode(line))),
            putOptions
          )
        }
        const manifest = BatchRecords.manifestOf(loaded.total, written.map((entry) => entry.outcome))
        yield* store.put(
          { bucket: output.bucket, key: `${folder}manifest.json.out` },
          Stream.make(encoder.encode(JSON.stringify(manifest))),
          putOptions
        )
        for (const { outcome } of written) {
          if (outcome._tag === "Missing") counters.recordsMissing++
          else if (outcome.fault === "errored") counters.recordsErrored++
          else if (outcome.fault === "malformed") counters.recordsMalformed++
          else if (outcome.fault === "truncated") counters.recordsTruncated++
          else if (outcome.fault === "rejected") counters.recordsRejected++
          else counters.recordsAnswered++
        }
        return manifest
      })

    /** End a job: write what it answered, count what fired. */
    const finish = (job: Job, state: State) =>
      Effect.gen(function*() {
        const answered = state.terminal?.answered ?? 0
        const wrote = state.status === "Failed" || state.status === "Expired" || answered === 0
          ? Effect.succeed(undefined)
          : writeOutput(job, answered)
        const result = yield* Effect.result(wrote)
        if (Result.isFailure(result)) {
          job.final = {
            status: "Failed",
            at: state.since,
            message: `Could not write the output: ${ServiceError.describe(result.failure)}`,
            manifest: undefined
          }
          return
        }
        job.final = { status: state.status, at: state.since, message: state.message, manifest: result.success }
        if (job.imposed !== undefined && job.imposed === state.status) {
          counters.statusesImposed = {
            ...counters.statusesImposed,
            [job.imposed]: (counters.statusesImposed[job.imposed] ?? 0) + 1
          }
        }
        const total = job.loaded?._tag === "Valid" ? job.loaded.total : 0
        if (state.status === "Stopped" || state.status === "PartiallyCompleted" || state.status === "Expired") {
          counters.recordsUnanswered += total - answered
        }
      })

    const isLive = (job: Job, now: number) =>
      job.final === undefined && BatchInference.quotaStatuses.has(stateAt(job, now).status)

    /** Bring every job up to `now`. */
    const advanceTo = (now: number) =>
      Effect.gen(function*() {
        for (const job of jobs.values()) {
          if (job.final !== undefined) continue
          const s = scheduleOf(job)
          const stoppedEarly = job.stopRequestedAt !== undefined && job.stopRequestedAt < s.scheduledAt
          if (job.loaded === undefined && now >= s.scheduledAt && !stoppedEarly) job.loaded = yield* loadInput(job)
          const state = stateAt(job, now)
          if (state.terminal !== undefined) yield* finish(job, state)
        }
      })

    const advance = lock.withPermits(1)(Effect.flatMap(Clock.currentTimeMillis, advanceTo))

    /** Run an operation on the jobs as of now. */
    const atNow = <A>(f: (now: number) => A): Effect.Effect<A> =>
      lock.withPermits(1)(
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          yield* advanceTo(now)
          return f(now)
        })
      )

    const view = (job: Job, now: number): ModelJob => {
      const state = stateAt(job, now)
      const manifest = job.final?.manifest
      return {
        id: job.id,
        arn: job.arn,
        request: job.request,
        status: state.status,
        message: state.message,
        submitTime: job.submitTime,
        lastModifiedTime: state.since,
        endTime: job.final?.at,
        totalRecordCount: job.loaded?._tag === "Valid" ? job.loaded.total : 0,
        processedRecordCount: manifest?.processedRecordCount ?? state.processed,
        successRecordCount: manifest?.successRecordCount ?? 0,
        errorRecordCount: manifest?.errorRecordCount ?? 0
      }
    }

    const findJob = (identifier: string): Result.Result<Job, Refusal> => {
      const arnMatch = jobArnPattern.exec(identifier)
      if (arnMatch === null && !jobIdPattern.test(identifier)) {
        return Result.fail(refuse(
          "InvalidRequest",
          "ValidationException",
          `1 validation error detected: Value '${identifier}' at 'jobIdentifier' failed to satisfy constraint: ` +
            "Member must satisfy regular expression pattern: ((arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:" +
            "[0-9]{12}:model-invocation-job/)?[a-z0-9]{12})"
        ))
      }
      const id = arnMatch === null ? identifier : arnMatch[2]!
      const job = jobs.get(id)
      if (job === undefined || (arnMatch !== null && job.arn !== identifier)) {
        return Result.fail(
          refuse("NotFound", "ResourceNotFoundException", `The model invocation job ${identifier} was not found.`)
        )
      }
      return Result.succeed(job)
    }

    // --- operations ---------------------------------------------------------------------

    const count = (operation: string) =>
      Effect.sync(() => {
        counters.callsByOperation = {
          ...counters.callsByOperation,
          [operation]: (counters.callsByOperation[operation] ?? 0) + 1
        }
      })

    const throttle = (plane: "control" | "runtime") =>
      Effect.sync((): Refusal | undefined => {
        const rate = (plane === "runtime" ? faults.runtimeThrottleRate : faults.throttleRate) ?? 0
        if (rate > 0 && nextFaultRoll() < rate) {
          counters.throttled++
          return refuse("Throttled", "ThrottlingException", "Too many requests, please wait before trying again.")
        }
        return undefined
      })

    const create = (body: unknown) =>
      lock.withPermits(1)(Effect.gen(function*() {
        const validated = CreateRequest.validate(body)
        if (validated._tag === "Invalid") {
          return Result.fail(refuse("InvalidRequest", "ValidationException", validated.message))
        }
        const request = validated.request
        const notForEmbedding = embeddingRefusal(
          request.modelId,
          request.modelInvocationType,
          options.family,
          "batch"
        )
        if (notForEmbedding !== undefined) return Result.fail(notForEmbedding)
        const family = familyFor(request.modelId, request.modelInvocationType, options.family)
        if (family === undefined) {
          return Result.fail(
            refuse(
              "InvalidRequest",
              "ValidationException",
              `The provided model identifier ${request.modelId} is invalid.`
            )
          )
        }
        const now = yield* Clock.currentTimeMillis
        yield* advanceTo(now)
        if (request.clientRequestToken !== undefined) {
          const existing = jobsByToken.get(request.clientRequestToken)
          if (existing !== undefined) {
            counters.repeatedTokens++
            return Result.succeed(view(existing, now))
          }
        }
        if (jobsByName.has(request.jobName)) {
          return Result.fail(
            refuse(
              "Conflict",
              "ConflictException",
              `A model invocation job named ${request.jobName} already exists.`
            )
          )
        }
        const live = [...jobs.values()].filter((job) => isLive(job, now)).length
        if (live >= quotas.maxConcurrentJobs) {
          counters.createsRefused++
          return Result.fail(refuse(
            "QuotaExceeded",
            "ServiceQuotaExceededException",
            `The number of submitted and in-progress batch inference jobs has reached the quota of ` +
              `${quotas.maxConcurrentJobs}. Wait for a job to finish and try again.`
          ))
        }
        const id = newJobId()
        const job: Job = {
          id,
          arn: `arn:aws:bedrock:${region}:${accountId}:model-invocation-job/${id}`,
          request,
          family,
          imposed: imposedQueue.shift(),
          submitTime: now,
          stopRequestedAt: undefined,
          loaded: undefined,
          final: undefined
        }
        jobs.set(id, job)
        jobsByName.set(request.jobName, job)
        if (request.clientRequestToken !== undefined) jobsByToken.set(request.clientRequestToken, job)
        counters.jobsCreated++
        counters.peakConcurrentJobs = Math.max(counters.peakConcurrentJobs, live + 1)
        return Result.succeed(view(job, now))
      }))

    const get = (identifier: string) => atNow((now) => Result.map(findJob(identifier), (job) => view(job, now)))

    const stop = (identifier: string) =>
      atNow((now): Result.Result<void, Refusal> => {
        const found = findJob(identifier)
        if (Result.isFailure(found)) return Result.fail(found.failure)
        const job = found.success
        const state = stateAt(job, now)
        if (BatchInference.isTerminal(state.status)) {
          return Result.fail(
            refuse("Conflict", "ConflictException", `The job is ${state.status} and cannot be stopped.`)
          )
        }
        if (state.status !== "Stopping") job.stopRequestedAt = now
        return Result.void
      })

    const list = (query: ListQuery) =>
      atNow((now) =>
        [...jobs.values()]
          .map((job) => view(job, now))
          .filter((job) =>
            (query.nameContains === undefined || job.request.jobName.includes(query.nameContains)) &&
            (query.statusEquals === undefined || job.status === query.statusEquals) &&
            (query.submitTimeAfter === undefined || job.submitTime > query.submitTimeAfter) &&
            (query.submitTimeBefore === undefined || job.submitTime < query.submitTimeBefore)
          )
          .sort((a, b) => (query.ascending === true ? a.submitTime - b.submitTime : b.submitTime - a.submitTime))
      )

    const invoke: BedrockBatchModel["invoke"] = (modelId, invocationType, body) => {
      const notForEmbedding = embeddingRefusal(modelId, invocationType, options.family, "runtime")
      if (notForEmbedding !== undefined) return Result.fail(notForEmbedding)
      const family = familyFor(modelId, invocationType, options.family)
      if (family === undefined) {
        return Result.fail(
          refuse("InvalidRequest", "ValidationException", `The provided model identifier ${modelId} is invalid.`)
        )
      }
      const problem = RequestBodies.problemOf(family.name, body)
      if (problem !== undefined) {
        return Result.fail(refuse("InvalidRequest", "ValidationException", `Malformed input request: ${problem}`))
      }
      const answer = respond(family, body)
      if (Result.isFailure(answer)) {
        return Result.fail(
          refuse("InvalidRequest", "ValidationException", `Malformed input request: ${answer.failure}`)
        )
      }
      const read = family.readOutput(answer.success)
      return Result.succeed({
        response: answer.success,
        usage: Result.isSuccess(read) ? read.success.usage : undefined
      })
    }

    return {
      region,
      accountId,
      count,
      throttle,
      call: (operation, plane) => Effect.andThen(count(operation), throttle(plane)),
      create,
      get,
      stop,
      list,
      invoke,
      jobs: list({}),
      liveJobs: atNow((now) => [...jobs.values()].filter((job) => isLive(job, now)).length),
      advance,
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
        })
    } satisfies BedrockBatchModel
  })
