/**
 * The engine: runs a stream of records through the packer and Bedrock batch jobs with
 * bounded concurrency, retries what failed, finishes on demand what batch cannot, and
 * reports exactly one outcome per record.
 *
 * Details:
 * - Jobs run concurrently: `maxNumConcurrentBatches` per worker × `extractionNumWorkers`,
 *   and never more live jobs than the process-wide `JobSlots` (the account quota).
 * - Errored and missing records, and every record of a Failed or Expired job, go again — as
 *   a new batch job when there are at least `minRecordsPerJob` of them, else on demand
 *   through `ModelRuntime` with the same model and body — up to `maxRecordAttempts` attempts.
 * - A set below the minimum goes on demand; a record larger than a file, or with an unusable
 *   id, is reported failed at once with the reason.
 * - An answer cut off at its token limit is asked again on demand with twice the limit, when
 *   the stage asks for it (`reaskCutOff`).
 * - Memory holds the records of the jobs in flight (plus two being packed), not the corpus.
 * - Interrupting the stream stops the jobs it started (unless `stopJobsOnInterrupt` is false).
 *
 * @since 0.1.0
 */
import { Array as Arr, Data, Effect, Result, Schema, Semaphore, Stream } from "effect"
import * as BatchConfig from "./BatchConfig.ts"
import type { BatchInference } from "./BatchInference.ts"
import * as BatchJob from "./BatchJob.ts"
import * as BatchRecord from "./BatchRecord.ts"
import type { JobSlots } from "./JobSlots.ts"
import type * as ModelFamily from "./ModelFamily.ts"
import { ModelRuntime } from "./ModelRuntime.ts"
import * as ObjectStore from "./ObjectStore.ts"
import * as Packer from "./Packer.ts"
import * as RunEvents from "./RunEvents.ts"
import * as RunState from "./RunState.ts"
import * as RunSummary from "./RunSummary.ts"
import { retryTransient } from "./ServiceError.ts"
import * as ServiceError from "./ServiceError.ts"

/** What a run needs besides its records. */
export interface RunOptions {
  readonly config: BatchConfig.BatchConfig
  /** Names the run in keys and job names: letters, digits, `.`, `_`, `-` (1-64). */
  readonly runId: string
  /** Names the stage in keys, job names and events (e.g. `"propositions"`). */
  readonly stage: string
  /**
   * The part of the run these records belong to (default 0): a run split into parts runs a
   * runner per part and stage at once, each numbering (and re-attaching) its own jobs.
   */
  readonly part?: number | undefined
  /**
   * Ask again, once and on demand, a record whose answer was cut off at its token limit (the
   * model's max-tokens stop reason), with {@link cutOffTokenFactor} times the limit. Off
   * unless set.
   *
   * When to use: stages whose answers are useless when cut off (a parser needs the end of
   * them), where paying on-demand price for a few records beats keeping a partial answer.
   *
   * Details:
   * - The body is the record's own with its token limit raised by the model family
   *   (`ModelFamily.withMaxTokens`; the limit is the body's, else `model.maxTokens`). The call
   *   goes the runner's on-demand way: bounded by `onDemandConcurrency`, transient errors
   *   retried, one `OnDemandCall` event.
   * - Whole this time: the record's outcome is the new answer (`via: "onDemand"`, the same
   *   `attempts`), and the run state holds it, so a resumed run does not ask again.
   * - Cut off again, or the call failed: the outcome is the first, partial answer with
   *   `partialReason` set ("the answer was cut off at N tokens, and again at 2N; the partial
   *   answer was kept"); the run state keeps the cut-off answer, so a resumed run asks again.
   *
   * Gotchas: the re-ask is billed at the on-demand price, and is not counted again in
   * `RecordsSucceeded` (the record was counted when its cut-off answer came in).
   */
  readonly reaskCutOff?: boolean | undefined
}

/** How many times its first token limit a cut-off answer is asked again with (see `reaskCutOff`). */
export const cutOffTokenFactor = 2

/** The run id or stage name cannot be used in keys and job names. */
export class InvalidRunOptions extends Data.TaggedError("InvalidRunOptions")<{ readonly message: string }> {}

/** The services a run needs. */
export type Services = ObjectStore.ObjectStore | BatchInference | ModelRuntime | JobSlots

const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/** An outcome as a step's result (plain JSON data, kept as it is). */
const storedOutcome = Schema.Unknown as unknown as Schema.Codec<RunState.StoredOutcome, unknown>

/** A record as the packer sees it: serialized and measured once, and why it cannot be sent, if so. */
export interface Packable extends Packer.Sized {
  readonly record: BatchRecord.PackedRecord
}

/**
 * A new record as the runner packs it: its line and size (`BatchRecord.pack`), rejected when
 * its id is unusable. What `Packer.plan(…, Packer.limitsOf(config))` takes to plan the jobs a
 * run of these records would create — as a plan (`Plan`) does without sending them.
 */
export const packable = (record: BatchRecord.BatchRecord): Packable => {
  const packed = BatchRecord.pack(record)
  return { record: packed, bytes: packed.bytes, rejection: BatchRecord.recordIdProblem(record.recordId) }
}

interface Item extends Packable {
  /** The outcome an earlier attempt at the run recorded (the record is not sent again). */
  readonly previous?: BatchRecord.RecordOutcome | undefined
}

/** The records of a job an earlier attempt staged, read back from its input file. */
const readStagedRecords = (job: RunState.JobState) =>
  ObjectStore.getLines({ bucket: job.bucket, key: job.inputKey }).pipe(
    Stream.filter((line) => line.trim() !== ""),
    Stream.map((line): BatchRecord.PackedRecord => {
      const recordId = (JSON.parse(line) as { recordId: string }).recordId
      return { recordId, line, bytes: BatchRecord.utf8Bytes(line) + 1 }
    }),
    Stream.runCollect,
    (effect) => retryTransient(effect),
    Effect.map((records): ReadonlyArray<BatchRecord.PackedRecord> | undefined => records),
    Effect.catch((error) =>
      Effect.as(
        Effect.logWarning(
          `cannot re-attach ${job.jobName}: its input is unreadable (${ServiceError.describe(error)}); ` +
            "its records are planned again"
        ),
        undefined
      )
    )
  )

/**
 * Run records through batch jobs (and on demand where needed). Emits one outcome per
 * record, as jobs finish (not in input order).
 */
export const run = <E, R>(
  records: Stream.Stream<BatchRecord.BatchRecord, E, R>,
  options: RunOptions
): Stream.Stream<
  BatchRecord.RecordOutcome,
  E | InvalidRunOptions | ModelFamily.UnknownModelFamily | RunState.StateError,
  R | Services
> =>
  Stream.unwrap(Effect.gen(function*() {
    const { config, runId, stage } = options
    if (!namePattern.test(runId)) {
      return yield* new InvalidRunOptions({ message: `run id "${runId}" must match ${namePattern.source}` })
    }
    if (!namePattern.test(stage)) {
      return yield* new InvalidRunOptions({ message: `stage "${stage}" must match ${namePattern.source}` })
    }
    const family = yield* Effect.fromResult(BatchConfig.modelFamily(config))
    const onDemandSlots = yield* Semaphore.make(config.onDemandConcurrency)
    const limits = Packer.limitsOf(config)

    // What an earlier attempt at this run already did (nothing without a run state).
    const state = yield* RunState.RunState
    const part = options.part ?? 0
    let jobCounter = yield* state.lastJobNumber(runId, stage, part)
    const openJobs = yield* Effect.forEach(
      yield* state.openJobs(runId, stage, part),
      (job) => Effect.map(readStagedRecords(job), (staged) => ({ job, staged }))
    )
    const reattached = openJobs.flatMap(({ job, staged }) => (staged === undefined ? [] : [{ job, records: staged }]))
    const inOpenJob = new Set(reattached.flatMap(({ records }) => records.map((r) => r.recordId)))

    /** Record final outcomes in the run state before anything else happens to them. */
    const recordOutcomes = (outcomes: ReadonlyArray<BatchRecord.RecordOutcome>, finished?: RunState.FinishedJob) =>
      outcomes.length === 0 && finished === undefined
        ? Effect.void
        : state.recordOutcomes(runId, stage, outcomes, finished)

    /** Outcomes an earlier attempt recorded, for a batch of incoming records (looked up, never loaded whole). */
    const previousOutcomes = (records: ReadonlyArray<BatchRecord.BatchRecord>) =>
      state === RunState.none
        ? Effect.succeed(new Map<string, RunState.StoredOutcome>())
        : state.outcomes(runId, stage, records.filter((r) => !inOpenJob.has(r.recordId)).map((r) => r.recordId))

    // An outcome of a re-attached job is emitted only once its record has come in through
    // `records` as well: a consumer knows a record only after it passed by (the jobs of an
    // earlier attempt can finish before the input gets that far). An outcome whose record is no
    // longer among the inputs is not emitted (the run state keeps it).
    const seenOpen = new Set<string>()
    const pendingOpen = new Map<string, BatchRecord.RecordOutcome>()

    /** Say how many outcomes an earlier attempt recorded came in (for a resumed run's progress). */
    const publishRecovered = (done: ReadonlyMap<string, RunState.StoredOutcome>) => {
      if (done.size === 0) return Effect.void
      let failed = 0
      for (const outcome of done.values()) if (outcome._tag === "Failed") failed++
      return RunEvents.publish({ _tag: "RecordsRecovered", stage, succeeded: done.size - failed, failed })
    }

    const items = records.pipe(
      Stream.mapArrayEffect((batch) =>
        Effect.flatMap(previousOutcomes(batch), (done) =>
          Effect.as(
            publishRecovered(done),
            Arr.map(batch, (record): Item | undefined => {
              if (inOpenJob.has(record.recordId)) {
                seenOpen.add(record.recordId)
                const outcome = pendingOpen.get(record.recordId)
                if (outcome === undefined) return undefined
                pendingOpen.delete(record.recordId)
                const packed = BatchRecord.pack(record)
                return { record: packed, bytes: packed.bytes, passthrough: true, previous: outcome }
              }
              const item = packable(record)
              const previous = done.get(record.recordId)
              return previous !== undefined
                ? { record: item.record, bytes: item.bytes, passthrough: true, previous: RunState.fromStored(previous) }
                : item
            })
          ))
      ),
      Stream.filter((item): item is Item => item !== undefined)
    )

    const failedOutcome = (recordId: string, reason: string, attempts: number): BatchRecord.Failed => ({
      _tag: "Failed",
      recordId,
      stage,
      reason,
      attempts
    })

    const reportFailed = (failures: ReadonlyArray<BatchRecord.Failed>) =>
      failures.length === 0 ? Effect.void : RunEvents.publish({
        _tag: "RecordsFailed",
        stage,
        failures: failures.map((f) => ({ recordId: f.recordId, reason: f.reason }))
      })

    const reportSucceeded = (successes: ReadonlyArray<BatchRecord.Succeeded>, via: BatchRecord.Via) =>
      successes.length === 0 ? Effect.void : RunEvents.publish({
        _tag: "RecordsSucceeded",
        stage,
        via,
        count: successes.length,
        inputTokens: successes.reduce((n, s) => n + s.output.usage.inputTokens, 0),
        outputTokens: successes.reduce((n, s) => n + s.output.usage.outputTokens, 0)
      })

    /**
     * One on-demand call, the runner's only way to the model runtime: bounded by
     * `onDemandConcurrency`, transient errors retried, an `OnDemandCall` event (`ok` when the
     * answer is readable).
     */
    const invokeOnce = (recordId: string, body: Record<string, unknown>) =>
      Effect.gen(function*() {
        const runtime = yield* ModelRuntime
        const answer = yield* retryTransient(
          runtime.invoke({ modelId: config.model.modelId, invocationType: config.model.invocationType, body }),
          5
        ).pipe(onDemandSlots.withPermits(1), Effect.result)
        const output = Result.isSuccess(answer) ? family.readOutput(answer.success) : undefined
        yield* RunEvents.publish({
          _tag: "OnDemandCall",
          stage,
          recordId,
          ok: output !== undefined && Result.isSuccess(output)
        })
        if (Result.isFailure(answer)) return { _tag: "CallFailed", error: answer.failure } as const
        if (output === undefined || Result.isFailure(output)) {
          return { _tag: "Unreadable", reason: output?.failure ?? "no answer" } as const
        }
        return { _tag: "Answered", modelOutput: answer.success, output: output.success } as const
      })

    /** One on-demand record: retried on transient errors and on bad answers, up to the attempt budget. */
    const onDemandOne = (record: BatchRecord.PackedRecord, firstAttempt: number) =>
      Effect.gen(function*() {
        const body = BatchRecord.modelInputOf(record)
        let lastReason = "not attempted"
        for (let attempt = firstAttempt; attempt <= config.maxRecordAttempts; attempt++) {
          const answer = yield* invokeOnce(record.recordId, body)
          if (answer._tag === "CallFailed") {
            lastReason = `on-demand call failed: ${ServiceError.describe(answer.error)}`
            if (!answer.error.retryable && answer.error._tag !== "QuotaExceeded") break
            continue
          }
          if (answer._tag === "Answered") {
            return {
              _tag: "Succeeded",
              recordId: record.recordId,
              stage,
              modelOutput: answer.modelOutput,
              output: answer.output,
              via: "onDemand",
              attempts: attempt
            } satisfies BatchRecord.Succeeded as BatchRecord.RecordOutcome
          }
          lastReason = `unreadable model output: ${answer.reason}`
        }
        return failedOutcome(record.recordId, lastReason, config.maxRecordAttempts) as BatchRecord.RecordOutcome
      })

    /**
     * The `reaskCutOff` policy for one recorded outcome: a cut-off answer is asked again once
     * with a larger token limit; the whole answer replaces it (in the run state too), else the
     * partial answer is kept with the reason. Other outcomes pass unchanged.
     */
    const reaskCutOff = (record: BatchRecord.PackedRecord, outcome: BatchRecord.RecordOutcome) =>
      Effect.gen(function*() {
        if (
          options.reaskCutOff !== true || outcome._tag === "Failed" || !outcome.output.truncated ||
          outcome.partialReason !== undefined
        ) return outcome
        const body = BatchRecord.modelInputOf(record)
        const limit = family.maxTokensOf(body) ?? config.model.maxTokens
        const larger = Math.min(limit * cutOffTokenFactor, family.maxOutputTokens ?? Number.POSITIVE_INFINITY)
        // Already at the family's largest limit: asking again would be cut off at the same place.
        if (larger <= limit) {
          return {
            ...outcome,
            partialReason: `the answer was cut off at ${limit} tokens, the model's largest limit; ` +
              "the partial answer was kept"
          }
        }
        const { whole } = yield* state.step(
          `reask/${stage}/${record.recordId}`,
          Schema.Unknown as unknown as Schema.Codec<{ readonly whole?: RunState.StoredOutcome | undefined }, unknown>,
          Effect.gen(function*() {
            const answer = yield* invokeOnce(record.recordId, family.withMaxTokens(body, larger))
            if (answer._tag !== "Answered" || answer.output.truncated) return {}
            const whole: BatchRecord.Succeeded = {
              ...outcome,
              modelOutput: answer.modelOutput,
              output: answer.output,
              via: "onDemand"
            }
            yield* recordOutcomes([whole])
            return { whole: RunState.toStored(whole) }
          })
        )
        if (whole !== undefined) return RunState.fromStored(whole)
        return {
          ...outcome,
          partialReason: `the answer was cut off at ${limit} tokens, and again at ${larger}; ` +
            "the partial answer was kept"
        }
      })

    /** {@link reaskCutOff} over a set of recorded outcomes, in their order. */
    const reaskCutOffAll = (
      answered: ReadonlyArray<
        { readonly record: BatchRecord.PackedRecord; readonly outcome: BatchRecord.RecordOutcome }
      >
    ) =>
      options.reaskCutOff === true &&
        answered.some(({ outcome }) => outcome._tag === "Succeeded" && outcome.output.truncated)
        ? Effect.forEach(answered, ({ outcome, record }) => reaskCutOff(record, outcome), {
          concurrency: config.onDemandConcurrency
        })
        : Effect.succeed(answered.map(({ outcome }) => outcome))

    const onDemand = (records: ReadonlyArray<BatchRecord.PackedRecord>, firstAttempt: number) =>
      Effect.gen(function*() {
        // Each answer is recorded as soon as it is in: a crash never costs a call already paid for.
        const answered = yield* Effect.forEach(
          records,
          (record) =>
            state.step(
              `ondemand/${stage}/${record.recordId}/${firstAttempt}`,
              storedOutcome,
              onDemandOne(record, firstAttempt).pipe(
                Effect.tap((outcome) => recordOutcomes([outcome])),
                Effect.map(RunState.toStored)
              )
            ).pipe(Effect.map((outcome) => ({ record, outcome: RunState.fromStored(outcome) }))),
          { concurrency: config.onDemandConcurrency }
        )
        const outcomes = answered.map(({ outcome }) => outcome)
        const successes = outcomes.filter((o): o is BatchRecord.Succeeded => o._tag === "Succeeded")
        yield* reportSucceeded(successes, "onDemand")
        yield* reportFailed(outcomes.filter((o): o is BatchRecord.Failed => o._tag === "Failed"))
        return yield* reaskCutOffAll(answered)
      })

    /** A batch job and, recursively, the retries of what it did not answer. */
    const batchJob = (
      records: ReadonlyArray<BatchRecord.PackedRecord>,
      label: string,
      attempt: number,
      resume?: RunState.JobState
    ): Effect.Effect<Array<BatchRecord.RecordOutcome>, RunState.StateError, Services> =>
      Effect.gen(function*() {
        const succeededOf = (result: BatchJob.JobResult) =>
          result.succeeded.map((s) => ({
            record: s.record,
            outcome: {
              _tag: "Succeeded",
              recordId: s.record.recordId,
              stage,
              modelOutput: s.modelOutput,
              output: s.output,
              via: "batch",
              attempts: attempt
            } satisfies BatchRecord.Succeeded
          }))
        const split = (result: BatchJob.JobResult) => {
          const finalFailures: Array<BatchRecord.Failed> = []
          const again: Array<{ readonly record: BatchRecord.PackedRecord; readonly reason: string }> = []
          for (const failure of result.failed) {
            if (failure.retryable && attempt < config.maxRecordAttempts) {
              again.push({ record: failure.record, reason: failure.reason })
            } else {
              finalFailures.push(failedOutcome(failure.record.recordId, failure.reason, attempt))
            }
          }
          return { finalFailures, again }
        }
        // Settling records the final outcomes (and that the job ended) before anything else.
        const result = yield* BatchJob.run(
          config,
          family,
          { runId, stage, label, attempt, records },
          resume,
          (result) => {
            const { again, finalFailures } = split(result)
            return Effect.as(
              recordOutcomes([...succeededOf(result).map(({ outcome }) => outcome), ...finalFailures], {
                jobName: result.jobName,
                status: result.status
              }),
              again.map(({ reason, record }) => ({ recordId: record.recordId, reason }))
            )
          }
        )
        const answered = succeededOf(result)
        const { again, finalFailures } = split(result)
        yield* reportSucceeded(answered.map(({ outcome }) => outcome), "batch")
        yield* BatchJob.cleanup(config, { runId, stage, label }, result)
        yield* reportFailed(finalFailures)
        const outcomes: Array<BatchRecord.RecordOutcome> = [...yield* reaskCutOffAll(answered), ...finalFailures]
        if (again.length === 0) return outcomes
        // Enough for a job: batch again (on demand would bill a whole failed job at full price).
        const asBatch = again.length >= config.minRecordsPerJob
        yield* RunEvents.publish({
          _tag: "RecordsRetried",
          stage,
          count: again.length,
          via: asBatch ? "batch" : "onDemand",
          attempt: attempt + 1
        })
        yield* Effect.logDebug(
          `${again.length} records of ${result.jobName} go again (last reason: ${again[again.length - 1]!.reason})`
        )
        const retried = asBatch
          ? yield* batchJob(again.map(({ record }) => record), `${label}r${attempt + 1}`, attempt + 1)
          : yield* onDemand(again.map(({ record }) => record), attempt + 1)
        return [...outcomes, ...retried]
      })

    const handle = (
      plan: Packer.Plan<Item>
    ): Effect.Effect<Array<BatchRecord.RecordOutcome>, RunState.StateError, Services> => {
      switch (plan._tag) {
        case "Passthrough":
          // An earlier attempt's outcome; a cut-off answer it recorded is asked again (`reaskCutOff`).
          return plan.item.previous === undefined
            ? Effect.succeed([])
            : Effect.map(reaskCutOff(plan.item.record, plan.item.previous), (outcome) => [outcome])
        case "Rejected": {
          const failure = failedOutcome(plan.item.record.recordId, plan.reason, 0)
          return Effect.as(Effect.andThen(recordOutcomes([failure]), reportFailed([failure])), [failure])
        }
        case "OnDemand":
          return Effect.andThen(
            Effect.logDebug(`${plan.items.length} records go on demand: ${plan.reason}`),
            onDemand(plan.items.map((item) => item.record), 1)
          )
        case "Job": {
          jobCounter += 1
          return batchJob(plan.items.map((item) => item.record), RunState.labelOf(part, jobCounter), 1)
        }
      }
    }

    const resumed = Stream.fromIterable(reattached).pipe(
      Stream.mapEffect(({ job, records }) => batchJob(records, job.label, job.attempt, job), {
        concurrency: BatchConfig.runJobConcurrency(config),
        unordered: true
      }),
      Stream.flattenIterable,
      Stream.filter((outcome) => {
        if (seenOpen.has(outcome.recordId)) return true
        pendingOpen.set(outcome.recordId, outcome)
        return false
      })
    )
    const fresh = Packer.plan(items, limits).pipe(
      Stream.mapEffect(handle, { concurrency: BatchConfig.runJobConcurrency(config), unordered: true }),
      Stream.flattenIterable
    )
    return reattached.length === 0 ? fresh : Stream.merge(resumed, fresh).pipe(
      Stream.onEnd(Effect.suspend(() =>
        pendingOpen.size === 0 ? Effect.void : Effect.logWarning(
          `${pendingOpen.size} records of re-attached ${stage} jobs are no longer among the inputs; ` +
            "their outcomes stay in the run state only"
        )
      ))
    )
  }))

/** Run records and collect every outcome and the run's summary (for small sets and tests). */
export const runCollect = <E, R>(
  records: Stream.Stream<BatchRecord.BatchRecord, E, R>,
  options: RunOptions
): Effect.Effect<
  { readonly outcomes: ReadonlyArray<BatchRecord.RecordOutcome>; readonly summary: RunSummary.RunSummary },
  E | InvalidRunOptions | ModelFamily.UnknownModelFamily | RunState.StateError,
  R | Services
> =>
  Effect.map(RunSummary.collect(Stream.runCollect(run(records, options))), ([outcomes, summary]) => ({
    outcomes,
    summary
  }))
