import { Chunker, Document, Extraction, ExtractionSummary, type ModelFamily } from "@batch-extract/core"
import { OfflineModel } from "@batch-extract/core/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, Stream } from "effect"
import { config, makeEnv, runOnTestClock } from "../support.ts"

const cities = ["Boston", "Chicago", "Denver", "Atlanta", "Seattle", "Portland", "Austin"]
const people = ["Alice Smith", "Robert Jones", "Maria Garcia", "Wei Chen", "Fatima Khan"]

/** A small synthetic document with names, places and numbers. */
export const syntheticDocument = (i: number): Document.Document =>
  Document.make(
    Array.from({ length: 3 + (i % 5) }, (_, s) =>
      `${people[(i + s) % people.length]} visited ${cities[(i * 3 + s) % cities.length]} in ${
        1990 + ((i + s) % 30)
      }. ` +
      `The Acme Corporation opened office number ${i * 10 + s} there, and ${people[(i + s + 1) % people.length]} ` +
      `led the Harbor Project for ${s + 2} years.`).join(" "),
    { metadata: { title: `Document ${i}`, url: `https://example.com/doc/${i}` } }
  )

const extractAll = (n: number, options: {
  readonly batch?: Parameters<typeof config>[0]
  readonly extraction?: Extraction.ExtractionConfigInput
  readonly env?: Parameters<typeof makeEnv>[0]
} = {}) =>
  Effect.gen(function*() {
    const batch = yield* config({ maxBatchSize: 500, ...options.batch })
    const extraction = yield* Extraction.decodeConfig(options.extraction ?? {})
    const env = yield* makeEnv(options.env)
    const documents = Stream.fromIterable(Array.from({ length: n }, (_, i) => syntheticDocument(i)))
    const [chunks, summary] = yield* runOnTestClock(
      ExtractionSummary.collect(
        Stream.runCollect(Extraction.extract(documents, { batch, extraction, runId: "x1" }))
      ).pipe(Effect.provide(env.layer))
    )
    return { chunks, summary, env }
  })

describe("Extraction", () => {
  it.effect(
    "extracts 1,000 documents through both stages with faults on, every chunk accounted for",
    () =>
      Effect.gen(function*() {
        const { chunks, env, summary } = yield* extractAll(1_000, {
          env: {
            sim: {
              faults: {
                throttleRate: 0.2,
                jobStatuses: ["PartiallyCompleted", "Failed"],
                recordErrorRate: 0.03,
                recordMissingRate: 0.02,
                malformedRate: 0.01,
                truncatedRate: 0.01
              },
              seed: 5
            },
            runtime: { throttleRate: 0.1 },
            store: { errorRate: 0.02 }
          }
        })
        assert.strictEqual(summary.extraction.documents, 1_000)
        assert.strictEqual(chunks.length, summary.extraction.chunks)
        assert.strictEqual(new Set(chunks.map((c) => c.chunk.id)).size, chunks.length)
        const withTopics = chunks.filter((c) => c.topics.topics.length > 0)
        assert.isAbove(withTopics.length, chunks.length * 0.95)
        assert.isTrue(chunks.every((c) => c.failures.length > 0 || c.propositions.length > 0))
        assert.strictEqual(summary.extraction.extractedChunks, chunks.length)
        // Both stages ran as batch jobs.
        const counters = yield* env.sim.counters
        assert.isAtLeast(counters.jobsCreated, 4)
        assert.isAbove(summary.batchShare, 0.9)
        // The faults fired: both imposed statuses, and every kind of bad record line.
        assert.deepStrictEqual(counters.statusesImposed, { PartiallyCompleted: 1, Failed: 1 })
        assert.isAbove(counters.throttled, 0)
        for (const kind of ["recordsErrored", "recordsMissing", "recordsMalformed", "recordsTruncated"] as const) {
          assert.isAbove(counters[kind], 0, kind)
        }
        assert.isAbove(summary.records.retried, 0)
      }),
    120_000
  )

  it.effect("finishes a corpus of fewer than 100 chunks on demand", () =>
    Effect.gen(function*() {
      const { chunks, env, summary } = yield* extractAll(8)
      assert.isBelow(chunks.length, 100)
      assert.isAbove(chunks.length, 0)
      assert.strictEqual((yield* env.sim.counters).jobsCreated, 0)
      assert.strictEqual(yield* env.runtime.calls, chunks.length * 2)
      assert.strictEqual(summary.records.onDemand, chunks.length * 2)
      assert.isTrue(chunks.every((c) => c.failures.length === 0 && c.topics.topics.length > 0))
    }))

  it.effect("extracts a repeated chunk once: a repeated document, a repeated passage, not two own-id sources", () =>
    Effect.gen(function*() {
      const batch = yield* config({ maxBatchSize: 500 })
      const extraction = yield* Extraction.decodeConfig({ chunkSize: 48, chunkOverlap: 0 })
      const env = yield* makeEnv()
      const passage = syntheticDocument(1).text
      const documents = [
        syntheticDocument(1),
        syntheticDocument(1), // the same text and metadata: every chunk a duplicate
        Document.make(`${passage}\n\n${passage}`, { metadata: { title: "twice" } }), // the passage twice
        Document.make(syntheticDocument(2).text, { id: "aws::own:0001", metadata: {} }),
        Document.make(syntheticDocument(3).text, { id: "aws::own:0001", metadata: {} }) // same id, other text
      ]
      const [chunks, summary] = yield* runOnTestClock(
        ExtractionSummary.collect(
          Stream.runCollect(Extraction.extract(Stream.fromIterable(documents), { batch, extraction, runId: "dup" }))
        ).pipe(Effect.provide(env.layer))
      )
      const ids = chunks.map((c) => c.chunk.id)
      assert.strictEqual(new Set(ids).size, ids.length, "every chunk extracted once")
      const per = yield* Effect.forEach(
        documents,
        (document) =>
          Effect.map(Chunker.chunk(document, Extraction.chunkingOf(extraction)), (cs) => cs.map((c) => c.id))
      )
      const expected = new Set(per.flat())
      assert.strictEqual(chunks.length, expected.size)
      assert.strictEqual(summary.extraction.duplicateChunks, per.flat().length - expected.size)
      // The own-id sources share their id but not their chunks: both are extracted whole.
      for (const id of [...per[3]!, ...per[4]!]) assert.include(ids, id)
      assert.isAbove(per[0]!.length, 0)
    }))

  it.effect("runs stage 2 on the chunk text when propositions are disabled", () =>
    Effect.gen(function*() {
      const { chunks, summary } = yield* extractAll(30, { extraction: { enablePropositionExtraction: false } })
      assert.isTrue(chunks.every((c) => c.propositions.length === 0 && c.topics.topics.length > 0))
      assert.strictEqual(summary.records.succeeded, chunks.length)
    }))

  it.effect("keeps a partial answer cut off twice and lists the failure on its chunk", () =>
    Effect.gen(function*() {
      // The model cuts off every answer, the first and the one asked again with twice the tokens.
      const cutOff = (family: ModelFamily.ModelFamily, body: unknown) =>
        Result.map(OfflineModel.respond(family, body), (response) => {
          const whole = Result.getOrThrow(family.readOutput(response))
          return OfflineModel.toResponse(family, whole.text.slice(0, 40), whole.usage, true)
        })
      const { chunks, env } = yield* extractAll(3, { env: { runtime: { respond: cutOff } } })
      assert.isAbove(chunks.length, 0)
      const reason = "the answer was cut off at 2000 tokens, and again at 4000; the partial answer was kept"
      for (const chunk of chunks) {
        assert.deepStrictEqual(chunk.failures, [
          { stage: "propositions", reason },
          { stage: "topics", reason }
        ])
      }
      // Each stage: the first call and the one asked again.
      assert.strictEqual(yield* env.runtime.calls, chunks.length * 4)
    }))

  it.effect("asks again, on demand with twice the tokens, every answer a batch job cut off: chunks as from a clean run", () =>
    Effect.gen(function*() {
      const clean = yield* extractAll(150)
      const cut = yield* extractAll(150, { env: { sim: { faults: { truncatedRate: 1 } } } })
      const counters = yield* cut.env.sim.counters
      assert.isAtLeast(counters.jobsCreated, 2, "both stages ran as batch jobs")
      assert.strictEqual(counters.recordsTruncated, cut.chunks.length * 2, "every batch answer was cut off")
      // Each cut-off answer was asked once more; the whole answer replaced it.
      assert.strictEqual(yield* cut.env.runtime.calls, cut.chunks.length * 2)
      const byId = (chunks: typeof clean.chunks) =>
        new Map(chunks.map((c) => [c.chunk.id, { propositions: c.propositions, topics: c.topics }]))
      assert.deepStrictEqual(byId(cut.chunks), byId(clean.chunks))
      assert.isTrue(cut.chunks.every((c) => c.failures.length === 0))
    }))

  it.effect("rejects invalid extraction settings with every problem listed", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Extraction.decodeConfig({ chunkSize: 8, chunkOverlap: -1, chunking: "words" }))
      const paths = error.issues.map((i) => i.path)
      assert.includeMembers(paths, ["extraction.chunkSize", "extraction.chunkOverlap", "extraction.chunking"])
    }))
})
