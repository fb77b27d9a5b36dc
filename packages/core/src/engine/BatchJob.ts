/**
 * One Bedrock batch job, end to end: stage the JSONL input in the object store, create the
 * job with a deterministic name and client request token, await it, then classify every
 * input record as succeeded, errored or missing from what the job wrote.
 *
 * The parts, one module each under `./job/` and re-exported here:
 * - `JobLayout`: keys of the input and output files, the job's name and request token;
 * - `JobRequest`: the staged JSONL body and the create request;
 * - `JobPolling`: polling to a terminal status with an estimate of the end, the deadline,
 *   waiting out quota refusals;
 * - `JobOutput`: classifying the output file, reading the manifest;
 * - `JobCleanup`: deleting a completed job's files;
 * - `JobControl`: finding and stopping a job by name.
 * This module is the lifecycle that ties them together ({@link run}).
 *
 * Details:
 * - A repeated create (after a crash, a timeout, a retry) never makes a second job: the name
 *   and token derive from the run, the stage, the label and the content.
 * - The intent to create is recorded in the run state before the create, the ARN after it.
 * - A job slot (see `JobSlots`) is held from the create until the job is seen terminal.
 *   A create refused for quota waits for capacity and tries again with the same token.
 * - The output of PartiallyCompleted and Stopped jobs is kept.
 * - Interrupting the job stops it remotely unless `stopJobsOnInterrupt` is false.
 *
 * @since 0.1.0
 */
import { Effect, Option, Result, Schema } from "effect"
import type { BatchConfig } from "./BatchConfig.ts"
import { BatchInference, type CreateJobRequest, type JobStatus } from "./BatchInference.ts"
import type { PackedRecord } from "./BatchRecord.ts"
import { findByName, stopByName, stopQuietly } from "./job/JobControl.ts"
import { contentHash, identity, type JobAddress, locate, manifestFile, outputFile } from "./job/JobLayout.ts"
import { classifyOutput, classifyOutputFile, type JobFailure, type JobSuccess, readManifest } from "./job/JobOutput.ts"
import { awaitTerminal, quotaWaitSchedule } from "./job/JobPolling.ts"
import { createRequest, inputBody } from "./job/JobRequest.ts"
import { JobSlots } from "./JobSlots.ts"
import type * as ModelFamily from "./ModelFamily.ts"
import * as ObjectStore from "./ObjectStore.ts"
import * as RunEvents from "./RunEvents.ts"
import * as RunState from "./RunState.ts"
import { retryTransient } from "./ServiceError.ts"
import * as ServiceError from "./ServiceError.ts"

export { cleanup } from "./job/JobCleanup.ts"
export { findByName, stopByName } from "./job/JobControl.ts"
export {
  contentHash,
  identity,
  type JobAddress,
  type JobIdentity,
  type JobLocation,
  locate,
  manifestFile,
  outputFile,
  outputFolder,
  runPrefix
} from "./job/JobLayout.ts"
export {
  type Classified,
  classifyOutput,
  classifyOutputFile,
  type JobFailure,
  type JobSuccess,
  readManifest
} from "./job/JobOutput.ts"
export { awaitDeadline, estimateRemaining, pollSchedule, quotaWaitSchedule } from "./job/JobPolling.ts"
export { createRequest } from "./job/JobRequest.ts"

/** What to run: the records of one planned job. */
export interface JobSpec extends JobAddress {
  /** 1 for a first try, more for retry jobs. */
  readonly attempt: number
  readonly records: ReadonlyArray<PackedRecord>
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

/**
 * What settling a job's result kept back: the records that go again (the others' outcomes are
 * recorded), grouped by reason. Small, so a durable run keeps it as the result of the step
 * that read the job's output.
 */
export interface Settled {
  readonly status: JobStatus | "NotCreated"
  readonly message: string | undefined
  readonly inputTokens: number
  readonly outputTokens: number
  readonly again: ReadonlyArray<{ readonly reason: string; readonly recordIds: ReadonlyArray<string> }>
}

/** Record what a job answered; returns the records that go again (see `BatchRunner`). */
export type Settle = (
  result: JobResult
) => Effect.Effect<ReadonlyArray<{ readonly recordId: string; readonly reason: string }>, RunState.StateError>

const describeStatus = (status: JobStatus, message: string | undefined) =>
  message === undefined || message === "" ? `job ended ${status}` : `job ended ${status}: ${message}`

/** A step's result, kept as it is by the workflow engine (plain JSON data). */
const json = <A>() => Schema.Unknown as unknown as Schema.Codec<A, unknown>

type Awaited =
  | { readonly _tag: "Ended"; readonly status: JobStatus; readonly message?: string | undefined }
  | { readonly _tag: "Refused"; readonly reason: string; readonly retryable: boolean }

type Created =
  | { readonly _tag: "Created"; readonly jobArn: string }
  | { readonly _tag: "Refused"; readonly reason: string; readonly retryable: boolean }

const group = (again: ReadonlyArray<{ readonly recordId: string; readonly reason: string }>): Settled["again"] => {
  const byReason = new Map<string, Array<string>>()
  for (const { reason, recordId } of again) {
    const ids = byReason.get(reason)
    if (ids === undefined) byReason.set(reason, [recordId])
    else ids.push(recordId)
  }
  return [...byReason].map(([reason, recordIds]) => ({ reason, recordIds }))
}

/**
 * Run one job to its end, classify every record and settle them (`settle` records the
 * outcomes). Never fails for a job-level problem: a job that cannot be created or that fails
 * reports its records as failed with the reason (retryable or not), so one job never aborts
 * the others.
 *
 * Each step with effects outside is a step of the run state (an activity of a durable run):
 * `stage/<job>` (stage the input, record the intent), `create/<job>` (create or find again),
 * `await/<job>` (poll to a terminal status), `output/<job>` (read the output and settle it).
 */
export const run = Effect.fn("BatchJob.run")(function*(
  config: BatchConfig,
  family: ModelFamily.ModelFamily,
  spec: JobSpec,
  resume: RunState.JobState | undefined,
  settle: Settle
) {
  const store = yield* ObjectStore.ObjectStore
  const slots = yield* JobSlots
  const state = yield* RunState.RunState
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

  /** Settle a result in the `output` step; a replayed step gives back what was recorded. */
  const settled = <E, R>(read: Effect.Effect<JobResult, E, R>, jobArn?: string) =>
    Effect.gen(function*() {
      let live: JobResult | undefined
      const kept = yield* state.step(
        `output/${names.jobName}`,
        json<Settled>(),
        Effect.gen(function*() {
          const result = yield* read
          live = result
          const again = yield* settle(result)
          return {
            status: result.status,
            message: result.message,
            inputTokens: result.inputTokens,
            outputTokens: result.outputTokens,
            again: group(again)
          } satisfies Settled
        })
      )
      if (live !== undefined) return live
      return yield* replayed(kept, jobArn)
    })

  /** The result of a job whose output step was already done: its outcomes from the state. */
  const replayed = (kept: Settled, jobArn: string | undefined) =>
    Effect.gen(function*() {
      const reasons = new Map<string, string>()
      for (const { reason, recordIds } of kept.again) for (const id of recordIds) reasons.set(id, reason)
      const stored = yield* state.outcomes(spec.runId, spec.stage, spec.records.map((r) => r.recordId))
      const succeeded: Array<JobSuccess> = []
      const failed: Array<JobFailure> = []
      for (const record of spec.records) {
        const again = reasons.get(record.recordId)
        const outcome = stored.get(record.recordId)
        if (again !== undefined) failed.push({ record, kind: "errored", reason: again, retryable: true })
        else if (outcome?._tag === "Succeeded") {
          succeeded.push({ record, modelOutput: undefined, output: outcome.output })
        } else {
          const reason = outcome?._tag === "Failed" ? outcome.reason : "no outcome was recorded"
          failed.push({ record, kind: "errored", reason, retryable: false })
        }
      }
      const result: JobResult = {
        jobName: names.jobName,
        jobArn,
        status: kept.status,
        message: kept.message,
        succeeded,
        failed,
        inputTokens: kept.inputTokens,
        outputTokens: kept.outputTokens
      }
      return result
    })

  // 1. Stage the input (the same content under the same key: repeating it is harmless),
  //    then record the intent to create the job before creating it.
  if (resume === undefined) {
    const staging = yield* state.step(
      `stage/${names.jobName}`,
      json<{ readonly error?: string | undefined }>(),
      Effect.gen(function*() {
        const staged = yield* retryTransient(
          store.put(inputRef, inputBody(spec.records), {
            contentType: "application/jsonl",
            kmsKeyId: config.s3EncryptionKeyId
          })
        ).pipe(Effect.result)
        if (Result.isFailure(staged)) return { error: ServiceError.describe(staged.failure) }
        yield* state.jobIntent(spec.runId, {
          stage: spec.stage,
          label: spec.label,
          attempt: spec.attempt,
          jobName: names.jobName,
          clientRequestToken: names.clientRequestToken,
          bucket: location.bucket,
          inputKey: location.inputKey,
          contentHash: hash,
          recordIds: spec.records.map((r) => r.recordId)
        })
        return {}
      })
    )
    if (staging.error !== undefined) {
      const result = notCreated(`could not stage the input file: ${staging.error}`, true)
      yield* publishFinished(spec, result)
      return yield* settled(Effect.succeed(result))
    }
  }

  // 2-3. Create (or find again) and await, holding a job slot until the job is terminal.
  const request = createRequest(config, location, names)
  const claim = {
    runId: spec.runId,
    jobName: names.jobName,
    model: config.model.modelId,
    limit: config.maxConcurrentJobs
  }
  const awaited = yield* slots.withSlot(
    claim,
    Effect.gen(function*() {
      const created = yield* state.step(
        `create/${names.jobName}`,
        json<Created>(),
        create(config, spec, names.jobName, request, resume).pipe(
          Effect.map((jobArn): Created => ({ _tag: "Created", jobArn })),
          Effect.catch((error) =>
            Effect.succeed<Created>({
              _tag: "Refused",
              reason: ServiceError.describe(error),
              retryable: error.retryable
            })
          )
        )
      )
      if (created._tag === "Refused") return created
      const { jobArn } = created
      yield* RunEvents.publish({ _tag: "JobSubmitted", stage: spec.stage, jobName: names.jobName, jobArn })
      const awaited = yield* state.step(
        `await/${names.jobName}`,
        json<Awaited>(),
        awaitTerminal(config, spec, names.jobName, jobArn).pipe(
          Effect.map(({ message, status }): Awaited => ({ _tag: "Ended", status, message })),
          Effect.catch((error) =>
            Effect.succeed<Awaited>({
              _tag: "Refused",
              reason: `could not follow ${jobArn}: ${ServiceError.describe(error)}`,
              retryable: error.retryable
            })
          ),
          Effect.onInterrupt(() => config.stopJobsOnInterrupt ? stopQuietly(jobArn) : Effect.void)
        )
      )
      if (awaited._tag === "Refused") return awaited
      return { _tag: "Ended", jobArn, description: awaited } as const
    })
  )
  if (awaited._tag === "Refused") {
    const result = notCreated(
      awaited.reason.startsWith("could not follow") ? awaited.reason : `could not create the job: ${awaited.reason}`,
      awaited.retryable
    )
    yield* publishFinished(spec, result)
    return yield* settled(Effect.succeed(result))
  }
  const { description, jobArn } = awaited

  // 4. Read what the job wrote, whatever its final status.
  return yield* settled(
    Effect.gen(function*() {
      const outputRef = outputFile(location, jobArn)
      const manifestRef = manifestFile(location, jobArn)
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
    }),
    jobArn
  )
})

/** The job's `JobFinished` event: its status and what it answered. */
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

/**
 * Create the job, waiting out quota refusals; a resumed job is found again (by its ARN, or by
 * name when the ARN was never recorded) instead. Records the ARN.
 */
const create = (
  config: BatchConfig,
  spec: JobSpec,
  jobName: string,
  request: CreateJobRequest,
  resume: RunState.JobState | undefined
) =>
  Effect.gen(function*() {
    const batch = yield* BatchInference
    const state = yield* RunState.RunState
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
      yield* state.jobCreated(spec.runId, jobName, jobArn).pipe(Effect.orDie)
    }
    return jobArn
  })
