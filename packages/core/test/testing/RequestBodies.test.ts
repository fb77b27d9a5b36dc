/**
 * The simulated services validate model bodies as the service documents them, per family: what
 * the engine builds passes, and the bodies the service refuses are refused — in a batch job as
 * an error line (counted), on demand as a validation error.
 */
import { BatchConfig, BatchRecord, BatchRunner, ModelFamily } from "@batch-extract/core"
import { RequestBodies } from "@batch-extract/core/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { config, makeEnv, runOnTestClock } from "../support.ts"

const prompt = { system: "Extract propositions.", user: "<text>Alice Smith lives in Boston.</text>" }
const parameters = { maxTokens: 1000, temperature: 0, topP: 0.9, stopSequences: ["</end>"] }

describe("request bodies, per family", () => {
  it("accepts every body the engine builds, with and without the optional parameters", () => {
    for (const family of Object.values(ModelFamily.families)) {
      assert.isUndefined(RequestBodies.problemOf(family.name, family.buildRequest(prompt, parameters)), family.name)
      assert.isUndefined(
        RequestBodies.problemOf(family.name, family.buildRequest({ user: "hi" }, { maxTokens: 5 })),
        family.name
      )
    }
  })

  const refused: ReadonlyArray<readonly [ModelFamily.FamilyName, string, unknown, RegExp]> = [
    [
      "anthropic",
      "no anthropic_version",
      { max_tokens: 10, messages: [{ role: "user", content: "hi" }] },
      /anthropic_version is required/
    ],
    ["anthropic", "another anthropic_version", {
      anthropic_version: "2023-06-01",
      max_tokens: 10,
      messages: [{ role: "user", content: "hi" }]
    }, /not bedrock-2023-05-31/],
    ["anthropic", "no max_tokens", {
      anthropic_version: "bedrock-2023-05-31",
      messages: [{ role: "user", content: "hi" }]
    }, /max_tokens is required/],
    ["anthropic", "a system role in the messages", {
      anthropic_version: "bedrock-2023-05-31",
      max_tokens: 10,
      messages: [{ role: "system", content: "x" }, { role: "user", content: "hi" }]
    }, /role/],
    ["anthropic", "an extraneous key", {
      anthropic_version: "bedrock-2023-05-31",
      max_tokens: 10,
      messages: [{ role: "user", content: "hi" }],
      note: 1
    }, /extraneous key \[note\]/],
    ["anthropic", "a temperature above 1", {
      anthropic_version: "bedrock-2023-05-31",
      max_tokens: 10,
      temperature: 1.5,
      messages: [{ role: "user", content: "hi" }]
    }, /temperature/],
    ["nova", "another schemaVersion", {
      schemaVersion: "messages-v2",
      messages: [{ role: "user", content: [{ text: "hi" }] }]
    }, /schemaVersion/],
    ["nova", "a system prompt wrapped twice", {
      system: [{ text: [{ text: "x" }] }],
      messages: [{ role: "user", content: [{ text: "hi" }] }]
    }, /text block needs a text string/],
    ["nova", "no messages", { inferenceConfig: { maxTokens: 10 } }, /messages is required/],
    ["nova", "maxTokens of 0", {
      messages: [{ role: "user", content: [{ text: "hi" }] }],
      inferenceConfig: { maxTokens: 0 }
    }, /maxTokens/],
    ["llama", "the chat messages instead of a prompt (the reference's body)", {
      messages: [{ role: "user", content: [{ text: "hi" }] }],
      parameters: { max_new_tokens: 4096 }
    }, /extraneous key/],
    ["llama", "no prompt", { max_gen_len: 10 }, /prompt is required/],
    ["llama", "max_gen_len above 2048", { prompt: "hi", max_gen_len: 4096 }, /max_gen_len/],
    ["converse", "a tool configuration", {
      messages: [{ role: "user", content: [{ text: "hi" }] }],
      toolConfig: { tools: [] }
    }, /toolConfig is not supported/],
    ["converse", "a model id inside the record", {
      modelId: "x",
      messages: [{ role: "user", content: [{ text: "hi" }] }]
    }, /modelId/],
    ["converse", "an Anthropic body", {
      anthropic_version: "bedrock-2023-05-31",
      max_tokens: 10,
      messages: [{ role: "user", content: "hi" }]
    }, /extraneous key/],
    ["titan-embed", "no inputText", { dimensions: 1024 }, /inputText is required/],
    ["titan-embed", "an empty inputText", { inputText: "" }, /non-empty string/],
    ["titan-embed", "a list of texts", { inputText: ["a", "b"], dimensions: 1024 }, /non-empty string/],
    ["titan-embed", "an inputText above 50,000 characters", { inputText: "a".repeat(50_001) }, /50000/],
    ["titan-embed", "dimensions of 768", { inputText: "hi", dimensions: 768 }, /dimensions: 768 is not one of/],
    ["titan-embed", "a non-boolean normalize", { inputText: "hi", normalize: "yes" }, /normalize/],
    ["titan-embed", "a Cohere body", { texts: ["hi"], input_type: "search_document" }, /extraneous key \[texts\]/],
    ["titan-embed", "an unknown embedding type", { inputText: "hi", embeddingTypes: ["int8"] }, /embeddingTypes/],
    ["cohere-embed", "no texts", { input_type: "search_document" }, /texts is required/],
    ["cohere-embed", "no texts in the list", { texts: [], input_type: "search_document" }, /1 to 96/],
    ["cohere-embed", "97 texts", {
      texts: Array.from({ length: 97 }, () => "x"),
      input_type: "search_document"
    }, /1 to 96 strings, got 97/],
    ["cohere-embed", "a text above 2,048 characters", {
      texts: ["ok", "a".repeat(2049)],
      input_type: "search_document"
    }, /texts\.1 must be at most 2048/],
    [
      "cohere-embed",
      "a text that is not a string",
      { texts: [1], input_type: "search_document" },
      /texts\.0 must be a string/
    ],
    ["cohere-embed", "no input_type", { texts: ["hi"] }, /input_type is required/],
    ["cohere-embed", "another input_type", { texts: ["hi"], input_type: "document" }, /input_type: "document"/],
    ["cohere-embed", "another truncate", { texts: ["hi"], input_type: "search_query", truncate: "RIGHT" }, /truncate/],
    ["cohere-embed", "a Titan body", { inputText: "hi" }, /extraneous key \[inputText\]/]
  ]
  for (const [family, what, body, reason] of refused) {
    it(`refuses ${family} bodies with ${what}`, () => {
      assert.match(RequestBodies.problemOf(family, body) ?? "accepted", reason)
    })
  }

  it("a Llama body with only a prompt is valid (max_gen_len, temperature and top_p have defaults)", () => {
    assert.isUndefined(RequestBodies.problemOf("llama", { prompt: "hi" }))
  })

  it("accepts the embedding bodies the families build, for documents and queries, and the documented options", () => {
    for (const family of [ModelFamily.titanEmbed, ModelFamily.titanEmbedWith(256), ModelFamily.cohereEmbed]) {
      for (const purpose of ["document", "query"] as const) {
        const body = family.embedding!.buildEmbeddingRequest(["Alice lives in Paris."], purpose)
        assert.isUndefined(RequestBodies.problemOf(family.name, body), `${family.name} ${purpose}`)
      }
    }
    const many = Array.from({ length: 96 }, (_, i) => `text ${i} ${"é".repeat(3000)}`)
    assert.isUndefined(
      RequestBodies.problemOf(
        "cohere-embed",
        ModelFamily.cohereEmbed.embedding!.buildEmbeddingRequest(many, "document")
      )
    )
    assert.isUndefined(RequestBodies.problemOf("titan-embed", { inputText: "hi", embeddingTypes: ["float", "binary"] }))
    assert.isUndefined(
      RequestBodies.problemOf("cohere-embed", { texts: ["hi"], input_type: "clustering", embedding_types: ["float"] })
    )
  })

  it.effect("a batch job answers a refused body with an error line, counted; on demand it is refused again and reported", () =>
    Effect.gen(function*() {
      const cfg = yield* config({})
      const env = yield* makeEnv()
      const family = yield* Effect.fromResult(BatchConfig.modelFamily(cfg))
      const records = Array.from({ length: 150 }, (_, i): BatchRecord.BatchRecord => {
        const body = family.buildRequest({ user: `<text>Record ${i}.</text>` }, { maxTokens: 500 })
        // One record in ten carries a key the service does not know.
        return { recordId: `r${i}`, modelInput: i % 10 === 0 ? { ...body, note: "x" } : body }
      })
      const { outcomes } = yield* runOnTestClock(
        BatchRunner.runCollect(Stream.fromIterable(records), { config: cfg, runId: "bodies", stage: "s" }).pipe(
          Effect.provide(env.layer)
        )
      )
      const counters = yield* env.sim.counters
      assert.strictEqual(counters.recordsRejected, 15)
      const failed = outcomes.filter((o): o is BatchRecord.Failed => o._tag === "Failed")
      assert.deepStrictEqual(
        failed.map((o) => o.recordId).sort(),
        records.filter((_, i) => i % 10 === 0).map((r) => r.recordId).sort()
      )
      for (const failure of failed) assert.match(failure.reason, /extraneous key \[note\]/)
      assert.strictEqual(outcomes.filter((o) => o._tag === "Succeeded").length, 135)
    }))
})
