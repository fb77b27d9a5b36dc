import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { TestClock } from "effect/testing"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as Chunker from "../../src/extraction/Chunker.ts"
import * as Document from "../../src/extraction/Document.ts"
import * as ExtractedChunk from "../../src/extraction/ExtractedChunk.ts"
import * as Ids from "../../src/extraction/Ids.ts"
import * as TextNode from "../../src/extraction/TextNode.ts"
import * as Topics from "../../src/extraction/Topics.ts"

const fixtureJson = readFileSync(
  fileURLToPath(new URL("../../../../../shared/fixtures/graphrag-toolkit-extracted-chunk.json", import.meta.url)),
  "utf8"
)
const fixture = JSON.parse(fixtureJson) as Record<string, any>

const metadata = { url: "https://docs.aws.amazon.com/neptune/latest/userguide/intro.html", pub_date: "2025-02-12" }
const text =
  "Each Neptune DB cluster has one primary DB instance – the writer. Neptune replicas connect to the same storage volume."

const extracted = Effect.gen(function*() {
  const [chunk] = yield* Chunker.chunk(Document.make(text, { metadata }))
  yield* TestClock.setTime(1_760_000_000_000)
  return yield* ExtractedChunk.make(chunk!, {
    propositions: ["Neptune DB cluster has one primary DB instance"],
    topics: Topics.parse(
      "topic: Neptune\nentities:\nNeptune|Service\nproposition: Neptune DB cluster has one primary DB instance"
    )
      .topics
  })
})

describe("TextNode", () => {
  it.effect("has the shape of the reference's chunk file (keys, order, relationships, metadata)", () =>
    Effect.gen(function*() {
      const node = TextNode.fromExtracted(yield* extracted)
      assert.deepStrictEqual(Object.keys(node), Object.keys(fixture))
      assert.deepStrictEqual(Object.keys(node.relationships["1"]!), Object.keys(fixture.relationships["1"]))
      assert.deepStrictEqual(Object.keys(node.metadata), [
        ...Object.keys(fixture.metadata),
        "__aws__versioning__extract_timestamp__"
      ])
      for (
        const key of [
          "embedding",
          "excluded_embed_metadata_keys",
          "excluded_llm_metadata_keys",
          "metadata_template",
          "metadata_separator",
          "mimetype",
          "metadata_seperator",
          "text_template",
          "class_name"
        ] as const
      ) {
        assert.deepStrictEqual(node[key], fixture[key], key)
      }
      const source = node.relationships["1"]!
      assert.strictEqual(source.node_type, "4")
      assert.strictEqual(source.class_name, "RelatedNodeInfo")
      assert.strictEqual(source.node_id, Ids.sourceId(text, metadata))
      assert.deepStrictEqual(source.metadata, metadata)
      assert.match(source.hash!, /^[0-9a-f]{64}$/)
      assert.strictEqual(node.id_, Ids.chunkId(source.node_id, text, metadata))
      assert.strictEqual(node.metadata["__aws__versioning__extract_timestamp__"], 1_760_000_000_000)
      assert.deepStrictEqual(node.start_char_idx, 0)
      assert.deepStrictEqual(node.end_char_idx, text.length)
    }))

  it.effect("writes ASCII-only JSON indented by 4, as Python's json.dump, and reads it back", () =>
    Effect.gen(function*() {
      const value = yield* extracted
      const json = TextNode.toJson(TextNode.fromExtracted(value))
      assert.match(json, /^[\x00-\x7f]*$/)
      assert.include(json, "\\u2013")
      assert.isTrue(json.startsWith("{\n    \"id_\": "))
      const node = Result.getOrThrow(TextNode.fromJson(json))
      assert.strictEqual(node.text, text)
      const back = Result.getOrThrow(TextNode.toExtracted(node, 0))
      assert.deepStrictEqual(back, { ...value, chunk: { ...value.chunk, source: { ...value.chunk.source } } })
    }))

  it("reads the reference's own chunk file", () => {
    const node = Result.getOrThrow(TextNode.fromJson(fixtureJson))
    const back = Result.getOrThrow(TextNode.toExtracted(node, 3))
    assert.strictEqual(back.chunk.id, "aws::abd5427c:6614:848bb4a4")
    assert.strictEqual(back.chunk.source.id, "aws::abd5427c:6614")
    assert.strictEqual(back.chunk.index, 3)
    assert.deepStrictEqual(back.chunk.metadata, metadata)
    assert.strictEqual(back.propositions.length, 27)
    assert.strictEqual(back.topics.topics[0]!.value, "Amazon Neptune")
  })

  it("rejects what is not a TextNode of an extracted chunk", () => {
    assert.isTrue(Result.isFailure(TextNode.fromJson("{")))
    assert.isTrue(Result.isFailure(TextNode.fromJson("{\"id_\": 1}")))
    const noSource = Result.getOrThrow(TextNode.fromJson(JSON.stringify({ ...fixture, relationships: {} })))
    assert.isTrue(Result.isFailure(TextNode.toExtracted(noSource, 0)))
    const badTopics = Result.getOrThrow(TextNode.fromJson(JSON.stringify({
      ...fixture,
      metadata: { ...fixture.metadata, "aws::graph::topics": { topics: [{ value: 1 }] } }
    })))
    assert.isTrue(Result.isFailure(TextNode.toExtracted(badTopics, 0)))
  })

  it.effect("a failed chunk has empty results and the current time", () =>
    Effect.gen(function*() {
      const [chunk] = yield* Chunker.chunk(Document.make(text))
      yield* TestClock.setTime(42)
      const failed = yield* ExtractedChunk.failed(chunk!)
      assert.deepStrictEqual(failed.propositions, [])
      assert.deepStrictEqual(failed.topics, { topics: [] })
      assert.strictEqual(failed.extractTimestamp, 42)
      assert.isTrue(ExtractedChunk.isEmpty(failed))
      const node = TextNode.fromExtracted(failed)
      assert.deepStrictEqual(node.metadata["aws::graph::propositions"], [])
      assert.deepStrictEqual(node.metadata["aws::graph::topics"], { topics: [] })
    }))
})
