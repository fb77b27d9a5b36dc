import { BatchConfig, BatchInference, BatchRecord, BatchRunner, RunEvents, RunState } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Stream } from "effect"
import { TestClock } from "effect/testing"
import { config, makeEnv, records, runOnTestClock, storedOutcomes } from "../support.ts"

const texts = (outcomes: ReadonlyArray<BatchRecord.RecordOutcome>) =>
  new Map(outcomes.map((o) => [o.recordId, o._tag === "Succeeded" ? o.output.text : `failed: ${o.reason}`]))

const options = (cfg: BatchConfig.BatchConfig) => ({
  config: cfg,
  runId: "resumable",
  stage: "propositions"
})

describe("resume", () => {
  it.effect("a resumed run re-attaches to its jobs, creates none twice, and gives the same outcomes", () =>
    Effect.gen(function*() {
      const cfg = yield* config({ maxBatchSize: 100, stopJobsOnInterrupt: false })
      const input = records(1_050)

      // The reference: an uninterrupted run.
      const clean = yield* makeEnv()
      const expected = yield* runOnTestClock(
        BatchRunner.runCollect(Stream.fromIterable(input), options(cfg)).pipe(Effect.provide(clean.layer))
      )

      // Crash (interrupt without stopping jobs) at several points, resuming each time.
      const env = yield* makeEnv()
      const state = yield* RunState.makeMemory
      const withState = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        effect.pipe(Effect.provide(env.layer), Effect.provideService(RunState.RunState, state))
      for (const minutes of [1, 4, 6]) {
        const fiber = yield* Effect.forkChild(
          withState(Stream.runDrain(BatchRunner.run(Stream.fromIterable(input), options(cfg))))
        )
        yield* TestClock.adjust(Duration.minutes(minutes))
        yield* Fiber.interrupt(fiber)
      }
      const resumed = yield* runOnTestClock(
        withState(BatchRunner.runCollect(Stream.fromIterable(input), options(cfg)))
      )

      assert.strictEqual(resumed.outcomes.length, 1_050)
      assert.deepStrictEqual(texts(resumed.outcomes), texts(expected.outcomes))
      const counters = yield* env.sim.counters
      assert.strictEqual(counters.jobsCreated, (yield* clean.sim.counters).jobsCreated)
      assert.strictEqual(storedOutcomes(yield* state.contents, "resumable", "propositions").size, 1_050)

      // Once more, all settled: every record is recovered from the state (and said so), none sent.
      const recovered = { succeeded: 0, failed: 0 }
      const again = yield* runOnTestClock(
        RunEvents.tapped(
          withState(BatchRunner.runCollect(Stream.fromIterable(input), options(cfg))),
          (event) =>
            Effect.sync(() => {
              if (event._tag !== "RecordsRecovered") return
              recovered.succeeded += event.succeeded
              recovered.failed += event.failed
            })
        )
      )
      assert.deepStrictEqual(texts(again.outcomes), texts(expected.outcomes))
      const failed = expected.outcomes.filter((o) => o._tag === "Failed").length
      assert.deepStrictEqual(recovered, { succeeded: 1_050 - failed, failed })
      assert.strictEqual((yield* env.sim.counters).jobsCreated, (yield* clean.sim.counters).jobsCreated)
    }))

  it.effect("jobs stopped by an interrupted run keep their answers: the resumed run sends only what they left", () =>
    Effect.gen(function*() {
      const cfg = yield* config({ maxBatchSize: 100, stopJobsOnInterrupt: true })
      const input = records(1_050)
      const env = yield* makeEnv()
      const state = yield* RunState.makeMemory
      const withState = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        effect.pipe(Effect.provide(env.layer), Effect.provideService(RunState.RunState, state))
      // Interrupted while its jobs are in progress (they start after about three minutes).
      const fiber = yield* Effect.forkChild(
        withState(Stream.runDrain(BatchRunner.run(Stream.fromIterable(input), options(cfg))))
      )
      yield* TestClock.adjust(Duration.seconds(215))
      yield* Fiber.interrupt(fiber)
      const resumed = yield* runOnTestClock(withState(BatchRunner.runCollect(Stream.fromIterable(input), options(cfg))))

      assert.strictEqual(resumed.outcomes.length, 1_050)
      assert.isTrue(resumed.outcomes.every((o) => o._tag === "Succeeded"))
      const counters = yield* env.sim.counters
      assert.isAbove(counters.callsByOperation.StopModelInvocationJob ?? 0, 0)
      const jobs = yield* env.sim.jobs
      const stopped = jobs.filter((job) => job.status === "Stopped")
      assert.isAbove(stopped.length, 0)
      const answered = stopped.reduce((n, job) => n + (job.processedRecordCount ?? 0), 0)
      assert.isAbove(answered, 0, "the stopped jobs answered part of their records")
      assert.isAbove(counters.recordsUnanswered, 0)
      // Every record went out once, except those a stopped job left unanswered: once more.
      const sent = jobs.reduce((n, job) => n + (job.totalRecordCount ?? 0), 0) + (yield* env.runtime.calls)
      assert.strictEqual(sent, 1_050 + counters.recordsUnanswered)
    }))

  it.effect("finds a job by name when the crash came between its create and recording its ARN", () =>
    Effect.gen(function*() {
      const cfg = yield* config({ maxBatchSize: 100, stopJobsOnInterrupt: false })
      const input = records(300)
      const env = yield* makeEnv()
      const state = yield* RunState.makeMemory
      // A service whose first create reaches Bedrock, then the process "dies" before the answer.
      let creates = 0
      const dying = Layer.succeed(BatchInference.BatchInference, {
        ...env.sim.service,
        createJob: (request) =>
          Effect.flatMap(
            env.sim.service.createJob(request),
            (created) => ++creates === 1 ? Effect.die(new Error("killed after create")) : Effect.succeed(created)
          )
      })
      const crashed = yield* runOnTestClock(
        BatchRunner.runCollect(Stream.fromIterable(input), options(cfg)).pipe(
          Effect.provide(Layer.merge(env.layer, dying)),
          Effect.provideService(RunState.RunState, state),
          Effect.exit
        )
      )
      assert.strictEqual(crashed._tag, "Failure")
      const before = yield* env.sim.counters
      const intents = (yield* state.contents).jobs.filter((job) => job.runId === "resumable")
      assert.isTrue(intents.some((job) => job.jobArn === undefined))

      const resumed = yield* runOnTestClock(
        BatchRunner.runCollect(Stream.fromIterable(input), options(cfg)).pipe(
          Effect.provide(env.layer),
          Effect.provideService(RunState.RunState, state)
        )
      )
      assert.strictEqual(resumed.outcomes.length, 300)
      assert.isTrue(resumed.outcomes.every((o) => o._tag === "Succeeded"))
      const after = yield* env.sim.counters
      // Three inputs, three jobs: the one created before the crash was found, not created again.
      assert.strictEqual(after.jobsCreated, 3)
      assert.isAtLeast(after.callsByOperation.ListModelInvocationJobs ?? 0, 1)
      assert.isAtMost(before.jobsCreated, 3)
    }))

  it.effect("records already answered are never sent again", () =>
    Effect.gen(function*() {
      const cfg = yield* config({ maxBatchSize: 100 })
      const env = yield* makeEnv()
      const state = yield* RunState.makeMemory
      const run = (n: number) =>
        runOnTestClock(
          BatchRunner.runCollect(Stream.fromIterable(records(n)), options(cfg)).pipe(
            Effect.provide(env.layer),
            Effect.provideService(RunState.RunState, state)
          )
        )
      yield* run(200)
      const first = yield* env.sim.counters
      const second = yield* run(200)
      assert.strictEqual(second.outcomes.length, 200)
      assert.strictEqual((yield* env.sim.counters).jobsCreated, first.jobsCreated)
      assert.strictEqual(yield* env.runtime.calls, 0)
      // More records later: only the new ones run.
      const third = yield* run(400)
      assert.strictEqual(third.outcomes.length, 400)
      assert.strictEqual((yield* env.sim.counters).jobsCreated, first.jobsCreated + 2)
    }))
})
