import { BatchInference, ObjectStore } from "@batch-extract/core"
import { InMemoryObjectStore, SimulatedBatchInference, TestBackend } from "@batch-extract/core/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted, Schedule, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as BedrockBatchInference from "../src/BedrockBatchInference.ts"
import * as BedrockEmulator from "../src/BedrockEmulator.ts"
import { awaitTerminal, bucket, createRequest, record, stageRecords } from "./fixtures.ts"

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
        injectedErrors: 0,
        serviceQuotaCalls: 0
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

/** The output files and manifest of a job, by file name. */
const outputsOf = (jobArn: string) =>
  ObjectStore.ObjectStore.use((store) =>
    Effect.gen(function*() {
      const prefix = `output/${BatchInference.jobIdFromArn(jobArn)}/`
      const objects = yield* Stream.runCollect(store.list(bucket, prefix))
      const files: Record<string, string> = {}
      for (const object of objects) {
        files[object.key.slice(prefix.length)] = Option.getOrThrow(
          yield* ObjectStore.getStringOption({ bucket, key: object.key })
        )
      }
      return files
    })
  )

describe("one model, two faces", () => {
  const faults = {
    recordErrorRate: 0.05,
    recordMissingRate: 0.05,
    malformedRate: 0.05,
    truncatedRate: 0.05,
    jobStatuses: ["Stopped" as const]
  }
  const input = (records: number) =>
    Effect.gen(function*() {
      yield* stageRecords("input/same.jsonl", records)
      // One body the service refuses: an Anthropic body without anthropic_version.
      const { anthropic_version: _, ...bad } = record(records).modelInput as Record<string, unknown>
      yield* ObjectStore.ObjectStore.use((store) =>
        store.put(
          { bucket, key: "input/refused.jsonl" },
          Stream.make(new TextEncoder().encode(`${JSON.stringify({ recordId: "bad", modelInput: bad })}\n`))
        )
      )
    })

  it.live("the simulation (TestClock) and the emulator (HTTP, real time) write the same files for the same job", () =>
    Effect.gen(function*() {
      // The emulator, through the real SDK client.
      const emulated = yield* Effect.gen(function*() {
        yield* input(120)
        const bedrock = yield* BatchInference.BatchInference
        const { jobArn } = yield* bedrock.createJob(createRequest("same", "input/same.jsonl"))
        const done = yield* awaitTerminal(jobArn)
        const emulator = yield* BedrockEmulator.BedrockEmulator
        return { jobArn, status: done.status, files: yield* outputsOf(jobArn), counters: yield* emulator.counters }
      }).pipe(Effect.provide(standalone({ seed: 9, faults })))

      // The simulation, on the port, moved by the TestClock.
      const simulated = yield* Effect.gen(function*() {
        const store = yield* InMemoryObjectStore.make()
        const sim = yield* SimulatedBatchInference.make({
          seed: 9,
          faults,
          quotas: { minRecordsPerJob: 1 },
          region: "us-west-2",
          accountId: "111122223333"
        }).pipe(Effect.provideService(ObjectStore.ObjectStore, store.service))
        return yield* Effect.gen(function*() {
          yield* input(120)
          const { jobArn } = yield* sim.service.createJob(createRequest("same", "input/same.jsonl"))
          const done = yield* TestBackend.runToCompletion(
            sim.service.getJob(jobArn).pipe(
              Effect.repeat({
                until: (job) => BatchInference.isTerminal(job.status),
                schedule: Schedule.spaced("10 seconds")
              })
            )
          )
          return { jobArn, status: done.status, files: yield* outputsOf(jobArn), counters: yield* sim.counters }
        }).pipe(Effect.provideService(ObjectStore.ObjectStore, store.service))
      }).pipe(Effect.provide(TestClock.layer()))

      assert.strictEqual(emulated.status, "Stopped")
      assert.strictEqual(simulated.status, "Stopped")
      assert.strictEqual(BatchInference.jobIdFromArn(emulated.jobArn), BatchInference.jobIdFromArn(simulated.jobArn))
      assert.deepStrictEqual(Object.keys(emulated.files).sort(), ["manifest.json.out", "same.jsonl.out"])
      assert.deepStrictEqual(emulated.files, simulated.files)
      // The model's counters agree (the emulator adds counters of the wire; calls differ by the polling).
      const { callsByOperation: _s, ...simulatedCounts } = simulated.counters
      const emulatedCounts = Object.fromEntries(
        Object.keys(simulatedCounts).map((key) => [key, emulated.counters[key as keyof typeof simulatedCounts]])
      )
      assert.deepStrictEqual(emulatedCounts, simulatedCounts)
      // The imposed stop left records unanswered; each record fault fired.
      assert.strictEqual(emulated.counters.statusesImposed.Stopped, 1)
      assert.strictEqual(emulated.counters.recordsUnanswered, 60)
      assert.isAbove(emulated.counters.recordsErrored + emulated.counters.recordsMissing, 0)
    }))

  it.live("refuses, on the wire, a body the service refuses: an error line in a job, a ValidationException on demand", () =>
    Effect.gen(function*() {
      yield* input(3)
      const bedrock = yield* BatchInference.BatchInference
      const { jobArn } = yield* bedrock.createJob(createRequest("refused", "input/refused.jsonl"))
      yield* awaitTerminal(jobArn)
      const files = yield* outputsOf(jobArn)
      const line = JSON.parse(files["refused.jsonl.out"]!) as { error: { errorCode: number; errorMessage: string } }
      assert.strictEqual(line.error.errorCode, 400)
      assert.match(line.error.errorMessage, /anthropic_version is required/)
      const emulator = yield* BedrockEmulator.BedrockEmulator
      assert.strictEqual((yield* emulator.counters).recordsRejected, 1)
      const response = yield* Effect.promise(() =>
        fetch(`${emulator.endpoint}/model/${encodeURIComponent("anthropic.claude-3-haiku-20240307-v1:0")}/invoke`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ max_tokens: 10, messages: [{ role: "user", content: "hi" }] })
        }).then(async (r) => ({ status: r.status, type: r.headers.get("x-amzn-errortype"), body: await r.text() }))
      )
      assert.strictEqual(response.status, 400)
      assert.strictEqual(response.type, "ValidationException")
      assert.match(response.body, /anthropic_version is required/)
    }).pipe(Effect.provide(standalone())))
})
