/**
 * Shared helpers of the aws integration tests: records the offline model can answer, a
 * local backend with fast timings, and polling.
 */
import { BatchInference, ModelFamily, ObjectStore, type ServiceError } from "@batch-extract/core"
import { Effect, Schedule, Stream } from "effect"
import * as LocalBackend from "../src/LocalBackend.ts"

export const bucket = "batch-extract-test"
export const roleArn = "arn:aws:iam::123456789012:role/BedrockBatch"
export const modelId = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"

const encoder = new TextEncoder()

/** A record the offline model answers with propositions. */
export const record = (index: number, family: ModelFamily.ModelFamily = ModelFamily.anthropic) => ({
  recordId: `rec-${String(index).padStart(5, "0")}`,
  modelInput: family.buildRequest(
    {
      system: "Extract propositions.",
      user: `<text>Alice Smith met Bob Jones in Paris. Record ${index} is here.</text>`
    },
    { maxTokens: 512 }
  )
})

/** Stage `count` records as a JSONL object. */
export const stageRecords = (
  key: string,
  count: number,
  family?: ModelFamily.ModelFamily
): Effect.Effect<ObjectStore.PutResult, ServiceError.ServiceError, ObjectStore.ObjectStore> =>
  ObjectStore.ObjectStore.use((store) =>
    store.put(
      { bucket, key },
      Stream.range(0, count - 1).pipe(Stream.map((i) => encoder.encode(`${JSON.stringify(record(i, family))}\n`))),
      { contentType: "application/jsonl" }
    )
  )

/** A create request for a staged input. */
export const createRequest = (
  name: string,
  inputKey: string,
  overrides: Partial<BatchInference.CreateJobRequest> = {}
): BatchInference.CreateJobRequest => ({
  jobName: name,
  roleArn,
  modelId,
  clientRequestToken: `${name}-token`,
  inputDataConfig: { s3InputDataConfig: { s3Uri: `s3://${bucket}/${inputKey}`, s3InputFormat: "JSONL" } },
  outputDataConfig: { s3OutputDataConfig: { s3Uri: `s3://${bucket}/output/` } },
  ...overrides
})

/** Poll a job until it reaches a terminal status. */
export const awaitTerminal = (
  jobArn: string
): Effect.Effect<BatchInference.JobDescription, ServiceError.ServiceError, BatchInference.BatchInference> =>
  BatchInference.BatchInference.use((bedrock) =>
    bedrock.getJob(jobArn).pipe(
      Effect.repeat({
        until: (job) => BatchInference.isTerminal(job.status),
        schedule: Schedule.spaced("10 millis")
      })
    )
  )

/** A local backend with small quotas and fast timings. */
export const localLayer = (options: LocalBackend.Options = {}) =>
  LocalBackend.layer({
    buckets: [bucket],
    ...options,
    emulator: {
      ...options.emulator,
      quotas: { minRecordsPerJob: 1, ...options.emulator?.quotas }
    }
  })
