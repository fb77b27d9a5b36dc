/**
 * The progress display as a view over a run's events: per stage the share of records done
 * and the time left from the jobs' reported progress; plain lines at a steady cadence on
 * TestClock when not on a terminal.
 */
import type { ExtractionEvents } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import * as Progress from "../src/Progress.ts"

const events: ReadonlyArray<ExtractionEvents.Event> = [
  { _tag: "DocumentRead", path: "a.txt", sourceId: "aws::a", chunks: 150, duplicateChunks: 10, skippedChunks: 40 },
  { _tag: "JobPlanned", stage: "propositions", jobName: "job-1", records: 100, bytes: 1_000, attempt: 1 },
  {
    _tag: "JobProgress",
    stage: "propositions",
    jobName: "job-1",
    jobArn: "arn:job-1",
    processed: 20,
    total: 100,
    remainingMillis: undefined,
    at: 1_000
  },
  {
    _tag: "JobProgress",
    stage: "propositions",
    jobName: "job-1",
    jobArn: "arn:job-1",
    processed: 40,
    total: 100,
    remainingMillis: 90_000,
    at: 10_000
  },
  { _tag: "RecordsSucceeded", stage: "propositions", via: "batch", count: 30, inputTokens: 0, outputTokens: 0 },
  { _tag: "RecordsSucceeded", stage: "propositions", via: "onDemand", count: 5, inputTokens: 0, outputTokens: 0 },
  { _tag: "RecordsFailed", stage: "propositions", failures: [{ recordId: "r", reason: "x" }] }
]

const folded = () => {
  const counts = Progress.emptyCounts()
  for (const event of events) Progress.count(counts, event)
  return counts
}

describe("Progress", () => {
  it("shows per stage a bar, the share done and the time left from the jobs' reported progress", () => {
    const counts = folded()
    assert.strictEqual(counts.toExtract, 100)
    assert.strictEqual(Progress.fractionDone(counts, "propositions"), 0.36)
    // The job should end at 10 s + 90 s; seen at 40 s, 60 s are left.
    assert.strictEqual(Progress.timeLeft(counts, "propositions", 40_000), 60_000)
    const lines = Progress.render(counts, 40_000, 40_000)
    const stage = lines.find((line) => line.includes("propositions"))!
    assert.include(stage, Progress.bar(0.36))
    assert.include(stage, " 36%")
    assert.include(stage, "eta 1:00")
    assert.include(stage, "35 ok (5 on demand), 1 failed")
    assert.strictEqual(Progress.bar(0.5, 4), "[##--]")
  })

  it("counts the records an earlier attempt settled as done (a resumed run)", () => {
    const counts = folded()
    Progress.count(counts, { _tag: "RecordsRecovered", stage: "propositions", succeeded: 50, failed: 2 })
    assert.strictEqual(Progress.fractionDone(counts, "propositions"), 0.88)
    const stage = Progress.render(counts, 40_000, 40_000).find((line) => line.includes("propositions"))!
    assert.include(stage, "85 ok (5 on demand), 3 failed")
  })

  it("drops a job's estimate when it ends, and says done at 100%", () => {
    const counts = folded()
    Progress.count(counts, {
      _tag: "JobFinished",
      stage: "propositions",
      jobName: "job-1",
      jobArn: "arn:job-1",
      status: "Completed",
      message: undefined,
      succeeded: 100,
      errored: 0,
      missing: 0,
      inputTokens: 0,
      outputTokens: 0
    })
    assert.isUndefined(Progress.timeLeft(counts, "propositions", 40_000))
    Progress.count(counts, {
      _tag: "RecordsSucceeded",
      stage: "propositions",
      via: "batch",
      count: 64,
      inputTokens: 0,
      outputTokens: 0
    })
    const stage = Progress.render(counts, 0, 0).find((line) => line.includes("propositions"))!
    assert.include(stage, "100% done")
    assert.include(Progress.render(counts, 0, 0).at(-1)!, "Completed 1")
  })

  it("titles a build's display with the command, without the extraction's counts", () => {
    const counts = Progress.emptyCounts()
    Progress.count(counts, {
      _tag: "RecordsSucceeded",
      stage: "embeddings",
      via: "onDemand",
      count: 7,
      inputTokens: 0,
      outputTokens: 0
    })
    const lines = Progress.render(counts, 65_000, 65_000, false, "build")
    assert.strictEqual(lines[0], "batch-extract build 1:05")
    assert.include(lines.find((line) => line.includes("embeddings"))!, "7 ok (7 on demand)")
  })

  it("draws the build's line under the jobs during extract --build; the embeddings stage has no share of the chunks", () => {
    const counts = Progress.emptyCounts()
    for (const event of events) Progress.count(counts, event)
    Progress.count(counts, {
      _tag: "RecordsSucceeded",
      stage: "embeddings",
      via: "batch",
      count: 500,
      inputTokens: 0,
      outputTokens: 0
    })
    // 500 embeddings for 100 chunks to extract: not "100% done".
    assert.isUndefined(Progress.fractionDone(counts, "embeddings"))
    const lines = Progress.render(counts, 0, 0, true, undefined, ["build  chunks 12 written  vectors 40 written"])
    assert.strictEqual(lines.at(-1), "  build  chunks 12 written  vectors 40 written")
    assert.include(lines.at(-2)!, "jobs")
    const embeddings = lines.find((line) => line.includes("embeddings"))!
    assert.notInclude(embeddings, "done")
    assert.notInclude(embeddings, "[#")
  })

  it.effect("prints a plain line (no bar) every 10 seconds when not on a terminal", () =>
    Effect.gen(function*() {
      const written: Array<string> = []
      const progress = yield* Progress.make({ tty: false, write: (text) => void written.push(text) })
      for (const event of events) yield* progress.handler.publish(event)
      const drawing = yield* Effect.forkChild(progress.run)
      yield* TestClock.adjust(Duration.seconds(35))
      yield* Fiber.interrupt(drawing)
      assert.strictEqual(written.length, 3)
      for (const line of written) {
        assert.match(line, /^batch-extract \d+:\d\d documents 1 \(0 skipped\) .*propositions 36% /)
        assert.notInclude(line, "[#")
        assert.strictEqual(line.split("\n").length, 2)
      }
    }))
})
