import { BatchConfig, BatchJob, BatchRecord, BatchRunner, RunEvents, RunSummary } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Stream } from "effect"
import { TestClock } from "effect/testing"
import { config, jobSpec, makeEnv, records, runOnTestClock, settleRetryable } from "../support.ts"

const run = (n: number, overrides: Parameters<typeof config>[0] = {}, env: Parameters<typeof makeEnv>[0] = {}) =>
  Effect.gen(function*() {
    const cfg = yield* config(overrides)
    const e = yield* makeEnv(env)
    const result = yield* runOnTestClock(
      BatchRunner.runCollect(Stream.fromIterable(records(n)), { config: cfg, runId: "run1", stage: "propositions" })
        .pipe(
          Effect.provide(e.layer)
        )
    )
    return { ...result, env: e, cfg }
  })

const byTag = (outcomes: ReadonlyArray<BatchRecord.RecordOutcome>) => ({
  succeeded: outcomes.filter((o) => o._tag === "Succeeded").length,
  failed: outcomes.filter((o) => o._tag === "Failed").length
})

/** Every input record has exactly one outcome. */
const assertAccounted = (outcomes: ReadonlyArray<BatchRecord.RecordOutcome>, n: number) => {
  assert.strictEqual(outcomes.length, n)
  assert.strictEqual(new Set(outcomes.map((o) => o.recordId)).size, n)
}

describe("BatchRunner", () => {
  it.effect("runs one completed job: every record answered at batch price", () =>
    Effect.gen(function*() {
      const { env, outcomes, summary } = yield* run(250)
      assertAccounted(outcomes, 250)
      assert.deepStrictEqual(byTag(outcomes), { succeeded: 250, failed: 0 })
      assert.isTrue(outcomes.every((o) => o._tag === "Succeeded" && o.via === "batch" && o.attempts === 1))
      const first = outcomes[0]!
      assert.isTrue(first._tag === "Succeeded" && first.output.text.startsWith("Propositions about"))
      assert.strictEqual(summary.jobs.total, 1)
      assert.deepStrictEqual(summary.jobs.byStatus, { Completed: 1 })
      assert.strictEqual(summary.records.batch, 250)
      assert.strictEqual(summary.batchShare, 1)
      assert.isAbove(summary.tokens.input, 0)
      const counters = yield* env.sim.counters
      assert.strictEqual(counters.jobsCreated, 1)
      // deleteOnSuccess: staged input and outputs are gone.
      assert.strictEqual((yield* env.store.objects).size, 0)
    }))

  it.effect("keeps staged files when deleteOnSuccess is false, encrypted with the KMS key", () =>
    Effect.gen(function*() {
      const key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
      const { env, outcomes } = yield* run(150, {
        deleteOnSuccess: false,
        s3EncryptionKeyId: key,
        keyPrefix: "corpora/x"
      })
      assert.strictEqual(byTag(outcomes).succeeded, 150)
      const objects = yield* env.store.objects
      const keys = [...objects.keys()]
      const input = keys.find((k) => k.endsWith(".jsonl"))!
      assert.match(input, /^extract-bucket\/corpora\/x\/batch-extract\/run1\/propositions\/job-1\/input\//)
      assert.strictEqual(objects.get(input)!.options.kmsKeyId, key)
      assert.isTrue(keys.some((k) => k.endsWith(".jsonl.out")))
      assert.isTrue(keys.some((k) => k.endsWith("manifest.json.out")))
      for (const k of keys.filter((k) => k.endsWith(".out"))) assert.strictEqual(objects.get(k)!.options.kmsKeyId, key)
    }))

  it.effect("builds the create request with the KMS key inside s3OutputDataConfig, VPC, tags and owner", () =>
    Effect.gen(function*() {
      const cfg = yield* config({
        s3EncryptionKeyId: "alias/batch",
        subnetIds: ["subnet-0abc1234"],
        securityGroupIds: ["sg-0abc1234"],
        s3BucketOwner: "123456789012",
        tags: { project: "graph" },
        timeoutDurationInHours: 48
      })
      const location = BatchJob.locate(cfg, { runId: "r", stage: "topics", label: "3" })
      const names = BatchJob.identity({ runId: "r", stage: "topics", label: "3" }, "abc")
      const request = BatchJob.createRequest(cfg, location, names)
      assert.strictEqual(request.outputDataConfig.s3OutputDataConfig.s3EncryptionKeyId, "alias/batch")
      assert.notProperty(request.outputDataConfig, "s3EncryptionKeyId")
      assert.strictEqual(request.inputDataConfig.s3InputDataConfig.s3BucketOwner, "123456789012")
      assert.deepStrictEqual(request.vpcConfig, { subnetIds: ["subnet-0abc1234"], securityGroupIds: ["sg-0abc1234"] })
      assert.deepStrictEqual(request.tags, [{ key: "project", value: "graph" }])
      assert.strictEqual(request.timeoutDurationInHours, 48)
      assert.match(request.jobName, /^[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9+\-.]){0,63}$/)
      assert.isAtMost(request.jobName.length, 63)
      // Deterministic: same inputs, same name and token; other content, other token.
      assert.deepStrictEqual(BatchJob.identity({ runId: "r", stage: "topics", label: "3" }, "abc"), names)
      assert.notStrictEqual(
        BatchJob.identity({ runId: "r", stage: "topics", label: "3" }, "abd").clientRequestToken,
        names.clientRequestToken
      )
    }))

  it.effect("a repeated create with the same content finds the same job (idempotent)", () =>
    Effect.gen(function*() {
      const cfg = yield* config({ deleteOnSuccess: false })
      const env = yield* makeEnv()
      const family = yield* Effect.fromResult(BatchConfig.modelFamily(cfg))
      const spec = jobSpec(120)
      const first = yield* runOnTestClock(
        BatchJob.run(cfg, family, spec, undefined, settleRetryable).pipe(Effect.provide(env.layer))
      )
      const second = yield* runOnTestClock(
        BatchJob.run(cfg, family, spec, undefined, settleRetryable).pipe(Effect.provide(env.layer))
      )
      assert.strictEqual(first.jobArn, second.jobArn)
      const counters = yield* env.sim.counters
      assert.strictEqual(counters.jobsCreated, 1)
      assert.strictEqual(counters.repeatedTokens, 1)
      assert.strictEqual(second.succeeded.length, 120)
    }))

  for (const status of ["Failed", "Expired"] as const) {
    it.effect(`retries every record of a ${status} job as a new batch job`, () =>
      Effect.gen(function*() {
        const { env, outcomes, summary } = yield* run(300, {}, { sim: { faults: { jobStatuses: [status] } } })
        assertAccounted(outcomes, 300)
        assert.deepStrictEqual(byTag(outcomes), { succeeded: 300, failed: 0 })
        assert.isTrue(outcomes.every((o) => o._tag === "Succeeded" && o.via === "batch" && o.attempts === 2))
        assert.deepStrictEqual(summary.jobs.byStatus, { [status]: 1, Completed: 1 })
        assert.strictEqual((yield* env.sim.counters).jobsCreated, 2)
      }))
  }

  it.effect("salvages a PartiallyCompleted job and retries only what is missing", () =>
    Effect.gen(function*() {
      const { env, outcomes, summary } = yield* run(400, {}, {
        sim: { faults: { jobStatuses: ["PartiallyCompleted"] } }
      })
      assertAccounted(outcomes, 400)
      const counters = yield* env.sim.counters
      assert.strictEqual(counters.statusesImposed.PartiallyCompleted, 1)
      assert.strictEqual(counters.recordsUnanswered, 200)
      const firstTry = outcomes.filter((o) => o._tag === "Succeeded" && o.attempts === 1 && o.via === "batch").length
      assert.strictEqual(firstTry, 200, "the job's answers are kept")
      assert.strictEqual(byTag(outcomes).succeeded, 400)
      assert.deepStrictEqual(summary.jobs.byStatus, { PartiallyCompleted: 1, Completed: 1 })
    }))

  it.effect("salvages a Stopped job: the records it answered are kept, only the others go again", () =>
    Effect.gen(function*() {
      const { env, outcomes, summary } = yield* run(300, {}, { sim: { faults: { jobStatuses: ["Stopped"] } } })
      assertAccounted(outcomes, 300)
      // The service stopped the job half way: 150 records answered, 150 left unanswered.
      const counters = yield* env.sim.counters
      assert.strictEqual(counters.statusesImposed.Stopped, 1)
      assert.strictEqual(counters.recordsUnanswered, 150)
      const firstTry = outcomes.filter((o) => o._tag === "Succeeded" && o.attempts === 1 && o.via === "batch").length
      assert.strictEqual(firstTry, 150, "the stopped job's answers are kept")
      assert.strictEqual(outcomes.filter((o) => o.attempts === 2).length, 150)
      assert.strictEqual(byTag(outcomes).succeeded, 300)
      assert.deepStrictEqual(summary.jobs.byStatus, { Stopped: 1, Completed: 1 })
    }))

  it.effect("stops a job that outlives its deadline and keeps what it answered", () =>
    Effect.gen(function*() {
      // 300 records at 20 minutes each: a 100-hour job, past the 48-hour deadline (twice the
      // 24-hour job timeout).
      const { cfg, env, outcomes, summary } = yield* run(300, {}, {
        sim: { timings: { inProgressMs: 0, perRecordMs: 20 * 60_000 } }
      })
      assert.strictEqual(cfg.timeoutDurationInHours, 24)
      assertAccounted(outcomes, 300)
      const counters = yield* env.sim.counters
      assert.isAtLeast(counters.callsByOperation.StopModelInvocationJob ?? 0, 1)
      const [first] = [...(yield* env.sim.jobs)].sort((a, b) => a.submitTime!.getTime() - b.submitTime!.getTime())
      assert.strictEqual(first!.status, "Stopped")
      // Stopped at the deadline, about 48% through: those answers are kept.
      const answered = first!.processedRecordCount!
      assert.isAbove(answered, 100)
      assert.isBelow(answered, 200)
      const firstTry = outcomes.filter((o) => o._tag === "Succeeded" && o.attempts === 1 && o.via === "batch").length
      assert.strictEqual(firstTry, answered)
      assert.strictEqual(byTag(outcomes).succeeded, 300)
      assert.isAtLeast(summary.jobs.byStatus.Stopped ?? 0, 1)
    }))

  it.effect("retries a few errored records on demand, with the same model", () =>
    Effect.gen(function*() {
      const { env, outcomes, summary } = yield* run(500, {}, {
        sim: { faults: { recordErrorRate: 0.05, malformedRate: 0.02 }, seed: 7 }
      })
      assertAccounted(outcomes, 500)
      assert.deepStrictEqual(byTag(outcomes), { succeeded: 500, failed: 0 })
      const onDemand = outcomes.filter((o) => o._tag === "Succeeded" && o.via === "onDemand")
      assert.isAbove(onDemand.length, 0)
      assert.isBelow(onDemand.length, 100)
      assert.strictEqual(summary.records.onDemand, onDemand.length)
      const modelIds = yield* env.runtime.modelIds
      assert.isTrue(modelIds.every((id) => id === "us.anthropic.claude-3-5-haiku-20241022-v1:0"))
      assert.strictEqual((yield* env.sim.counters).jobsCreated, 1)
    }))

  it.effect("reports what still fails after the last attempt, with its reason", () =>
    Effect.gen(function*() {
      const { outcomes, summary } = yield* run(200, { maxRecordAttempts: 2 }, {
        sim: { faults: { recordMissingRate: 0.1 }, seed: 3 },
        runtime: { errorRate: 1 }
      })
      assertAccounted(outcomes, 200)
      const failed = outcomes.filter((o): o is BatchRecord.Failed => o._tag === "Failed")
      assert.isAbove(failed.length, 0)
      for (const failure of failed) assert.match(failure.reason, /on-demand call failed: Unavailable/)
      assert.strictEqual(summary.failures.length, failed.length)
      assert.strictEqual(summary.records.failed + summary.records.succeeded, 200)
    }))

  it.effect("sends a set below the minimum on demand without creating a job", () =>
    Effect.gen(function*() {
      const { env, outcomes, summary } = yield* run(60)
      assertAccounted(outcomes, 60)
      assert.isTrue(outcomes.every((o) => o._tag === "Succeeded" && o.via === "onDemand"))
      assert.strictEqual((yield* env.sim.counters).jobsCreated, 0)
      assert.strictEqual(yield* env.runtime.calls, 60)
      assert.strictEqual(summary.batchShare, 0)
    }))

  it.effect("rejects an oversized record and a record with an unusable id, and goes on with the rest", () =>
    Effect.gen(function*() {
      const cfg = yield* config({
        maxInputFileBytes: 4_096,
        maxJobBytes: 4_096,
        minRecordsPerJob: 2,
        maxBatchSize: 100
      })
      const env = yield* makeEnv({ sim: { quotas: { minRecordsPerJob: 2 } } })
      const input = [
        ...records(10),
        { recordId: "huge", modelInput: { prompt: "x".repeat(10_000) } },
        { recordId: "bad id/with slash", modelInput: {} }
      ]
      const { outcomes } = yield* runOnTestClock(
        BatchRunner.runCollect(Stream.fromIterable(input), { config: cfg, runId: "r", stage: "s" }).pipe(
          Effect.provide(env.layer)
        )
      )
      assertAccounted(outcomes, 12)
      const huge = outcomes.find((o) => o.recordId === "huge")!
      assert.isTrue(huge._tag === "Failed" && /exceeds the input-file limit of 4096 bytes/.test(huge.reason))
      const bad = outcomes.find((o) => o.recordId === "bad id/with slash")!
      assert.isTrue(bad._tag === "Failed" && /record id/.test(bad.reason))
      assert.strictEqual(byTag(outcomes).succeeded, 10)
    }))

  it.effect("waits out quota refusals and never runs more jobs than the limits", () =>
    Effect.gen(function*() {
      // The account has room for 3 live jobs; this process believes it has 8 slots.
      const { env, outcomes, summary } = yield* run(2_000, { maxBatchSize: 100, maxNumConcurrentBatches: 4 }, {
        sim: { quotas: { maxConcurrentJobs: 3 } },
        slots: 8
      })
      assertAccounted(outcomes, 2_000)
      assert.strictEqual(byTag(outcomes).succeeded, 2_000)
      const counters = yield* env.sim.counters
      assert.isAbove(counters.createsRefused, 0)
      assert.strictEqual(summary.jobs.createsDeferred, counters.createsRefused)
      assert.isAtMost(counters.peakConcurrentJobs, 3)
      assert.strictEqual(counters.jobsCreated, 20)
      assert.isAtMost(yield* env.slots.peak, 8)
    }))

  it.effect("holds job concurrency to workers x batches per worker and to the job slots", () =>
    Effect.gen(function*() {
      const a = yield* run(3_000, { maxBatchSize: 100, maxNumConcurrentBatches: 2, extractionNumWorkers: 2 }, {
        slots: 10
      })
      assert.strictEqual(yield* a.env.slots.peak, 4)
      assert.isAtMost((yield* a.env.sim.counters).peakConcurrentJobs, 4)
      const b = yield* run(3_000, { maxBatchSize: 100, maxNumConcurrentBatches: 5, extractionNumWorkers: 2 }, {
        slots: 3
      })
      assert.strictEqual(yield* b.env.slots.peak, 3)
      assert.strictEqual(byTag(b.outcomes).succeeded, 3_000)
    }))

  it.effect("interrupting a run stops the jobs it started", () =>
    Effect.gen(function*() {
      const cfg = yield* config({ maxBatchSize: 100 })
      const env = yield* makeEnv()
      const fiber = yield* Effect.forkChild(
        BatchRunner.runCollect(Stream.fromIterable(records(450)), { config: cfg, runId: "r", stage: "s" }).pipe(
          Effect.provide(env.layer)
        )
      )
      yield* TestClock.adjust(Duration.minutes(2))
      const before = yield* env.sim.jobs
      assert.strictEqual(before.length, 4)
      yield* Fiber.interrupt(fiber)
      const counters = yield* env.sim.counters
      assert.strictEqual(counters.callsByOperation.StopModelInvocationJob, 4)
      yield* TestClock.adjust(Duration.minutes(5))
      const after = yield* env.sim.jobs
      assert.deepStrictEqual(after.map((j) => j.status), ["Stopped", "Stopped", "Stopped", "Stopped"])
    }))

  it.effect("leaves jobs running on interrupt when configured to", () =>
    Effect.gen(function*() {
      const cfg = yield* config({ maxBatchSize: 100, stopJobsOnInterrupt: false })
      const env = yield* makeEnv()
      const fiber = yield* Effect.forkChild(
        BatchRunner.runCollect(Stream.fromIterable(records(200)), { config: cfg, runId: "r", stage: "s" }).pipe(
          Effect.provide(env.layer)
        )
      )
      yield* TestClock.adjust(Duration.minutes(2))
      yield* Fiber.interrupt(fiber)
      assert.isUndefined((yield* env.sim.counters).callsByOperation.StopModelInvocationJob)
      const jobs = yield* env.sim.jobs
      assert.isTrue(jobs.every((j) => j.status !== "Stopped" && j.status !== "Stopping"))
    }))

  it.effect("publishes events from plan to finish", () =>
    Effect.gen(function*() {
      // Phases longer than the longest poll interval, so no status can pass unseen.
      const cfg = yield* config({ pollMaxSeconds: 60 })
      const env = yield* makeEnv({ sim: { timings: { scheduledMs: 600_000, inProgressMs: 600_000 } } })
      const seen: Array<RunEvents.RunEvent> = []
      yield* runOnTestClock(
        Stream.runDrain(BatchRunner.run(Stream.fromIterable(records(150)), { config: cfg, runId: "r", stage: "s" }))
          .pipe(
            Effect.provide(env.layer),
            Effect.provideService(RunEvents.RunEvents, { publish: (event) => Effect.sync(() => void seen.push(event)) })
          )
      )
      const tags = seen.map((e) => e._tag)
      assert.strictEqual(tags[0], "JobPlanned")
      assert.strictEqual(tags[1], "JobSubmitted")
      const statuses = seen.flatMap((e) => (e._tag === "JobStatusChanged" ? [e.to] : []))
      assert.deepStrictEqual(statuses, ["Submitted", "Validating", "Scheduled", "InProgress", "Completed"])
      assert.deepStrictEqual(tags.slice(-2), ["JobFinished", "RecordsSucceeded"])
      const summary = seen.reduce(RunSummary.update, RunSummary.empty)
      assert.strictEqual(summary.records.succeeded, 150)
    }))

  it.effect("polls with backoff: few status calls for a long job", () =>
    Effect.gen(function*() {
      const { env } = yield* run(150, { pollInitialSeconds: 15, pollMaxSeconds: 300 }, {
        sim: { timings: { scheduledMs: 3 * 3_600_000 } }
      })
      const calls = (yield* env.sim.counters).callsByOperation.GetModelInvocationJob ?? 0
      // Three hours of queueing at a five-minute cap is about 36 checks, not 180 at 60 s.
      assert.isAtMost(calls, 60)
      assert.isAtLeast(calls, 20)
    }))

  it.effect("checks jobs that report progress soon after they should end", () =>
    Effect.gen(function*() {
      const cfg = yield* config({ pollInitialSeconds: 15, pollMaxSeconds: 300, maxBatchSize: 1_000 })
      // Five jobs of 1,000 records at 10 seconds each: 2.8-hour runs, reported as they progress.
      const env = yield* makeEnv({ sim: { timings: { perRecordMs: 10_000 } } })
      const seen: Array<RunEvents.RunEvent> = []
      yield* runOnTestClock(
        Stream.runDrain(BatchRunner.run(Stream.fromIterable(records(5_000)), { config: cfg, runId: "r", stage: "s" }))
          .pipe(
            Effect.provide(env.layer),
            Effect.provideService(RunEvents.RunEvents, { publish: (event) => Effect.sync(() => void seen.push(event)) })
          ),
        { step: Duration.seconds(1) }
      )
      const jobs = yield* env.sim.jobs
      assert.strictEqual(jobs.length, 5)
      const lateness = jobs.map((job) => {
        const seenAt = seen.flatMap((e) =>
          e._tag === "JobStatusChanged" && e.jobArn === job.jobArn && e.to === "Completed" ? [e.at] : []
        )[0]!
        return seenAt - job.endTime!.getTime()
      })
      const mean = lateness.reduce((a, b) => a + b, 0) / lateness.length
      // Backoff alone would see them on average a couple of minutes late (up to the 300 s cap).
      assert.isTrue(lateness.every((ms) => ms >= 0))
      assert.isAtMost(mean, 30_000, JSON.stringify(lateness))
      // Each job's reported progress reaches the event handler: processed grows to its total,
      // with an estimate of the time left that points at the job's real end.
      for (const job of jobs) {
        const progress = seen.flatMap((e) => e._tag === "JobProgress" && e.jobArn === job.jobArn ? [e] : [])
        assert.isAbove(progress.length, 1)
        progress.forEach((e, i) => {
          assert.strictEqual(e.total, 1_000)
          if (i > 0) assert.isAtLeast(e.processed, progress[i - 1]!.processed)
        })
        const estimates = progress.filter((e) => e.remainingMillis !== undefined)
        assert.isAbove(estimates.length, 0)
        const last = estimates[estimates.length - 1]!
        assert.isAtMost(Math.abs(last.at + last.remainingMillis! - job.endTime!.getTime()), 60_000)
      }
    }))

  it.effect("survives throttling on a third of control-plane calls and S3 errors", () =>
    Effect.gen(function*() {
      const { outcomes } = yield* run(1_000, { maxBatchSize: 200 }, {
        sim: { faults: { throttleRate: 0.3 } },
        store: { errorRate: 0.1 }
      })
      assertAccounted(outcomes, 1_000)
      assert.strictEqual(byTag(outcomes).succeeded, 1_000)
    }))

  it.effect("runs 10,000 records with faults on, every record accounted for", () =>
    Effect.gen(function*() {
      const { env, outcomes, summary } = yield* run(10_000, { maxBatchSize: 1_000, maxConcurrentJobs: 5 }, {
        sim: {
          quotas: { maxConcurrentJobs: 4 },
          faults: {
            throttleRate: 0.2,
            jobStatuses: ["Failed", "PartiallyCompleted", "Completed", "Expired", "Stopped"],
            recordErrorRate: 0.03,
            recordMissingRate: 0.02,
            malformedRate: 0.01,
            truncatedRate: 0.01
          },
          seed: 11
        },
        runtime: { throttleRate: 0.1, errorRate: 0.05 },
        store: { errorRate: 0.02 },
        slots: 5
      })
      assertAccounted(outcomes, 10_000)
      const tally = byTag(outcomes)
      assert.strictEqual(tally.succeeded + tally.failed, 10_000)
      assert.strictEqual(summary.records.succeeded, tally.succeeded)
      assert.strictEqual(summary.records.failed, tally.failed)
      assert.strictEqual(summary.records.batch + summary.records.onDemand, tally.succeeded)
      for (const o of outcomes) if (o._tag === "Failed") assert.isAbove(o.reason.length, 0)
      const counters = yield* env.sim.counters
      assert.isAtMost(counters.peakConcurrentJobs, 4)
      // Every injected fault fired.
      assert.isAbove(counters.throttled, 0)
      assert.deepStrictEqual(counters.statusesImposed, {
        Failed: 1,
        PartiallyCompleted: 1,
        Completed: 1,
        Expired: 1,
        Stopped: 1
      })
      assert.isAbove(counters.recordsErrored, 0)
      assert.isAbove(counters.recordsMissing, 0)
      assert.isAbove(counters.recordsMalformed, 0)
      assert.isAbove(counters.recordsTruncated, 0)
      assert.isAbove(counters.recordsUnanswered, 0)
      assert.strictEqual(counters.recordsRejected, 0)
      // Every fault is one a later attempt recovers from: nearly every record succeeds, in batch
      // mostly. A record fails only after its last attempt, and the on-demand runtime refuses
      // one call in twenty, so a few may.
      assert.isAtLeast(tally.succeeded, 9_950)
      assert.isAbove(summary.batchShare, 0.9)
      assert.isAbove(summary.records.retried, 0)
    }), 120_000)
})
