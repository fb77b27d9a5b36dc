/**
 * The runner's on-demand path against a model runtime that misbehaves in one way at a time —
 * refuses, is out of quota, answers what cannot be read, answers late — and the run options
 * it refuses before anything is sent.
 */
import {
  BatchInference,
  type BatchJob,
  BatchRecord,
  BatchRunner,
  ModelFamily,
  ModelRuntime,
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
  makeEnv,
  record,
  records,
  replayingState,
  runOnTestClock,
  storedOutcomes
} from "../support.ts"

const answer = (text: string) => ({
  content: [{ type: "text", text }],
  stop_reason: "end_turn",
  usage: { input_tokens: 3, output_tokens: 5 }
})

/**
 * Run `n` records (fewer than a job's minimum: they all go on demand) against a runtime that
 * answers the `call`th call (1-based, per record) with `respond`.
 */
const onDemand = (
  n: number,
  respond: (call: number) => Effect.Effect<unknown, ServiceError.ServiceError>,
  overrides: Parameters<typeof config>[0] = {}
) =>
  Effect.gen(function*() {
    const cfg = yield* config({ maxRecordAttempts: 3, ...overrides })
    const env = yield* makeEnv()
    const calls = new Map<string, number>()
    const runtime = Layer.succeed(ModelRuntime.ModelRuntime, {
      invoke: (request) =>
        Effect.suspend(() => {
          const user = JSON.stringify(request.body)
          const call = (calls.get(user) ?? 0) + 1
          calls.set(user, call)
          return respond(call)
        })
    })
    const events: Array<RunEvents.RunEvent> = []
    const { outcomes, summary } = yield* runOnTestClock(
      BatchRunner.runCollect(Stream.fromIterable(records(n)), { config: cfg, runId: "run", stage: "propositions" })
        .pipe(
          Effect.provide(Layer.merge(env.layer, runtime)),
          Effect.provideService(RunEvents.RunEvents, { publish: (event) => Effect.sync(() => void events.push(event)) })
        )
    )
    return { outcomes, summary, events, calls: [...calls.values()] }
  })

const failures = (outcomes: ReadonlyArray<BatchRecord.RecordOutcome>) =>
  outcomes.flatMap((o) => (o._tag === "Failed" ? [o] : []))

const onDemandCalls = (events: ReadonlyArray<RunEvents.RunEvent>) =>
  events.flatMap((e) => (e._tag === "OnDemandCall" ? [e.ok] : []))

describe("BatchRunner on demand", () => {
  it.effect("a refused call is not made again: the record fails at once with the service's reason", () =>
    Effect.gen(function*() {
      const { calls, events, outcomes } = yield* onDemand(
        3,
        () => Effect.fail(new ServiceError.AccessDenied({ operation: "ModelRuntime.invoke", message: "no access" }))
      )
      assert.deepStrictEqual(calls, [1, 1, 1])
      const failed = failures(outcomes)
      assert.strictEqual(failed.length, 3)
      for (const failure of failed) {
        assert.match(failure.reason, /^on-demand call failed: AccessDenied/)
        assert.include(failure.reason, "no access")
        assert.strictEqual(failure.attempts, 3)
      }
      assert.deepStrictEqual(onDemandCalls(events), [false, false, false])
      assert.isFalse(events.some((event) => event._tag === "RecordsSucceeded"))
      const reported = events.flatMap((event) => (event._tag === "RecordsFailed" ? event.failures : []))
      assert.deepStrictEqual(
        reported.map((f) => f.recordId).sort(),
        records(3).map((r) => r.recordId).sort()
      )
      assert.isTrue(reported.every((f) => f.reason.startsWith("on-demand call failed: AccessDenied")))
    }))

  it.effect("a call out of quota is made again on each attempt, up to the attempt budget", () =>
    Effect.gen(function*() {
      const { calls, outcomes } = yield* onDemand(
        2,
        () => Effect.fail(new ServiceError.QuotaExceeded({ operation: "ModelRuntime.invoke", message: "too many" }))
      )
      assert.deepStrictEqual(calls, [3, 3])
      for (const failure of failures(outcomes)) assert.match(failure.reason, /^on-demand call failed: QuotaExceeded/)
    }))

  it.effect("a transient failure is retried within the call; the record succeeds on its first attempt", () =>
    Effect.gen(function*() {
      const { calls, events, outcomes } = yield* onDemand(2, (call) =>
        call <= 2
          ? Effect.fail(new ServiceError.Throttled({ operation: "ModelRuntime.invoke", message: "slow down" }))
          : Effect.succeed(answer("Title\nA fact.")))
      assert.deepStrictEqual(calls, [3, 3])
      assert.isTrue(outcomes.every((o) => o._tag === "Succeeded" && o.attempts === 1 && o.via === "onDemand"))
      assert.deepStrictEqual(onDemandCalls(events), [true, true])
    }))

  it.effect("an answer that cannot be read is asked again; the reader's reason is kept if none can be", () =>
    Effect.gen(function*() {
      const late = yield* onDemand(1, (call) => Effect.succeed(call === 1 ? { nothing: true } : answer("Title\nLate.")))
      assert.deepStrictEqual(late.calls, [2])
      const [outcome] = late.outcomes
      assert.isTrue(outcome?._tag === "Succeeded" && outcome.attempts === 2 && outcome.output.text === "Title\nLate.")
      assert.deepStrictEqual(onDemandCalls(late.events), [false, true])
      assert.strictEqual(late.summary.records.onDemand, 1)
      assert.deepStrictEqual([late.summary.tokens.input, late.summary.tokens.output], [3, 5])

      const never = yield* onDemand(1, () => Effect.succeed({ nothing: true }), { maxRecordAttempts: 2 })
      assert.deepStrictEqual(never.calls, [2])
      const [failed] = failures(never.outcomes)
      assert.match(failed!.reason, /^unreadable model output: /)
      assert.strictEqual(failed!.attempts, 2)
      assert.strictEqual(never.summary.records.failed, 1)
    }))
})

describe("BatchRunner run options", () => {
  it.effect("refuses a run id or stage that cannot name keys and jobs, before anything is sent", () =>
    Effect.gen(function*() {
      const cfg = yield* config()
      const env = yield* makeEnv()
      const refuse = (runId: string, stage: string) =>
        BatchRunner.runCollect(Stream.fromIterable(records(3)), { config: cfg, runId, stage }).pipe(
          Effect.provide(env.layer),
          Effect.flip
        )
      const badRun = yield* refuse("run one", "propositions")
      assert.strictEqual(badRun._tag, "InvalidRunOptions")
      assert.include(badRun.message, "\"run one\"")
      const badStage = yield* refuse("run", "-stage")
      assert.include(badStage.message, "\"-stage\"")
      assert.strictEqual((yield* refuse("r".repeat(65), "s"))._tag, "InvalidRunOptions")
      assert.strictEqual((yield* refuse("", "s"))._tag, "InvalidRunOptions")
      assert.strictEqual(yield* env.runtime.calls, 0)
      // The longest names that fit are accepted.
      const { outcomes } = yield* runOnTestClock(
        BatchRunner.runCollect(Stream.fromIterable(records(2)), {
          config: cfg,
          runId: `a${"b.c_d-".repeat(10)}xyz`,
          stage: "S".repeat(64)
        }).pipe(Effect.provide(env.layer))
      )
      assert.strictEqual(outcomes.length, 2)
    }))

  it.effect("reports a rejected record as failed without an attempt", () =>
    Effect.gen(function*() {
      const cfg = yield* config()
      const env = yield* makeEnv()
      const { outcomes, summary } = yield* runOnTestClock(
        BatchRunner.runCollect(Stream.make({ recordId: "bad id", modelInput: {} }), {
          config: cfg,
          runId: "run",
          stage: "s"
        }).pipe(Effect.provide(env.layer))
      )
      assert.deepStrictEqual(outcomes.map((o) => [o._tag, o.attempts, o.stage]), [["Failed", 0, "s"]])
      assert.deepStrictEqual(summary.failures.map((f) => f.recordId), ["bad id"])
    }))
})

/** A record whose body asks for `maxTokens`. */
const withLimit = (i: number, maxTokens: number): BatchRecord.BatchRecord => ({
  ...record(i),
  modelInput: { ...record(i).modelInput, max_tokens: maxTokens }
})

const answered = (recordId: string, text: string, truncated = false): BatchRecord.Succeeded => ({
  _tag: "Succeeded",
  recordId,
  stage: "propositions",
  modelOutput: undefined,
  output: {
    text,
    stopReason: truncated ? "max_tokens" : "end_turn",
    truncated,
    usage: { inputTokens: 1, outputTokens: 1 }
  },
  via: "batch",
  attempts: 1
})

describe("BatchRunner cut-off answers on demand", () => {
  /** Two records on demand: the first answered cut off (then whole), the second refused. */
  const cutOffBesideRefused = (
    reask: (call: number, body: unknown) => Effect.Effect<unknown, ServiceError.ServiceError>
  ) =>
    Effect.gen(function*() {
      const cfg = yield* config({ maxRecordAttempts: 1 })
      const env = yield* makeEnv()
      const calls: Array<{ readonly recordId: string; readonly maxTokens: unknown }> = []
      const runtime = Layer.succeed(ModelRuntime.ModelRuntime, {
        invoke: (request) =>
          Effect.suspend(() => {
            const body = request.body as { max_tokens: number; messages: Array<{ content: Array<{ text: string }> }> }
            const recordId = body.messages[0]!.content[0]!.text.includes("Record 0 ") ? "first" : "second"
            calls.push({ recordId, maxTokens: body.max_tokens })
            if (recordId === "second") {
              return Effect.fail(new ServiceError.AccessDenied({ operation: "ModelRuntime.invoke", message: "no" }))
            }
            const n = calls.filter((c) => c.recordId === "first").length
            return n === 1
              ? Effect.succeed({ ...answer("Title\nCut"), stop_reason: "max_tokens" })
              : reask(n, body)
          })
      })
      const { store } = yield* replayingState
      const { outcomes } = yield* runOnTestClock(
        BatchRunner.runCollect(Stream.make(withLimit(0, 300), withLimit(1, 300)), {
          config: cfg,
          runId: "run",
          stage: "propositions",
          reaskCutOff: true
        }).pipe(Effect.provide(Layer.merge(env.layer, runtime)), Effect.provideService(RunState.RunState, store))
      )
      return { outcomes, calls }
    })

  it.effect("asks a cut-off answer again with twice its body's limit, beside a record that failed", () =>
    Effect.gen(function*() {
      const { calls, outcomes } = yield* cutOffBesideRefused(() => Effect.succeed(answer("Title\nWhole answer.")))
      assert.deepStrictEqual(calls.filter((c) => c.recordId === "first").map((c) => c.maxTokens), [300, 600])
      const [first, second] = [record(0).recordId, record(1).recordId].map((id) =>
        outcomes.find((o) => o.recordId === id)!
      )
      assert.isTrue(first!._tag === "Succeeded" && first!.output.text === "Title\nWhole answer.")
      assert.isTrue(first!._tag === "Succeeded" && first!.partialReason === undefined && !first!.output.truncated)
      assert.isTrue(second!._tag === "Failed" && second!.reason.startsWith("on-demand call failed: AccessDenied"))
    }))

  it.effect("keeps the partial answer, with the reason, when the call asking again fails", () =>
    Effect.gen(function*() {
      const { outcomes } = yield* cutOffBesideRefused(() =>
        Effect.fail(new ServiceError.InvalidRequest({ operation: "ModelRuntime.invoke", message: "too long" }))
      )
      const first = outcomes.find((o) => o.recordId === record(0).recordId)!
      assert.isTrue(first._tag === "Succeeded" && first.output.text === "Title\nCut" && first.output.truncated)
      assert.strictEqual(
        first._tag === "Succeeded" && first.partialReason,
        "the answer was cut off at 300 tokens, and again at 600; the partial answer was kept"
      )
    }))
})

describe("BatchRunner resumed from its run state", () => {
  /** Run records(n) with a memory state that already holds `outcomes`. */
  const resumeWith = (
    n: number,
    recorded: ReadonlyArray<BatchRecord.RecordOutcome>,
    reaskCutOff: boolean
  ) =>
    Effect.gen(function*() {
      const cfg = yield* config()
      const env = yield* makeEnv()
      const state = yield* RunState.makeMemory
      yield* state.recordOutcomes("run", "propositions", recorded)
      const events: Array<RunEvents.RunEvent> = []
      const { outcomes } = yield* runOnTestClock(
        BatchRunner.runCollect(Stream.fromIterable(records(n)), {
          config: cfg,
          runId: "run",
          stage: "propositions",
          reaskCutOff
        }).pipe(
          Effect.provide(env.layer),
          Effect.provideService(RunState.RunState, state),
          Effect.provideService(RunEvents.RunEvents, { publish: (event) => Effect.sync(() => void events.push(event)) })
        )
      )
      return { outcomes, events, calls: yield* env.runtime.calls, jobs: (yield* env.sim.counters).jobsCreated }
    })

  it.effect("gives back recorded outcomes, failures too, says how many, and sends none of them", () =>
    Effect.gen(function*() {
      const ids = records(5).map((r) => r.recordId)
      const { calls, events, jobs, outcomes } = yield* resumeWith(5, [
        answered(ids[0]!, "one"),
        answered(ids[1]!, "two"),
        { _tag: "Failed", recordId: ids[2]!, stage: "propositions", reason: "refused before", attempts: 3 }
      ], false)
      assert.strictEqual(outcomes.length, 5)
      const failed = outcomes.find((o) => o.recordId === ids[2])!
      assert.isTrue(failed._tag === "Failed" && failed.reason === "refused before")
      const recovered = events.flatMap((e) => (e._tag === "RecordsRecovered" ? [[e.succeeded, e.failed]] : []))
      assert.deepStrictEqual(recovered, [[2, 1]])
      // Only the two records without an outcome went on demand.
      assert.strictEqual(calls, 2)
      assert.strictEqual(jobs, 0)
    }))

  it.effect("asks a recorded cut-off answer again only when the stage asks for it, and a partial one never", () =>
    Effect.gen(function*() {
      const ids = records(2).map((r) => r.recordId)
      const cut = answered(ids[0]!, "cut", true)
      const partial = { ...answered(ids[1]!, "partial", true), partialReason: "cut off twice" }
      const off = yield* resumeWith(2, [cut, partial], false)
      assert.strictEqual(off.calls, 0)
      const on = yield* resumeWith(2, [cut, partial], true)
      assert.strictEqual(on.calls, 1)
      const again = on.outcomes.find((o) => o.recordId === ids[0])!
      assert.isTrue(again._tag === "Succeeded" && !again.output.truncated && again.via === "onDemand")
      const kept = on.outcomes.find((o) => o.recordId === ids[1])!
      assert.isTrue(kept._tag === "Succeeded" && kept.partialReason === "cut off twice")
    }))
})

describe("BatchRunner retries", () => {
  /** Run `n` records on ports where `override` replaces parts of the environment's. */
  const runOn = (
    n: number,
    override: (env: Env) => {
      readonly store?: Partial<ObjectStore.ObjectStore["Service"]>
      readonly batch?: Partial<BatchInference.BatchInference["Service"]>
    },
    overrides: Parameters<typeof config>[0] = {}
  ) =>
    Effect.gen(function*() {
      const cfg = yield* config({ maxRecordAttempts: 3, ...overrides })
      const env = yield* makeEnv()
      const state = yield* RunState.makeMemory
      const replaced = override(env)
      const ports = Layer.mergeAll(
        env.layer,
        Layer.succeed(ObjectStore.ObjectStore, { ...env.store.service, ...replaced.store }),
        Layer.succeed(BatchInference.BatchInference, { ...env.sim.service, ...replaced.batch })
      )
      const events: Array<RunEvents.RunEvent> = []
      const { outcomes, summary } = yield* runOnTestClock(
        BatchRunner.runCollect(Stream.fromIterable(records(n)), { config: cfg, runId: "run", stage: "propositions" })
          .pipe(
            Effect.provide(ports),
            Effect.provideService(RunState.RunState, state),
            Effect.provideService(RunEvents.RunEvents, {
              publish: (event) => Effect.sync(() => void events.push(event))
            })
          )
      )
      return { outcomes, summary, events, state, env }
    })

  it.effect("sends a job that could not be staged again as a new job, up to the attempt budget", () =>
    Effect.gen(function*() {
      const { events, outcomes, state } = yield* runOn(100, () => ({
        store: {
          put: () => Effect.fail(new ServiceError.AccessDenied({ operation: "ObjectStore.put", message: "no" }))
        }
      }))
      assert.strictEqual(outcomes.length, 100)
      assert.isTrue(outcomes.every((o) => o._tag === "Failed" && o.attempts === 3))
      assert.isTrue(outcomes.every((o) => o._tag === "Failed" && o.reason.startsWith("could not stage the input file")))
      const retried = events.flatMap((e) => (e._tag === "RecordsRetried" ? [[e.count, e.via, e.attempt]] : []))
      assert.deepStrictEqual(retried, [[100, "batch", 2], [100, "batch", 3]])
      const planned = events.flatMap((e) => (e._tag === "JobPlanned" ? [[e.attempt, e.jobName]] : []))
      assert.deepStrictEqual(planned.map(([attempt]) => attempt), [1, 2, 3])
      assert.match(String(planned[1]![1]), /-1r2-/)
      assert.match(String(planned[2]![1]), /-1r2r3-/)
      assert.strictEqual(storedOutcomes(yield* state.contents, "run", "propositions").size, 100)
    }))

  it.effect("sends records that go again as a new job when they are exactly a job's minimum", () =>
    Effect.gen(function*() {
      let puts = 0
      const { events, outcomes } = yield* runOn(100, (env) => ({
        store: {
          // The first job's input cannot be staged; the retry's can.
          put: (ref, body, options) =>
            puts++ === 0
              ? Effect.fail(new ServiceError.AccessDenied({ operation: "ObjectStore.put", message: "no" }))
              : env.store.service.put(ref, body, options)
        }
      }), { minRecordsPerJob: 100, maxBatchSize: 100 })
      const retried = events.flatMap((e) => (e._tag === "RecordsRetried" ? [[e.count, e.via, e.attempt]] : []))
      assert.deepStrictEqual(retried, [[100, "batch", 2]])
      assert.isTrue(outcomes.every((o) => o._tag === "Succeeded" && o.attempts === 2 && o.via === "batch"))
    }))

  it.effect("does not send again what the service refused for good, and records the job as ended", () =>
    Effect.gen(function*() {
      let creates = 0
      const { events, outcomes, state } = yield* runOn(120, () => ({
        batch: {
          createJob: () =>
            Effect.suspend(() => {
              creates++
              return Effect.fail(
                new ServiceError.AccessDenied({ operation: "BatchInference.createJob", message: "no" })
              )
            })
        }
      }))
      assert.strictEqual(creates, 1)
      assert.isTrue(outcomes.every((o) => o._tag === "Failed" && o.attempts === 1))
      assert.isFalse(events.some((e) => e._tag === "RecordsRetried"))
      assert.deepStrictEqual(yield* state.openJobs("run", "propositions"), [])
    }))

  it.effect("records a job whose records all go again as ended, so a resumed run does not re-attach it", () =>
    Effect.gen(function*() {
      let reads = 0
      const { outcomes, state } = yield* runOn(100, (env) => ({
        store: {
          // The first job's output cannot be read: every record of it goes again.
          get: (ref) =>
            ref.key.endsWith(".jsonl.out") && reads++ === 0
              ? Stream.fail(new ServiceError.AccessDenied({ operation: "ObjectStore.get", message: "no" }))
              : env.store.service.get(ref)
        }
      }))
      assert.isTrue(outcomes.every((o) => o._tag === "Succeeded" && o.attempts === 2))
      assert.deepStrictEqual(yield* state.openJobs("run", "propositions"), [])
      const { jobs } = yield* state.contents
      assert.strictEqual(jobs.length, 2)
      assert.isTrue(jobs.every((job) => job.finished && job.status === "Completed"))
    }))

  it.effect("records a rejected record's outcome in the run state", () =>
    Effect.gen(function*() {
      const cfg = yield* config()
      const env = yield* makeEnv()
      const state = yield* RunState.makeMemory
      yield* runOnTestClock(
        BatchRunner.runCollect(Stream.make({ recordId: "bad id", modelInput: {} }), {
          config: cfg,
          runId: "run",
          stage: "s"
        }).pipe(Effect.provide(env.layer), Effect.provideService(RunState.RunState, state))
      )
      const stored = storedOutcomes(yield* state.contents, "run", "s").get("bad id")
      assert.isTrue(stored?._tag === "Failed" && stored.attempts === 0)
    }))
})

describe("BatchRunner on demand in a durable run", () => {
  it.effect("keeps each record's on-demand call and re-ask apart", () =>
    Effect.gen(function*() {
      const cfg = yield* config()
      const env = yield* makeEnv()
      const { store } = yield* replayingState
      const runtime = Layer.succeed(ModelRuntime.ModelRuntime, {
        invoke: (request) =>
          Effect.sync(() => {
            const body = request.body as { max_tokens: number; messages: Array<{ content: Array<{ text: string }> }> }
            const text = body.messages[0]!.content[0]!.text
            const cut = body.max_tokens < 1000
            return { ...answer(`Title\n${text}`), stop_reason: cut ? "max_tokens" : "end_turn" }
          })
      })
      const run = BatchRunner.runCollect(
        Stream.fromIterable([withLimit(0, 500), withLimit(1, 500), withLimit(2, 500)]),
        {
          config: cfg,
          runId: "run",
          stage: "propositions",
          reaskCutOff: true
        }
      ).pipe(Effect.provide(Layer.merge(env.layer, runtime)), Effect.provideService(RunState.RunState, store))
      const first = yield* runOnTestClock(run)
      const again = yield* runOnTestClock(run)
      for (const { outcomes } of [first, again]) {
        assert.strictEqual(outcomes.length, 3)
        assert.deepStrictEqual(outcomes.map((o) => o.recordId).sort(), records(3).map((r) => r.recordId).sort())
        for (const outcome of outcomes) {
          const i = records(3).findIndex((r) => r.recordId === outcome.recordId)
          assert.isTrue(outcome._tag === "Succeeded" && outcome.output.text.includes(`Record ${i} `), outcome.recordId)
          assert.isTrue(outcome._tag === "Succeeded" && !outcome.output.truncated)
        }
      }
    }))
})

describe("BatchRunner with a job that answered in part", () => {
  /** The ports with a store that gives back only the even lines of every job's output. */
  const halfAnswered = (env: Env) =>
    Layer.merge(
      env.layer,
      Layer.succeed(ObjectStore.ObjectStore, {
        ...env.store.service,
        get: (ref) =>
          ref.key.endsWith(".jsonl.out")
            ? Stream.unwrap(Effect.map(env.store.read(ref), (text) => {
              const lines = text._tag === "Some" ? text.value.split("\n").filter((line) => line !== "") : []
              const kept = lines.filter((_, i) => i % 2 === 0).join("\n") + "\n"
              return Stream.make(new TextEncoder().encode(kept))
            }))
            : env.store.service.get(ref)
      })
    )

  it.effect("sends what is missing on demand when it is fewer than a job's minimum, as the next attempt", () =>
    Effect.gen(function*() {
      const cfg = yield* config()
      const env = yield* makeEnv()
      const events: Array<RunEvents.RunEvent> = []
      const { outcomes } = yield* runOnTestClock(
        BatchRunner.runCollect(Stream.fromIterable(records(120)), { config: cfg, runId: "run", stage: "propositions" })
          .pipe(
            Effect.provide(halfAnswered(env)),
            Effect.provideService(RunEvents.RunEvents, {
              publish: (event) => Effect.sync(() => void events.push(event))
            })
          )
      )
      const retried = events.flatMap((e) => (e._tag === "RecordsRetried" ? [[e.count, e.via, e.attempt]] : []))
      assert.deepStrictEqual(retried, [[60, "onDemand", 2]])
      const byVia = outcomes.map((o) => (o._tag === "Succeeded" ? `${o.via}:${o.attempts}` : "failed"))
      assert.strictEqual(byVia.filter((v) => v === "batch:1").length, 60)
      assert.strictEqual(byVia.filter((v) => v === "onDemand:2").length, 60)
    }))

  it.effect("replays a durable run to the same outcomes, the records that went again included", () =>
    Effect.gen(function*() {
      const cfg = yield* config()
      const env = yield* makeEnv()
      const { store } = yield* replayingState
      const run = BatchRunner.runCollect(Stream.fromIterable(records(120)), {
        config: cfg,
        runId: "run",
        stage: "propositions"
      }).pipe(Effect.provide(halfAnswered(env)), Effect.provideService(RunState.RunState, store))
      const first = yield* runOnTestClock(run)
      const replayed = yield* runOnTestClock(run)
      const view = (outcomes: ReadonlyArray<BatchRecord.RecordOutcome>) =>
        outcomes.map((o) => [o.recordId, o._tag, o.attempts]).sort()
      assert.deepStrictEqual(view(replayed.outcomes), view(first.outcomes))
      assert.isTrue(replayed.outcomes.every((o) => o._tag === "Succeeded"))
    }))
})

describe("BatchRunner re-attaching the jobs of an interrupted run", () => {
  /** Start a run of 150 records, interrupt it while its job runs (left running), then resume. */
  const interruptedThenResumed = (beforeResume: (env: Env, state: RunState.Store) => Effect.Effect<void>) =>
    Effect.gen(function*() {
      const cfg = yield* config({ stopJobsOnInterrupt: false })
      const env = yield* makeEnv()
      const state = yield* RunState.makeMemory
      const events: Array<RunEvents.RunEvent> = []
      const run = BatchRunner.runCollect(Stream.fromIterable(records(150)), {
        config: cfg,
        runId: "run",
        stage: "propositions"
      }).pipe(
        Effect.provide(env.layer),
        Effect.provideService(RunState.RunState, state),
        Effect.provideService(RunEvents.RunEvents, { publish: (event) => Effect.sync(() => void events.push(event)) })
      )
      const fiber = yield* Effect.forkChild(run)
      yield* TestClock.adjust(Duration.minutes(1))
      yield* Fiber.interrupt(fiber)
      const before = events.length
      yield* beforeResume(env, state)
      const { outcomes } = yield* runOnTestClock(run)
      return { outcomes, first: events.slice(0, before), resumed: events.slice(before), env }
    })

  const planned = (events: ReadonlyArray<RunEvents.RunEvent>) =>
    events.flatMap((e) => (e._tag === "JobPlanned" ? [[e.jobName, e.records, e.bytes]] : []))

  it.effect("re-attaches the job as it was planned: the same records and bytes", () =>
    Effect.gen(function*() {
      const { env, first, outcomes, resumed } = yield* interruptedThenResumed(() => Effect.void)
      assert.strictEqual(outcomes.length, 150)
      assert.deepStrictEqual(planned(resumed), planned(first))
      assert.strictEqual((yield* env.sim.counters).jobsCreated, 1)
    }))

  it.effect("plans the records again when the input of an open job can no longer be read", () =>
    Effect.gen(function*() {
      const { env, outcomes } = yield* interruptedThenResumed((env, state) =>
        Effect.gen(function*() {
          const [job] = yield* Effect.orDie(state.openJobs("run", "propositions"))
          yield* Effect.orDie(env.store.service.deleteMany(job!.bucket, [job!.inputKey]))
        })
      )
      assert.strictEqual(outcomes.length, 150)
      assert.isTrue(outcomes.every((o) => o._tag === "Succeeded"))
      assert.strictEqual((yield* env.sim.counters).jobsCreated, 2)
    }))
})

describe("BatchRunner re-attaching, what comes in and what it says", () => {
  /**
   * Run `first` records (150 by default) until their jobs run (left running on interrupt), then
   * resume the run on `resumed` (the same records by default), its logs captured.
   */
  const resumeAfterInterrupt = (options: {
    readonly first?: ReadonlyArray<BatchRecord.BatchRecord>
    readonly resumed?: Stream.Stream<BatchRecord.BatchRecord>
    readonly overrides?: Parameters<typeof config>[0]
    readonly sim?: Parameters<typeof makeEnv>[0]
    readonly beforeResume?: (env: Env, state: RunState.Store) => Effect.Effect<void, unknown>
  } = {}) =>
    Effect.gen(function*() {
      const cfg = yield* config({ stopJobsOnInterrupt: false, ...options.overrides })
      const env = yield* makeEnv(options.sim)
      const state = yield* RunState.makeMemory
      const events: Array<RunEvents.RunEvent> = []
      const first = options.first ?? records(150)
      const run = (input: Stream.Stream<BatchRecord.BatchRecord>) =>
        BatchRunner.runCollect(input, { config: cfg, runId: "run", stage: "propositions" }).pipe(
          Effect.provide(env.layer),
          Effect.provideService(RunState.RunState, state),
          Effect.provideService(RunEvents.RunEvents, { publish: (event) => Effect.sync(() => void events.push(event)) })
        )
      const fiber = yield* Effect.forkChild(run(Stream.fromIterable(first)))
      yield* TestClock.adjust(Duration.minutes(1))
      yield* Fiber.interrupt(fiber)
      const before = events.length
      const open = yield* Effect.orDie(state.openJobs("run", "propositions"))
      if (options.beforeResume !== undefined) yield* Effect.orDie(options.beforeResume(env, state))
      const { capture, logs } = yield* capturingLogs
      const { outcomes } = yield* capture(runOnTestClock(run(options.resumed ?? Stream.fromIterable(first))))
      return { outcomes, open, resumed: events.slice(before), env, logs, jobs: (yield* env.sim.counters).jobsCreated }
    })

  const warnings = (logs: ReadonlyArray<{ readonly level: string; readonly message: string }>) =>
    logs.flatMap((entry) => (entry.level === "Warn" ? [entry.message] : []))

  it.effect("re-attaches a job whose staged input has blank lines between its records", () =>
    Effect.gen(function*() {
      const { jobs, outcomes } = yield* resumeAfterInterrupt({
        beforeResume: (env, state) =>
          Effect.gen(function*() {
            const [job] = yield* state.openJobs("run", "propositions")
            const ref = { bucket: job!.bucket, key: job!.inputKey }
            const text = yield* env.store.read(ref)
            const lines = text._tag === "Some" ? text.value.split("\n").filter((line) => line !== "") : []
            yield* env.store.write(ref, lines.join("\n\n   \n") + "\n")
          })
      })
      assert.strictEqual(outcomes.length, 150)
      assert.isTrue(outcomes.every((o) => o._tag === "Succeeded" && o.via === "batch"))
      assert.strictEqual(jobs, 1)
    }))

  it.effect("warns, naming the job and the reason, when the input of an open job cannot be read", () =>
    Effect.gen(function*() {
      const { logs, open, outcomes } = yield* resumeAfterInterrupt({
        beforeResume: (env, state) =>
          Effect.gen(function*() {
            const [job] = yield* state.openJobs("run", "propositions")
            yield* env.store.service.deleteMany(job!.bucket, [job!.inputKey])
          })
      })
      assert.strictEqual(outcomes.length, 150)
      const [warning, ...others] = warnings(logs)
      assert.deepStrictEqual(others, [])
      assert.isTrue(warning!.startsWith(`cannot re-attach ${open[0]!.jobName}: its input is unreadable (`), warning)
      assert.isTrue(warning!.endsWith("); its records are planned again"), warning)
    }))

  it.effect("emits the outcomes of a re-attached job that ended before its records came in, once they come", () =>
    Effect.gen(function*() {
      const { jobs, logs, outcomes } = yield* resumeAfterInterrupt({
        resumed: Stream.fromEffect(Effect.sleep(Duration.hours(3))).pipe(
          Stream.flatMap(() => Stream.fromIterable(records(150)))
        )
      })
      assert.strictEqual(outcomes.length, 150)
      assert.deepStrictEqual(
        outcomes.map((o) => o.recordId).sort(),
        records(150).map((r) => r.recordId).sort()
      )
      assert.isTrue(outcomes.every((o) => o._tag === "Succeeded" && o.via === "batch"))
      assert.strictEqual(jobs, 1)
      assert.deepStrictEqual(warnings(logs), [])
    }))

  it.effect("keeps in the run state only the outcomes of re-attached records no longer among the inputs, and says so", () =>
    Effect.gen(function*() {
      const { logs, outcomes } = yield* resumeAfterInterrupt({ resumed: Stream.fromIterable(records(100)) })
      assert.deepStrictEqual(
        outcomes.map((o) => o.recordId).sort(),
        records(100).map((r) => r.recordId).sort()
      )
      assert.deepStrictEqual(warnings(logs), [
        "50 records of re-attached propositions jobs are no longer among the inputs; " +
        "their outcomes stay in the run state only"
      ])
    }))

  it.effect("does not count a re-attached record as recovered, even with an outcome recorded", () =>
    Effect.gen(function*() {
      const { outcomes, resumed } = yield* resumeAfterInterrupt({
        beforeResume: (_, state) =>
          state.recordOutcomes("run", "propositions", [answered(record(0).recordId, "recorded early")])
      })
      assert.strictEqual(outcomes.length, 150)
      assert.isFalse(resumed.some((event) => event._tag === "RecordsRecovered"))
      const first = outcomes.find((o) => o.recordId === record(0).recordId)!
      assert.isTrue(first._tag === "Succeeded" && first.via === "batch")
    }))

  it.effect("answers a re-attached record from its job, whatever body it comes in with now", () =>
    Effect.gen(function*() {
      // A body that can no longer be serialized: it is never read again.
      const changed = { ...record(0), modelInput: { ...record(0).modelInput, seed: BigInt(7) } }
      const { jobs, outcomes } = yield* resumeAfterInterrupt({
        resumed: Stream.fromIterable([changed, ...records(150).slice(1)])
      })
      assert.strictEqual(outcomes.length, 150)
      assert.isTrue(outcomes.every((o) => o._tag === "Succeeded" && o.via === "batch"))
      assert.strictEqual(jobs, 1)
    }))

  it.effect("emits the outcomes of re-attached jobs as each ends, the shorter job's first", () =>
    Effect.gen(function*() {
      const { jobs, open, outcomes } = yield* resumeAfterInterrupt({
        first: records(250),
        overrides: { maxBatchSize: 150, pollMaxSeconds: 60 },
        sim: { sim: { timings: { perRecordMs: 20_000 } } }
      })
      assert.deepStrictEqual(open.map((job) => job.records).sort(), [100, 150])
      assert.strictEqual(jobs, 2)
      assert.strictEqual(outcomes.length, 250)
      const shorter = new Set(records(250).slice(150).map((r) => r.recordId))
      assert.isTrue(outcomes.slice(0, 100).every((o) => shorter.has(o.recordId)))
    }))
})

describe("BatchRunner emits outcomes as they come", () => {
  it.effect("reports a rejected record before the outcomes of a job planned ahead of it", () =>
    Effect.gen(function*() {
      const cfg = yield* config({ maxBatchSize: 100 })
      const env = yield* makeEnv()
      const { outcomes } = yield* runOnTestClock(
        BatchRunner.runCollect(
          Stream.fromIterable([...records(201), { recordId: "bad id", modelInput: {} }]),
          { config: cfg, runId: "run", stage: "propositions" }
        ).pipe(Effect.provide(env.layer))
      )
      assert.strictEqual(outcomes.length, 202)
      assert.deepStrictEqual([outcomes[0]!.recordId, outcomes[0]!._tag], ["bad id", "Failed"])
    }))
})

describe("BatchRunner cut-off answers at the model's largest limit", () => {
  it.effect("keeps a Llama answer cut off at the family's largest limit, with the reason, without asking again", () =>
    Effect.gen(function*() {
      const cfg = yield* config({
        model: { modelId: "meta.llama3-1-8b-instruct-v1:0", maxTokens: 2048 },
        maxRecordAttempts: 1
      })
      const env = yield* makeEnv()
      let calls = 0
      const runtime = Layer.succeed(ModelRuntime.ModelRuntime, {
        invoke: () =>
          Effect.sync(() => {
            calls++
            return { generation: "Title\nCut", stop_reason: "length", prompt_token_count: 3, generation_token_count: 5 }
          })
      })
      const body = ModelFamily.llama.buildRequest({ user: "Say hi." }, { maxTokens: 2048 })
      const { outcomes } = yield* runOnTestClock(
        BatchRunner.runCollect(Stream.make({ recordId: "r1", modelInput: body }), {
          config: cfg,
          runId: "run",
          stage: "propositions",
          reaskCutOff: true
        }).pipe(Effect.provide(Layer.merge(env.layer, runtime)))
      )
      assert.strictEqual(calls, 1)
      const [outcome] = outcomes
      assert.isTrue(outcome?._tag === "Succeeded" && outcome.output.text === "Title\nCut" && outcome.output.truncated)
      assert.strictEqual(
        outcome?._tag === "Succeeded" && outcome.partialReason,
        "the answer was cut off at 2048 tokens, the model's largest limit; the partial answer was kept"
      )
      assert.strictEqual(outcome?.recordId, "r1")
    }))
})

describe("BatchRunner on-demand concurrency", () => {
  it.effect("makes on-demand calls, and asks cut-off answers again, several at once", () =>
    Effect.gen(function*() {
      const cfg = yield* config({ onDemandConcurrency: 3 })
      const env = yield* makeEnv()
      const inFlight = new Map<number, number>()
      const peak = new Map<number, number>()
      const runtime = Layer.succeed(ModelRuntime.ModelRuntime, {
        invoke: (request) => {
          const limit = (request.body as { max_tokens: number }).max_tokens
          return Effect.acquireUseRelease(
            Effect.sync(() => {
              const now = (inFlight.get(limit) ?? 0) + 1
              inFlight.set(limit, now)
              peak.set(limit, Math.max(peak.get(limit) ?? 0, now))
            }),
            () =>
              Effect.as(Effect.sleep(Duration.seconds(5)), {
                ...answer("Title\nA fact."),
                stop_reason: limit < 1000 ? "max_tokens" : "end_turn"
              }),
            () => Effect.sync(() => void inFlight.set(limit, inFlight.get(limit)! - 1))
          )
        }
      })
      const { outcomes } = yield* runOnTestClock(
        BatchRunner.runCollect(Stream.fromIterable([withLimit(0, 500), withLimit(1, 500), withLimit(2, 500)]), {
          config: cfg,
          runId: "run",
          stage: "propositions",
          reaskCutOff: true
        }).pipe(Effect.provide(Layer.merge(env.layer, runtime))),
        { step: Duration.seconds(1) }
      )
      assert.isTrue(outcomes.every((o) => o._tag === "Succeeded" && !o.output.truncated))
      assert.deepStrictEqual([peak.get(500), peak.get(1000)], [3, 3])
    }))
})

describe("BatchRunner says where records go", () => {
  it.effect("says at debug level which records go on demand and which go again, and why", () =>
    Effect.gen(function*() {
      const cfg = yield* config()
      const env = yield* makeEnv()
      const small = yield* capturingLogs
      yield* small.capture(runOnTestClock(
        BatchRunner.runCollect(Stream.fromIterable(records(3)), { config: cfg, runId: "run", stage: "propositions" })
          .pipe(Effect.provide(env.layer))
      ))
      assert.include(
        small.logs.filter((entry) => entry.level === "Debug").map((entry) => entry.message),
        "3 records go on demand: 3 records, below the minimum of 100 per job"
      )

      // A job whose output file holds only its first 40 answers: the other 60 go again.
      const events: Array<RunEvents.RunEvent> = []
      const partial = Layer.merge(
        env.layer,
        Layer.succeed(ObjectStore.ObjectStore, {
          ...env.store.service,
          get: (ref) =>
            ref.key.endsWith(".jsonl.out")
              ? Stream.unwrap(Effect.map(env.store.read(ref), (text) => {
                const lines = text._tag === "Some" ? text.value.split("\n").filter((line) => line !== "") : []
                const byId = (line: string) => (JSON.parse(line) as { recordId: string }).recordId
                const first = new Set(records(40).map((r) => r.recordId))
                return Stream.make(
                  new TextEncoder().encode(lines.filter((line) => first.has(byId(line))).join("\n") + "\n")
                )
              }))
              : env.store.service.get(ref)
        })
      )
      const retried = yield* capturingLogs
      yield* retried.capture(runOnTestClock(
        BatchRunner.runCollect(Stream.fromIterable(records(100)), { config: cfg, runId: "run2", stage: "propositions" })
          .pipe(
            Effect.provide(partial),
            Effect.provideService(RunEvents.RunEvents, {
              publish: (event) => Effect.sync(() => void events.push(event))
            })
          )
      ))
      const planned = events.find((event) => event._tag === "JobPlanned")
      const jobName = planned?._tag === "JobPlanned" ? planned.jobName : ""
      assert.include(
        retried.logs.filter((entry) => entry.level === "Debug").map((entry) => entry.message),
        `60 records of ${jobName} go again (last reason: no output line for this record)`
      )
    }))
})

describe("BatchRunner in a durable run keeps what goes again", () => {
  it.effect("keeps, in a job's output step, the records that go again and why", () =>
    Effect.gen(function*() {
      const cfg = yield* config()
      const env = yield* makeEnv()
      const { kept, store } = yield* replayingState
      // The first job's output file cannot be read: every record of it goes again.
      let reads = 0
      const ports = Layer.merge(
        env.layer,
        Layer.succeed(ObjectStore.ObjectStore, {
          ...env.store.service,
          get: (ref) =>
            ref.key.endsWith(".jsonl.out") && reads++ === 0
              ? Stream.fail(new ServiceError.AccessDenied({ operation: "ObjectStore.get", message: "no" }))
              : env.store.service.get(ref)
        })
      )
      yield* runOnTestClock(
        BatchRunner.runCollect(Stream.fromIterable(records(100)), { config: cfg, runId: "run", stage: "propositions" })
          .pipe(Effect.provide(ports), Effect.provideService(RunState.RunState, store))
      )
      const outputs = [...kept].filter(([name]) => name.startsWith("output/")).map(([, value]) => value) as Array<
        BatchJob.Settled
      >
      assert.strictEqual(outputs.length, 2)
      const again = outputs.flatMap((settled) => settled.again)
      assert.deepStrictEqual(again.map((group) => group.reason), ["no output line for this record"])
      assert.deepStrictEqual([...again[0]!.recordIds].sort(), records(100).map((r) => r.recordId).sort())
    }))
})

describe("BatchRunner with no attempt allowed", () => {
  it.effect("reports a record failed as not attempted when its configuration allows no attempt", () =>
    Effect.gen(function*() {
      // A configuration built by hand (the decoder would refuse it) that allows no attempt.
      const cfg = { ...(yield* config()), maxRecordAttempts: 0 }
      const env = yield* makeEnv()
      const { outcomes } = yield* runOnTestClock(
        BatchRunner.runCollect(Stream.fromIterable(records(2)), { config: cfg, runId: "run", stage: "propositions" })
          .pipe(Effect.provide(env.layer))
      )
      assert.deepStrictEqual(outcomes.map((o) => o._tag === "Failed" && o.reason), ["not attempted", "not attempted"])
      assert.strictEqual(yield* env.runtime.calls, 0)
    }))
})
