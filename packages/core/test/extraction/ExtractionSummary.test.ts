/**
 * The extraction's events and summary on top of the engine's: one handler sees every event of
 * an extraction (the engine's are forwarded to it), the engine's handler sees only the
 * engine's, and the summary's JSON form has the fields `summary.json` documents.
 */
import { Document, Extraction, ExtractionEvents, ExtractionSummary, RunEvents, RunSummary } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { config, makeEnv, runOnTestClock } from "../support.ts"

const documents = (n: number) =>
  Stream.fromIterable(
    Array.from({ length: n }, (_, i) =>
      Document.make(
        `Alice Smith visited Boston in ${1990 + i}. The Acme Corporation opened office ${i} there. ` +
          `Robert Jones led the Harbor Project for ${i + 2} years.`,
        { metadata: { title: `Document ${i}` } }
      ))
  )

const extractionTags = new Set<string>(["DocumentRead", "DocumentSkipped", "ChunkExtracted"])

describe("ExtractionEvents and ExtractionSummary", () => {
  it.effect("one handler sees the engine's and the extraction's events; the engine's handler only the engine's", () =>
    Effect.gen(function*() {
      const batch = yield* config({ maxBatchSize: 500 })
      const extraction = yield* Extraction.decodeConfig({})
      const env = yield* makeEnv()
      const seen: Array<ExtractionEvents.Event> = []
      const engineSeen: Array<RunEvents.RunEvent> = []
      const [chunks, summary] = yield* runOnTestClock(
        ExtractionSummary.collect(
          Stream.runCollect(Extraction.extract(
            Stream.concat(documents(120), Stream.make(Document.make("   "))),
            { batch, extraction, runId: "events" }
          ))
        ).pipe(
          Effect.provideService(ExtractionEvents.ExtractionEvents, {
            publish: (event) => Effect.sync(() => void seen.push(event))
          }),
          Effect.provideService(RunEvents.RunEvents, {
            publish: (event) => Effect.sync(() => void engineSeen.push(event))
          }),
          Effect.provide(env.layer)
        )
      )
      const tags = new Set<string>(seen.map((event) => event._tag))
      for (const tag of ["DocumentRead", "DocumentSkipped", "ChunkExtracted", "JobSubmitted", "RecordsSucceeded"]) {
        assert.isTrue(tags.has(tag), tag)
      }
      // The engine's handler got exactly the engine's events, the same ones, and nothing else.
      assert.isTrue(engineSeen.length > 0)
      assert.isFalse(engineSeen.some((event) => extractionTags.has(event._tag)))
      assert.deepStrictEqual(seen.filter((event) => !extractionTags.has(event._tag)), engineSeen)

      // The summary is the fold of what the handler saw; its engine part, the engine's fold.
      assert.deepStrictEqual(seen.reduce(ExtractionSummary.update, ExtractionSummary.empty), summary)
      const engineSummary = engineSeen.reduce(RunSummary.update, RunSummary.empty)
      const { extraction: counts, ...enginePart } = summary
      assert.deepStrictEqual(enginePart, engineSummary)
      assert.strictEqual(counts.documents, 120)
      assert.deepStrictEqual(counts.skippedDocuments.map((skip) => skip.reason), ["the document has no text"])
      assert.strictEqual(counts.extractedChunks, chunks.length)
      assert.strictEqual(summary.records.succeeded, chunks.length * 2)
    }))

  it("has the JSON form of summary.json, with a resumed run's whole-run totals", () => {
    const summary: ExtractionSummary.ExtractionSummary = [
      { _tag: "DocumentRead", path: "a.txt", sourceId: "aws::a", chunks: 3, duplicateChunks: 1, skippedChunks: 1 },
      { _tag: "DocumentSkipped", path: "b.bin", reason: "binary" },
      {
        _tag: "ChunkExtracted",
        chunkId: "aws::a:1",
        sourceId: "aws::a",
        propositions: 4,
        topics: 1,
        entities: 3,
        statements: 4,
        facts: 2,
        diagnostics: 1,
        failures: []
      },
      { _tag: "JobCreateDeferred", stage: "topics", jobName: "j", reason: "quota" },
      {
        _tag: "JobFinished",
        stage: "topics",
        jobName: "j",
        jobArn: "arn:j",
        status: "PartiallyCompleted",
        message: "some records failed",
        succeeded: 1,
        errored: 1,
        missing: 0,
        inputTokens: 10,
        outputTokens: 5
      },
      { _tag: "RecordsSucceeded", stage: "topics", via: "batch", count: 3, inputTokens: 10, outputTokens: 5 },
      { _tag: "RecordsSucceeded", stage: "topics", via: "onDemand", count: 1, inputTokens: 2, outputTokens: 1 },
      { _tag: "RecordsRetried", stage: "topics", count: 1, via: "onDemand", attempt: 2 },
      { _tag: "RecordsFailed", stage: "topics", failures: [{ recordId: "r9", reason: "bad" }] }
    ].reduce(
      (s, event) => ExtractionSummary.update(s, event as ExtractionEvents.Event),
      ExtractionSummary.empty
    )
    const json = ExtractionSummary.toJson(summary)
    assert.deepStrictEqual(Object.keys(json), [
      "documents",
      "skippedDocuments",
      "chunks",
      "extractedChunks",
      "records",
      "jobs",
      "tokens",
      "batchShare",
      "extraction",
      "failures"
    ])
    assert.deepStrictEqual(json, {
      documents: 1,
      skippedDocuments: [{ path: "b.bin", reason: "binary" }],
      chunks: 3,
      extractedChunks: 1,
      records: { succeeded: 4, failed: 1, batch: 3, onDemand: 1, retried: 1 },
      jobs: {
        total: 1,
        byStatus: { PartiallyCompleted: 1 },
        createsDeferred: 1,
        incomplete: [{ stage: "topics", jobName: "j", status: "PartiallyCompleted", message: "some records failed" }]
      },
      tokens: { input: 12, output: 6 },
      batchShare: 0.75,
      extraction: {
        propositions: 4,
        topics: 1,
        entities: 3,
        statements: 4,
        facts: 2,
        diagnostics: 1,
        failedChunks: 0,
        duplicateChunks: 1,
        checkpointedChunks: 1
      },
      failures: [{ recordId: "r9", stage: "topics", reason: "bad" }]
    })

    // Resumed: records, finished jobs, tokens and failures are the whole run's.
    const resumed = ExtractionSummary.toJson(summary, {
      runTotals: {
        records: { succeeded: 10, failed: 0, batch: 8, onDemand: 2 },
        jobs: { total: 3, byStatus: { Completed: 3 } },
        tokens: { input: 100, output: 50 },
        failures: []
      }
    })
    assert.strictEqual(resumed.resumed, true)
    assert.deepStrictEqual(resumed.records, { succeeded: 10, failed: 0, batch: 8, onDemand: 2, retried: 1 })
    assert.deepStrictEqual(resumed.jobs, { ...json.jobs, total: 3, byStatus: { Completed: 3 } })
    assert.deepStrictEqual(resumed.tokens, { input: 100, output: 50 })
    assert.strictEqual(resumed.batchShare, 0.8)
    assert.deepStrictEqual(resumed.failures, [])
    assert.deepStrictEqual(resumed.extraction, json.extraction)
    assert.strictEqual(resumed.documents, json.documents)
    // The engine's part alone.
    const { documents: _d, skippedDocuments: _s, chunks: _c, extractedChunks: _e, extraction: _x, ...engine } = json
    assert.deepStrictEqual(RunSummary.toJson(summary), engine)
  })
})
