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
    }, /extraneous key/]
  ]
  for (const [family, what, body, reason] of refused) {
    it(`refuses ${family} bodies with ${what}`, () => {
      assert.match(RequestBodies.problemOf(family, body) ?? "accepted", reason)
    })
  }

  it("a Llama body with only a prompt is valid (max_gen_len, temperature and top_p have defaults)", () => {
    assert.isUndefined(RequestBodies.problemOf("llama", { prompt: "hi" }))
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
