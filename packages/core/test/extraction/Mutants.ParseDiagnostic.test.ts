/**
 * What the parsers report and what an extracted chunk holds, in the small: a diagnostic's one
 * line, counts by reason, and when a chunk counts as empty.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import * as Chunker from "../../src/extraction/Chunker.ts"
import * as Document from "../../src/extraction/Document.ts"
import * as ExtractedChunk from "../../src/extraction/ExtractedChunk.ts"
import * as ParseDiagnostic from "../../src/extraction/ParseDiagnostic.ts"
import * as Topics from "../../src/extraction/Topics.ts"

describe("ParseDiagnostic", () => {
  it("describes a diagnostic on one line: its line number, reason and the text quoted", () => {
    const line = ParseDiagnostic.describe(ParseDiagnostic.make(7, "Acme \"Corp\"", "UnparseableEntity"))
    assert.strictEqual(line, "line 7: UnparseableEntity: \"Acme \\\"Corp\\\"\"")
  })

  it("counts diagnostics by reason, only the reasons that occur", () => {
    const counts = ParseDiagnostic.countByReason([
      ParseDiagnostic.make(1, "a", "Duplicate"),
      ParseDiagnostic.make(2, "b", "NoStatement"),
      ParseDiagnostic.make(3, "c", "Duplicate")
    ])
    assert.deepStrictEqual(counts, { Duplicate: 2, NoStatement: 1 })
    assert.deepStrictEqual(ParseDiagnostic.countByReason([]), {})
  })
})

describe("ExtractedChunk", () => {
  it.effect("is empty only with neither propositions nor topics, and carries the current time", () =>
    Effect.gen(function*() {
      const [chunk] = yield* Chunker.chunk(Document.make("Acme makes widgets."))
      yield* TestClock.setTime(1_000)
      const topics = Topics.parse("topic: T\nentities:\nAcme|Company").topics
      const withPropositions = yield* ExtractedChunk.make(chunk!, { propositions: ["Acme makes widgets"] })
      const withTopics = yield* ExtractedChunk.make(chunk!, { topics })
      assert.isFalse(ExtractedChunk.isEmpty(withPropositions))
      assert.isFalse(ExtractedChunk.isEmpty(withTopics))
      assert.deepStrictEqual(withPropositions.topics, Topics.empty)
      assert.deepStrictEqual(withTopics.propositions, [])
      assert.strictEqual(withTopics.extractTimestamp, 1_000)
      assert.isTrue(ExtractedChunk.isEmpty(yield* ExtractedChunk.make(chunk!)))
    }))
})
