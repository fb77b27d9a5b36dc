/**
 * A plan is what a run does, before it does it: the same chunks, the same stage-1 records and
 * jobs (record counts and bytes: what the runner's `JobPlanned` events say of a real run on the
 * simulated backend), what goes on demand and why; stage 2 with the run's record counts and its
 * sizes estimated (exact without stage 1); parts packed apart and a chunk repeated across parts
 * planned once; costs at batch and on-demand prices, `null` with a note for an unknown model;
 * the classification inference's calls planned. Nothing is sent: the plan needs no backend.
 */
import {
  BatchConfig,
  BatchRunner,
  Document,
  Extraction,
  ExtractionEvents,
  Packer,
  Plan,
  Pricing,
  Prompts,
  type RunEvents
} from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { config, makeEnv, runOnTestClock } from "../support.ts"

const cities = ["Boston", "Chicago", "Denver", "Atlanta", "Seattle", "Portland", "Austin"]
const people = ["Alice Smith", "Robert Jones", "Maria Garcia", "Wei Chen", "Fatima Khan"]

/** A small synthetic document (one chunk at the default chunk size). */
const syntheticDocument = (i: number): Document.Document =>
  Document.make(
    Array.from({ length: 2 + (i % 4) }, (_, s) =>
      `${people[(i + s) % people.length]} visited ${cities[(i * 3 + s) % cities.length]} in ${
        1990 + ((i + s) % 30)
      }. ` +
      `The Acme Corporation opened office number ${i * 10 + s} there.`).join(" "),
    { metadata: { title: `Document ${i}` } }
  )

/** Small jobs: at least 10 records, at most 100. */
const smallJobs = { minRecordsPerJob: 10, maxRecordsPerJob: 100, maxBatchSize: 100 }

const documents = (from: number, n: number) =>
  Stream.fromIterable(Array.from({ length: n }, (_, i) => syntheticDocument(from + i)))

/** The run's jobs per stage, as the runner announced them (`JobPlanned`). */
const runJobs = (n: number, batchInput: Parameters<typeof config>[0], extractionInput = {}) =>
  Effect.gen(function*() {
    const batch = yield* config(batchInput)
    const extraction = yield* Extraction.decodeConfig(extractionInput)
    // The simulated account's quota is the configured one.
    const env = yield* makeEnv({ sim: { quotas: { minRecordsPerJob: batch.minRecordsPerJob } } })
    const planned: Array<RunEvents.JobPlanned> = []
    const usage = { input: 0, output: 0 }
    yield* runOnTestClock(
      ExtractionEvents.tapped(
        Stream.runDrain(Extraction.extract(documents(0, n), { batch, extraction, runId: "plan-check" })),
        (event) =>
          Effect.sync(() => {
            if (event._tag === "JobPlanned") planned.push(event)
            if (event._tag === "RecordsSucceeded") {
              usage.input += event.inputTokens
              usage.output += event.outputTokens
            }
          })
      ).pipe(Effect.provide(env.layer))
    )
    const plan = yield* Plan.plan(Stream.make(documents(0, n)), { batch, extraction })
    return { planned, plan, usage, batch }
  })

const jobsOf = (planned: ReadonlyArray<RunEvents.JobPlanned>, stage: string) =>
  planned.filter((job) => job.stage === stage).map((job) => `${job.records}/${job.bytes}`).sort()

describe("Plan", () => {
  it.effect("plans stage 1 exactly as a run packs it: the same jobs, records and bytes", () =>
    Effect.gen(function*() {
      // 205 chunks: 100 + 100 + 5, the tail rebalanced with the held job (53 + 52).
      const { plan, planned, usage } = yield* runJobs(205, smallJobs)
      const [propositions, topics] = plan.stages
      assert.strictEqual(propositions?.stage, "propositions")
      assert.strictEqual(plan.chunks, 205)
      assert.deepStrictEqual(propositions!.jobs.map((job) => job.records), [100, 53, 52])
      assert.deepStrictEqual(
        propositions!.jobs.map((job) => `${job.records}/${job.bytes}`).sort(),
        jobsOf(planned, "propositions")
      )
      assert.strictEqual(propositions!.records, plan.chunks)
      assert.deepStrictEqual(propositions!.onDemand, [])
      assert.deepStrictEqual(propositions!.estimated, ["tokens.output", "cost"])
      // Stage 2: the run's record counts; sizes are estimates.
      assert.strictEqual(topics?.records, plan.chunks)
      assert.deepStrictEqual(
        topics!.jobs.map((job) => job.records).sort(),
        planned.filter((job) => job.stage === "topics").map((job) => job.records).sort()
      )
      assert.include(topics!.estimated, "bytes")
      // Tokens: counted and estimated here, reported by the (offline) model there: same order of magnitude.
      assert.isAbove(plan.tokens.input, usage.input * 0.5)
      assert.isBelow(plan.tokens.input, usage.input * 1.5)
    }))

  it.effect("sends a set below the minimum on demand, and says why; costs it at on-demand prices", () =>
    Effect.gen(function*() {
      const batch = yield* config({ maxBatchSize: 100 })
      const extraction = yield* Extraction.decodeConfig({})
      const plan = yield* Plan.plan(Stream.make(documents(0, 5)), { batch, extraction })
      const stage = plan.stages[0]!
      assert.deepStrictEqual(stage.jobs, [])
      assert.strictEqual(stage.onDemand.length, 1)
      assert.strictEqual(stage.onDemand[0]!.records, plan.chunks)
      assert.include(stage.onDemand[0]!.reason, "below the minimum of 100 per job")
      assert.deepStrictEqual(stage.tokens.batch, Pricing.noTokens)
      // All on demand: as planned costs what all on demand costs.
      assert.strictEqual(stage.cost?.batch, stage.cost?.onDemand)
      const price = Pricing.lookup(batch.model.modelId)!.price
      assert.closeTo(
        stage.cost!.onDemand,
        (stage.tokens.input * price.onDemand.input + stage.tokens.output * price.onDemand.output) / 1000,
        1e-6
      )
    }))

  it.effect("packs with the runner's own packer: the plan's stage-1 jobs are Packer.planAll of the run's records", () =>
    Effect.gen(function*() {
      const batch = yield* config({ ...smallJobs, maxInputFileBytes: 40_000, maxJobBytes: 40_000 })
      const extraction = yield* Extraction.decodeConfig({})
      const plan = yield* Plan.plan(Stream.make(documents(0, 80)), { batch, extraction })
      const family = yield* Effect.fromResult(BatchConfig.modelFamily(batch))
      const chunks = yield* Stream.runCollect(
        Extraction.chunksOf(documents(0, 80), { chunking: Extraction.chunkingOf(extraction), extractionBatchSize: 10 })
      )
      const records = chunks.map((chunk) =>
        BatchRunner.packable(
          Prompts.propositionsRecord(chunk, family, BatchConfig.inferenceParameters(batch))
        )
      )
      const expected = Packer.planAll(records, Packer.limitsOf(batch))
      const jobs = expected.filter((p) => p._tag === "Job")
      // The byte limit closes these jobs (not the record limit).
      assert.isAbove(jobs.length, 1)
      assert.deepStrictEqual(
        plan.stages[0]!.jobs.map((job) => [job.records, job.bytes]),
        jobs.map((job) => [job.items.length, job.bytes])
      )
      for (const job of plan.stages[0]!.jobs) assert.isAtMost(job.bytes, 40_000)
    }))

  it.effect("packs each part apart, and plans a chunk repeated in a later part once", () =>
    Effect.gen(function*() {
      const batch = yield* config({ maxBatchSize: 100 })
      const extraction = yield* Extraction.decodeConfig({})
      const whole = yield* Plan.plan(Stream.make(documents(0, 40)), { batch, extraction })
      // Part 1 repeats document 0 of part 0.
      const parted = yield* Plan.plan(
        Stream.make(documents(0, 20), Stream.concat(documents(0, 1), documents(20, 20))),
        { batch, extraction }
      )
      assert.strictEqual(parted.parts, 2)
      assert.strictEqual(parted.stages[0]!.records, whole.stages[0]!.records)
      assert.isAbove(parted.duplicateChunks, 0)
      assert.deepStrictEqual(parted.stages[0]!.jobs.map((job) => job.part), [])
      assert.deepStrictEqual(parted.stages[0]!.onDemand.map((set) => set.part), [0, 1])
    }))

  it.effect("without stage 1, the topic records are the run's: exact jobs and bytes", () =>
    Effect.gen(function*() {
      const { plan, planned } = yield* runJobs(150, smallJobs, { enablePropositionExtraction: false })
      assert.deepStrictEqual(plan.stages[0]!.jobs.map((job) => job.records), [100, 50])
      assert.deepStrictEqual(plan.stages.map((stage) => stage.stage), ["topics"])
      assert.deepStrictEqual(
        plan.stages[0]!.jobs.map((job) => `${job.records}/${job.bytes}`).sort(),
        jobsOf(planned, "topics")
      )
      assert.deepStrictEqual(plan.stages[0]!.estimated, ["tokens.output", "cost"])
    }))

  it.effect("gives tokens and no cost for a model without a price, and says so", () =>
    Effect.gen(function*() {
      const batch = yield* config({ model: { modelId: "us.anthropic.claude-private-v9:0", maxTokens: 2000 } })
      const extraction = yield* Extraction.decodeConfig({})
      const plan = yield* Plan.plan(Stream.make(documents(0, 3)), { batch, extraction })
      assert.isNull(plan.cost)
      assert.isNull(plan.prices)
      assert.isTrue(plan.stages.every((stage) => stage.cost === null && !stage.estimated.includes("cost")))
      assert.isAbove(plan.tokens.input, 0)
      assert.isTrue(plan.notes.some((note) => note.includes("no price is known") && note.includes("claude-private")))
      // With a price given for it, it has a cost.
      const priced = yield* Plan.plan(Stream.make(documents(0, 3)), {
        batch: {
          ...batch,
          prices: {
            "anthropic.claude-private-v9:0": { batch: { input: 1, output: 1 }, onDemand: { input: 2, output: 2 } }
          }
        },
        extraction
      })
      assert.isAbove(priced.cost!.onDemand, 0)
      assert.strictEqual(priced.prices?.source, "the prices setting (--prices)")
    }))

  it.effect("plans the classification inference's on-demand calls from the chunks it would sample", () =>
    Effect.gen(function*() {
      const batch = yield* config({})
      const extraction = yield* Extraction.decodeConfig({
        inferEntityClassifications: true,
        inferNumSamples: 3,
        inferNumIterations: 2
      })
      const plan = yield* Plan.plan(Stream.make(documents(0, 10)), { batch, extraction })
      assert.strictEqual(plan.classifications?.calls, 3)
      assert.strictEqual(plan.classifications?.sampledChunks, 6)
      assert.isAbove(plan.classifications!.tokens.input, 0)
      assert.strictEqual(plan.classifications!.cost!.batch, plan.classifications!.cost!.onDemand)
      const stageTokens = plan.stages.reduce((n, stage) => n + stage.tokens.input, 0)
      assert.strictEqual(plan.tokens.input, stageTokens + plan.classifications!.tokens.input)
    }))

  it.effect("reports skipped documents and counts only documents with text", () =>
    Effect.gen(function*() {
      const batch = yield* config({})
      const extraction = yield* Extraction.decodeConfig({})
      const plan = yield* Plan.plan(
        Stream.make(
          Stream.fromIterable<Extraction.DocumentInput>([
            { _tag: "Skipped", path: "a.bin", reason: "Binary", message: "binary file" },
            Document.make("   "),
            syntheticDocument(1)
          ])
        ),
        { batch, extraction }
      )
      assert.strictEqual(plan.documents, 1)
      assert.deepStrictEqual(plan.skippedDocuments.map((skip) => skip.path), ["a.bin", "(document)"])
    }))

  it("estimates a stand-in for a chunk's propositions of the expected length from the chunk's text", () => {
    assert.strictEqual(Plan.standInPropositions("one two three", 0), "")
    const long = Plan.standInPropositions("alpha beta gamma.", 50)
    assert.isAtMost(long.length, 50)
    assert.isAbove(long.length, 25)
    assert.include(long, "alpha beta gamma.\nalpha")
    assert.strictEqual(Plan.standInPropositions("alpha beta gamma delta", 11), "alpha beta")
  })
})
