import { BatchJob, BatchRecord, ModelFamily, ObjectStore } from "@batch-extract/core"
import { InMemoryObjectStore } from "@batch-extract/core/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { record } from "../support.ts"

const answer = (text: string) => ({
  content: [{ type: "text", text }],
  stop_reason: "end_turn",
  usage: { input_tokens: 10, output_tokens: 2 }
})

describe("classifyOutputFile", () => {
  it.effect("reads and classifies an output file as classifyOutput classifies its lines", () =>
    Effect.gen(function*() {
      const records = Array.from({ length: 2_000 }, (_, i) => BatchRecord.pack(record(i)))
      const lines = [
        ...records.slice(0, 1_500).map((r, i) =>
          JSON.stringify({ recordId: r.recordId, modelOutput: answer(`a${i}`) })
        ),
        JSON.stringify({ recordId: records[1_500]!.recordId, error: { errorCode: 400, errorMessage: "bad" } }),
        `{"recordId": "${records[1_501]!.recordId}", "modelOutput": {"content": [`,
        JSON.stringify({ recordId: "not-in-this-job", modelOutput: answer("x") }),
        JSON.stringify({ recordId: records[0]!.recordId, modelOutput: answer("a repeated line") }),
        "",
        "   "
      ].reverse()
      const store = yield* InMemoryObjectStore.make()
      yield* store.write({ bucket: "b", key: "job.jsonl.out" }, `${lines.join("\r\n")}\n`)
      const fromFile = yield* BatchJob.classifyOutputFile(ModelFamily.anthropic, records, {
        bucket: "b",
        key: "job.jsonl.out"
      }).pipe(Effect.provideService(ObjectStore.ObjectStore, store.service))
      const fromLines = BatchJob.classifyOutput(ModelFamily.anthropic, records, lines)
      assert.deepStrictEqual(fromFile, fromLines)
      assert.strictEqual(fromFile.succeeded.length, 1_500)
      assert.strictEqual(fromFile.failed.filter((f) => f.kind === "missing").length, 498)
      assert.strictEqual(fromFile.failed.filter((f) => f.kind === "errored").length, 2)
      assert.strictEqual(fromFile.unattributed, 1)
    }))

  it.effect("fails with NotFound when the job wrote no output", () =>
    Effect.gen(function*() {
      const store = yield* InMemoryObjectStore.make()
      const error = yield* BatchJob.classifyOutputFile(ModelFamily.anthropic, [], { bucket: "b", key: "none" }).pipe(
        Effect.provideService(ObjectStore.ObjectStore, store.service),
        Effect.flip
      )
      assert.strictEqual(error._tag, "NotFound")
    }))
})
