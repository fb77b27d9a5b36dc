/**
 * One batch job when a port refuses: the input cannot be staged, the create is refused, the
 * job cannot be followed, its output cannot be read. Each ends the job with every record
 * failed and a reason that says which step failed, never an error out of the job. And a
 * durable run's replay: a job whose output step was already done is rebuilt from the run
 * state, not read again.
 */
import {
  BatchConfig,
  BatchInference,
  BatchJob,
  BatchRecord,
  type BatchRunner,
  JobSlots,
  ObjectStore,
  RunEvents,
  RunState,
  ServiceError
} from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Stream } from "effect"
import { TestClock } from "effect/testing"
import {
  capturingLogs,
  config,
  type Env,
  jobSpec,
  makeEnv,
  records,
  replayingState,
  runOnTestClock,
  settleRetryable
} from "../support.ts"

const denied = (operation: string) => new ServiceError.AccessDenied({ operation, message: "not allowed" })

/** A read the store refuses. */
const refusedGet = () => Stream.fail(denied("ObjectStore.get"))

/** The environment's ports, with some replaced. */
const portsOf = (
  env: Env,
  overrides: {
    readonly store?: Partial<ObjectStore.ObjectStore["Service"]>
    readonly batch?: Partial<BatchInference.BatchInference["Service"]>
  }
) =>
  Layer.mergeAll(
    env.layer,
    Layer.succeed(ObjectStore.ObjectStore, { ...env.store.service, ...overrides.store }),
    Layer.succeed(BatchInference.BatchInference, { ...env.sim.service, ...overrides.batch })
  )

/** Run one job of `n` records on the given ports; its result and the events it published. */
const runJob = (
  n: number,
  ports: (env: Env) => Layer.Layer<BatchRunner.Services>,
  options: {
    readonly state?: RunState.Store
    readonly settle?: BatchJob.Settle
    readonly resume?: RunState.JobState
    readonly env?: Env
    readonly label?: string
    readonly firstRecord?: number
  } = {}
) =>
  Effect.gen(function*() {
    const cfg = yield* config({ deleteOnSuccess: false })
    const env = options.env ?? (yield* makeEnv())
    const family = yield* Effect.fromResult(BatchConfig.modelFamily(cfg))
    const spec = jobSpec(n, { label: options.label ?? "1", attempt: 2, firstRecord: options.firstRecord ?? 0 })
    const events: Array<RunEvents.RunEvent> = []
    const result = yield* runOnTestClock(
      BatchJob.run(cfg, family, spec, options.resume, options.settle ?? settleRetryable).pipe(
        Effect.provide(ports(env)),
        Effect.provideService(RunState.RunState, options.state ?? RunState.none),
        Effect.provideService(RunEvents.RunEvents, { publish: (event) => Effect.sync(() => void events.push(event)) })
      )
    )
    return { result, events, env, cfg, spec }
  })

/** An in-memory run state (`memory`) behind a store (`spying`) that also keeps every created job's ARN. */
const recordingCreates = Effect.map(RunState.makeMemory, (memory) => {
  const created: Array<string> = []
  const spying: RunState.Store = {
    ...memory,
    jobCreated: (runId, jobName, jobArn) =>
      Effect.andThen(Effect.sync(() => void created.push(jobArn)), memory.jobCreated(runId, jobName, jobArn))
  }
  return { created, memory, spying }
})

const finished = (events: ReadonlyArray<RunEvents.RunEvent>) =>
  events.flatMap((event) => (event._tag === "JobFinished" ? [event] : []))

describe("BatchJob when a port refuses", () => {
  it.effect("a job whose input cannot be staged is not created; its records go again", () =>
    Effect.gen(function*() {
      const { env, events, result } = yield* runJob(
        120,
        (env) => portsOf(env, { store: { put: () => Effect.fail(denied("ObjectStore.put")) } })
      )
      assert.strictEqual(result.status, "NotCreated")
      assert.isUndefined(result.jobArn)
      assert.strictEqual(result.succeeded.length, 0)
      assert.strictEqual(result.failed.length, 120)
      for (const failure of result.failed) {
        assert.strictEqual(failure.kind, "rejected")
        assert.isTrue(failure.retryable)
        assert.match(failure.reason, /^could not stage the input file: .*not allowed/)
      }
      assert.strictEqual(result.message, result.failed[0]!.reason)
      assert.deepStrictEqual([result.inputTokens, result.outputTokens], [0, 0])
      assert.strictEqual((yield* env.sim.counters).jobsCreated, 0)
      const [end] = finished(events)
      assert.deepStrictEqual(
        [end!.status, end!.succeeded, end!.errored, end!.missing, end!.jobArn],
        ["NotCreated", 0, 120, 0, undefined]
      )
      const planned = events.find((event) => event._tag === "JobPlanned")
      assert.isTrue(planned?._tag === "JobPlanned" && planned.records === 120 && planned.attempt === 2)
      assert.isFalse(events.some((event) => event._tag === "JobSubmitted"))
    }))

  it.effect("a create the service refuses fails every record with the reason, not to be sent again", () =>
    Effect.gen(function*() {
      const { events, result } = yield* runJob(
        110,
        (env) => portsOf(env, { batch: { createJob: () => Effect.fail(denied("BatchInference.createJob")) } })
      )
      assert.strictEqual(result.status, "NotCreated")
      assert.strictEqual(result.failed.length, 110)
      for (const failure of result.failed) {
        assert.isFalse(failure.retryable)
        assert.match(failure.reason, /^could not create the job: .*not allowed/)
      }
      assert.isFalse(events.some((event) => event._tag === "JobSubmitted" || event._tag === "JobCreateDeferred"))
      assert.strictEqual(finished(events).length, 1)
    }))

  it.effect("a job that cannot be followed fails every record with the job's ARN in the reason", () =>
    Effect.gen(function*() {
      const { events, result } = yield* runJob(
        105,
        (env) => portsOf(env, { batch: { getJob: () => Effect.fail(denied("BatchInference.getJob")) } })
      )
      assert.strictEqual(result.status, "NotCreated")
      const submitted = events.find((event) => event._tag === "JobSubmitted")
      assert.isTrue(submitted?._tag === "JobSubmitted")
      const jobArn = submitted?._tag === "JobSubmitted" ? submitted.jobArn : ""
      for (const failure of result.failed) {
        assert.isFalse(failure.retryable)
        assert.isTrue(failure.reason.startsWith(`could not follow ${jobArn}: `), failure.reason)
      }
    }))

  it.effect("an output that cannot be read leaves every record missing, the job's status kept", () =>
    Effect.gen(function*() {
      const { events, result } = yield* runJob(130, (env) =>
        portsOf(env, {
          store: {
            get: (ref) => ref.key.endsWith(".jsonl.out") ? refusedGet() : env.store.service.get(ref)
          }
        }))
      assert.strictEqual(result.status, "Completed")
      assert.isString(result.jobArn)
      assert.strictEqual(result.succeeded.length, 0)
      assert.strictEqual(result.failed.length, 130)
      assert.isTrue(result.failed.every((failure) => failure.kind === "missing" && failure.retryable))
      const [end] = finished(events)
      assert.deepStrictEqual([end!.status, end!.missing, end!.errored], ["Completed", 130, 0])
    }))

  it.effect("a job's token usage comes from its records when its manifest is missing", () =>
    Effect.gen(function*() {
      const { result } = yield* runJob(101, (env) =>
        portsOf(env, {
          store: {
            get: (ref) => ref.key.endsWith("manifest.json.out") ? refusedGet() : env.store.service.get(ref)
          }
        }))
      assert.strictEqual(result.succeeded.length, 101)
      const input = result.succeeded.reduce((n, s) => n + s.output.usage.inputTokens, 0)
      const output = result.succeeded.reduce((n, s) => n + s.output.usage.outputTokens, 0)
      assert.isAbove(input, 0)
      assert.deepStrictEqual([result.inputTokens, result.outputTokens], [input, output])
    }))
})

/** The ports with a job service that reports every job ending with `status` (and `message`). */
const endingAs = (env: Env, status: BatchInference.JobStatus, message: string | undefined) =>
  portsOf(env, {
    batch: {
      getJob: (jobArn) =>
        Effect.map(env.sim.service.getJob(jobArn), (job) =>
          BatchInference.isTerminal(job.status) ? { ...job, status, message } : job)
    },
    // The job wrote no output: every record is missing.
    store: { get: (ref) => (ref.key.endsWith(".jsonl.out") ? refusedGet() : env.store.service.get(ref)) }
  })

describe("BatchJob outcomes", () => {
  it.effect("records missing from a job that did not complete carry the job's status and message", () =>
    Effect.gen(function*() {
      const failed = yield* runJob(100, (env) => endingAs(env, "Failed", "validation failed"))
      assert.strictEqual(failed.result.status, "Failed")
      assert.strictEqual(failed.result.message, "validation failed")
      for (const failure of failed.result.failed) {
        assert.deepStrictEqual([failure.kind, failure.reason], ["missing", "job ended Failed: validation failed"])
      }
      const silent = yield* runJob(100, (env) => endingAs(env, "Expired", ""))
      assert.isTrue(silent.result.failed.every((failure) => failure.reason === "job ended Expired"))
      const unexplained = yield* runJob(100, (env) => endingAs(env, "Stopped", undefined))
      assert.isTrue(unexplained.result.failed.every((failure) => failure.reason === "job ended Stopped"))
    }))

  it.effect("records missing from a completed job keep their own reason", () =>
    Effect.gen(function*() {
      const { result } = yield* runJob(100, (env) => endingAs(env, "Completed", "all done"))
      assert.isTrue(result.failed.every((failure) => failure.kind === "missing"))
      assert.isFalse(result.failed.some((failure) => failure.reason.startsWith("job ended")))
    }))

  it.effect("plans the job with its records' bytes and attempt, and stages it as JSONL", () =>
    Effect.gen(function*() {
      const { env, events, result, spec } = yield* runJob(100, (env) => env.layer)
      const planned = events.find((event) => event._tag === "JobPlanned")
      assert.deepStrictEqual(
        planned?._tag === "JobPlanned" && [planned.jobName, planned.records, planned.bytes, planned.attempt],
        [result.jobName, 100, spec.records.reduce((n, r) => n + r.bytes, 0), 2]
      )
      const cfg = yield* config({ deleteOnSuccess: false })
      const input = (yield* env.store.objects).get(`${cfg.bucketName}/${BatchJob.locate(cfg, spec).inputKey}`)
      assert.strictEqual(input?.options.contentType, "application/jsonl")
    }))

  it.effect("records the intent with every record of the job, and takes the job's slot for its model", () =>
    Effect.gen(function*() {
      const intents: Array<RunState.JobIntent> = []
      const memory = yield* RunState.makeMemory
      const spying: RunState.Store = {
        ...memory,
        jobIntent: (runId, intent) =>
          Effect.andThen(Effect.sync(() => void intents.push(intent)), memory.jobIntent(runId, intent))
      }
      const claims: Array<JobSlots.SlotClaim> = []
      const { cfg, result, spec } = yield* runJob(100, (env) =>
        Layer.merge(
          env.layer,
          Layer.succeed(JobSlots.JobSlots, {
            ...env.slots,
            withSlot: (claim, effect) =>
              Effect.andThen(Effect.sync(() => void claims.push(claim)), env.slots.withSlot(claim, effect))
          })
        ), { state: spying })
      assert.strictEqual(intents.length, 1)
      assert.deepStrictEqual(intents[0]!.recordIds, spec.records.map((r) => r.recordId))
      assert.deepStrictEqual([intents[0]!.jobName, intents[0]!.label, intents[0]!.attempt], [result.jobName, "1", 2])
      assert.deepStrictEqual(claims, [{
        runId: "r",
        jobName: result.jobName,
        model: cfg.model.modelId,
        limit: cfg.maxConcurrentJobs
      }])
    }))
})

describe("BatchJob interrupted", () => {
  /** Interrupt a job whose create reached the service but whose answer never came back. */
  const interruptMidCreate = (stopJobsOnInterrupt: boolean) =>
    Effect.gen(function*() {
      const env = yield* makeEnv()
      const cfg = yield* config({ stopJobsOnInterrupt })
      const family = yield* Effect.fromResult(BatchConfig.modelFamily(cfg))
      const spec = jobSpec(100)
      const ports = portsOf(env, {
        batch: { createJob: (request) => Effect.andThen(env.sim.service.createJob(request), Effect.never) }
      })
      const fiber = yield* Effect.forkChild(
        BatchJob.run(cfg, family, spec, undefined, settleRetryable).pipe(Effect.provide(ports))
      )
      yield* TestClock.adjust(Duration.minutes(1))
      yield* Fiber.interrupt(fiber)
      return (yield* env.sim.jobs).map((job) => job.status)
    })

  it.effect("a job whose create went unanswered is stopped by its name when the run is interrupted", () =>
    Effect.gen(function*() {
      const [status, ...others] = yield* interruptMidCreate(true)
      assert.strictEqual(others.length, 0)
      assert.include(["Stopping", "Stopped"], status)
    }))

  it.effect("is left running when the run keeps its jobs on interrupt", () =>
    Effect.gen(function*() {
      const [status] = yield* interruptMidCreate(false)
      assert.notInclude(["Stopping", "Stopped"], status)
    }))
})

describe("BatchJob re-attached", () => {
  /**
   * Run a job once, then again as re-attached with what the run state holds of it (edited),
   * on `second` (by default the same service and store).
   */
  const reattach = (
    edit: (job: RunState.JobState) => RunState.JobState,
    second?: (first: Env) => Effect.Effect<Env>
  ) =>
    Effect.gen(function*() {
      const env = yield* makeEnv()
      const { created, memory, spying } = yield* recordingCreates
      const first = yield* runJob(100, (e) => e.layer, { env, state: spying })
      const [job] = (yield* memory.contents).jobs
      const later = second === undefined ? env : yield* second(env)
      let puts = 0
      const again = yield* runJob(100, (e) =>
        portsOf(e, {
          store: {
            put: (ref, body, options) =>
              Effect.andThen(Effect.sync(() => void puts++), e.store.service.put(ref, body, options))
          }
        }), { env: later, state: spying, resume: edit({ ...job!, finished: false }) })
      return { first, again, created, puts, counters: yield* later.sim.counters }
    })

  it.effect("a job whose ARN was recorded is found again: not staged, created or recorded again", () =>
    Effect.gen(function*() {
      const { again, counters, created, first, puts } = yield* reattach((job) => job)
      assert.strictEqual(again.result.jobArn, first.result.jobArn)
      assert.strictEqual(again.result.succeeded.length, 100)
      assert.strictEqual(counters.jobsCreated, 1)
      assert.deepStrictEqual(created, [first.result.jobArn])
      assert.strictEqual(puts, 0)
    }))

  it.effect("a job whose ARN was never recorded is found by its name, and its ARN recorded", () =>
    Effect.gen(function*() {
      const { again, counters, created, first } = yield* reattach((job) => ({ ...job, jobArn: undefined }))
      assert.strictEqual(again.result.jobArn, first.result.jobArn)
      assert.strictEqual(counters.jobsCreated, 1)
      assert.deepStrictEqual(created, [first.result.jobArn, first.result.jobArn])
    }))

  it.effect("a job the service no longer knows is created again from its staged input, and recorded", () =>
    Effect.gen(function*() {
      // A fresh service (e.g. a restarted local emulator) over the same bucket.
      const { again, counters, created } = yield* reattach((job) => job, (first) =>
        Effect.gen(function*() {
          const fresh = yield* makeEnv()
          for (const [path, object] of yield* first.store.objects) {
            const slash = path.indexOf("/")
            const ref = { bucket: path.slice(0, slash), key: path.slice(slash + 1) }
            yield* fresh.store.write(ref, new TextDecoder().decode(object.bytes), object.options)
          }
          return fresh
        }))
      assert.strictEqual(counters.jobsCreated, 1)
      assert.strictEqual(again.result.succeeded.length, 100)
      assert.strictEqual(created.length, 2)
      assert.strictEqual(created[1], again.result.jobArn)
    }))

  it.effect("a re-attached job keeps the name and token it was created with", () =>
    Effect.gen(function*() {
      const { again } = yield* reattach((job) => ({ ...job, jobName: "be-created-by-an-older-version" }))
      assert.strictEqual(again.result.jobName, "be-created-by-an-older-version")
      const planned = again.events.find((event) => event._tag === "JobPlanned")
      assert.isTrue(planned?._tag === "JobPlanned" && planned.jobName === "be-created-by-an-older-version")
    }))
})

describe("BatchJob in a durable run", () => {
  it.effect("a job whose output step was done is rebuilt from the run state, not read again", () =>
    Effect.gen(function*() {
      const { kept, memory, store: replaying } = yield* replayingState
      const ids = records(150).map((r) => r.recordId)
      // Settling: records 0-9 go again, 10-19 are recorded failed, 20-24 get nothing recorded,
      // the rest are recorded answered.
      const settle: BatchJob.Settle = (result) =>
        Effect.gen(function*() {
          const index = (recordId: string) => ids.indexOf(recordId)
          yield* memory.recordOutcomes("r", "propositions", [
            ...result.succeeded.filter((s) => index(s.record.recordId) >= 25).map((s): BatchRecord.RecordOutcome => ({
              _tag: "Succeeded",
              recordId: s.record.recordId,
              stage: "propositions",
              modelOutput: s.modelOutput,
              output: s.output,
              via: "batch",
              attempts: 2
            })),
            ...ids.slice(10, 20).map((recordId): BatchRecord.RecordOutcome => ({
              _tag: "Failed",
              recordId,
              stage: "propositions",
              reason: "refused by the test",
              attempts: 2
            }))
          ])
          return ids.slice(0, 10).map((recordId) => ({ recordId, reason: recordId.endsWith("1") ? "one" : "other" }))
        })
      const first = yield* runJob(150, (env) => env.layer, { state: replaying, settle })
      assert.strictEqual(first.result.succeeded.length, 150)
      assert.isTrue([...kept.keys()].some((name) => name.startsWith("output/")))

      // The same job again: every step replays; the result comes from what was settled.
      const again = yield* runJob(150, (env) =>
        portsOf(env, {
          store: { get: refusedGet, put: () => Effect.fail(denied("ObjectStore.put")) },
          batch: { createJob: () => Effect.fail(denied("BatchInference.createJob")) }
        }), { state: replaying, settle })
      const result = again.result
      assert.strictEqual(result.status, "Completed")
      assert.strictEqual(result.jobName, first.result.jobName)
      assert.strictEqual(result.jobArn, first.result.jobArn)
      assert.deepStrictEqual([result.inputTokens, result.outputTokens], [
        first.result.inputTokens,
        first.result.outputTokens
      ])
      const answers = new Map(first.result.succeeded.map((s) => [s.record.recordId, s.output.text]))
      assert.deepStrictEqual(
        result.succeeded.map((s) => [s.record.recordId, s.output.text, s.modelOutput]),
        ids.slice(25).map((id) => [id, answers.get(id), undefined])
      )
      const failures = new Map(result.failed.map((f) => [f.record.recordId, [f.kind, f.reason, f.retryable]]))
      assert.strictEqual(failures.size, 25)
      for (const id of ids.slice(0, 10)) {
        assert.deepStrictEqual(failures.get(id), ["errored", id.endsWith("1") ? "one" : "other", true], id)
      }
      for (const id of ids.slice(10, 20)) {
        assert.deepStrictEqual(failures.get(id), ["errored", "refused by the test", false])
      }
      for (const id of ids.slice(20, 25)) {
        assert.deepStrictEqual(failures.get(id), ["errored", "no outcome was recorded", false])
      }
      // Replayed: the ports that now refuse were never asked, and the job did not finish twice.
      assert.isFalse(again.events.some((event) => event._tag === "JobFinished"))
    }))

  it.effect("keeps the steps of two jobs of a run apart", () =>
    Effect.gen(function*() {
      const { store: replaying } = yield* replayingState
      const env = yield* makeEnv()
      const first = yield* runJob(100, (e) => e.layer, { env, state: replaying, label: "1" })
      const second = yield* runJob(100, (e) => e.layer, { env, state: replaying, label: "2", firstRecord: 100 })
      assert.notStrictEqual(second.result.jobName, first.result.jobName)
      assert.notStrictEqual(second.result.jobArn, first.result.jobArn)
      assert.deepStrictEqual(
        second.result.succeeded.map((s) => s.record.recordId),
        records(200).slice(100).map((r) => r.recordId)
      )
      assert.strictEqual((yield* env.sim.counters).jobsCreated, 2)
    }))
})

describe("BatchJob says what it could not read", () => {
  it.effect("warns with the job's name and reason when its output cannot be read, and not when it wrote none", () =>
    Effect.gen(function*() {
      const unreadable = yield* capturingLogs
      const { result } = yield* unreadable.capture(runJob(100, (env) =>
        portsOf(env, {
          store: { get: (ref) => (ref.key.endsWith(".jsonl.out") ? refusedGet() : env.store.service.get(ref)) }
        })))
      const warnings = unreadable.logs.filter((entry) => entry.level === "Warn")
      assert.strictEqual(warnings.length, 1)
      assert.isTrue(
        warnings[0]!.message.startsWith(`could not read the output of ${result.jobName}: `),
        warnings[0]!.message
      )
      assert.include(warnings[0]!.message, "not allowed")

      // No output file at all: every record is missing, and that is no reason for a warning.
      const absent = yield* capturingLogs
      const none = yield* absent.capture(runJob(100, (env) =>
        portsOf(env, {
          store: {
            get: (ref) =>
              ref.key.endsWith(".jsonl.out")
                ? Stream.fail(new ServiceError.NotFound({ operation: "ObjectStore.get", message: "no such key" }))
                : env.store.service.get(ref)
          }
        })))
      assert.isTrue(none.result.failed.every((failure) => failure.kind === "missing" && failure.retryable))
      assert.strictEqual(none.result.failed.length, 100)
      assert.deepStrictEqual(absent.logs.filter((entry) => entry.level === "Warn"), [])
    }))
})

describe("BatchJob that ended before answering every record", () => {
  it.effect("keeps the model's reason for a record it answered with an error; only the missing carry the job's end", () =>
    Effect.gen(function*() {
      const env = yield* makeEnv({ sim: { faults: { jobStatuses: ["PartiallyCompleted"], recordErrorRate: 0.3 } } })
      const { result } = yield* runJob(100, (e) => e.layer, { env })
      assert.strictEqual(result.status, "PartiallyCompleted")
      const errored = result.failed.filter((failure) => failure.kind === "errored")
      const missing = result.failed.filter((failure) => failure.kind === "missing")
      assert.isAbove(errored.length, 0)
      assert.isAbove(missing.length, 0)
      for (const failure of errored) assert.match(failure.reason, /^model error/)
      for (const failure of missing) assert.match(failure.reason, /^job ended PartiallyCompleted/)
    }))
})

describe("BatchJob re-attached under another ARN", () => {
  it.effect("records the ARN the service knows the job by when it differs from the one recorded", () =>
    Effect.gen(function*() {
      const env = yield* makeEnv()
      const { created, memory, spying } = yield* recordingCreates
      const first = yield* runJob(100, (e) => e.layer, { env, state: spying })
      const [job] = (yield* memory.contents).jobs
      // An older ARN of the same job, which the service still answers to with its own.
      const alias = `${job!.jobArn!}-alias`
      const again = yield* runJob(100, (e) =>
        portsOf(e, {
          batch: { getJob: (jobArn) => e.sim.service.getJob(jobArn === alias ? job!.jobArn! : jobArn) }
        }), { env, state: spying, resume: { ...job!, jobArn: alias, finished: false } })
      assert.strictEqual(again.result.jobArn, first.result.jobArn)
      assert.strictEqual(again.result.succeeded.length, 100)
      assert.strictEqual((yield* env.sim.counters).jobsCreated, 1)
      assert.deepStrictEqual(created, [first.result.jobArn, first.result.jobArn])
    }))
})
