/**
 * The runner's `reaskCutOff` policy: an answer cut off at its token limit is asked again on
 * demand with twice the limit; the whole answer replaces it (in the run state too, so a resumed
 * run does not ask again), and an answer cut off again is kept, partial, with the reason.
 */
import { type BatchConfig, type BatchRecord, BatchRunner, ModelFamily, RunEvents, RunState } from "@batch-extract/core"
import { OfflineModel } from "@batch-extract/core/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, Stream } from "effect"
import { config, type Env, makeEnv, records, runOnTestClock, storedOutcomes } from "../support.ts"

/**
 * A fake model runtime: the offline model's answers, cut off whenever `cutOffAt` says so for
 * the body's token limit; it notes the token limit of every call.
 */
const fakeRuntime = (cutOffAt: (maxTokens: number) => boolean) => {
  const limits: Array<number> = []
  const respond = (family: ModelFamily.ModelFamily, body: unknown) => {
    const maxTokens = family.maxTokensOf(body as Record<string, unknown>) ?? -1
    limits.push(maxTokens)
    return Result.map(OfflineModel.respond(family, body), (response) => {
      if (!cutOffAt(maxTokens)) return response
      const whole = Result.getOrThrow(family.readOutput(response))
      return OfflineModel.toResponse(family, whole.text.slice(0, 10), whole.usage, true)
    })
  }
  return { limits, respond }
}

/** Run records through one stage, with the events it published. */
const runStage = (
  env: Env,
  state: RunState.Store,
  options: { readonly config: BatchConfig.BatchConfig; readonly n: number; readonly reaskCutOff?: boolean }
) =>
  Effect.gen(function*() {
    const events: Array<RunEvents.RunEvent> = []
    const { outcomes } = yield* runOnTestClock(
      BatchRunner.runCollect(Stream.fromIterable(records(options.n)), {
        config: options.config,
        runId: "cut",
        stage: "propositions",
        reaskCutOff: options.reaskCutOff
      }).pipe(
        Effect.provide(env.layer),
        Effect.provideService(RunState.RunState, state),
        Effect.provideService(RunEvents.RunEvents, { publish: (event) => Effect.sync(() => void events.push(event)) })
      )
    )
    return { outcomes, events }
  })

const succeeded = (outcomes: ReadonlyArray<BatchRecord.RecordOutcome>) =>
  outcomes.filter((o): o is BatchRecord.Succeeded => o._tag === "Succeeded")

const texts = (outcomes: ReadonlyArray<BatchRecord.RecordOutcome>) =>
  new Map(succeeded(outcomes).map((o) => [o.recordId, o.output.text]))

const onDemandCalls = (events: ReadonlyArray<RunEvents.RunEvent>) =>
  events.filter((e): e is RunEvents.OnDemandCall => e._tag === "OnDemandCall")

describe("BatchRunner: cut-off answers", () => {
  it.effect("asks a cut-off answer again on demand with twice the tokens and delivers the whole answer", () =>
    Effect.gen(function*() {
      const cfg = yield* config() // maxTokens 2000
      // The reference: the whole answers, straight from a batch job.
      const reference = yield* runStage(yield* makeEnv(), yield* RunState.makeMemory, { config: cfg, n: 150 })

      // Every answer of the batch job is cut off; on demand the model answers whole.
      const runtime = fakeRuntime(() => false)
      const env = yield* makeEnv({ sim: { faults: { truncatedRate: 1 } }, runtime: { respond: runtime.respond } })
      const state = yield* RunState.makeMemory
      const { events, outcomes } = yield* runStage(env, state, { config: cfg, n: 150, reaskCutOff: true })

      assert.strictEqual(outcomes.length, 150)
      assert.strictEqual(succeeded(outcomes).length, 150)
      for (const outcome of succeeded(outcomes)) {
        assert.isFalse(outcome.output.truncated, outcome.recordId)
        assert.isUndefined(outcome.partialReason)
        assert.strictEqual(outcome.via, "onDemand")
        assert.strictEqual(outcome.attempts, 1)
      }
      assert.deepStrictEqual(texts(outcomes), texts(reference.outcomes))
      // One call per record, with twice the body's token limit.
      assert.deepStrictEqual(runtime.limits, Array.from({ length: 150 }, () => 4000))
      // The runner's on-demand events; the records were counted once, when their batch answer came in.
      const calls = onDemandCalls(events)
      assert.strictEqual(calls.length, 150)
      assert.isTrue(calls.every((e) => e.ok && e.stage === "propositions"))
      const counted = events.flatMap((e) => e._tag === "RecordsSucceeded" ? [e] : [])
      assert.deepStrictEqual(counted.map((e) => [e.via, e.count]), [["batch", 150]])

      // The run state holds the whole answers: a resumed run does not ask again.
      const stored = storedOutcomes(yield* state.contents, "cut", "propositions")
      assert.strictEqual(stored.size, 150)
      for (const outcome of stored.values()) {
        assert.isTrue(outcome._tag === "Succeeded" && !outcome.output.truncated && outcome.via === "onDemand")
      }
      const resumed = yield* runStage(env, state, { config: cfg, n: 150, reaskCutOff: true })
      assert.deepStrictEqual(texts(resumed.outcomes), texts(reference.outcomes))
      assert.strictEqual(yield* env.runtime.calls, 150)
      assert.strictEqual(onDemandCalls(resumed.events).length, 0)
      assert.strictEqual((yield* env.sim.counters).jobsCreated, 1)
    }))

  it.effect("an answer cut off again is kept, partial, with the reason", () =>
    Effect.gen(function*() {
      const cfg = yield* config() // maxTokens 2000
      // Fewer records than a job takes: they go on demand, and the model cuts off every answer,
      // the first and the one asked again.
      const runtime = fakeRuntime(() => true)
      const env = yield* makeEnv({ runtime: { respond: runtime.respond } })
      const state = yield* RunState.makeMemory
      const { events, outcomes } = yield* runStage(env, state, { config: cfg, n: 10, reaskCutOff: true })

      assert.strictEqual(succeeded(outcomes).length, 10)
      for (const outcome of succeeded(outcomes)) {
        assert.isTrue(outcome.output.truncated)
        assert.strictEqual(outcome.output.text.length, 10)
        assert.strictEqual(
          outcome.partialReason,
          "the answer was cut off at 2000 tokens, and again at 4000; the partial answer was kept"
        )
      }
      assert.deepStrictEqual(
        [...runtime.limits].sort(),
        [...Array.from({ length: 10 }, () => 2000), ...Array.from({ length: 10 }, () => 4000)]
      )
      assert.strictEqual(onDemandCalls(events).length, 20)
      // The run state keeps the cut-off answer (without the reason): a resumed run asks again.
      const stored = storedOutcomes(yield* state.contents, "cut", "propositions")
      assert.strictEqual(stored.size, 10)
      for (const outcome of stored.values()) {
        assert.isTrue(outcome._tag === "Succeeded" && outcome.output.truncated && outcome.partialReason === undefined)
      }
      const resumed = yield* runStage(env, state, { config: cfg, n: 10, reaskCutOff: true })
      assert.strictEqual(yield* env.runtime.calls, 30)
      assert.isTrue(succeeded(resumed.outcomes).every((o) => o.partialReason !== undefined))
    }))

  it.effect("a Llama answer cut off at the family's largest limit (2048) is kept without asking again", () =>
    Effect.gen(function*() {
      const cfg = yield* config({ model: { modelId: "us.meta.llama3-3-70b-instruct-v1:0", maxTokens: 4000 } })
      const family = ModelFamily.llama
      const body = family.buildRequest({ user: "<text>Alice Smith lives in Boston.</text>" }, { maxTokens: 4000 })
      assert.strictEqual(family.maxTokensOf(body), 2048, "the body asks for at most 2048 tokens")
      assert.strictEqual(family.maxTokensOf(family.withMaxTokens(body, 8000)), 2048)
      const runtime = fakeRuntime(() => true)
      const env = yield* makeEnv({ runtime: { respond: runtime.respond } })
      const { outcomes } = yield* runOnTestClock(
        BatchRunner.runCollect(
          Stream.fromIterable(Array.from({ length: 5 }, (_, i) => ({ recordId: `l${i}`, modelInput: body }))),
          { config: cfg, runId: "llama", stage: "propositions", reaskCutOff: true }
        ).pipe(Effect.provide(env.layer), Effect.provideService(RunState.RunState, yield* RunState.makeMemory))
      )
      assert.deepStrictEqual(runtime.limits, [2048, 2048, 2048, 2048, 2048], "no second call")
      for (const outcome of succeeded(outcomes)) {
        assert.strictEqual(
          outcome.partialReason,
          "the answer was cut off at 2048 tokens, the model's largest limit; the partial answer was kept"
        )
      }
    }))

  it.effect("leaves a cut-off answer as it came unless the stage asks for the re-ask", () =>
    Effect.gen(function*() {
      const cfg = yield* config()
      const env = yield* makeEnv({ sim: { faults: { truncatedRate: 1 } } })
      const { events, outcomes } = yield* runStage(env, yield* RunState.makeMemory, { config: cfg, n: 150 })
      assert.strictEqual(succeeded(outcomes).length, 150)
      assert.isTrue(succeeded(outcomes).every((o) => o.output.truncated && o.partialReason === undefined))
      assert.strictEqual(yield* env.runtime.calls, 0)
      assert.strictEqual(onDemandCalls(events).length, 0)
    }))
})
