import { ModelFamily } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"

const prompt = { system: "You extract propositions.", user: "<text>Alice lives in Paris.</text>" }

describe("ModelFamily", () => {
  it("resolves families from ids, inference profiles and ARNs", () => {
    const cases: ReadonlyArray<readonly [string, string | undefined]> = [
      ["anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic"],
      ["us.anthropic.claude-3-7-sonnet-20250219-v1:0", "anthropic"],
      ["global.anthropic.claude-sonnet-4-20250514-v1:0", "anthropic"],
      ["apac.amazon.nova-pro-v1:0", "nova"],
      ["eu.amazon.nova-lite-v1:0", "nova"],
      ["meta.llama3-1-70b-instruct-v1:0", "llama"],
      ["us.meta.llama3-3-70b-instruct-v1:0", "llama"],
      ["arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0", "anthropic"],
      ["arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-micro-v1:0", "nova"],
      ["arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3", undefined],
      ["cohere.command-r-v1:0", undefined]
    ]
    for (const [id, family] of cases) assert.strictEqual(ModelFamily.familyOfModelId(id), family, id)
  })

  it("honours an explicit family and the Converse type; an unknown family is a typed error", () => {
    const app = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3"
    const withOverride = ModelFamily.resolve({ modelId: app, family: "nova" })
    assert.isTrue(Result.isSuccess(withOverride) && withOverride.success.name === "nova")
    const conv = ModelFamily.resolve({ modelId: "cohere.command-r-v1:0", invocationType: "Converse" })
    assert.isTrue(Result.isSuccess(conv) && conv.success.name === "converse")
    const unknown = ModelFamily.resolve({ modelId: app })
    assert.isTrue(Result.isFailure(unknown) && unknown.failure._tag === "UnknownModelFamily")
  })

  it("builds Anthropic bodies with only the parameters set (golden)", () => {
    assert.deepStrictEqual(ModelFamily.anthropic.buildRequest(prompt, { maxTokens: 4096, temperature: 0 }), {
      anthropic_version: "bedrock-2023-05-31",
      max_tokens: 4096,
      system: "You extract propositions.",
      messages: [{ role: "user", content: [{ type: "text", text: "<text>Alice lives in Paris.</text>" }] }],
      temperature: 0
    })
    const bare = ModelFamily.anthropic.buildRequest({ user: "hi" }, { maxTokens: 10 })
    assert.deepStrictEqual(Object.keys(bare), ["anthropic_version", "max_tokens", "messages"])
  })

  it("builds Nova, Llama and Converse bodies (golden)", () => {
    assert.deepStrictEqual(ModelFamily.nova.buildRequest(prompt, { maxTokens: 512, topP: 0.9 }), {
      schemaVersion: "messages-v1",
      system: [{ text: "You extract propositions." }],
      messages: [{ role: "user", content: [{ text: "<text>Alice lives in Paris.</text>" }] }],
      inferenceConfig: { maxTokens: 512, topP: 0.9 }
    })
    assert.deepStrictEqual(ModelFamily.llama.buildRequest(prompt, { maxTokens: 256, temperature: 0.2 }), {
      prompt: "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou extract propositions.<|eot_id|>" +
        "<|start_header_id|>user<|end_header_id|>\n\n<text>Alice lives in Paris.</text><|eot_id|>" +
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
      max_gen_len: 256,
      temperature: 0.2
    })
    assert.deepStrictEqual(ModelFamily.converse.buildRequest(prompt, { maxTokens: 100, stopSequences: ["END"] }), {
      messages: [{ role: "user", content: [{ text: "<text>Alice lives in Paris.</text>" }] }],
      system: [{ text: "You extract propositions." }],
      inferenceConfig: { maxTokens: 100, stopSequences: ["END"] }
    })
  })

  it("reads and sets the token limit of a body, for each text family, keeping the rest", () => {
    const parameters = { maxTokens: 100, temperature: 0.2, topP: 0.9, stopSequences: ["END"] }
    // Embedding families have no token limit (EmbeddingFamilies.test.ts).
    for (const family of Object.values(ModelFamily.families).filter((f) => !ModelFamily.isEmbedding(f))) {
      const body = family.buildRequest(prompt, parameters)
      assert.strictEqual(family.maxTokensOf(body), 100, family.name)
      const larger = family.withMaxTokens(body, 200)
      assert.deepStrictEqual(larger, family.buildRequest(prompt, { ...parameters, maxTokens: 200 }), family.name)
      assert.deepStrictEqual(Object.keys(larger), Object.keys(body), family.name)
      assert.strictEqual(family.maxTokensOf(larger), 200, family.name)
      // The body it was given is left as it was.
      assert.strictEqual(family.maxTokensOf(body), 100, family.name)
    }
    // Nova and Converse bodies without an inference configuration get one.
    const bare = { messages: [{ role: "user", content: [{ text: "hi" }] }] }
    assert.isUndefined(ModelFamily.converse.maxTokensOf(bare))
    assert.deepStrictEqual(ModelFamily.converse.withMaxTokens(bare, 64), {
      ...bare,
      inferenceConfig: { maxTokens: 64 }
    })
    assert.isUndefined(ModelFamily.llama.maxTokensOf({ prompt: "hi" }))
  })

  it("reads text, stop reason and usage of each family (golden)", () => {
    const claude = ModelFamily.anthropic.readOutput({
      content: [{ type: "text", text: "A" }, { type: "text", text: "B" }],
      stop_reason: "max_tokens",
      usage: { input_tokens: 10, output_tokens: 20 }
    })
    assert.deepStrictEqual(Result.getOrThrow(claude), {
      text: "AB",
      stopReason: "max_tokens",
      truncated: true,
      usage: { inputTokens: 10, outputTokens: 20 }
    })
    const nova = ModelFamily.nova.readOutput({
      output: { message: { content: [{ text: "x" }, null, { text: "y" }] } },
      stopReason: "end_turn",
      usage: { inputTokens: 3, outputTokens: 4 }
    })
    assert.deepStrictEqual(Result.getOrThrow(nova), {
      text: "xy",
      stopReason: "end_turn",
      truncated: false,
      usage: { inputTokens: 3, outputTokens: 4 }
    })
    const llama = ModelFamily.llama.readOutput({
      generation: "g",
      prompt_token_count: 5,
      generation_token_count: 6,
      stop_reason: "length"
    })
    assert.deepStrictEqual(Result.getOrThrow(llama), {
      text: "g",
      stopReason: "length",
      truncated: true,
      usage: { inputTokens: 5, outputTokens: 6 }
    })
    const conv = ModelFamily.converse.readOutput({
      output: { message: { content: [{ text: "c" }] } },
      stopReason: "max_tokens",
      usage: { inputTokens: 1, outputTokens: 2 }
    })
    assert.isTrue(Result.getOrThrow(conv).truncated)
    assert.isTrue(Result.isFailure(ModelFamily.anthropic.readOutput({ generation: "wrong family" })))
    assert.isTrue(Result.isFailure(ModelFamily.llama.readOutput(null)))
  })
})
