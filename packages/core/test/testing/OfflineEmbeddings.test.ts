/**
 * The offline model's embeddings: deterministic unit vectors of the requested size, near for
 * texts that share most words and far for unrelated ones; answers in each embedding family's
 * response shape that the family reads back, one vector per text.
 */
import { ModelFamily } from "@batch-extract/core"
import { OfflineModel } from "@batch-extract/core/testing"
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"

const dot = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) => a.reduce((sum, x, i) => sum + x * b[i]!, 0)
const norm = (a: ReadonlyArray<number>) => Math.sqrt(dot(a, a))

describe("OfflineModel.embed", () => {
  const text = "The Senate passed the infrastructure bill on Tuesday after a long debate."
  const paraphrase = "On Tuesday the Senate passed the infrastructure bill after long debate."
  const unrelated = "Penguins huddle together to keep warm during the Antarctic winter."

  it("gives the same text the same unit vector of the requested size", () => {
    for (const dimensions of [256, 512, 1024]) {
      const vector = OfflineModel.embed(text, dimensions)
      assert.strictEqual(vector.length, dimensions)
      assert.closeTo(norm(vector), 1, 1e-12)
      assert.deepStrictEqual(OfflineModel.embed(text, dimensions), vector)
    }
    // Case and punctuation do not matter; words do.
    assert.deepStrictEqual(
      OfflineModel.embed(text.toUpperCase().replace(/\./g, "!"), 1024),
      OfflineModel.embed(text, 1024)
    )
  })

  it("puts a paraphrase sharing most words nearer than an unrelated text", () => {
    const [a, b, c] = [text, paraphrase, unrelated].map((t) => OfflineModel.embed(t, 1024))
    const near = dot(a!, b!)
    const far = dot(a!, c!)
    assert.isAbove(near, 0.6)
    assert.isBelow(Math.abs(far), 0.3)
    assert.isAbove(near, far)
  })

  it("gives a text without words a fixed unit vector", () => {
    const empty = OfflineModel.embed("", 256)
    assert.closeTo(norm(empty), 1, 1e-12)
    assert.deepStrictEqual(OfflineModel.embed("  ...  ", 256), empty)
    assert.deepStrictEqual(empty, new Array(256).fill(1 / 16))
  })
})

describe("OfflineModel answers embedding requests", () => {
  it("answers Titan in its shape, at the requested dimensions, readable by the family", () => {
    const family = ModelFamily.titanEmbedWith(512)
    const body = family.embedding!.buildEmbeddingRequest(["Alice lives in Paris."], "document")
    const response = Result.getOrThrow(OfflineModel.respond(family, body))
    assert.deepStrictEqual(Object.keys(response).sort(), ["embedding", "embeddingsByType", "inputTextTokenCount"])
    const output = Result.getOrThrow(family.readOutput(response))
    assert.deepStrictEqual(output.vectors, [OfflineModel.embed("Alice lives in Paris.", 512)])
    assert.strictEqual(output.usage.inputTokens, OfflineModel.estimateTokens("Alice lives in Paris."))
  })

  it("answers Cohere with one vector per text, in order, and floats by type when asked", () => {
    const family = ModelFamily.cohereEmbed
    const texts = ["first text", "second text", "third text"]
    const response = Result.getOrThrow(
      OfflineModel.respond(family, family.embedding!.buildEmbeddingRequest(texts, "query"))
    )
    assert.strictEqual(response.response_type, "embeddings_floats")
    assert.deepStrictEqual(response.texts, texts)
    const output = Result.getOrThrow(family.readOutput(response))
    assert.deepStrictEqual(output.vectors, texts.map((t) => OfflineModel.embed(t, 1024)))
    const typed = Result.getOrThrow(
      OfflineModel.respond(family, { texts: ["x"], input_type: "search_document", embedding_types: ["float"] })
    )
    assert.strictEqual(typed.response_type, "embeddings_by_type")
    assert.deepStrictEqual(Result.getOrThrow(family.readOutput(typed)).vectors, [OfflineModel.embed("x", 1024)])
  })

  it("refuses a body it cannot read, and reads an embedding body's texts as its prompt", () => {
    assert.isTrue(Result.isFailure(OfflineModel.respond(ModelFamily.titanEmbed, { texts: ["x"] })))
    assert.isTrue(Result.isFailure(OfflineModel.respond(ModelFamily.cohereEmbed, { inputText: "x" })))
    assert.deepStrictEqual(
      Result.getOrThrow(
        OfflineModel.readRequest(ModelFamily.cohereEmbed, { texts: ["a", "b"], input_type: "clustering" })
      ),
      { prompt: "a\nb", maxTokens: 0 }
    )
    assert.isTrue(Result.isFailure(OfflineModel.readEmbeddingRequest(ModelFamily.anthropic, { inputText: "x" })))
  })
})
