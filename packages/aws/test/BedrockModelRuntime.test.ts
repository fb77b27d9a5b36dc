import { ModelFamily, ModelRuntime } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import * as LocalBackend from "../src/LocalBackend.ts"
import { localLayer } from "./fixtures.ts"

const prompt = {
  system: "Extract propositions.",
  user: "<text>Ada Lovelace wrote notes in London. They were long.</text>"
}

const invoke = (request: ModelRuntime.InvokeRequest) =>
  ModelRuntime.ModelRuntime.use((runtime) => runtime.invoke(request))

describe("BedrockModelRuntime on the emulator (HTTP/2)", () => {
  it.live("InvokeModel answers each family in its native shape", () =>
    Effect.gen(function*() {
      const models: ReadonlyArray<readonly [string, ModelFamily.ModelFamily]> = [
        ["us.anthropic.claude-3-7-sonnet-20250219-v1:0", ModelFamily.anthropic],
        ["us.amazon.nova-pro-v1:0", ModelFamily.nova],
        ["us.meta.llama3-3-70b-instruct-v1:0", ModelFamily.llama]
      ]
      for (const [modelId, family] of models) {
        const body = family.buildRequest(prompt, { maxTokens: 512 })
        const answer = yield* invoke({ modelId, invocationType: "InvokeModel", body })
        const read = family.readOutput(answer)
        assert.isTrue(Result.isSuccess(read), modelId)
        if (Result.isSuccess(read)) {
          assert.strictEqual(read.success.text.split("\n")[0], "Propositions about Ada Lovelace")
          assert.isFalse(read.success.truncated)
          assert.isAbove(read.success.usage.outputTokens, 0)
        }
      }
      const local = yield* LocalBackend.LocalBackend
      assert.strictEqual((yield* local.bedrock.counters).callsByOperation.InvokeModel, 3)
    }).pipe(Effect.provide(localLayer())))

  it.live("InvokeModel answers embedding models with vectors: Titan one, Cohere one per text; no Converse for them", () =>
    Effect.gen(function*() {
      const titan = ModelFamily.titanEmbed
      const titanAnswer = yield* invoke({
        modelId: "amazon.titan-embed-text-v2:0",
        invocationType: "InvokeModel",
        body: titan.embedding!.buildEmbeddingRequest(["Ada Lovelace wrote notes in London."], "document")
      })
      const titanRead = Result.getOrThrow(titan.readOutput(titanAnswer))
      assert.strictEqual(titanRead.vectors?.length, 1)
      assert.strictEqual(titanRead.vectors?.[0]?.length, 1024)
      assert.isAbove(titanRead.usage.inputTokens, 0)

      const cohere = ModelFamily.cohereEmbed
      const texts = ["Ada Lovelace wrote notes.", "They were long.", "London is a city."]
      const cohereAnswer = yield* invoke({
        modelId: "cohere.embed-english-v3",
        invocationType: "InvokeModel",
        body: cohere.embedding!.buildEmbeddingRequest(texts, "document")
      })
      const cohereRead = Result.getOrThrow(cohere.readOutput(cohereAnswer))
      assert.strictEqual(cohereRead.vectors?.length, 3)
      assert.isTrue(cohereRead.vectors!.every((vector) => vector.length === 1024))
      assert.strictEqual(cohereRead.usage.inputTokens, ModelFamily.estimateCohereTokens(texts))

      const invalid = yield* Effect.flip(invoke({
        modelId: "cohere.embed-multilingual-v3",
        invocationType: "InvokeModel",
        body: { texts: ["x"], input_type: "document" }
      }))
      assert.strictEqual(invalid.exceptionName, "ValidationException")
      const converse = yield* Effect.flip(invoke({
        modelId: "amazon.titan-embed-text-v2:0",
        invocationType: "Converse",
        body: ModelFamily.converse.buildRequest(prompt, { maxTokens: 10 })
      }))
      assert.strictEqual(converse.exceptionName, "ValidationException")
      assert.match(converse.message, /does not support the Converse API/)
    }).pipe(Effect.provide(localLayer())))

  it.live("Converse returns the Converse response shape", () =>
    Effect.gen(function*() {
      const body = ModelFamily.converse.buildRequest(prompt, { maxTokens: 512, temperature: 0 })
      const answer = yield* invoke({ modelId: "us.amazon.nova-lite-v1:0", invocationType: "Converse", body })
      const shaped = answer as {
        output: { message: { content: Array<{ text: string }> } }
        stopReason: string
        usage: Record<string, number>
      }
      assert.strictEqual(shaped.stopReason, "end_turn")
      assert.isTrue(shaped.output.message.content[0]!.text.startsWith("Propositions about"))
      assert.isAbove(shaped.usage.inputTokens!, 0)
      const read = ModelFamily.converse.readOutput(answer)
      assert.isTrue(Result.isSuccess(read))
      const local = yield* LocalBackend.LocalBackend
      assert.strictEqual((yield* local.bedrock.counters).callsByOperation.Converse, 1)
    }).pipe(Effect.provide(localLayer())))

  it.live("a small token limit cuts the answer off with the max-tokens stop reason", () =>
    Effect.gen(function*() {
      const body = ModelFamily.anthropic.buildRequest(prompt, { maxTokens: 3 })
      const answer = yield* invoke({
        modelId: "anthropic.claude-3-haiku-20240307-v1:0",
        invocationType: "InvokeModel",
        body
      })
      const read = ModelFamily.anthropic.readOutput(answer)
      assert.isTrue(Result.isSuccess(read) && read.success.truncated)
    }).pipe(Effect.provide(localLayer())))

  it.live("maps runtime exceptions: invalid body, unknown model, throttling", () =>
    Effect.gen(function*() {
      const local = yield* LocalBackend.LocalBackend
      const invalid = yield* Effect.flip(
        invoke({ modelId: "anthropic.claude-3-haiku-20240307-v1:0", invocationType: "InvokeModel", body: { nope: 1 } })
      )
      assert.strictEqual(invalid._tag, "InvalidRequest")
      assert.strictEqual(invalid.exceptionName, "ValidationException")
      assert.strictEqual(invalid.operation, "ModelRuntime.invoke")
      assert.isDefined(invalid.requestId)
      const unknown = yield* Effect.flip(invoke({ modelId: "acme.model-v1", invocationType: "InvokeModel", body: {} }))
      assert.strictEqual(unknown._tag, "InvalidRequest")
      yield* local.bedrock.setFaults({ runtimeThrottleRate: 1 })
      const throttled = yield* Effect.flip(
        invoke({
          modelId: "us.amazon.nova-lite-v1:0",
          invocationType: "Converse",
          body: ModelFamily.converse.buildRequest(prompt, { maxTokens: 10 })
        })
      )
      assert.strictEqual(throttled._tag, "Throttled")
      assert.strictEqual(throttled.exceptionName, "ThrottlingException")
      yield* local.bedrock.setFaults({})
      yield* local.bedrock.failNext([{ operation: "InvokeModel", exceptionName: "ModelTimeoutException" }])
      const timeout = yield* Effect.flip(
        invoke({
          modelId: "us.meta.llama3-3-70b-instruct-v1:0",
          invocationType: "InvokeModel",
          body: ModelFamily.llama.buildRequest(prompt, { maxTokens: 10 })
        })
      )
      assert.strictEqual(timeout._tag, "Unavailable")
      assert.strictEqual(timeout.exceptionName, "ModelTimeoutException")
    }).pipe(Effect.provide(localLayer())))
})
