/**
 * The run state's contract, on the in-memory store: job labels and their parts, intents
 * recorded once, statuses and ARNs of known jobs only, outcomes kept apart by run and stage,
 * open jobs and job numbers per part.
 */
import { type BatchRecord, RunState } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"

const intent = (label: string, overrides: Partial<RunState.JobIntent> = {}): RunState.JobIntent => ({
  stage: "propositions",
  label,
  attempt: 1,
  jobName: `job-${label}`,
  clientRequestToken: `token-${label}`,
  bucket: "bucket",
  inputKey: `in/${label}.jsonl`,
  contentHash: `hash-${label}`,
  recordIds: ["a", "b", "c"],
  ...overrides
})

const succeeded = (recordId: string, text = "answer"): BatchRecord.Succeeded => ({
  _tag: "Succeeded",
  recordId,
  stage: "propositions",
  modelOutput: { raw: text },
  output: { text, stopReason: "end_turn", truncated: false, usage: { inputTokens: 1, outputTokens: 2 } },
  via: "batch",
  attempts: 1
})

const failed = (recordId: string): BatchRecord.Failed => ({
  _tag: "Failed",
  recordId,
  stage: "propositions",
  reason: "job ended Failed",
  attempts: 3
})

describe("RunState labels", () => {
  it("labels the first part's jobs by number and later parts' with their part", () => {
    assert.strictEqual(RunState.labelOf(0, 7), "7")
    assert.strictEqual(RunState.labelOf(3, 12), "p3.12")
  })

  it("reads the part and the job number back from any label, retries included", () => {
    for (
      const [label, part, number] of [
        ["7", 0, 7],
        ["3r2", 0, 3],
        ["p3.12", 3, 12],
        ["p3.12r2", 3, 12],
        ["p10.4r3", 10, 4]
      ] as const
    ) {
      assert.strictEqual(RunState.partOfLabel(label), part, label)
      assert.strictEqual(RunState.jobNumberOf(label), number, label)
    }
    // Only a leading `p<digits>.` names a part.
    assert.strictEqual(RunState.partOfLabel("xp3.12"), 0)
    assert.strictEqual(RunState.partOfLabel("p.12"), 0)
    // A label without a number counts as job 0.
    assert.strictEqual(RunState.jobNumberOf("retry"), 0)
  })

  it("reads a job number only after a leading part prefix", () => {
    assert.strictEqual(RunState.jobNumberOf("12p3.4"), 12)
    assert.strictEqual(RunState.jobNumberOf("12p3.4r2"), 12)
  })

  it("gives back an outcome, body emptied, from a store that dropped the empty body (as JSON does)", () => {
    const stored: RunState.StoredOutcome = JSON.parse(JSON.stringify(RunState.toStored(succeeded("a"))))
    assert.isFalse("modelOutput" in stored)
    assert.deepStrictEqual(RunState.fromStored(stored), { ...succeeded("a"), modelOutput: undefined })
  })

  it("stores a succeeded outcome without its raw body and gives it back as an outcome", () => {
    const stored = RunState.toStored(succeeded("a"))
    assert.isTrue(stored._tag === "Succeeded" && stored.modelOutput === undefined && stored.output.text === "answer")
    const back = RunState.fromStored(stored)
    assert.isTrue(back._tag === "Succeeded" && back.modelOutput === undefined && back.output.text === "answer")
    assert.deepStrictEqual(RunState.toStored(failed("b")), failed("b"))
    assert.deepStrictEqual(RunState.fromStored(failed("b")), failed("b"))
  })
})

describe("RunState in memory", () => {
  it.effect("records an intent once, with its record count and nothing known of the job yet", () =>
    Effect.gen(function*() {
      const state = yield* RunState.makeMemory
      yield* state.jobIntent("run", intent("1"))
      yield* state.jobIntent("run", intent("1", { inputKey: "elsewhere.jsonl", recordIds: ["a"] }))
      const { jobs } = yield* state.contents
      assert.strictEqual(jobs.length, 1)
      const [job] = jobs
      assert.strictEqual(job!.inputKey, "in/1.jsonl")
      assert.strictEqual(job!.records, 3)
      assert.isUndefined(job!.jobArn)
      assert.isUndefined(job!.status)
      assert.isFalse(job!.finished)
      assert.deepStrictEqual(yield* state.openJobs("run", "propositions"), [job!])
    }))

  it.effect("records ARNs and statuses of known jobs, and ignores unknown ones", () =>
    Effect.gen(function*() {
      const state = yield* RunState.makeMemory
      yield* state.jobIntent("run", intent("1"))
      yield* state.jobCreated("run", "job-1", "arn:job-1")
      yield* state.jobStatus("run", "job-1", "InProgress")
      yield* state.jobCreated("run", "job-unknown", "arn:unknown")
      yield* state.jobStatus("other-run", "job-1", "Failed")
      const { jobs } = yield* state.contents
      assert.strictEqual(jobs.length, 1)
      assert.strictEqual(jobs[0]!.jobArn, "arn:job-1")
      assert.strictEqual(jobs[0]!.status, "InProgress")
    }))

  it.effect("keeps outcomes per run and stage, answers only for records it holds, and closes the job", () =>
    Effect.gen(function*() {
      const state = yield* RunState.makeMemory
      yield* state.jobIntent("run", intent("1"))
      yield* state.recordOutcomes("run", "propositions", [succeeded("a"), failed("b")], {
        jobName: "job-1",
        status: "PartiallyCompleted"
      })
      const found = yield* state.outcomes("run", "propositions", ["a", "b", "c"])
      assert.deepStrictEqual([...found.keys()], ["a", "b"])
      const answered = found.get("a")!
      assert.isTrue(answered._tag === "Succeeded" && answered.modelOutput === undefined)
      assert.deepStrictEqual(found.get("b"), failed("b"))
      assert.strictEqual((yield* state.outcomes("run", "topics", ["a"])).size, 0)
      assert.strictEqual((yield* state.outcomes("other-run", "propositions", ["a"])).size, 0)

      const { jobs } = yield* state.contents
      assert.isTrue(jobs[0]!.finished)
      assert.strictEqual(jobs[0]!.status, "PartiallyCompleted")
      assert.deepStrictEqual(yield* state.openJobs("run", "propositions"), [])

      // A later outcome of the same record replaces the earlier one; without a job nothing closes.
      yield* state.recordOutcomes("run", "propositions", [succeeded("b", "second try")])
      const replaced = (yield* state.outcomes("run", "propositions", ["b"])).get("b")
      assert.isTrue(replaced?._tag === "Succeeded" && replaced.output.text === "second try")
    }))

  it.effect("gives outcomes back as copies the caller may change", () =>
    Effect.gen(function*() {
      const state = yield* RunState.makeMemory
      const usage = { inputTokens: 1, outputTokens: 2 }
      const outcome: BatchRecord.Succeeded = { ...succeeded("a"), output: { ...succeeded("a").output, usage } }
      yield* state.recordOutcomes("run", "propositions", [outcome])
      usage.inputTokens = 99
      const first = (yield* state.outcomes("run", "propositions", ["a"])).get("a")!
      assert.strictEqual(first._tag === "Succeeded" && first.output.usage.inputTokens, 1)
      const copies = yield* state.outcomes("run", "propositions", ["a"])
      Object.assign(copies.get("a")!, { recordId: "changed" })
      const again = (yield* state.outcomes("run", "propositions", ["a"])).get("a")!
      assert.strictEqual(again.recordId, "a")
    }))

  it.effect("lists open jobs and the last job number per run, stage and part", () =>
    Effect.gen(function*() {
      const state = yield* RunState.makeMemory
      yield* state.jobIntent("run", intent("1"))
      yield* state.jobIntent("run", intent("4r2"))
      yield* state.jobIntent("run", intent("p2.9"))
      yield* state.jobIntent("run", intent("p2.3"))
      yield* state.jobIntent("run", intent("6", { stage: "topics" }))
      yield* state.jobIntent("other-run", intent("8"))
      yield* state.recordOutcomes("run", "propositions", [], { jobName: "job-1", status: "Completed" })

      const labels = (jobs: ReadonlyArray<RunState.JobState>) => jobs.map((job) => job.label)
      assert.deepStrictEqual(labels(yield* state.openJobs("run", "propositions")), ["4r2"])
      assert.deepStrictEqual(labels(yield* state.openJobs("run", "propositions", 2)), ["p2.9", "p2.3"])
      assert.deepStrictEqual(labels(yield* state.openJobs("run", "topics")), ["6"])
      assert.deepStrictEqual(labels(yield* state.openJobs("other-run", "propositions")), ["8"])

      // Finished jobs still count: numbers are never reused.
      assert.strictEqual(yield* state.lastJobNumber("run", "propositions"), 4)
      assert.strictEqual(yield* state.lastJobNumber("run", "propositions", 2), 9)
      assert.strictEqual(yield* state.lastJobNumber("run", "topics"), 6)
      assert.strictEqual(yield* state.lastJobNumber("run", "topics", 2), 0)
      assert.strictEqual(yield* state.lastJobNumber("new-run", "propositions"), 0)
    }))

  it.effect("forgets a stage of a run: its outcomes and finished jobs; its open jobs, other stages and runs stay", () =>
    Effect.gen(function*() {
      const state = yield* RunState.makeMemory
      for (const runId of ["run", "other"]) {
        yield* state.jobIntent(runId, intent("1"))
        yield* state.jobIntent(runId, intent("2"))
        yield* state.jobIntent(runId, intent("3", { stage: "topics" }))
        yield* state.recordOutcomes(runId, "propositions", [succeeded("a"), failed("b")], {
          jobName: "job-1",
          status: "Completed"
        })
        yield* state.recordOutcomes(runId, "topics", [succeeded("a")], { jobName: "job-3", status: "Completed" })
      }
      yield* state.forgetStage("run", "propositions")
      assert.strictEqual((yield* state.outcomes("run", "propositions", ["a", "b"])).size, 0)
      // The open job of the stage stays (a later attempt re-attaches it); its number too.
      assert.deepStrictEqual((yield* state.openJobs("run", "propositions")).map((job) => job.jobName), ["job-2"])
      assert.strictEqual(yield* state.lastJobNumber("run", "propositions"), 2)
      const jobs = (yield* state.contents).jobs
      assert.deepStrictEqual(
        jobs.filter((job) => job.runId === "run").map((job) => job.jobName).sort(),
        ["job-2", "job-3"]
      )
      assert.strictEqual((yield* state.outcomes("run", "topics", ["a"])).size, 1)
      assert.strictEqual((yield* state.outcomes("other", "propositions", ["a", "b"])).size, 2)
      assert.strictEqual(jobs.filter((job) => job.runId === "other").length, 3)
      // Forgetting again, or a stage with nothing, changes nothing.
      yield* state.forgetStage("run", "propositions")
      yield* state.forgetStage("run", "embeddings")
      assert.strictEqual((yield* state.contents).jobs.length, 5)
    }))

  it.effect("gives every store its own contents", () =>
    Effect.gen(function*() {
      const first = yield* RunState.makeMemory
      const second = yield* RunState.makeMemory
      yield* first.jobIntent("run", intent("1"))
      assert.strictEqual((yield* second.contents).jobs.length, 0)
    }))

  it.effect("without a store, keeps nothing and runs steps as they are", () =>
    Effect.gen(function*() {
      const state = yield* RunState.RunState
      assert.strictEqual(state, RunState.none)
      yield* state.jobIntent("run", intent("1"))
      assert.deepStrictEqual(yield* state.openJobs("run", "propositions"), [])
      assert.strictEqual(yield* state.lastJobNumber("run", "propositions"), 0)
      assert.strictEqual((yield* state.outcomes("run", "propositions", ["a"])).size, 0)
      yield* state.forgetStage("run", "propositions")
      let ran = 0
      const result = yield* state.step("step", Schema.Number, Effect.sync(() => ++ran))
      assert.strictEqual(result, 1)
      assert.strictEqual(ran, 1)
    }))
})
