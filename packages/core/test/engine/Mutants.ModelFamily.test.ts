/**
 * Model families at their edges: model ids the family cannot be read from, bodies with odd
 * or missing fields, every stop reason that means "cut off", Llama's token cap.
 */
import { ModelFamily } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"

const prompt = { system: "Be brief.", user: "Say hi." }

const read = (family: ModelFamily.ModelFamily, body: unknown) => Result.getOrThrow(family.readOutput(body))

const messagesBody = (stopReason: unknown) => ({
  output: { message: { content: [{ text: "hi" }] } },
  stopReason,
  usage: { inputTokens: 3, outputTokens: 4 }
})

describe("ModelFamily at its edges", () => {
  it("reads the family through surrounding spaces and every geographic prefix", () => {
    const cases: ReadonlyArray<readonly [string, ModelFamily.FamilyName | undefined]> = [
      ["  anthropic.claude-3-haiku-20240307-v1:0  ", "anthropic"],
      ["us-gov.anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic"],
      ["ca.amazon.nova-lite-v1:0", "nova"],
      ["jp.amazon.nova-pro-v1:0", "nova"],
      ["au.anthropic.claude-sonnet-4-20250514-v1:0", "anthropic"],
      ["apne1.meta.llama3-2-1b-instruct-v1:0", "llama"],
      ["apne.meta.llama3-2-1b-instruct-v1:0", "llama"],
      ["us.us.anthropic.claude-3-haiku-20240307-v1:0", undefined],
      ["usanthropic.claude-3-haiku-20240307-v1:0", undefined],
      ["amazon.titan-text-express-v1", undefined],
      ["meta.other-model-v1:0", undefined],
      ["arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123", undefined],
      ["arn:aws:bedrock:us-east-1:123456789012:custom-model/anthropic.claude-3-haiku/xyz", undefined],
      ["arn:aws:bedrock:us-east-1::anthropic.claude-3-haiku-20240307-v1:0", "anthropic"],
      // A geographic prefix counts only at the start.
      ["amazon.us.nova-lite-v1:0", undefined],
      ["meta.eu.llama3-1-8b-instruct-v1:0", undefined],
      // These ARNs never name their model, whatever their id looks like.
      ["arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/anthropic.claude-v2", undefined],
      ["arn:aws:bedrock:us-east-1:123456789012:provisioned-model/meta.llama3-1-8b-instruct-v1:0", undefined]
    ]
    for (const [id, family] of cases) assert.strictEqual(ModelFamily.familyOfModelId(id), family, id)
  })

  it("prefers the Converse type over an explicit family, and names the model it cannot place", () => {
    const both = ModelFamily.resolve({
      modelId: "meta.llama3-1-8b-instruct-v1:0",
      family: "nova",
      invocationType: "Converse"
    })
    assert.strictEqual(Result.getOrThrow(both).name, "converse")
    const explicit = ModelFamily.resolve({
      modelId: "anthropic.claude-v2",
      family: "llama",
      invocationType: "InvokeModel"
    })
    assert.strictEqual(Result.getOrThrow(explicit).name, "llama")
    const unknown = ModelFamily.resolve({ modelId: "cohere.command-r-v1:0" })
    assert.isTrue(Result.isFailure(unknown))
    if (Result.isFailure(unknown)) {
      assert.strictEqual(unknown.failure.modelId, "cohere.command-r-v1:0")
      assert.include(unknown.failure.message, "cohere.command-r-v1:0")
      assert.include(unknown.failure.message, "model.family")
      assert.include(unknown.failure.message, "Converse")
    }
  })

  it("marks a Nova or Converse answer cut off for every max-tokens stop reason, and only for those", () => {
    for (const family of [ModelFamily.nova, ModelFamily.converse]) {
      for (const reason of ["max_tokens", "length", "MAX_TOKENS", "max_tokens_reached"]) {
        assert.isTrue(read(family, messagesBody(reason)).truncated, `${family.name} ${reason}`)
      }
      for (const reason of ["end_turn", "stop_sequence", "content_filtered", undefined, 42]) {
        assert.isFalse(read(family, messagesBody(reason)).truncated, `${family.name} ${String(reason)}`)
      }
      assert.isUndefined(read(family, messagesBody(42)).stopReason)
    }
  })

  it("counts missing or malformed token usage as zero", () => {
    for (const usage of [undefined, null, [], { inputTokens: "3", outputTokens: Number.NaN }]) {
      assert.deepStrictEqual(read(ModelFamily.nova, { ...messagesBody("end_turn"), usage }).usage, {
        inputTokens: 0,
        outputTokens: 0
      })
    }
    const claude = read(ModelFamily.anthropic, { content: [], stop_reason: "end_turn", usage: [] })
    assert.deepStrictEqual(claude.usage, { inputTokens: 0, outputTokens: 0 })
    const infinite = read(ModelFamily.llama, {
      generation: "g",
      prompt_token_count: Number.POSITIVE_INFINITY,
      generation_token_count: 6
    })
    assert.deepStrictEqual(infinite.usage, { inputTokens: 0, outputTokens: 6 })
  })

  it("refuses bodies that are not of the family's shape", () => {
    const refused: ReadonlyArray<readonly [ModelFamily.ModelFamily, unknown]> = [
      [ModelFamily.anthropic, null],
      [ModelFamily.anthropic, [{ content: [] }]],
      [ModelFamily.anthropic, { content: "text" }],
      [ModelFamily.nova, null],
      [ModelFamily.nova, [messagesBody("end_turn")]],
      [ModelFamily.nova, { output: null }],
      [ModelFamily.nova, { output: [{ message: {} }] }],
      [ModelFamily.nova, { output: { message: null } }],
      [ModelFamily.nova, { output: { message: { content: "hi" } } }],
      [ModelFamily.llama, { generation: 42 }],
      [ModelFamily.llama, [{ generation: "g" }]]
    ]
    for (const [family, body] of refused) {
      const result = family.readOutput(body)
      assert.isTrue(Result.isFailure(result), `${family.name} ${JSON.stringify(body)}`)
      if (Result.isFailure(result)) assert.isAbove(result.failure.length, 0)
    }
  })

  it("reads only the text pieces of a Claude answer and knows when it ended normally", () => {
    const output = read(ModelFamily.anthropic, {
      content: [
        { type: "text", text: "Hello" },
        { type: "tool_use", text: "ignored", name: "lookup" },
        null,
        { type: "text", text: 7 },
        { type: "text", text: " there" }
      ],
      stop_reason: "end_turn",
      usage: { input_tokens: 2, output_tokens: 3 }
    })
    assert.strictEqual(output.text, "Hello there")
    assert.isFalse(output.truncated)
    assert.isFalse(read(ModelFamily.anthropic, { content: [], stop_reason: 1 }).truncated)
  })

  it("reads a Llama answer that stopped normally, and one without a stop reason", () => {
    assert.isFalse(read(ModelFamily.llama, { generation: "g", stop_reason: "stop" }).truncated)
    const bare = read(ModelFamily.llama, { generation: "g" })
    assert.isUndefined(bare.stopReason)
    assert.isFalse(bare.truncated)
  })

  it("caps a Llama body's token limit at the family's largest, when built and when raised", () => {
    const body = ModelFamily.llama.buildRequest(prompt, { maxTokens: 4096 })
    assert.strictEqual(body.max_gen_len, ModelFamily.llamaMaxGenLen)
    assert.strictEqual(ModelFamily.llama.maxOutputTokens, 2048)
    assert.strictEqual(ModelFamily.llama.maxTokensOf(ModelFamily.llama.withMaxTokens(body, 5_000)), 2048)
    assert.strictEqual(ModelFamily.llama.maxTokensOf(ModelFamily.llama.withMaxTokens(body, 300)), 300)
    assert.isUndefined(ModelFamily.anthropic.maxOutputTokens)
  })

  it("builds a Llama prompt without a system turn when there is none, and sends top_p only when set", () => {
    const body = ModelFamily.llama.buildRequest({ user: "Say hi." }, { maxTokens: 10, topP: 0.5 })
    assert.strictEqual(
      body.prompt,
      "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nSay hi.<|eot_id|>" +
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    assert.strictEqual(body.top_p, 0.5)
    assert.notProperty(body, "temperature")
    assert.notProperty(ModelFamily.nova.buildRequest({ user: "x" }, { maxTokens: 5 }), "system")
    assert.notProperty(ModelFamily.converse.buildRequest({ user: "x" }, { maxTokens: 5 }), "system")
  })

  it("copies stop sequences into the body, so later changes to the caller's list do not leak in", () => {
    const stopSequences = ["END"]
    const claude = ModelFamily.anthropic.buildRequest(prompt, { maxTokens: 10, stopSequences })
    const nova = ModelFamily.nova.buildRequest(prompt, { maxTokens: 10, stopSequences })
    stopSequences.push("STOP")
    assert.deepStrictEqual(claude.stop_sequences, ["END"])
    assert.deepStrictEqual((nova.inferenceConfig as { stopSequences: Array<string> }).stopSequences, ["END"])
  })

  it("sees no token limit in a body whose limit is not a finite number, and sets one anyway", () => {
    assert.isUndefined(ModelFamily.anthropic.maxTokensOf({ max_tokens: "100" }))
    assert.isUndefined(ModelFamily.anthropic.maxTokensOf({ max_tokens: Number.POSITIVE_INFINITY }))
    assert.isUndefined(ModelFamily.llama.maxTokensOf({ max_gen_len: Number.NaN }))
    assert.isUndefined(ModelFamily.nova.maxTokensOf({ inferenceConfig: [{ maxTokens: 5 }] }))
    assert.isUndefined(ModelFamily.nova.maxTokensOf({ inferenceConfig: { maxTokens: "5" } }))
    assert.deepStrictEqual(ModelFamily.nova.withMaxTokens({ inferenceConfig: "odd" }, 64), {
      inferenceConfig: { maxTokens: 64 }
    })
    assert.deepStrictEqual(ModelFamily.converse.withMaxTokens({ inferenceConfig: [1] }, 64), {
      inferenceConfig: { maxTokens: 64 }
    })
  })

  it("sends every optional parameter that is set, in each family's own name", () => {
    const claude = ModelFamily.anthropic.buildRequest(prompt, { maxTokens: 10, topP: 0.5, stopSequences: ["END"] })
    assert.deepStrictEqual([claude.top_p, claude.stop_sequences], [0.5, ["END"]])
    const nova = ModelFamily.nova.buildRequest(prompt, { maxTokens: 10, temperature: 0.3 })
    assert.deepStrictEqual(nova.inferenceConfig, { maxTokens: 10, temperature: 0.3 })
    const converse = ModelFamily.converse.buildRequest(prompt, { maxTokens: 10, temperature: 0.1, topP: 0.2 })
    assert.deepStrictEqual(converse.inferenceConfig, { maxTokens: 10, temperature: 0.1, topP: 0.2 })
  })
})

describe("ModelFamily from an ARN", () => {
  it("takes the model id after the first slash of the resource, every colon in it kept", () => {
    // An empty resource type: the model id still starts after the slash.
    assert.strictEqual(ModelFamily.familyOfModelId("arn:aws:bedrock:us-east-1::/anthropic.claude-v2"), "anthropic")
    // The colons of a resource stay where they are: they are part of the id, never dropped.
    assert.isUndefined(ModelFamily.familyOfModelId("arn:aws:bedrock:us-east-1::foundation-model/anthropic:.claude-v2"))
    assert.isUndefined(ModelFamily.familyOfModelId("arn:aws:bedrock:us-east-1::foundation-model/us:.amazon.nova-lite"))
  })
})

describe("embedding families at their edges", () => {
  it("a Titan family of any vector size embeds the user turn, keeps its bodies as they are, and goes in batch jobs", () => {
    for (const dimensions of [256, 512, 1024] as const) {
      const family = ModelFamily.titanEmbedWith(dimensions)
      const body = family.buildRequest({ system: "ignored", user: "Alice." }, { maxTokens: 10 })
      assert.deepStrictEqual(body, { inputText: "Alice.", dimensions, normalize: true })
      assert.strictEqual(family.withMaxTokens(body, 4096), body)
      assert.isTrue(family.embedding?.batch, String(dimensions))
    }
  })

  it("counts no input tokens for a Cohere answer whose texts are missing or not all strings", () => {
    const answers: ReadonlyArray<unknown> = [
      { embeddings: [[1, 0]] },
      { texts: "x", embeddings: [[1, 0]] },
      { texts: [4, 8], embeddings: [[1, 0], [0, 1]] },
      { texts: ["abcd", 8], embeddings: [[1, 0], [0, 1]] }
    ]
    for (const answer of answers) {
      const output = read(ModelFamily.cohereEmbed, answer)
      assert.deepStrictEqual(output.usage, { inputTokens: 0, outputTokens: 0 }, JSON.stringify(answer))
      assert.strictEqual(output.vectors?.length, (answer as { embeddings: Array<unknown> }).embeddings.length)
    }
  })

  it("refuses a Cohere answer with no vectors at all", () => {
    for (const embeddings of [[], { float: [] }]) {
      const result = ModelFamily.cohereEmbed.readOutput({ texts: [], embeddings })
      assert.isTrue(Result.isFailure(result), JSON.stringify(embeddings))
      if (Result.isFailure(result)) assert.match(result.failure, /no embeddings/)
    }
  })

  it("names Cohere Embed only from an id that starts with its model name", () => {
    const cases: ReadonlyArray<readonly [string, ModelFamily.FamilyName | undefined]> = [
      ["cohere.embed-english-v3:0", "cohere-embed"],
      ["cohere.embed-multilingual-v3:0", "cohere-embed"],
      ["foo.cohere.embed-english-v3", undefined],
      ["foo.cohere.embed-multilingual-v3", undefined],
      ["arn:aws:bedrock:us-east-1::foundation-model/my.cohere.embed-english-v3", undefined]
    ]
    for (const [id, family] of cases) assert.strictEqual(ModelFamily.familyOfModelId(id), family, id)
  })
})
