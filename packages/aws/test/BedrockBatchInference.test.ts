import { BatchInference, ModelFamily, ObjectStore } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Schedule, Stream } from "effect"
import * as BedrockBatchInference from "../src/BedrockBatchInference.ts"
import type * as BedrockEmulator from "../src/BedrockEmulator.ts"
import * as LocalBackend from "../src/LocalBackend.ts"
import { awaitTerminal, bucket, createRequest, localLayer, stageRecords } from "./fixtures.ts"

const Bedrock = BatchInference.BatchInference

/** The non-empty lines of a job's output file. */
const outputLines = (jobArn: string, fileName: string) =>
  ObjectStore.getLines({ bucket, key: `output/${BatchInference.jobIdFromArn(jobArn)}/${fileName}.out` }).pipe(
    Stream.filter((line) => line.length > 0),
    Stream.runCollect
  )

const manifestOf = (jobArn: string) =>
  ObjectStore.getString({ bucket, key: `output/${BatchInference.jobIdFromArn(jobArn)}/manifest.json.out` }).pipe(
    Effect.map((text) => JSON.parse(text) as Record<string, number>)
  )

const parse = (line: string): Record<string, any> | undefined => {
  try {
    return JSON.parse(line)
  } catch {
    return undefined
  }
}

/** Stage records and run one job to its end. */
const runJob = (name: string, count: number, overrides: Partial<BatchInference.CreateJobRequest> = {}) =>
  Effect.gen(function*() {
    yield* stageRecords(`input/${name}.jsonl`, count)
    const { jobArn } = yield* Bedrock.use((b) => b.createJob(createRequest(name, `input/${name}.jsonl`, overrides)))
    return yield* awaitTerminal(jobArn)
  })

describe("BedrockBatchInference on the emulator", () => {
  it.live("walks Submitted → Validating → Scheduled → InProgress → Completed", () =>
    Effect.gen(function*() {
      const bedrock = yield* Bedrock
      yield* stageRecords("input/seq.jsonl", 10)
      const { jobArn } = yield* bedrock.createJob(createRequest("seq", "input/seq.jsonl"))
      const seen: Array<string> = []
      const final = yield* bedrock.getJob(jobArn).pipe(
        Effect.tap((job) => Effect.sync(() => seen.at(-1) !== job.status && seen.push(job.status))),
        Effect.repeat({ until: (job) => BatchInference.isTerminal(job.status), schedule: Schedule.spaced("3 millis") })
      )
      assert.deepStrictEqual(seen, ["Submitted", "Validating", "Scheduled", "InProgress", "Completed"])
      assert.strictEqual(final.jobName, "seq")
      assert.strictEqual(final.totalRecordCount, 10)
      assert.strictEqual(final.successRecordCount, 10)
      assert.instanceOf(final.submitTime, Date)
      assert.instanceOf(final.endTime, Date)
      assert.strictEqual(final.inputS3Uri, `s3://${bucket}/input/seq.jsonl`)
    }).pipe(Effect.provide(localLayer({
      emulator: { timings: { submittedMs: 200, validatingMs: 200, scheduledMs: 200, inProgressMs: 200 } }
    }))))

  it.live("writes shuffled output lines in the family's shape and a manifest that adds up", () =>
    Effect.gen(function*() {
      const job = yield* runJob("shape", 50)
      const lines = (yield* outputLines(job.jobArn, "shape.jsonl")).map((l) => parse(l)!)
      assert.strictEqual(lines.length, 50)
      const ids = lines.map((l) => l.recordId as string)
      assert.notDeepEqual(ids, [...ids].sort(), "output order is not input order")
      assert.strictEqual(new Set(ids).size, 50)
      const read = ModelFamily.anthropic.readOutput(lines[0]!.modelOutput)
      assert.isTrue(read._tag === "Success" && read.success.text.startsWith("Propositions about"))
      const manifest = yield* manifestOf(job.jobArn)
      assert.strictEqual(manifest.totalRecordCount, 50)
      assert.strictEqual(manifest.processedRecordCount, 50)
      assert.strictEqual(manifest.successRecordCount, 50)
      assert.strictEqual(manifest.errorRecordCount, 0)
      assert.isAbove(manifest.inputTokenCount!, 0)
      assert.isAbove(manifest.outputTokenCount!, 0)
    }).pipe(Effect.provide(localLayer())))

  it.live("a repeated client request token returns the first job, counted, and creates nothing", () =>
    Effect.gen(function*() {
      const bedrock = yield* Bedrock
      const local = yield* LocalBackend.LocalBackend
      yield* stageRecords("input/idem.jsonl", 5)
      const request = createRequest("idem", "input/idem.jsonl")
      const first = yield* bedrock.createJob(request)
      const again = yield* bedrock.createJob(request)
      assert.strictEqual(again.jobArn, first.jobArn)
      const conflict = yield* Effect.flip(bedrock.createJob({ ...request, clientRequestToken: "another-token" }))
      assert.strictEqual(conflict._tag, "Conflict")
      const counters = yield* local.bedrock.counters
      assert.strictEqual(counters.jobsCreated, 1)
      assert.strictEqual(counters.repeatedTokens, 1)
      assert.strictEqual(counters.callsByOperation.CreateModelInvocationJob, 3)
    }).pipe(Effect.provide(localLayer())))

  it.live("validates creates as the service does", () =>
    Effect.gen(function*() {
      const bedrock = yield* Bedrock
      const base = createRequest("valid", "input/valid.jsonl")
      const invalid = (request: BatchInference.CreateJobRequest) =>
        Effect.flip(bedrock.createJob(request)).pipe(
          Effect.tap((error) =>
            Effect.sync(() => {
              assert.strictEqual(error._tag, "InvalidRequest")
              assert.strictEqual(error.exceptionName, "ValidationException")
              assert.isDefined(error.requestId)
            })
          )
        )
      const badName = yield* invalid({ ...base, jobName: "under_score" })
      assert.include(badName.message, "'jobName' failed to satisfy constraint")
      yield* invalid({ ...base, jobName: "x".repeat(64) })
      yield* invalid({ ...base, roleArn: "arn:aws:iam::123:user/me" })
      yield* invalid({ ...base, clientRequestToken: "bad token!" })
      yield* invalid({ ...base, modelId: "acme.unknown-model-v1" })
      yield* invalid({ ...base, timeoutDurationInHours: 12 })
      yield* invalid({
        ...base,
        vpcConfig: { subnetIds: Array.from({ length: 17 }, (_, i) => `subnet-${i}abc`), securityGroupIds: ["sg-1"] }
      })
      yield* invalid({ ...base, vpcConfig: { subnetIds: ["subnet-1"], securityGroupIds: [] } })
      const badKey = yield* invalid({
        ...base,
        outputDataConfig: { s3OutputDataConfig: { s3Uri: `s3://${bucket}/output/`, s3EncryptionKeyId: "my key" } }
      })
      assert.include(badKey.message, "s3EncryptionKeyId")
      yield* invalid({
        ...base,
        inputDataConfig: { s3InputDataConfig: { s3Uri: "https://bucket/x.jsonl", s3InputFormat: "JSONL" } }
      })
      const local = yield* LocalBackend.LocalBackend
      assert.strictEqual((yield* local.bedrock.counters).jobsCreated, 0)
    }).pipe(Effect.provide(localLayer())))

  it.live("rejects the KMS key beside s3OutputDataConfig (where the reference put it)", () =>
    Effect.gen(function*() {
      const local = yield* LocalBackend.LocalBackend
      const body = {
        ...createRequest("misplaced", "input/x.jsonl"),
        outputDataConfig: { s3OutputDataConfig: { s3Uri: `s3://${bucket}/output/` }, s3EncryptionKeyId: "alias/k" }
      }
      const response = yield* Effect.promise(() =>
        fetch(`${local.bedrock.endpoint}/model-invocation-job`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body)
        })
      )
      assert.strictEqual(response.status, 400)
      assert.strictEqual(response.headers.get("x-amzn-errortype"), "ValidationException")
      assert.isNotNull(response.headers.get("x-amzn-requestid"))
      const message = (yield* Effect.promise(() => response.json() as Promise<{ message: string }>)).message
      assert.include(message, "belongs inside s3OutputDataConfig")
    }).pipe(Effect.provide(localLayer())))

  it.live("refuses a create beyond the concurrent-job quota with ServiceQuotaExceededException", () =>
    Effect.gen(function*() {
      const bedrock = yield* Bedrock
      const local = yield* LocalBackend.LocalBackend
      yield* stageRecords("input/q.jsonl", 5)
      const a = yield* bedrock.createJob(createRequest("qa", "input/q.jsonl"))
      yield* bedrock.createJob(createRequest("qb", "input/q.jsonl"))
      const refused = yield* Effect.flip(bedrock.createJob(createRequest("qc", "input/q.jsonl")))
      assert.strictEqual(refused._tag, "QuotaExceeded")
      assert.strictEqual(refused.exceptionName, "ServiceQuotaExceededException")
      assert.isFalse(refused.retryable)
      // Once a job ends, its slot is free again.
      yield* awaitTerminal(a.jobArn)
      yield* bedrock.createJob(createRequest("qc", "input/q.jsonl"))
      const counters = yield* local.bedrock.counters
      assert.strictEqual(counters.createsRefused, 1)
      assert.strictEqual(counters.jobsCreated, 3)
      assert.strictEqual(counters.peakConcurrentJobs, 2)
    }).pipe(Effect.provide(localLayer({
      emulator: { quotas: { maxConcurrentJobs: 2 }, timings: { inProgressMs: 100 } }
    }))))

  it.live("maps every control-plane exception to its typed error", () =>
    Effect.gen(function*() {
      const bedrock = yield* Bedrock
      const local = yield* LocalBackend.LocalBackend
      const notFound = yield* Effect.flip(bedrock.getJob("abcdefghijkl"))
      assert.strictEqual(notFound._tag, "NotFound")
      assert.strictEqual(notFound.exceptionName, "ResourceNotFoundException")
      const job = yield* runJob("done", 3)
      const conflict = yield* Effect.flip(bedrock.stopJob(job.jobArn))
      assert.strictEqual(conflict._tag, "Conflict")
      assert.strictEqual(conflict.exceptionName, "ConflictException")
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["ThrottlingException", "Throttled"],
        ["AccessDeniedException", "AccessDenied"],
        ["InternalServerException", "Unavailable"],
        ["ServiceUnavailableException", "Unavailable"],
        ["ServiceQuotaExceededException", "QuotaExceeded"],
        ["ValidationException", "InvalidRequest"],
        ["ResourceNotFoundException", "NotFound"],
        ["ConflictException", "Conflict"]
      ]
      for (const [exceptionName, tag] of cases) {
        yield* local.bedrock.failNext([{ operation: "GetModelInvocationJob", exceptionName }])
        const error = yield* Effect.flip(bedrock.getJob(job.jobArn))
        assert.strictEqual(error._tag, tag, exceptionName)
        assert.strictEqual(error.exceptionName, exceptionName)
        assert.strictEqual(error.operation, "BatchInference.getJob")
        assert.match(error.requestId ?? "", /^[0-9a-f-]{36}$/)
        assert.isDefined(error.cause)
      }
      // A throttling rate: the SDK does not retry (maxAttempts 1), the error surfaces once.
      yield* local.bedrock.setFaults({ throttleRate: 1 })
      const throttled = yield* Effect.flip(bedrock.getJob(job.jobArn))
      assert.strictEqual(throttled._tag, "Throttled")
      const counters = yield* local.bedrock.counters
      assert.strictEqual(counters.throttled, 1)
    }).pipe(Effect.provide(localLayer())))

  it.live("stops a running job: Stopping, then Stopped with the records answered so far", () =>
    Effect.gen(function*() {
      const bedrock = yield* Bedrock
      yield* stageRecords("input/stop.jsonl", 100)
      const { jobArn } = yield* bedrock.createJob(createRequest("stop", "input/stop.jsonl"))
      yield* bedrock.getJob(jobArn).pipe(
        Effect.repeat({
          until: (job) => job.status === "InProgress" && (job.processedRecordCount ?? 0) > 0,
          schedule: Schedule.spaced("5 millis")
        })
      )
      yield* bedrock.stopJob(jobArn)
      assert.strictEqual((yield* bedrock.getJob(jobArn)).status, "Stopping")
      const final = yield* awaitTerminal(jobArn)
      assert.strictEqual(final.status, "Stopped")
      const lines = yield* outputLines(jobArn, "stop.jsonl")
      assert.isAbove(lines.length, 0)
      assert.isBelow(lines.length, 100)
      assert.strictEqual((yield* manifestOf(jobArn)).processedRecordCount, lines.length)
    }).pipe(Effect.provide(localLayer({ emulator: { timings: { inProgressMs: 400, stoppingMs: 1_000 } } }))))

  it.live("fails jobs whose input breaks the quotas or the format, with the reason", () =>
    Effect.gen(function*() {
      const bedrock = yield* Bedrock
      const tooFew = yield* runJob("few", 3)
      assert.strictEqual(tooFew.status, "Failed")
      assert.include(tooFew.message, "fewer than the minimum of 5")
      const tooMany = yield* runJob("many", 11)
      assert.strictEqual(tooMany.status, "Failed")
      assert.include(tooMany.message, "more than 10 records")
      yield* stageRecords("input/big.jsonl", 14)
      const big = yield* bedrock.createJob(createRequest("big", "input/big.jsonl")).pipe(
        Effect.andThen(({ jobArn }) => awaitTerminal(jobArn))
      )
      assert.strictEqual(big.status, "Failed")
      assert.include(big.message, "bytes per file")
      yield* ObjectStore.putString(
        { bucket, key: "input/garbage.jsonl" },
        "{\"recordId\":\"a\",\"modelInput\":{}}\nnot json\n"
      )
      const garbage = yield* bedrock.createJob(createRequest("garbage", "input/garbage.jsonl")).pipe(
        Effect.andThen(({ jobArn }) => awaitTerminal(jobArn))
      )
      assert.strictEqual(garbage.status, "Failed")
      assert.include(garbage.message, "line 2")
      const missing = yield* bedrock.createJob(createRequest("missing", "input/none.jsonl")).pipe(
        Effect.andThen(({ jobArn }) => awaitTerminal(jobArn))
      )
      assert.strictEqual(missing.status, "Failed")
      assert.include(missing.message, "not found")
    }).pipe(Effect.provide(localLayer({
      emulator: { quotas: { minRecordsPerJob: 5, maxRecordsPerJob: 10, maxInputFileBytes: 3_300 } }
    }))))

  it.live("reads a folder of input files and writes one output per file", () =>
    Effect.gen(function*() {
      const bedrock = yield* Bedrock
      yield* stageRecords("folder/part-1.jsonl", 4)
      yield* stageRecords("folder/part-2.jsonl", 6)
      const { jobArn } = yield* bedrock.createJob(createRequest("folder", "folder/"))
      const final = yield* awaitTerminal(jobArn)
      assert.strictEqual(final.status, "Completed")
      assert.strictEqual(final.totalRecordCount, 10)
      assert.strictEqual((yield* outputLines(jobArn, "part-1.jsonl")).length, 4)
      assert.strictEqual((yield* outputLines(jobArn, "part-2.jsonl")).length, 6)
    }).pipe(Effect.provide(localLayer())))

  it.live("imposes final statuses on successive jobs: Failed, PartiallyCompleted, Stopped, Expired", () =>
    Effect.gen(function*() {
      const failed = yield* runJob("imposed1", 40)
      assert.strictEqual(failed.status, "Failed")
      const partial = yield* runJob("imposed2", 40)
      assert.strictEqual(partial.status, "PartiallyCompleted")
      assert.strictEqual((yield* outputLines(partial.jobArn, "imposed2.jsonl")).length, 20)
      const stopped = yield* runJob("imposed3", 40)
      assert.strictEqual(stopped.status, "Stopped")
      assert.strictEqual((yield* outputLines(stopped.jobArn, "imposed3.jsonl")).length, 20)
      const expired = yield* runJob("imposed4", 40)
      assert.strictEqual(expired.status, "Expired")
      const expiredOutput = yield* ObjectStore.ObjectStore.use((s) =>
        Stream.runCollect(s.list(bucket, `output/${BatchInference.jobIdFromArn(expired.jobArn)}/`))
      )
      assert.strictEqual(expiredOutput.length, 0)
      const normal = yield* runJob("imposed5", 40)
      assert.strictEqual(normal.status, "Completed")
    }).pipe(Effect.provide(localLayer({
      emulator: { faults: { jobStatuses: ["Failed", "PartiallyCompleted", "Stopped", "Expired"] } }
    }))))

  it.live("injects errored, missing, malformed and truncated lines, deterministically", () =>
    Effect.gen(function*() {
      const faults: BedrockEmulator.Faults = {
        recordErrorRate: 0.1,
        recordMissingRate: 0.1,
        malformedRate: 0.1,
        truncatedRate: 0.1
      }
      const outcome = (seed: number) =>
        Effect.gen(function*() {
          const job = yield* runJob("faulty", 300)
          const lines = yield* outputLines(job.jobArn, "faulty.jsonl")
          const parsed = lines.map(parse)
          const malformed = parsed.filter((l) => l === undefined).length
          const errored = parsed.filter((l) => l?.error !== undefined).length
          const truncated = parsed.filter((l) => l?.modelOutput?.stop_reason === "max_tokens").length
          const manifest = yield* manifestOf(job.jobArn)
          assert.strictEqual(manifest.processedRecordCount, lines.length)
          assert.strictEqual(manifest.errorRecordCount, errored)
          return { lines: lines.length, malformed, errored, truncated, first: lines[0] }
        }).pipe(Effect.provide(localLayer({ emulator: { seed, faults } })))
      const first = yield* outcome(7)
      for (const count of [300 - first.lines, first.malformed, first.errored, first.truncated]) {
        assert.isAbove(count, 10)
        assert.isBelow(count, 60)
      }
      assert.deepStrictEqual(yield* outcome(7), first)
    }))

  it.live("fails a job whose bucket owner is not the bucket's account", () =>
    Effect.gen(function*() {
      const job = yield* runJob("owner", 5, {
        inputDataConfig: {
          s3InputDataConfig: {
            s3Uri: `s3://${bucket}/input/owner.jsonl`,
            s3InputFormat: "JSONL",
            s3BucketOwner: "999999999999"
          }
        }
      })
      assert.strictEqual(job.status, "Failed")
      assert.include(job.message, "expected bucket owner")
    }).pipe(Effect.provide(localLayer())))

  it.live("encrypts the staged input with the configured KMS key and the job output with the job's key", () =>
    Effect.gen(function*() {
      const local = yield* LocalBackend.LocalBackend
      const inputKey = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
      const outputKey = "alias/batch-output"
      const job = yield* runJob("kms", 8, {
        outputDataConfig: { s3OutputDataConfig: { s3Uri: `s3://${bucket}/output/`, s3EncryptionKeyId: outputKey } }
      })
      assert.strictEqual(job.status, "Completed")
      const encryption = (key: string) => local.s3.encryptionOf(bucket, key).pipe(Effect.map(Option.getOrThrow))
      assert.deepStrictEqual(yield* encryption("input/kms.jsonl"), { algorithm: "aws:kms", kmsKeyId: inputKey })
      const folder = `output/${BatchInference.jobIdFromArn(job.jobArn)}/`
      assert.deepStrictEqual(yield* encryption(`${folder}kms.jsonl.out`), { algorithm: "aws:kms", kmsKeyId: outputKey })
      assert.deepStrictEqual(yield* encryption(`${folder}manifest.json.out`), {
        algorithm: "aws:kms",
        kmsKeyId: outputKey
      })
    }).pipe(Effect.provide(localLayer({
      kmsKeyId: "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    }))))

  it.live("lists jobs by name across pages", () =>
    Effect.gen(function*() {
      const bedrock = yield* Bedrock
      yield* stageRecords("input/list.jsonl", 2)
      for (const name of ["run-a-1", "run-a-2", "run-a-3", "run-b-1", "run-a-4"]) {
        yield* bedrock.createJob(createRequest(name, "input/list.jsonl"))
      }
      const local = yield* LocalBackend.LocalBackend
      const paged = yield* BedrockBatchInference.make({ client: local.clientSettings, pageSize: 3 })
      const runA = yield* Stream.runCollect(paged.listJobs({ nameContains: "run-a" }))
      assert.deepStrictEqual(runA.map((j) => j.jobName).sort(), ["run-a-1", "run-a-2", "run-a-3", "run-a-4"])
      assert.strictEqual((yield* local.bedrock.counters).callsByOperation.ListModelInvocationJobs, 2)
      const none = yield* Stream.runCollect(bedrock.listJobs({ nameContains: "run-a", statusEquals: "Failed" }))
      assert.strictEqual(none.length, 0)
      const found = yield* bedrock.listJobs({ nameContains: "run-b-1" }).pipe(Stream.runHead)
      assert.strictEqual(Option.getOrThrow(found).jobName, "run-b-1")
    }).pipe(Effect.provide(localLayer())))
})
