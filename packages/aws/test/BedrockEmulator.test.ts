import { BatchInference, ObjectStore } from "@batch-extract/core"
import { InMemoryObjectStore } from "@batch-extract/core/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted } from "effect"
import * as BedrockBatchInference from "../src/BedrockBatchInference.ts"
import * as BedrockEmulator from "../src/BedrockEmulator.ts"
import { awaitTerminal, bucket, createRequest, stageRecords } from "./fixtures.ts"

/** The emulator alone, on an in-memory object store, with the live control-plane client. */
const standalone = (options: BedrockEmulator.Options = {}) => {
  const store = InMemoryObjectStore.layer()
  const emulator = BedrockEmulator.layer({ quotas: { minRecordsPerJob: 1 }, ...options }).pipe(
    Layer.provideMerge(store)
  )
  const client = Layer.unwrap(
    BedrockEmulator.BedrockEmulator.use((bedrock) =>
      Effect.succeed(BedrockBatchInference.layer({
        client: {
          region: "us-east-1",
          endpoints: { bedrock: bedrock.endpoint },
          credentials: { accessKeyId: "local", secretAccessKey: Redacted.make("local") }
        }
      }))
    )
  )
  return client.pipe(Layer.provideMerge(emulator))
}

describe("BedrockEmulator", () => {
  it.live("runs on any ObjectStore, and reports its jobs and counters", () =>
    Effect.gen(function*() {
      const emulator = yield* BedrockEmulator.BedrockEmulator
      const bedrock = yield* BatchInference.BatchInference
      assert.match(emulator.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/)
      yield* stageRecords("input/mem.jsonl", 12)
      const { jobArn } = yield* bedrock.createJob(createRequest("mem", "input/mem.jsonl"))
      assert.match(jobArn, /^arn:aws:bedrock:us-west-2:111122223333:model-invocation-job\/[a-z0-9]{12}$/)
      const done = yield* awaitTerminal(jobArn)
      assert.strictEqual(done.status, "Completed")
      const jobs = yield* emulator.jobs
      assert.deepStrictEqual(jobs.map((j) => [j.jobName, j.status, j.successRecordCount]), [["mem", "Completed", 12]])
      const manifest = yield* ObjectStore.getStringOption({
        bucket,
        key: `output/${BatchInference.jobIdFromArn(jobArn)}/manifest.json.out`
      })
      assert.isTrue(Option.isSome(manifest))
      const counters = yield* emulator.counters
      assert.strictEqual(counters.jobsCreated, 1)
      assert.isAbove(counters.callsByOperation.GetModelInvocationJob ?? 0, 0)
      yield* emulator.resetCounters
      assert.deepStrictEqual(yield* emulator.counters, {
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
        recordsUnanswered: 0,
        requestsAborted: 0,
        injectedErrors: 0
      })
    }).pipe(Effect.provide(standalone({ region: "us-west-2", accountId: "111122223333" }))))

  it.live("quotas change while running", () =>
    Effect.gen(function*() {
      const emulator = yield* BedrockEmulator.BedrockEmulator
      const bedrock = yield* BatchInference.BatchInference
      yield* stageRecords("input/q.jsonl", 2)
      yield* emulator.setQuotas({ maxConcurrentJobs: 1 })
      yield* bedrock.createJob(createRequest("q1", "input/q.jsonl"))
      const refused = yield* Effect.flip(bedrock.createJob(createRequest("q2", "input/q.jsonl")))
      assert.strictEqual(refused._tag, "QuotaExceeded")
      yield* emulator.setQuotas({ maxConcurrentJobs: 2 })
      yield* bedrock.createJob(createRequest("q2", "input/q.jsonl"))
      assert.strictEqual((yield* emulator.counters).createsRefused, 1)
    }).pipe(Effect.provide(standalone({ timings: { inProgressMs: 200 } }))))

  it.live("refuses to start on a port in use", () =>
    Effect.gen(function*() {
      const first = yield* BedrockEmulator.BedrockEmulator
      const error = yield* Effect.flip(BedrockEmulator.make({ port: first.port }))
      assert.strictEqual(error._tag, "EmulatorError")
      assert.include(error.message, "could not start")
    }).pipe(Effect.provide(standalone())))
})
