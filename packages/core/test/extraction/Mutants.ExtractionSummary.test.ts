/**
 * The extraction's summary and events in the small: what counts as a document, a failed
 * chunk, and in which order handlers see an event.
 */
import { ExtractionEvents, ExtractionSummary, type RunEvents } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"

const chunkExtracted = (failures: ReadonlyArray<{ stage: string; reason: string }>): ExtractionEvents.Event => ({
  _tag: "ChunkExtracted",
  chunkId: "aws::a:1",
  sourceId: "aws::a",
  propositions: 2,
  topics: 1,
  entities: 1,
  statements: 2,
  facts: 0,
  diagnostics: 0,
  failures
})

describe("ExtractionSummary in the small", () => {
  it("counts a document only when it had chunks, and its chunks either way", () => {
    const summary = [
      { _tag: "DocumentRead", path: "a.txt", sourceId: "aws::a", chunks: 2, duplicateChunks: 0, skippedChunks: 0 },
      { _tag: "DocumentRead", path: "empty.txt", sourceId: "", chunks: 0, duplicateChunks: 0, skippedChunks: 0 }
    ].reduce((s, event) => ExtractionSummary.update(s, event as ExtractionEvents.Event), ExtractionSummary.empty)
    assert.strictEqual(summary.extraction.documents, 1)
    assert.strictEqual(summary.extraction.chunks, 2)
  })

  it("counts a chunk failed when any of its stages failed, and extracted either way", () => {
    const summary = [
      chunkExtracted([]),
      chunkExtracted([{ stage: "topics", reason: "job ended Failed" }]),
      chunkExtracted([{ stage: "propositions", reason: "x" }, { stage: "topics", reason: "y" }])
    ].reduce(ExtractionSummary.update, ExtractionSummary.empty)
    assert.strictEqual(summary.extraction.extractedChunks, 3)
    assert.strictEqual(summary.extraction.failedChunks, 2)
    assert.strictEqual(summary.extraction.propositions, 6)
    assert.strictEqual(ExtractionSummary.toJson(summary).extraction.failedChunks, 2)
  })

  it("keeps the skipped documents in the order they came, and each skip's own path and reason", () => {
    const summary = [
      { _tag: "DocumentSkipped", path: "b.bin", reason: "binary" },
      { _tag: "DocumentSkipped", path: "c.json", reason: "bad JSON" }
    ].reduce((s, event) => ExtractionSummary.update(s, event as ExtractionEvents.Event), ExtractionSummary.empty)
    assert.deepStrictEqual(ExtractionSummary.toJson(summary).skippedDocuments, [
      { path: "b.bin", reason: "binary" },
      { path: "c.json", reason: "bad JSON" }
    ])
  })
})

describe("ExtractionEvents handlers", () => {
  it.effect("a tapped handler sees each event before the handler around it, and both see it", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const event = chunkExtracted([])
      yield* ExtractionEvents.tapped(
        ExtractionEvents.publish(event),
        (e) => Effect.sync(() => void seen.push(`extra:${e._tag}`))
      ).pipe(
        Effect.provideService(ExtractionEvents.ExtractionEvents, {
          publish: (e) => Effect.sync(() => void seen.push(`outer:${e._tag}`))
        })
      )
      assert.deepStrictEqual(seen, ["extra:ChunkExtracted", "outer:ChunkExtracted"])
    }))

  it.effect("a forwarding engine handler gives each engine event to the engine's handler, then the extraction's", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const engine: RunEvents.Handler = { publish: (e) => Effect.sync(() => void seen.push(`engine:${e._tag}`)) }
      const extraction: ExtractionEvents.Handler = {
        publish: (e) => Effect.sync(() => void seen.push(`extraction:${e._tag}`))
      }
      yield* ExtractionEvents.forwarding(engine, extraction).publish({
        _tag: "RecordsRetried",
        stage: "topics",
        count: 1,
        via: "batch",
        attempt: 2
      })
      assert.deepStrictEqual(seen, ["engine:RecordsRetried", "extraction:RecordsRetried"])
    }))

  it.effect("without a handler, publishing does nothing and does not fail", () =>
    ExtractionEvents.publish(chunkExtracted([])))
})
