/**
 * A plan's figures in the small, worked out by hand: per stage its records, bytes, jobs,
 * on-demand sets, refused records, tokens and costs on a few one-chunk documents in two parts;
 * the classification inference's calls and tokens; the notes and the figures named estimates;
 * and the stand-in for a chunk's propositions at its edges.
 *
 * The prompts are small templates so every figure can be counted: a stage-1 line is 200 bytes
 * of envelope (record id, request body, line break) plus its user turn; a stage-2 line, with its
 * `system` part "Topics.", is 219 bytes plus its user turn (the stand-in).
 */
import { Document, Extraction, ExtractionEvents, Plan, Pricing } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { config } from "../support.ts"

const modelId = "anthropic.claude-3-5-haiku-20241022-v1:0"

/** Round prices (US dollars per 1,000 tokens): batch 1 in / 2 out, on demand 2 in / 4 out. */
const prices = { [modelId]: { batch: { input: 1, output: 2 }, onDemand: { input: 2, output: 4 } } }

/** Jobs of 2 records or more; a single record goes on demand. */
const batchOf = (overrides: Parameters<typeof config>[0] = {}) =>
  config({ minRecordsPerJob: 2, maxRecordsPerJob: 100, maxBatchSize: 100, prices, ...overrides })

/** A stage-1 prompt without a system part, a stage-2 prompt with one. */
const templates = {
  propositionsPrompt: { user: "Propositions of: {text}" },
  topicsPrompt: { system: "Topics.", user: "{text}" }
}

const acme = Document.make("Acme makes widgets in Boston.") // 29 characters
const alice = Document.make("Alice Smith visited Denver in 1999.") // 35 characters
const wei = Document.make("Wei Chen opened an office.") // 26 characters

const baseNotes = [
  "input tokens are counted offline with the cl100k_base tokenizer; the model's tokenizer counts differently",
  "output tokens are estimates: input tokens × 0.5 (propositions) and × 0.25 (topics), ratios measured on the demo corpus",
  "the plan assumes every record is answered the first time: retries and cut-off answers asked again on demand are not planned"
]

describe("Plan figures", () => {
  it.effect("pins every figure of a two-part plan: records, bytes, jobs, on-demand sets, tokens and costs", () =>
    Effect.gen(function*() {
      const batch = yield* batchOf()
      const extraction = yield* Extraction.decodeConfig(templates)
      // Part 0: acme and alice (a job of 2); part 1: wei (1 record, on demand).
      const plan = yield* Plan.plan(Stream.make(Stream.make(acme, alice), Stream.make(wei)), {
        batch,
        extraction,
        outputRatios: { propositions: 0.5, topics: 0.25 }
      })
      assert.strictEqual(plan.documents, 3)
      assert.strictEqual(plan.chunks, 3)
      assert.strictEqual(plan.parts, 2)
      assert.deepStrictEqual(plan.skippedDocuments, [])
      assert.isUndefined(plan.classifications)
      // Stage 1, user turns "Propositions of: " (17) + text: 46, 52 and 43 characters;
      // cl100k tokens 12, 14 and 11. Lines 246, 252 and 243 bytes.
      // Output ×0.5: 13 for the job (26 in), 5.5 → 6 on demand (11 in).
      // Cost: job 26×1 + 13×2 = 52, on demand 11×2 + 6×4 = 46 → 0.098; all on demand 37×2 + 19×4 = 150 → 0.15.
      const [propositions, topics] = plan.stages
      assert.deepStrictEqual(propositions, {
        stage: "propositions",
        model: `us.${modelId}`,
        records: 3,
        bytes: 741,
        jobs: [{ part: 0, records: 2, bytes: 498 }],
        onDemand: [{ part: 1, records: 1, reason: "1 records, below the minimum of 2 per job" }],
        rejected: [],
        tokens: { input: 37, output: 19, batch: { input: 26, output: 13 }, onDemand: { input: 11, output: 6 } },
        cost: { batch: 0.098, onDemand: 0.15 },
        estimated: ["tokens.output", "cost"]
      })
      // Stage 2: the stand-in is the chunk's text cut at a word to half its stage-1 prompt's
      // characters: 23 → "Acme makes widgets in" (21), 26 → "Alice Smith visited Denver" (26),
      // 21.5 → 22 → "Wei Chen opened an" (18). Lines 240, 245 and 237 bytes.
      // Tokens: "Topics." 2 + 5, 2 + 4, 2 + 4; output ×0.25: 13 → 3.25 → 3, 6 → 1.5 → 2.
      // Cost: job 13×1 + 3×2 = 19, on demand 6×2 + 2×4 = 20 → 0.039; all on demand 19×2 + 5×4 = 58 → 0.058.
      assert.deepStrictEqual(topics, {
        stage: "topics",
        model: `us.${modelId}`,
        records: 3,
        bytes: 722,
        jobs: [{ part: 0, records: 2, bytes: 485 }],
        onDemand: [{ part: 1, records: 1, reason: "1 records, below the minimum of 2 per job" }],
        rejected: [],
        tokens: { input: 19, output: 5, batch: { input: 13, output: 3 }, onDemand: { input: 6, output: 2 } },
        cost: { batch: 0.039, onDemand: 0.058 },
        estimated: ["bytes", "jobs.bytes", "tokens.input", "tokens.output", "cost"]
      })
      assert.deepStrictEqual(plan.tokens, { input: 56, output: 24 })
      assert.deepStrictEqual(plan.cost, { batch: 0.137, onDemand: 0.208 })
      assert.deepStrictEqual(plan.notes, [
        ...baseNotes,
        "topic records depend on the propositions the model answers: their sizes, jobs' bytes and tokens are " +
        "estimated from a stand-in of the expected length"
      ])
    }))

  it.effect("refuses a record larger than the input-file limit, naming it and its part, and bills it nothing", () =>
    Effect.gen(function*() {
      const batch = yield* batchOf({ minRecordsPerJob: 1, maxInputFileBytes: 1024, maxJobBytes: 1024 })
      const extraction = yield* Extraction.decodeConfig(templates)
      // 899 characters in one chunk: a stage-1 line of 200 + 17 + 899 = 1,116 bytes.
      const long = Document.make("Acme makes widgets. ".repeat(45).trim())
      const plan = yield* Plan.plan(Stream.make(Stream.make(wei), Stream.make(long)), { batch, extraction })
      const propositions = plan.stages[0]!
      assert.strictEqual(propositions.records, 2)
      assert.strictEqual(propositions.bytes, 243 + 1116)
      assert.deepStrictEqual(propositions.jobs, [{ part: 0, records: 1, bytes: 243 }])
      assert.deepStrictEqual(propositions.onDemand, [])
      assert.deepStrictEqual(propositions.rejected.map(({ part, reason }) => ({ part, reason })), [
        { part: 1, reason: "record of 1116 bytes exceeds the input-file limit of 1024 bytes" }
      ])
      assert.match(propositions.rejected[0]!.recordId, /^aws::[0-9a-f]+:d41d:[0-9a-f]+$/)
      // Only wei's record is billed: 11 tokens in.
      assert.strictEqual(propositions.tokens.input, 11)
    }))

  it.effect("plans the classification calls: one a round on its sampled chunks, one to rank what they propose", () =>
    Effect.gen(function*() {
      const batch = yield* batchOf()
      const extraction = yield* Extraction.decodeConfig({
        ...templates,
        inferEntityClassifications: true,
        inferNumSamples: 2,
        inferNumIterations: 2,
        inferNumClassifications: 3,
        inferClassificationsPrompt: { user: "{text_chunks}" }
      })
      const plan = yield* Plan.plan(Stream.make(Stream.make(acme, alice, wei)), { batch, extraction })
      // A sample of 2 × 2 chunks wanted, 3 chunks there: rounds [acme, alice] and [wei, acme].
      // Round prompts "<chunk>Acme…</chunk>\n<chunk>Alice…</chunk>" 26 tokens and
      // "<chunk>Wei…</chunk>\n<chunk>Acme…</chunk>" 23; the rank prompt listing min(3, 5 × 2) = 3
      // proposals, "Classification 1" to "Classification 3", 151 tokens: 200 in.
      // 3 calls × 60 tokens out = 180. On demand: 200×2 + 180×4 = 1,120 → 1.12.
      assert.deepStrictEqual(plan.classifications, {
        calls: 3,
        sampledChunks: 3,
        tokens: { input: 200, output: 180 },
        cost: { batch: 1.12, onDemand: 1.12 },
        estimated: ["tokens.input", "tokens.output", "cost"]
      })
      const stageTokens = plan.stages.reduce((n, stage) => n + stage.tokens.input, 0)
      assert.strictEqual(plan.tokens.input, stageTokens + 200)
    }))

  it.effect("plans no classification call without chunks, and names no cost for a model without a price", () =>
    Effect.gen(function*() {
      const batch = yield* batchOf({ model: { modelId: "us.anthropic.claude-private-v9:0", maxTokens: 2000 } })
      const extraction = yield* Extraction.decodeConfig({
        enablePropositionExtraction: false,
        inferEntityClassifications: true
      })
      const plan = yield* Plan.plan(Stream.make(Stream.empty), {
        batch,
        extraction,
        outputRatios: { propositions: 0.5, topics: 0.25 }
      })
      assert.deepStrictEqual(plan.classifications, {
        calls: 0,
        sampledChunks: 0,
        tokens: { input: 0, output: 0 },
        cost: null,
        estimated: ["tokens.input", "tokens.output"]
      })
      assert.deepStrictEqual(plan.tokens, Pricing.noTokens)
      // Without stage 1, no note on stand-ins.
      assert.deepStrictEqual(plan.notes, [
        ...baseNotes,
        "entity classifications are inferred on demand before the topic stage: the topic prompts are planned " +
        "with the preferred classifications in their stead",
        Pricing.unknownModelNote("us.anthropic.claude-private-v9:0")
      ])
    }))

  it.effect("leaves the classifications out of a plan that infers none, not as an undefined entry", () =>
    Effect.gen(function*() {
      const batch = yield* batchOf()
      const extraction = yield* Extraction.decodeConfig(templates)
      const plan = yield* Plan.plan(Stream.make(Stream.make(acme)), { batch, extraction })
      assert.notProperty(plan, "classifications")
      assert.notInclude(Object.keys(plan), "classifications")
    }))

  it.effect("numbers the proposed classifications of the rank prompt from 1", () =>
    Effect.gen(function*() {
      const batch = yield* batchOf()
      const extraction = yield* Extraction.decodeConfig({
        enablePropositionExtraction: false,
        inferEntityClassifications: true,
        inferNumSamples: 1,
        inferNumIterations: 200,
        inferNumClassifications: 1000,
        inferClassificationsPrompt: { user: "{text_chunks}" }
      })
      const plan = yield* Plan.plan(Stream.make(Stream.make(wei)), { batch, extraction })
      // 200 rounds on wei's chunk ("<chunk>Wei Chen opened an office.</chunk>", 11 tokens), then the
      // rank prompt listing min(1000, 5 × 200) proposals "Classification 1" to "Classification 1000":
      // 4,140 tokens ("1000" is two tokens; numbered -1 to 998 the list would count 4,139).
      assert.strictEqual(plan.classifications?.calls, 201)
      assert.strictEqual(plan.classifications?.tokens.input, 200 * 11 + 4140)
    }))

  it.effect("lists as skipped only the documents the reading skips, not other events published meanwhile", () =>
    Effect.gen(function*() {
      const batch = yield* batchOf()
      const extraction = yield* Extraction.decodeConfig(templates)
      // A document source that reports on its own work as it is read.
      const reporting = Stream.make(acme).pipe(
        Stream.tap(() =>
          ExtractionEvents.publish({
            _tag: "ChunkExtracted",
            chunkId: "aws::x:y:z",
            sourceId: "aws::x:y",
            propositions: 0,
            topics: 0,
            entities: 0,
            statements: 0,
            facts: 0,
            diagnostics: 0,
            failures: []
          })
        )
      )
      const plan = yield* Plan.plan(Stream.make(reporting), { batch, extraction })
      assert.strictEqual(plan.documents, 1)
      assert.deepStrictEqual(plan.skippedDocuments, [])
    }))

  it("cuts or repeats a chunk's text to the expected length, at a word past half of it", () => {
    // Nothing to stand in: no text (blank once trimmed), or no length.
    assert.strictEqual(Plan.standInPropositions("", 5), "")
    assert.strictEqual(Plan.standInPropositions(" \n  ", 5), "")
    assert.strictEqual(Plan.standInPropositions("abc", -1), "")
    // Exactly the expected length: the text as it is.
    assert.strictEqual(Plan.standInPropositions("a bcd ef", 8), "a bcd ef")
    // No word boundary past half the length: cut at the length.
    assert.strictEqual(Plan.standInPropositions("abcdef", 3), "abc")
    assert.strictEqual(Plan.standInPropositions("ab cdefg", 4), "ab c")
    // A word boundary past half: cut there.
    assert.strictEqual(Plan.standInPropositions("ab cdefg", 3), "ab")
  })
})
