/**
 * Chunk files at their edges: every non-ASCII character escaped as Python escapes it, and
 * files written by others with fields missing or of the wrong kind.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as TextNode from "../../src/extraction/TextNode.ts"

/** A minimal node, as another writer might leave it: only the required fields. */
const minimal = (metadata: Record<string, unknown> = {}, source: Record<string, unknown> = {}) => ({
  id_: "aws::a:b:c",
  metadata,
  relationships: { "1": { node_id: "aws::a:b", metadata: { title: "T" }, ...source } },
  text: "Some text."
})

const extracted = (node: unknown, index = 0) =>
  TextNode.toExtracted(Result.getOrThrow(TextNode.fromJson(JSON.stringify(node))), index)

describe("TextNode at its edges", () => {
  it("escapes every character past ASCII as four hex digits, surrogate pairs as two", () => {
    const json = TextNode.toJson({ ...minimal(), text: "é\u0080\u07ff\u1234\uffff😀~" })
    assert.include(json, "\"text\": \"\\u00e9\\u0080\\u07ff\\u1234\\uffff\\ud83d\\ude00~\"")
    assert.match(json, /^[\x00-\x7f]*$/)
  })

  it("reads a node without extraction results as a chunk with none, at timestamp 0", () => {
    const chunk = Result.getOrThrow(extracted(minimal({ title: "T" }), 2))
    assert.deepStrictEqual(chunk.propositions, [])
    assert.deepStrictEqual(chunk.topics, { topics: [] })
    assert.strictEqual(chunk.extractTimestamp, 0)
    assert.strictEqual(chunk.chunk.index, 2)
    assert.isNull(chunk.chunk.startCharIdx)
    assert.isNull(chunk.chunk.endCharIdx)
    assert.strictEqual(chunk.chunk.source.hash, "")
    assert.deepStrictEqual(chunk.chunk.metadata, { title: "T" })
    assert.deepStrictEqual(chunk.chunk.source.metadata, { title: "T" })
  })

  it("keeps the document's metadata and leaves the extraction's own keys out of it", () => {
    const chunk = Result.getOrThrow(extracted({
      ...minimal({
        title: "T",
        "aws::graph::propositions": ["P"],
        "aws::graph::topics": { topics: [] },
        __aws__versioning__extract_timestamp__: 7
      }, { hash: "h" }),
      start_char_idx: 3,
      end_char_idx: 9
    }))
    assert.deepStrictEqual(chunk.chunk.metadata, { title: "T" })
    assert.deepStrictEqual(chunk.propositions, ["P"])
    assert.strictEqual(chunk.extractTimestamp, 7)
    assert.strictEqual(chunk.chunk.startCharIdx, 3)
    assert.strictEqual(chunk.chunk.endCharIdx, 9)
    assert.strictEqual(chunk.chunk.source.hash, "h")
  })

  it("takes a timestamp that is not a number as 0", () => {
    const chunk = Result.getOrThrow(extracted(minimal({ __aws__versioning__extract_timestamp__: "7" })))
    assert.strictEqual(chunk.extractTimestamp, 0)
  })

  it("refuses propositions that are not a list of strings, naming the node and the key", () => {
    for (const propositions of ["P", ["P", 1], { 0: "P" }]) {
      const result = extracted(minimal({ "aws::graph::propositions": propositions }))
      assert.isTrue(Result.isFailure(result), JSON.stringify(propositions))
      if (Result.isFailure(result)) {
        assert.include(result.failure.message, "aws::a:b:c")
        assert.include(result.failure.message, "aws::graph::propositions")
      }
    }
  })

  it("names the node and the key of topics it cannot read, and the node without a source", () => {
    const topics = extracted(minimal({ "aws::graph::topics": { topics: "none" } }))
    assert.isTrue(Result.isFailure(topics) && topics.failure.message.includes("aws::a:b:c"))
    assert.isTrue(Result.isFailure(topics) && topics.failure.message.includes("aws::graph::topics"))
    const noSource = extracted({ ...minimal(), relationships: { "2": minimal().relationships["1"] } })
    assert.isTrue(Result.isFailure(noSource) && noSource.failure.message.includes("aws::a:b:c"))
  })

  it("says why a file is not a node: not JSON, or not of the node's shape", () => {
    const notJson = TextNode.fromJson("{")
    assert.isTrue(Result.isFailure(notJson) && notJson.failure.message.includes("JSON"))
    assert.isTrue(Result.isFailure(notJson) && notJson.failure._tag === "TextNodeError")
    const notNode = TextNode.fromJson("{\"id_\": 1}")
    assert.isTrue(Result.isFailure(notNode) && notNode.failure.message.includes("TextNode"))
  })
})
