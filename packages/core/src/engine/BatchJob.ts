/**
 * One Bedrock batch job, end to end: stage the JSONL input in the object store, create the
 * job with a deterministic name and client request token, await it with a `Schedule`, then
 * read `<jobId>/<input>.out` and `manifest.json.out` and classify every input record as
 * succeeded, errored or missing.
 *
 * Details:
 * - Names and tokens derive from the run, the stage, the job label and a hash of the
 *   content, so a repeated create (after a crash, a timeout, a retry) never makes a second job.
 * - The KMS key encrypts the staged input (SSE-KMS) and goes inside `s3OutputDataConfig`
 *   for the output.
 * - A job slot (see `JobSlots`) is held from the create until the job is seen terminal.
 *   A create refused for quota waits for capacity and tries again with the same token.
 * - Polling: a first check right after the create, then backoff with jitter from
 *   `pollInitialSeconds` to `pollMaxSeconds`, until a deadline derived from the job timeout;
 *   past it the job is stopped and what it produced is kept.
 * - Outputs are matched by `recordId` (order is not guaranteed). A malformed line is an
 *   errored record, never a crash. The output of PartiallyCompleted and Stopped jobs is kept.
 * - Interrupting the job stops it remotely unless `stopJobsOnInterrupt` is false.
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Option, Result, Schedule, Stream } from "effect"
import { Buffer } from "node:buffer"
import { createHash } from "node:crypto"
import { retryTransient } from "../internal/retry.ts"
import type { BatchConfig } from "./BatchConfig.ts"
import {
  BatchInference,
  type CreateJobRequest,
  isTerminal,
  type JobDescription,
  jobIdFromArn,
  type JobStatus
} from "./BatchInference.ts"
import type { PackedRecord } from "./BatchRecord.ts"
import { JobSlots } from "./JobSlots.ts"
import type * as ModelFamily from "./ModelFamily.ts"
import * as ObjectStore from "./ObjectStore.ts"
import * as RunEvents from "./RunEvents.ts"
import * as RunLedger from "./RunLedger.ts"
import * as ServiceError from "./ServiceError.ts"

/** What to run: the records of one planned job. */
export interface JobSpec {
  readonly runId: string
  readonly stage: string
  /** Unique within the run and stage, e.g. `"7"` or `"7r2"` for a retry job. */
  readonly label: string
  /** 1 for a first try, more for retry jobs. */
  readonly attempt: number
  readonly records: ReadonlyArray<PackedRecord>
}

/** A record the job answered. */
export interface JobSuccess {
  readonly record: PackedRecord
  readonly modelOutput: unknown
  readonly output: ModelFamily.ModelOutput
}

/** A record the job did not answer. */
export interface JobFailure {
  readonly record: PackedRecord
  readonly kind: "errored" | "missing" | "rejected"
  readonly reason: string
  /** Whether sending it again may help. */
  readonly retryable: boolean
}

/** The outcome of one job. */
export interface JobResult {
  readonly jobName: string
  readonly jobArn: string | undefined
  readonly status: JobStatus | "NotCreated"
  readonly message: string | undefined
  readonly succeeded: ReadonlyArray<JobSuccess>
  readonly failed: ReadonlyArray<JobFailure>
  readonly inputTokens: number
  readonly outputTokens: number
}

/** Where a job's files live. */
export interface JobLocation {
  readonly bucket: string
  readonly inputKey: string
  readonly inputFileName: string
  readonly outputPrefix: string
}

const safe = (text: string, max: number) => text.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, max)

/** The root key of a run: `<keyPrefix>/batch-extract/<runId>/`. */
export const runPrefix = (config: BatchConfig, runId: string): string => {
  const prefix = config.keyPrefix === undefined || config.keyPrefix === ""
    ? ""
    : `${config.keyPrefix.replace(/\/+$/, "")}/`
  return `${prefix}batch-extract/${runId}/`
}

/** Where the files of a job go. */
export const locate = (config: BatchConfig, spec: Pick<JobSpec, "runId" | "stage" | "label">): JobLocation => {
  const root = `${runPrefix(config, spec.runId)}${spec.stage}/job-${spec.label}/`
  const inputFileName = `${spec.stage}-${spec.label}.jsonl`
  return {
    bucket: config.bucketName,
    inputKey: `${root}input/${inputFileName}`,
    inputFileName,
    outputPrefix: `${root}output/`
  }
}

/** The content hash of a job's input (SHA-256 over its lines). */
export const contentHash = (records: ReadonlyArray<PackedRecord>): string => {
  const hash = createHash("sha256")
  for (const record of records) hash.update(record.line).update("\n")
  return hash.digest("hex")
}

/**
 * The deterministic job name and client request token of a job. The name matches Bedrock's
 * pattern (letters, digits, hyphens; at most 63 characters); the token is a SHA-256 in hex.
 */
export const identity = (
  spec: Pick<JobSpec, "runId" | "stage" | "label">,
  hash: string
): { readonly jobName: string; readonly clientRequestToken: string } => {
  const token = createHash("sha256").update(`${spec.runId}\n${spec.stage}\n${spec.label}\n${hash}`).digest("hex")
  const jobName = `be-${safe(spec.stage, 12)}-${safe(spec.runId, 20)}-${safe(spec.label, 10)}-${token.slice(0, 10)}`
  return { jobName, clientRequestToken: token }
}

/** Bytes per piece of a staged body. */
const pieceBytes = 1_048_576

/**
 * The JSONL body of a job as a stream of bytes (lines grouped into ~1 MiB pieces). Each line
 * is encoded straight into a buffer sized from the records' `bytes` (UTF-8 size plus the line
 * break), so it is encoded once and never copied through a joined string. A record whose
 * `bytes` is wrong is caught (the buffer keeps 4 bytes of slack, so a longer line can never
 * fit exactly) and its piece is encoded the plain way.
 */
const jsonlBody = (records: ReadonlyArray<PackedRecord>): Stream.Stream<Uint8Array> =>
  Stream.suspend(() => {
    let index = 0
    return Stream.fromIterable({
      [Symbol.iterator]: () => ({
        next: (): IteratorResult<Uint8Array> => {
          if (index >= records.length) return { done: true, value: undefined }
          const start = index
          let size = 0
          while (index < records.length && size < pieceBytes) size += records[index++]!.bytes
          const piece = Buffer.allocUnsafe(size + 4)
          let offset = 0
          for (let i = start; i < index; i++) {
            const record = records[i]!
            const written = piece.write(record.line, offset, "utf8")
            if (written !== record.bytes - 1) {
              const lines = records.slice(start, index).map((r) => `${r.line}\n`).join("")
              return { done: false, value: Buffer.from(lines, "utf8") }
            }
            offset += written
            piece[offset++] = 0x0a
          }
          return { done: false, value: piece.subarray(0, offset) }
        }
      })
    })
  })

/** The create request of a job. */
export const createRequest = (
  config: BatchConfig,
  location: JobLocation,
  names: { readonly jobName: string; readonly clientRequestToken: string }
): CreateJobRequest => ({
  jobName: names.jobName,
  clientRequestToken: names.clientRequestToken,
  roleArn: config.roleArn,
  modelId: config.model.modelId,
  inputDataConfig: {
    s3InputDataConfig: {
      s3Uri: ObjectStore.toUri({ bucket: location.bucket, key: location.inputKey }),
      s3InputFormat: "JSONL",
      ...(config.s3BucketOwner !== undefined ? { s3BucketOwner: config.s3BucketOwner } : {})
    }
  },
  outputDataConfig: {
    s3OutputDataConfig: {
      s3Uri: ObjectStore.toUri({ bucket: location.bucket, key: location.outputPrefix }),
      ...(config.s3EncryptionKeyId !== undefined ? { s3EncryptionKeyId: config.s3EncryptionKeyId } : {}),
      ...(config.s3BucketOwner !== undefined ? { s3BucketOwner: config.s3BucketOwner } : {})
    }
  },
  ...(config.subnetIds !== undefined && config.securityGroupIds !== undefined
    ? { vpcConfig: { subnetIds: config.subnetIds, securityGroupIds: config.securityGroupIds } }
    : {}),
  timeoutDurationInHours: config.timeoutDurationInHours,
  ...(config.tags !== undefined
    ? { tags: Object.entries(config.tags).map(([key, value]) => ({ key, value })) }
    : {}),
  ...(config.model.invocationType === "Converse" ? { modelInvocationType: "Converse" as const } : {})
})

/** The polling schedule: backoff with jitter from the initial delay to the cap. */
export const pollSchedule = (config: BatchConfig, estimatedEnd?: () => number | undefined) =>
  Schedule.exponential(Duration.seconds(config.pollInitialSeconds), 1.5).pipe(
    Schedule.modifyDelay(({ duration }) =>
      Effect.succeed(Duration.min(duration, Duration.seconds(config.pollMaxSeconds)))
    ),
    Schedule.jittered,
    // A job that reports its progress is checked again soon after it should end, rather than
    // up to a whole (growing) interval later.
    Schedule.modifyDelay(({ duration }) =>
      Effect.sync(() => {
        const eta = estimatedEnd?.()
        if (eta === undefined) return duration
        const soon = Duration.millis(Math.max(config.pollInitialSeconds * 1000, eta))
        return Duration.min(duration, soon)
      })
    )
  )

/**
 * The time left (milliseconds) until a job in progress should end, from the progress seen
 * between two checks; `undefined` when there is nothing to go on.
 */
export const estimateRemaining = (
  first: { readonly at: number; readonly processed: number },
  now: number,
  processed: number,
  total: number
): number | undefined => {
  if (total <= 0 || processed <= first.processed || now <= first.at) return undefined
  const perMilli = (processed - first.processed) / (now - first.at)
  return Math.max(0, (total - processed) / perMilli)
}

/**
 * How long a run waits for one job before stopping it: the job's own timeout plus the same
 * again for queueing (the service's timeout starts when the job starts running).
 */
export const awaitDeadline = (config: BatchConfig): Duration.Duration =>
  Duration.hours(config.timeoutDurationInHours * 2)

/**
 * How a refused create (quota) waits for capacity: from twice the first poll delay, growing
 * to the poll cap (30 s to 5 min with the defaults), jittered, without end — capacity frees
 * up as jobs finish.
 */
export const quotaWaitSchedule = (config: BatchConfig) =>
  Schedule.exponential(Duration.seconds(config.pollInitialSeconds * 2), 1.5).pipe(
    Schedule.modifyDelay(({ duration }) =>
      Effect.succeed(
        Duration.min(duration, Duration.seconds(Math.max(config.pollMaxSeconds, config.pollInitialSeconds * 2)))
      )
    ),
    Schedule.jittered
  )

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** What the classification of a job's output found. */
export interface Classified {
  succeeded: Array<JobSuccess>
  failed: Array<JobFailure>
  /** Lines that could not be attributed to a record of the job. */
  unattributed: number
}

/**
 * An incremental classifier: feed the output lines as they are read (`push`), then take the
 * result once (`finish`). Reading and classifying together keeps only the answers in memory,
 * never the whole output file.
 */
const makeClassifier = (family: ModelFamily.ModelFamily, records: ReadonlyArray<PackedRecord>) => {
  const byId = new Map<string, PackedRecord>()
  for (const record of records) byId.set(record.recordId, record)
  const answered = new Map<string, JobSuccess | JobFailure>()
  let unattributed = 0

  const push = (raw: string): void => {
    const line = raw.trim()
    if (line === "") return
    let parsed: unknown
    try {
      parsed = JSON.parse(line)
    } catch {
      // A malformed line: attribute it when its record id can still be read.
      const id = /"recordId"\s*:\s*"([^"\\]*)"/.exec(line)?.[1]
      const record = id === undefined ? undefined : byId.get(id)
      if (record !== undefined && !answered.has(record.recordId)) {
        answered.set(record.recordId, { record, kind: "errored", reason: "malformed output line", retryable: true })
      } else {
        unattributed++
      }
      return
    }
    const id = isRecord(parsed) && typeof parsed.recordId === "string" ? parsed.recordId : undefined
    const record = id === undefined ? undefined : byId.get(id)
    if (record === undefined || !isRecord(parsed)) {
      unattributed++
      return
    }
    if (answered.has(record.recordId)) return
    if (isRecord(parsed.error)) {
      const code = parsed.error.errorCode
      const message = typeof parsed.error.errorMessage === "string" ? parsed.error.errorMessage : "no message"
      answered.set(record.recordId, {
        record,
        kind: "errored",
        reason: `model error${code === undefined ? "" : ` ${String(code)}`}: ${message}`,
        retryable: true
      })
      return
    }
    if (parsed.modelOutput === undefined) {
      answered.set(record.recordId, {
        record,
        kind: "errored",
        reason: "output line has no modelOutput",
        retryable: true
      })
      return
    }
    const output = family.readOutput(parsed.modelOutput)
    answered.set(
      record.recordId,
      Result.isSuccess(output)
        ? { record, modelOutput: parsed.modelOutput, output: output.success }
        : { record, kind: "errored", reason: `unreadable model output: ${output.failure}`, retryable: true }
    )
  }

  const finish = (): Classified => {
    const succeeded: Array<JobSuccess> = []
    const failed: Array<JobFailure> = []
    for (const record of records) {
      const entry = answered.get(record.recordId)
      if (entry === undefined) {
        failed.push({ record, kind: "missing", reason: "no output line for this record", retryable: true })
      } else if ("output" in entry) {
        succeeded.push(entry)
      } else {
        failed.push(entry)
      }
    }
    return { succeeded, failed, unattributed }
  }

  return { push, finish }
}

/** Classify the lines of an output file against the job's records. */
export const classifyOutput = (
  family: ModelFamily.ModelFamily,
  records: ReadonlyArray<PackedRecord>,
  lines: Iterable<string>
): Classified => {
  const classifier = makeClassifier(family, records)
  for (const line of lines) classifier.push(line)
  return classifier.finish()
}

/**
 * Read a job's output file and classify every record against it. The lines are classified as
 * they are read, so the file is never held whole (each call starts afresh: safe to retry).
 * Fails with `NotFound` when there is no output file.
 */
export const classifyOutputFile = (
  family: ModelFamily.ModelFamily,
  records: ReadonlyArray<PackedRecord>,
  ref: ObjectStore.ObjectRef
): Effect.Effect<Classified, ServiceError.ServiceError, ObjectStore.ObjectStore> =>
  Effect.suspend(() => {
    const classifier = makeClassifier(family, records)
    return ObjectStore.getLines(ref).pipe(
      Stream.runForEachArray((lines) =>
        Effect.sync(() => {
          for (const line of lines) classifier.push(line)
        })
      ),
      Effect.map(() => classifier.finish())
    )
  })

/** Token totals from `manifest.json.out`, read defensively. */
export const readManifest = (text: string): Option.Option<{ inputTokens: number; outputTokens: number }> => {
  try {
    const parsed: unknown = JSON.parse(text)
    if (!isRecord(parsed)) return Option.none()
    const n = (u: unknown) => (typeof u === "number" && Number.isFinite(u) ? u : 0)
    return Option.some({ inputTokens: n(parsed.inputTokenCount), outputTokens: n(parsed.outputTokenCount) })
  } catch {
    return Option.none()
  }
}

const describeStatus = (status: JobStatus, message: string | undefined) =>
  message === undefined || message === "" ? `job ended ${status}` : `job ended ${status}: ${message}`

/**
 * Run one job to its end and classify every record. Never fails for a job-level problem:
 * a job that cannot be created or that fails reports its records as failed with the reason
 * (retryable or not), so one job never aborts the others.
 */
export const run = Effect.fn("BatchJob.run")(function*(
  config: BatchConfig,
  family: ModelFamily.ModelFamily,
  spec: JobSpec,
  resume?: RunLedger.JobState
) {
  const store = yield* ObjectStore.ObjectStore
  const slots = yield* JobSlots
  const location = locate(config, spec)
  const hash = contentHash(spec.records)
  const names = resume === undefined
    ? identity(spec, hash)
    : { jobName: resume.jobName, clientRequestToken: resume.clientRequestToken }
  const inputRef = { bucket: location.bucket, key: location.inputKey }
  const bytes = spec.records.reduce((n, r) => n + r.bytes, 0)

  yield* RunEvents.publish({
    _tag: "JobPlanned",
    stage: spec.stage,
    jobName: names.jobName,
    records: spec.records.length,
    bytes,
    attempt: spec.attempt
  })

  const notCreated = (reason: string, retryable: boolean): JobResult => ({
    jobName: names.jobName,
    jobArn: undefined,
    status: "NotCreated",
    message: reason,
    succeeded: [],
    failed: spec.records.map((record) => ({ record, kind: "rejected", reason, retryable })),
    inputTokens: 0,
    outputTokens: 0
  })

  // 1. Stage the input (the same content under the same key: repeating it is harmless),
  //    then record the intent to create the job before creating it.
  if (resume === undefined) {
    const staged = yield* retryTransient(
      store.put(inputRef, jsonlBody(spec.records), {
        contentType: "application/jsonl",
        kmsKeyId: config.s3EncryptionKeyId
      })
    ).pipe(Effect.result)
    if (Result.isFailure(staged)) {
      const result = notCreated(`could not stage the input file: ${ServiceError.describe(staged.failure)}`, true)
      yield* publishFinished(spec, result)
      return result
    }
    yield* RunLedger.append(spec.runId, [{
      _tag: "JobIntent",
      stage: spec.stage,
      label: spec.label,
      attempt: spec.attempt,
      jobName: names.jobName,
      clientRequestToken: names.clientRequestToken,
      bucket: location.bucket,
      inputKey: location.inputKey,
      contentHash: hash,
      recordIds: spec.records.map((r) => r.recordId)
    }])
  }

  // 2-3. Create (or find again) and await, holding a job slot until the job is terminal.
  const request = createRequest(config, location, names)
  const awaited = yield* slots.withSlot(createAndAwait(config, spec, names.jobName, request, resume)).pipe(
    Effect.result
  )
  if (Result.isFailure(awaited)) {
    const error = awaited.failure
    if (error._tag === "LedgerError") return yield* error
    const result = notCreated(`could not create the job: ${ServiceError.describe(error)}`, error.retryable)
    yield* publishFinished(spec, result)
    return result
  }
  const { description, jobArn } = awaited.success

  // 4. Read what the job wrote, whatever its final status.
  const jobId = jobIdFromArn(jobArn)
  const outputRef = { bucket: location.bucket, key: `${location.outputPrefix}${jobId}/${location.inputFileName}.out` }
  const manifestRef = { bucket: location.bucket, key: `${location.outputPrefix}${jobId}/manifest.json.out` }
  // No output file, or one that cannot be read: every record is missing.
  const classified = yield* retryTransient(
    classifyOutputFile(family, spec.records, outputRef).pipe(
      Effect.catchTag("NotFound", () => Effect.succeed(classifyOutput(family, spec.records, [])))
    )
  ).pipe(Effect.catch((error) =>
    Effect.as(
      Effect.logWarning(`could not read the output of ${names.jobName}: ${ServiceError.describe(error)}`),
      classifyOutput(family, spec.records, [])
    )
  ))
  const manifest = yield* retryTransient(ObjectStore.getStringOption(manifestRef)).pipe(
    Effect.map(Option.flatMap(readManifest)),
    Effect.orElseSucceed(() => Option.none<{ inputTokens: number; outputTokens: number }>())
  )
  const usage = Option.getOrElse(manifest, () =>
    classified.succeeded.reduce(
      (sum, s) => ({
        inputTokens: sum.inputTokens + s.output.usage.inputTokens,
        outputTokens: sum.outputTokens + s.output.usage.outputTokens
      }),
      { inputTokens: 0, outputTokens: 0 }
    ))

  const status = description.status
  const jobLevelReason = status === "Completed" ? undefined : describeStatus(status, description.message)
  const failed = classified.failed.map((failure) =>
    failure.kind === "missing" && jobLevelReason !== undefined ? { ...failure, reason: jobLevelReason } : failure
  )
  const result: JobResult = {
    jobName: names.jobName,
    jobArn,
    status,
    message: description.message,
    succeeded: classified.succeeded,
    failed,
    inputTokens: usage.inputTokens,
    outputTokens: usage.outputTokens
  }

  yield* publishFinished(spec, result)
  return result
})

/**
 * Delete a completed job's staged input and outputs (when `deleteOnSuccess` is set). Call it
 * after the outcomes are safely recorded: a resumed run may still need the files until then.
 */
export const cleanup = (config: BatchConfig, spec: Pick<JobSpec, "runId" | "stage" | "label">, result: JobResult) =>
  Effect.gen(function*() {
    if (!config.deleteOnSuccess || result.status !== "Completed" || result.jobArn === undefined) return
    const store = yield* ObjectStore.ObjectStore
    const location = locate(config, spec)
    const folder = `${location.outputPrefix}${jobIdFromArn(result.jobArn)}/`
    yield* retryTransient(
      Effect.gen(function*() {
        const outputs = yield* Stream.runCollect(store.list(location.bucket, folder))
        yield* store.deleteMany(location.bucket, [location.inputKey, ...outputs.map((o) => o.key)])
      })
    ).pipe(
      Effect.catch((error) =>
        Effect.logWarning(`could not delete the files of ${result.jobName}: ${ServiceError.describe(error)}`)
      )
    )
  })

const publishFinished = (spec: JobSpec, result: JobResult) =>
  RunEvents.publish({
    _tag: "JobFinished",
    stage: spec.stage,
    jobName: result.jobName,
    jobArn: result.jobArn,
    status: result.status,
    message: result.message,
    succeeded: result.succeeded.length,
    errored: result.failed.filter((f) => f.kind !== "missing").length,
    missing: result.failed.filter((f) => f.kind === "missing").length,
    inputTokens: result.inputTokens,
    outputTokens: result.outputTokens
  })

/** Create the job (waiting out quota refusals) and await a terminal status. */
const createAndAwait = (
  config: BatchConfig,
  spec: JobSpec,
  jobName: string,
  request: CreateJobRequest,
  resume: RunLedger.JobState | undefined
) =>
  Effect.gen(function*() {
    const batch = yield* BatchInference
    const create = batch.createJob(request).pipe(
      Effect.tapError((error) =>
        error._tag === "QuotaExceeded"
          ? RunEvents.publish({ _tag: "JobCreateDeferred", stage: spec.stage, jobName, reason: error.message })
          : Effect.void
      ),
      // Quota refusals wait for capacity (without end); transient errors back off.
      Effect.retry({ schedule: quotaWaitSchedule(config), while: (error) => error._tag === "QuotaExceeded" }),
      (effect) => retryTransient(effect)
    )
    // A resumed job is re-attached by its ARN, or found by name when the ARN was never recorded.
    const recorded = resume?.jobArn === undefined
      ? undefined
      : yield* retryTransient(batch.getJob(resume.jobArn)).pipe(
        Effect.map((job) => job.jobArn),
        // The service no longer knows the job (e.g. a fresh local emulator): create it again.
        Effect.catchTag("NotFound", () => Effect.succeed(undefined))
      )
    const known = recorded ?? (resume === undefined ? undefined : yield* findByName(jobName))
    const { jobArn } = known !== undefined ? { jobArn: known } : yield* create.pipe(
      Effect.onInterrupt(() => config.stopJobsOnInterrupt ? stopByName(jobName) : Effect.void)
    )
    if (recorded === undefined || recorded !== resume?.jobArn) {
      yield* RunLedger.append(spec.runId, [{ _tag: "JobCreated", stage: spec.stage, jobName, jobArn }])
    }
    yield* RunEvents.publish({ _tag: "JobSubmitted", stage: spec.stage, jobName, jobArn })
    const description = yield* awaitTerminal(config, spec, jobName, jobArn).pipe(
      Effect.onInterrupt(() => config.stopJobsOnInterrupt ? stopQuietly(jobArn) : Effect.void)
    )
    return { jobArn, description }
  })

/** The ARN of the job with exactly this name, if the service has one. */
const findByName = (jobName: string) =>
  BatchInference.use((batch) =>
    retryTransient(
      batch.listJobs({ nameContains: jobName }).pipe(
        Stream.filter((job) => job.jobName === jobName),
        Stream.runHead
      )
    )
  ).pipe(Effect.map((found) => (found._tag === "Some" ? found.value.jobArn : undefined)))

const stopQuietly = (jobArn: string) =>
  BatchInference.use((batch) => retryTransient(batch.stopJob(jobArn), 3)).pipe(Effect.ignore)

/** Stop a job known only by name (interrupted while its create was in flight). */
const stopByName = (jobName: string) =>
  BatchInference.use((batch) =>
    batch.listJobs({ nameContains: jobName }).pipe(
      Stream.filter((job) => job.jobName === jobName && !isTerminal(job.status)),
      Stream.runForEach((job) => batch.stopJob(job.jobArn))
    )
  ).pipe(Effect.ignore)

/** Poll a job until it is terminal; past the deadline, stop it and await the stop. */
const awaitTerminal = (config: BatchConfig, spec: JobSpec, jobName: string, jobArn: string) =>
  Effect.gen(function*() {
    const batch = yield* BatchInference
    let last: JobStatus | undefined
    // Progress seen while the job runs: when it was first seen, and the estimated end.
    let progressFrom: { at: number; processed: number } | undefined
    let remaining: { at: number; millis: number } | undefined
    const trackProgress = (description: JobDescription) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const processed = description.processedRecordCount
        const total = description.totalRecordCount ?? 0
        if (description.status !== "InProgress" || processed === undefined || total <= 0) {
          remaining = undefined
          return Effect.void
        }
        if (progressFrom === undefined) progressFrom = { at: now, processed }
        const millis = estimateRemaining(progressFrom, now, processed, total)
        remaining = millis === undefined ? undefined : { at: now, millis }
        return RunEvents.publish({
          _tag: "JobProgress",
          stage: spec.stage,
          jobName,
          jobArn,
          processed,
          total,
          remainingMillis: millis,
          at: now
        })
      })
    const check = retryTransient(batch.getJob(jobArn)).pipe(
      Effect.tap(trackProgress),
      Effect.tap((description) => {
        if (description.status === last) return Effect.void
        const from = last
        last = description.status
        return Effect.flatMap(Clock.currentTimeMillis, (at) =>
          RunLedger.append(spec.runId, [{ _tag: "JobStatus", stage: spec.stage, jobName, status: description.status }])
            .pipe(
              Effect.ignore,
              Effect.andThen(RunEvents.publish({
                _tag: "JobStatusChanged",
                stage: spec.stage,
                jobName,
                jobArn,
                from,
                to: description.status,
                at
              }))
            ))
      })
    )
    const polled = yield* Effect.repeat(check, {
      schedule: pollSchedule(config, () =>
        remaining?.millis),
      until: (description) =>
        isTerminal(description.status)
    }).pipe(Effect.timeoutOption(awaitDeadline(config)))
    if (Option.isSome(polled) && isTerminal(polled.value.status)) {
      return polled.value
    }
    // Past the deadline: stop the job and keep whatever it produced.
    yield* Effect.logWarning(`${jobName} did not finish within ${Duration.format(awaitDeadline(config))}; stopping it`)
    yield* retryTransient(batch.stopJob(jobArn)).pipe(Effect.catchTag("Conflict", () => Effect.void))
    return yield* Effect.repeat(check, {
      schedule: Schedule.spaced(Duration.seconds(config.pollInitialSeconds)),
      until: (description) => isTerminal(description.status)
    })
  })
