/**
 * A simulated Bedrock batch service for tests. It runs on Effect's `Clock`, so `TestClock`
 * drives it: jobs pass through the real status sequence (Submitted → Validating → Scheduled →
 * InProgress → a terminal status) with configurable timings, read their input from the
 * `ObjectStore`, and write the real output layout (`<jobId>/<input>.out` and
 * `manifest.json.out`) when they end. It enforces the concurrent-job quota, validates
 * creates as the service does, honours client request tokens, and injects faults on request.
 *
 * When to use: engine and pipeline tests, and tests of your own pipelines
 * (`@batch-extract/core/testing`). The state advances lazily, when the service is called —
 * as a client would observe it.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Layer, Random, Ref, Result, Stream } from "effect"
import {
  BatchInference,
  type CreateJobRequest,
  type JobDescription,
  jobIdFromArn,
  type JobStatus,
  patterns,
  quotaStatuses
} from "../engine/BatchInference.ts"
import * as ModelFamily from "../engine/ModelFamily.ts"
import * as ObjectStore from "../engine/ObjectStore.ts"
import * as ServiceError from "../engine/ServiceError.ts"
import * as OfflineModel from "./OfflineModel.ts"

/** Durations of the job lifecycle, in seconds of the `Clock`. */
export interface Timings {
  readonly submittedSeconds: number
  readonly validatingSeconds: number
  readonly scheduledSeconds: number
  readonly secondsPerRecord: number
  readonly minRunSeconds: number
  readonly stoppingSeconds: number
}

/** Default timings: about 3 minutes of queueing, then 0.1 s per record (at least a minute). */
export const defaultTimings: Timings = {
  submittedSeconds: 5,
  validatingSeconds: 60,
  scheduledSeconds: 120,
  secondsPerRecord: 0.1,
  minRunSeconds: 60,
  stoppingSeconds: 30
}

/** A final status to impose on a job instead of `Completed`. */
export type ImposedStatus = "Completed" | "PartiallyCompleted" | "Failed" | "Stopped" | "Expired"

/** Options of the simulation. */
export interface Options {
  readonly timings?: Partial<Timings> | undefined
  /** The account quota of live jobs (submitted, validating, scheduled, in progress). */
  readonly maxConcurrentJobs?: number | undefined
  readonly minRecordsPerJob?: number | undefined
  readonly maxRecordsPerJob?: number | undefined
  readonly maxInputFileBytes?: number | undefined
  /** Final statuses imposed on successive jobs (the first job gets the first, …); then Completed. */
  readonly jobStatuses?: ReadonlyArray<ImposedStatus> | undefined
  /** Fraction of control-plane calls answered with ThrottlingException. */
  readonly throttleRate?: number | undefined
  /** Fraction of records answered with an error line. */
  readonly recordErrorRate?: number | undefined
  /** Fraction of records with no output line. */
  readonly recordMissingRate?: number | undefined
  /** Fraction of records with a malformed (non-JSON) output line. */
  readonly malformedRate?: number | undefined
  /** Fraction of records whose answer is cut off at the token limit. */
  readonly truncatedRate?: number | undefined
  /** Seed of the per-record fault rolls. */
  readonly seed?: number | undefined
  /** The model family (needed for application-inference-profile ARNs). */
  readonly family?: ModelFamily.FamilyName | undefined
  /** Replace the offline model's answers. */
  readonly respond?: ((family: ModelFamily.ModelFamily, body: unknown) => Result.Result<unknown, string>) | undefined
}

/** Counters the simulation keeps, for assertions. */
export interface Counters {
  readonly jobsCreated: number
  readonly createsRefused: number
  readonly repeatedTokens: number
  readonly throttled: number
  readonly callsByOperation: Readonly<Record<string, number>>
  /** The most live (quota-counted) jobs seen at once. */
  readonly peakLiveJobs: number
}

interface SimJob {
  readonly arn: string
  readonly request: CreateJobRequest
  readonly createdAt: number
  readonly imposed: ImposedStatus
  records: number
  validationError: string | undefined
  stopRequestedAt: number | undefined
  final: { status: JobStatus; at: number; message: string | undefined } | undefined
}

/** The simulation plus inspection helpers. */
export interface SimulatedBatchInference {
  readonly service: BatchInference["Service"]
  readonly counters: Effect.Effect<Counters>
  /** Every job created so far, with its current status. */
  readonly jobs: Effect.Effect<ReadonlyArray<JobDescription>>
  /** Live (quota-counted) jobs right now. */
  readonly liveJobs: Effect.Effect<number>
}

const { clientRequestToken: tokenPattern, jobName: jobNamePattern, roleArn: roleArnPattern } = patterns

/** A deterministic roll in [0, 1) for a key (FNV-1a). */
const roll = (key: string): number => {
  let hash = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return ((hash >>> 0) % 1_000_000) / 1_000_000
}

const fail = <E extends ServiceError.ServiceError>(error: E) => Effect.fail(error)

/** Build a simulation reading and writing files through the given store. */
export const make = (
  options: Options = {}
): Effect.Effect<SimulatedBatchInference, never, ObjectStore.ObjectStore> =>
  Effect.gen(function*() {
    const store = yield* ObjectStore.ObjectStore
    const timings = { ...defaultTimings, ...options.timings }
    const quota = options.maxConcurrentJobs ?? 20
    const minRecords = options.minRecordsPerJob ?? 100
    const maxRecords = options.maxRecordsPerJob ?? 50_000
    const maxBytes = options.maxInputFileBytes ?? 1_000_000_000
    const seed = options.seed ?? 1
    const respond = options.respond ?? OfflineModel.respond
    const jobs = new Map<string, SimJob>()
    const byToken = new Map<string, string>()
    const byName = new Map<string, string>()
    let sequence = 0
    const counters = yield* Ref.make<Counters>({
      jobsCreated: 0,
      createsRefused: 0,
      repeatedTokens: 0,
      throttled: 0,
      callsByOperation: {},
      peakLiveJobs: 0
    })
    const count = (f: (c: Counters) => Counters) => Ref.update(counters, f)

    const schedule = (job: SimJob) => {
      const validatingAt = job.createdAt + timings.submittedSeconds * 1000
      const scheduledAt = validatingAt + timings.validatingSeconds * 1000
      const runningAt = scheduledAt + timings.scheduledSeconds * 1000
      const endsAt = runningAt + Math.max(timings.minRunSeconds, job.records * timings.secondsPerRecord) * 1000
      return { validatingAt, scheduledAt, runningAt, endsAt }
    }

    /** The status a job has at `now`, without side effects. */
    const statusAt = (job: SimJob, now: number): { status: JobStatus; message?: string; terminalAt?: number } => {
      if (job.final !== undefined) return { status: job.final.status }
      const s = schedule(job)
      if (job.stopRequestedAt !== undefined) {
        const stoppedAt = job.stopRequestedAt + timings.stoppingSeconds * 1000
        return now >= stoppedAt ? { status: "Stopped", terminalAt: job.stopRequestedAt } : { status: "Stopping" }
      }
      if (now < s.validatingAt) return { status: "Submitted" }
      if (now < s.scheduledAt) return { status: "Validating" }
      if (job.validationError !== undefined) {
        return { status: "Failed", message: job.validationError, terminalAt: s.scheduledAt }
      }
      if (job.imposed === "Expired") {
        return now < s.runningAt
          ? { status: "Scheduled" }
          : { status: "Expired", message: "the job timed out before it started", terminalAt: s.runningAt }
      }
      if (now < s.runningAt) {
        return { status: "Scheduled" }
      }
      if (now < s.endsAt) return { status: "InProgress" }
      switch (job.imposed) {
        case "Failed":
          return {
            status: "Failed",
            message: "simulated failure: internal error while processing",
            terminalAt: s.endsAt
          }
        case "Stopped":
          return { status: "Stopped", message: "simulated stop", terminalAt: s.endsAt }
        case "PartiallyCompleted":
          return {
            status: "PartiallyCompleted",
            message: "not all records were processed in time",
            terminalAt: s.endsAt
          }
        default:
          return { status: "Completed", terminalAt: s.endsAt }
      }
    }

    const inputRefOf = (job: SimJob) =>
      ObjectStore.fromUri(job.request.inputDataConfig.s3InputDataConfig.s3Uri).pipe((o) =>
        o._tag === "Some" ? o.value : { bucket: "", key: "" }
      )

    /** Write a terminal job's outputs (once). */
    const finalize = (job: SimJob, status: JobStatus, message: string | undefined, terminalAt: number) =>
      Effect.gen(function*() {
        job.final = { status, at: terminalAt, message }
        if (status === "Failed" || status === "Expired") return
        const s = schedule(job)
        // Share of records processed before the end (partial for stopped and partial jobs).
        const processedShare = status === "PartiallyCompleted"
          ? 0.5
          : status === "Stopped"
          ? Math.max(0, Math.min(1, (terminalAt - s.runningAt) / Math.max(1, s.endsAt - s.runningAt)))
          : 1
        const family = ModelFamily.resolve({
          modelId: job.request.modelId,
          family: options.family,
          invocationType: job.request.modelInvocationType
        })
        const inputRef = inputRefOf(job)
        const lines = yield* ObjectStore.getLines(inputRef).pipe(
          Stream.runCollect,
          Effect.provideService(ObjectStore.ObjectStore, store),
          Effect.orElseSucceed(() => [] as Array<string>)
        )
        const out: Array<{ order: number; line: string }> = []
        let success = 0
        let errors = 0
        let inputTokens = 0
        let outputTokens = 0
        let index = 0
        const total = lines.filter((l) => l.trim() !== "").length
        for (const raw of lines) {
          if (raw.trim() === "") continue
          const position = index++
          const record = JSON.parse(raw) as { recordId: string; modelInput: unknown }
          const key = `${seed}|${job.request.jobName}|${record.recordId}`
          if (position >= Math.floor(total * processedShare)) continue
          if (roll(`${key}|missing`) < (options.recordMissingRate ?? 0)) continue
          const order = roll(`${key}|order`)
          if (roll(`${key}|malformed`) < (options.malformedRate ?? 0)) {
            out.push({ order, line: `{"recordId": "${record.recordId}", "modelOutput": {"content": [` })
            errors++
            continue
          }
          if (roll(`${key}|error`) < (options.recordErrorRate ?? 0) || Result.isFailure(family)) {
            out.push({
              order,
              line: JSON.stringify({
                recordId: record.recordId,
                modelInput: record.modelInput,
                error: {
                  errorCode: 400,
                  errorMessage: Result.isFailure(family) ? family.failure.message : "simulated model error"
                }
              })
            })
            errors++
            continue
          }
          const answer = respond(family.success, record.modelInput)
          if (Result.isFailure(answer)) {
            out.push({
              order,
              line: JSON.stringify({
                recordId: record.recordId,
                modelInput: record.modelInput,
                error: { errorCode: 400, errorMessage: answer.failure }
              })
            })
            errors++
            continue
          }
          let modelOutput = answer.success
          if (roll(`${key}|truncated`) < (options.truncatedRate ?? 0)) {
            const read = family.success.readOutput(modelOutput)
            if (Result.isSuccess(read)) {
              const cut = read.success.text.slice(0, Math.max(1, Math.floor(read.success.text.length / 3)))
              modelOutput = OfflineModel.toResponse(family.success, cut, read.success.usage, true)
            }
          }
          const read = family.success.readOutput(modelOutput)
          if (Result.isSuccess(read)) {
            inputTokens += read.success.usage.inputTokens
            outputTokens += read.success.usage.outputTokens
          }
          out.push({
            order,
            line: JSON.stringify({ recordId: record.recordId, modelInput: record.modelInput, modelOutput })
          })
          success++
        }
        out.sort((a, b) => a.order - b.order)
        const outputBase = ObjectStore.fromUri(job.request.outputDataConfig.s3OutputDataConfig.s3Uri).pipe((o) =>
          o._tag === "Some" ? o.value : { bucket: "", key: "" }
        )
        const folder = `${outputBase.key.replace(/\/?$/, "/")}${jobIdFromArn(job.arn)}/`
        const fileName = inputRef.key.slice(inputRef.key.lastIndexOf("/") + 1)
        const kmsKeyId = job.request.outputDataConfig.s3OutputDataConfig.s3EncryptionKeyId
        yield* ObjectStore.putString(
          { bucket: outputBase.bucket, key: `${folder}${fileName}.out` },
          out.map((o) => `${o.line}\n`).join(""),
          { kmsKeyId }
        ).pipe(Effect.provideService(ObjectStore.ObjectStore, store), Effect.ignore)
        yield* ObjectStore.putString(
          { bucket: outputBase.bucket, key: `${folder}manifest.json.out` },
          JSON.stringify({
            totalRecordCount: total,
            processedRecordCount: success + errors,
            successRecordCount: success,
            errorRecordCount: errors,
            inputTokenCount: inputTokens,
            outputTokenCount: outputTokens
          }),
          { kmsKeyId }
        ).pipe(Effect.provideService(ObjectStore.ObjectStore, store), Effect.ignore)
      })

    /** Bring every job up to `now`, writing the outputs of those that just ended. */
    const advance = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      let live = 0
      for (const job of jobs.values()) {
        if (job.final !== undefined) continue
        const state = statusAt(job, now)
        if (state.terminalAt !== undefined) yield* finalize(job, state.status, state.message, state.terminalAt)
        else if (quotaStatuses.has(state.status)) live++
      }
      return { now, live }
    })

    const describe = (job: SimJob, now: number): JobDescription => {
      const state = statusAt(job, now)
      const message = job.final?.message ?? state.message
      // Records processed so far: all once ended, in proportion while in progress.
      const { endsAt, runningAt } = schedule(job)
      const processed = job.final !== undefined
        ? job.records
        : state.status === "InProgress"
        ? Math.floor(job.records * Math.min(1, (now - runningAt) / Math.max(1, endsAt - runningAt)))
        : 0
      return {
        jobArn: job.arn,
        jobName: job.request.jobName,
        status: state.status,
        message,
        modelId: job.request.modelId,
        clientRequestToken: job.request.clientRequestToken,
        submitTime: new Date(job.createdAt),
        lastModifiedTime: new Date(now),
        endTime: job.final === undefined ? undefined : new Date(job.final.at),
        inputS3Uri: job.request.inputDataConfig.s3InputDataConfig.s3Uri,
        outputS3Uri: job.request.outputDataConfig.s3OutputDataConfig.s3Uri,
        totalRecordCount: job.records,
        processedRecordCount: processed
      }
    }

    const call = (operation: string) =>
      Effect.gen(function*() {
        yield* count((c) => ({
          ...c,
          callsByOperation: { ...c.callsByOperation, [operation]: (c.callsByOperation[operation] ?? 0) + 1 }
        }))
        const throttleRate = options.throttleRate ?? 0
        if (throttleRate > 0 && (yield* Random.next) < throttleRate) {
          yield* count((c) => ({ ...c, throttled: c.throttled + 1 }))
          return yield* fail(
            new ServiceError.Throttled({
              operation: `BatchInference.${operation}`,
              message: "Too many requests, please wait before trying again.",
              exceptionName: "ThrottlingException"
            })
          )
        }
      })

    const invalid = (operation: string, message: string) =>
      fail(
        new ServiceError.InvalidRequest({
          operation: `BatchInference.${operation}`,
          message,
          exceptionName: "ValidationException"
        })
      )

    const notFound = (operation: string, id: string) =>
      fail(
        new ServiceError.NotFound({
          operation: `BatchInference.${operation}`,
          message: `job ${id} not found`,
          exceptionName: "ResourceNotFoundException"
        })
      )

    const findJob = (id: string) => jobs.get(id) ?? [...jobs.values()].find((job) => jobIdFromArn(job.arn) === id)

    const validateCreate = (request: CreateJobRequest): string | undefined => {
      if (
        !jobNamePattern.test(request.jobName) || request.jobName.length > 63
      ) return `invalid jobName "${request.jobName}"`
      if (!tokenPattern.test(request.clientRequestToken)) return "invalid clientRequestToken"
      if (!roleArnPattern.test(request.roleArn)) return `invalid roleArn "${request.roleArn}"`
      if (request.modelId.trim() === "") return "modelId is required"
      if (
        !request.inputDataConfig.s3InputDataConfig.s3Uri.startsWith("s3://")
      ) return "input s3Uri must be an s3:// URI"
      if (
        !request.outputDataConfig.s3OutputDataConfig.s3Uri.startsWith("s3://")
      ) return "output s3Uri must be an s3:// URI"
      const vpc = request.vpcConfig
      if (vpc !== undefined) {
        if (vpc.subnetIds.length < 1 || vpc.subnetIds.length > 16) return "vpcConfig.subnetIds must hold 1 to 16 ids"
        if (
          vpc.securityGroupIds.length < 1 || vpc.securityGroupIds.length > 5
        ) return "vpcConfig.securityGroupIds must hold 1 to 5 ids"
      }
      const timeout = request.timeoutDurationInHours
      if (timeout !== undefined && (timeout < 24 || timeout > 168)) return "timeoutDurationInHours must be 24 to 168"
      if ((request.tags?.length ?? 0) > 200) return "at most 200 tags"
      return undefined
    }

    /** What the Validating step would find wrong with the input file. */
    const validateInput = (request: CreateJobRequest) =>
      Effect.gen(function*() {
        const ref = ObjectStore.fromUri(request.inputDataConfig.s3InputDataConfig.s3Uri)
        if (ref._tag === "None") return { records: 0, error: "input is not an s3:// URI" }
        const found = yield* store.head(ref.value).pipe(Effect.orElseSucceed(() => undefined))
        if (found === undefined || found._tag === "None") return { records: 0, error: "input file not found" }
        if (found.value.size > maxBytes) {
          return { records: 0, error: `input file of ${found.value.size} bytes exceeds the ${maxBytes}-byte quota` }
        }
        const lines = yield* ObjectStore.getLines(ref.value).pipe(
          Stream.runCollect,
          Effect.provideService(ObjectStore.ObjectStore, store),
          Effect.orElseSucceed(() => [] as Array<string>)
        )
        const ids = new Set<string>()
        let records = 0
        for (const line of lines) {
          if (line.trim() === "") continue
          records++
          try {
            const parsed = JSON.parse(line) as { recordId?: unknown; modelInput?: unknown }
            if (typeof parsed.recordId !== "string" || parsed.modelInput === undefined) {
              return { records, error: `line ${records} is not a {recordId, modelInput} record` }
            }
            if (ids.has(parsed.recordId)) return { records, error: `duplicate recordId ${parsed.recordId}` }
            ids.add(parsed.recordId)
          } catch {
            return { records, error: `line ${records} is not valid JSON` }
          }
        }
        if (records < minRecords) return { records, error: `${records} records is below the minimum of ${minRecords}` }
        if (records > maxRecords) return { records, error: `${records} records exceeds the maximum of ${maxRecords}` }
        return { records, error: undefined }
      })

    const service = BatchInference.of({
      createJob: (request) =>
        Effect.gen(function*() {
          yield* call("CreateModelInvocationJob")
          const problem = validateCreate(request)
          if (problem !== undefined) return yield* invalid("createJob", problem)
          const existing = byToken.get(request.clientRequestToken)
          if (existing !== undefined) {
            yield* count((c) => ({ ...c, repeatedTokens: c.repeatedTokens + 1 }))
            return { jobArn: existing }
          }
          if (byName.has(request.jobName)) {
            return yield* fail(
              new ServiceError.Conflict({
                operation: "BatchInference.createJob",
                message: `a job named ${request.jobName} already exists`,
                exceptionName: "ConflictException"
              })
            )
          }
          const { live, now } = yield* advance
          if (live >= quota) {
            yield* count((c) => ({ ...c, createsRefused: c.createsRefused + 1 }))
            return yield* fail(
              new ServiceError.QuotaExceeded({
                operation: "BatchInference.createJob",
                message: `too many batch jobs in progress (quota ${quota})`,
                exceptionName: "ServiceQuotaExceededException"
              })
            )
          }
          const input = yield* validateInput(request)
          sequence++
          const arn = `arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/sim${
            String(sequence).padStart(8, "0")
          }`
          const imposed = options.jobStatuses?.[sequence - 1] ?? "Completed"
          jobs.set(arn, {
            arn,
            request,
            createdAt: now,
            imposed,
            records: input.records,
            validationError: input.error,
            stopRequestedAt: undefined,
            final: undefined
          })
          byToken.set(request.clientRequestToken, arn)
          byName.set(request.jobName, arn)
          yield* count((c) => ({
            ...c,
            jobsCreated: c.jobsCreated + 1,
            peakLiveJobs: Math.max(c.peakLiveJobs, live + 1)
          }))
          return { jobArn: arn }
        }),
      getJob: (id) =>
        Effect.gen(function*() {
          yield* call("GetModelInvocationJob")
          const { now } = yield* advance
          const job = findJob(id)
          if (job === undefined) return yield* notFound("getJob", id)
          return describe(job, now)
        }),
      stopJob: (id) =>
        Effect.gen(function*() {
          yield* call("StopModelInvocationJob")
          const { now } = yield* advance
          const job = findJob(id)
          if (job === undefined) return yield* notFound("stopJob", id)
          if (job.final !== undefined || job.stopRequestedAt !== undefined) {
            return yield* fail(
              new ServiceError.Conflict({
                operation: "BatchInference.stopJob",
                message: `job ${id} is ${statusAt(job, now).status}`,
                exceptionName: "ConflictException"
              })
            )
          }
          job.stopRequestedAt = now
        }),
      listJobs: (request) =>
        Stream.unwrap(
          Effect.gen(function*() {
            yield* call("ListModelInvocationJobs")
            const { now } = yield* advance
            return Stream.fromIterable(
              [...jobs.values()]
                .map((job) => describe(job, now))
                .filter((job) =>
                  (request.nameContains === undefined || job.jobName.includes(request.nameContains)) &&
                  (request.statusEquals === undefined || job.status === request.statusEquals)
                )
            )
          })
        )
    })

    return {
      service,
      counters: Ref.get(counters),
      jobs: Effect.gen(function*() {
        const { now } = yield* advance
        return [...jobs.values()].map((job) => describe(job, now))
      }),
      liveJobs: Effect.map(advance, ({ live }) => live)
    }
  })

/** A Layer with a fresh simulation (needs an `ObjectStore`). */
export const layer = (options: Options = {}): Layer.Layer<BatchInference, never, ObjectStore.ObjectStore> =>
  Layer.effect(BatchInference, Effect.map(make(options), (sim) => sim.service))
