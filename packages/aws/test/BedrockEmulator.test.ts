import { BatchInference, ObjectStore } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as LocalBackend from "../src/LocalBackend.ts"
import { awaitTerminal, bucket, createRequest, localLayer, stageRecords } from "./fixtures.ts"

describe("BedrockEmulator", () => {
  it.live("runs a job from Submitted to Completed and writes the output and manifest", () =>
    Effect.gen(function*() {
      const bedrock = yield* BatchInference.BatchInference
      yield* stageRecords("input/job1.jsonl", 120)
      const { jobArn } = yield* bedrock.createJob(createRequest("job1", "input/job1.jsonl"))
      const final = yield* awaitTerminal(jobArn)
      assert.strictEqual(final.status, "Completed")
      const jobId = BatchInference.jobIdFromArn(jobArn)
      const lines = yield* ObjectStore.getLines({ bucket, key: `output/${jobId}/job1.jsonl.out` }).pipe(
        Stream.filter((l) => l.length > 0),
        Stream.runCollect
      )
      assert.strictEqual(lines.length, 120)
      const manifest = JSON.parse(yield* ObjectStore.getString({ bucket, key: `output/${jobId}/manifest.json.out` }))
      assert.strictEqual(manifest.successRecordCount, 120)
      const local = yield* LocalBackend.LocalBackend
      const counters = yield* local.bedrock.counters
      assert.strictEqual(counters.jobsCreated, 1)
    }).pipe(Effect.provide(localLayer())))
})
