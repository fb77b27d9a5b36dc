import { BatchConfig, BatchJob, BatchRecord } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { config, makeEnv, record, runOnTestClock, settleRetryable } from "../support.ts"

/** Stage one job (kept after it ends) and read its input file back. */
const stageAndRead = (records: ReadonlyArray<BatchRecord.PackedRecord>) =>
  Effect.gen(function*() {
    const cfg = yield* config({ deleteOnSuccess: false })
    const env = yield* makeEnv()
    const family = yield* Effect.fromResult(BatchConfig.modelFamily(cfg))
    const spec = { runId: "r", stage: "propositions", label: "1", attempt: 1, records }
    const result = yield* runOnTestClock(
      BatchJob.run(cfg, family, spec, undefined, settleRetryable).pipe(Effect.provide(env.layer))
    )
    const location = BatchJob.locate(cfg, spec)
    const staged = yield* env.store.read({ bucket: location.bucket, key: location.inputKey })
    return { result, staged: Option.getOrThrow(staged) }
  })

const withText = (i: number, text: string): BatchRecord.BatchRecord => ({
  recordId: `r${i}`,
  modelInput: { ...record(i).modelInput, stop_sequences: [text] }
})

describe("staging", () => {
  it.effect("writes every line once, in order, with multi-byte characters intact", () =>
    Effect.gen(function*() {
      // Enough records for several 1 MiB pieces, with 2-, 3- and 4-byte characters.
      const records = Array.from(
        { length: 3_000 },
        (_, i) => BatchRecord.pack(withText(i, `café ☕ 𝄞 ${"x".repeat(i % 700)}`))
      )
      const { result, staged } = yield* stageAndRead(records)
      assert.strictEqual(staged, records.map((r) => `${r.line}\n`).join(""))
      assert.strictEqual(result.succeeded.length, 3_000)
    }))

  it.effect("stages a record whose declared size is wrong correctly", () =>
    Effect.gen(function*() {
      const good = Array.from({ length: 150 }, (_, i) => BatchRecord.pack(withText(i, "plain")))
      const understated = { ...BatchRecord.pack(withText(150, "é".repeat(50))), bytes: 10 }
      const overstated = { ...BatchRecord.pack(withText(151, "plain")), bytes: 5_000 }
      const records = [...good.slice(0, 75), understated, ...good.slice(75), overstated]
      const { staged } = yield* stageAndRead(records)
      assert.strictEqual(staged, records.map((r) => `${r.line}\n`).join(""))
    }))
})
