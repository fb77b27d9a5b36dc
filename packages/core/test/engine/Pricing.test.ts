/**
 * Prices are data: the built-in table is valid by its own schema, covers the models the
 * command documents, and says where every price comes from; inference-profile ids and ARNs
 * are priced as their base model (with the geographic premium where the table has one); an
 * unknown model has no price and a note; overrides replace the built-in entry; a bad override
 * (malformed, negative, missing) is refused with every problem and its path, also through
 * `BatchConfig.decode`; costs split batch and on-demand tokens and report the saving.
 */
import { BatchConfig, BedrockPrices, Pricing, type RunEvents, RunSummary } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { baseConfig } from "../support.ts"

const haiku35 = "anthropic.claude-3-5-haiku-20241022-v1:0"
const haiku45 = "anthropic.claude-haiku-4-5-20251001-v1:0"

describe("Pricing", () => {
  it("ships a valid table that covers the documented models, each with its source and read date", () => {
    const decoded = Schema.decodeUnknownSync(Pricing.PriceTable)(BedrockPrices.table)
    const required = [
      haiku35,
      "anthropic.claude-3-7-sonnet-20250219-v1:0",
      "anthropic.claude-sonnet-4-20250514-v1:0",
      "anthropic.claude-sonnet-4-5-20250929-v1:0",
      haiku45,
      "amazon.nova-micro-v1:0",
      "amazon.nova-lite-v1:0",
      "amazon.nova-pro-v1:0",
      "meta.llama3-1-70b-instruct-v1:0",
      "meta.llama3-3-70b-instruct-v1:0",
      "amazon.titan-embed-text-v2:0",
      "cohere.embed-english-v3",
      "cohere.embed-multilingual-v3"
    ]
    assert.deepStrictEqual(Object.keys(decoded).sort(), [...required].sort())
    for (const [model, price] of Object.entries(decoded)) {
      assert.strictEqual(price.source, "https://aws.amazon.com/bedrock/pricing/", model)
      assert.strictEqual(price.read, "2026-12-01", model)
      assert.isString(price.note, model)
      // Batch is never dearer than on demand; the tables read here halve it.
      assert.strictEqual(price.batch.input, price.onDemand.input / 2, model)
      assert.strictEqual(price.batch.output, price.onDemand.output / 2, model)
    }
    // A derived batch price says so.
    assert.include(decoded[haiku35]!.note!, "not a published figure")
  })

  it("prices inference profiles and ARNs as their base model; geographic profiles with the premium", () => {
    assert.deepStrictEqual(Pricing.pricedIdOf(`us.${haiku35}`), { base: haiku35, id: `us.${haiku35}`, profile: "us" })
    for (const prefix of ["us", "eu", "apac", "global"]) {
      const priced = Pricing.lookup(`${prefix}.${haiku35}`)
      assert.strictEqual(priced?.pricedAs, haiku35, prefix)
      // No premium in the table for Claude 3.5 Haiku.
      assert.deepStrictEqual(priced?.price.onDemand, { input: 0.0008, output: 0.004 }, prefix)
    }
    assert.strictEqual(
      Pricing.lookup(`arn:aws:bedrock:us-east-1::foundation-model/${haiku35}`)?.pricedAs,
      haiku35
    )
    assert.strictEqual(
      Pricing.lookup(`arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.${haiku35}`)?.pricedAs,
      haiku35
    )
    // Claude Haiku 4.5: geographic profiles cost 10% more than global and the base id.
    const base = Pricing.lookup(haiku45)!.price
    const global = Pricing.lookup(`global.${haiku45}`)!.price
    const us = Pricing.lookup(`us.${haiku45}`)!.price
    assert.deepStrictEqual(global.batch, base.batch)
    assert.closeTo(us.onDemand.input, base.onDemand.input * 1.1, 1e-12)
    assert.closeTo(us.batch.output, base.batch.output * 1.1, 1e-12)
  })

  it("has no price for an unknown model or an application inference profile, and says so", () => {
    assert.isUndefined(Pricing.lookup("us.example.unknown-model-v1:0"))
    assert.isUndefined(
      Pricing.lookup("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123")
    )
    const report = Pricing.report("example.unknown-model-v1:0", {
      batch: { input: 1000, output: 10 },
      onDemand: Pricing.noTokens
    })
    assert.isNull(report.cost)
    assert.include(report.costNote!, "example.unknown-model-v1:0")
    assert.include(report.costNote!, "--prices")
  })

  it("overrides replace the built-in entry; an exact profile entry wins over its base model", () => {
    const mine = { batch: { input: 1, output: 2 }, onDemand: { input: 3, output: 4 } }
    const overridden = Pricing.lookup(`us.${haiku35}`, { [haiku35]: mine })
    assert.isTrue(overridden?.overridden)
    assert.deepStrictEqual(overridden?.price, mine)
    const exact = Pricing.lookup(`us.${haiku35}`, { [`us.${haiku35}`]: mine })
    assert.strictEqual(exact?.pricedAs, `us.${haiku35}`)
    // A model the built-in table does not know, priced by the override alone.
    assert.deepStrictEqual(Pricing.lookup("example.private-model", { "example.private-model": mine })?.price, mine)
    // Other models keep their built-in prices.
    assert.isFalse(Pricing.lookup(haiku45, { [haiku35]: mine })?.overridden)
  })

  it("costs tokens at batch and on-demand prices, with the saving against all on demand", () => {
    const price = { batch: { input: 0.5, output: 1 }, onDemand: { input: 1, output: 2 } }
    const cost = Pricing.costOf(price, {
      batch: { input: 2000, output: 1000 },
      onDemand: { input: 1000, output: 500 }
    })
    // batch 2×0.5 + 1×1 = 2; on demand 1×1 + 0.5×2 = 2; all on demand 3×1 + 1.5×2 = 6.
    assert.deepStrictEqual(cost, { batch: 2, onDemand: 2, total: 4, saving: 2 })
    assert.deepStrictEqual(Pricing.addCosts(cost, cost), { batch: 4, onDemand: 4, total: 8, saving: 4 })
  })

  it.effect("refuses a malformed override, listing every negative, missing or non-numeric price with its path", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Pricing.decode({
        "my.model": { batch: { input: -1, output: 1 }, onDemand: { input: 1 } },
        "other.model": { batch: { input: "cheap", output: 1 }, onDemand: { input: 1, output: 2 } },
        "third.model": "free"
      }))
      const byPath = new Map(error.issues.map((issue) => [issue.path, issue.message]))
      assert.include(byPath.get("my.model.batch.input"), "must be a price of 0 or more")
      assert.strictEqual(byPath.get("my.model.onDemand.output"), "is required")
      assert.isDefined(byPath.get("other.model.batch.input"))
      assert.isDefined(byPath.get("third.model"))
      assert.deepStrictEqual(
        yield* Pricing.decode({ "my.model": { batch: { input: 0, output: 0 }, onDemand: { input: 0, output: 0 } } }),
        { "my.model": { batch: { input: 0, output: 0 }, onDemand: { input: 0, output: 0 } } }
      )
    }))

  it.effect("BatchConfig refuses bad prices with the other settings, before anything is sent", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(BatchConfig.decode({
        ...baseConfig,
        maxBatchSize: 5,
        prices: { [haiku35]: { batch: { input: -0.1, output: 0.002 }, onDemand: { output: 0.004 } } }
      }))
      const paths = error.issues.map((issue) => issue.path)
      assert.include(paths, `prices.${haiku35}.batch.input`)
      assert.include(paths, `prices.${haiku35}.onDemand.input`)
      assert.include(paths, "maxBatchSize")
      const ok = yield* BatchConfig.decode({
        ...baseConfig,
        prices: { [haiku35]: { batch: { input: 0.1, output: 0.2 }, onDemand: { input: 0.2, output: 0.4 } } }
      })
      assert.strictEqual(Pricing.lookup(ok.model.modelId, ok.prices)?.price.batch.input, 0.1)
    }))
})

describe("RunSummary cost", () => {
  it("folds tokens by path from the run's events and reports their cost when asked", () => {
    const summary = [
      { _tag: "RecordsSucceeded", stage: "s", via: "batch", count: 3, inputTokens: 3000, outputTokens: 1000 },
      { _tag: "RecordsSucceeded", stage: "s", via: "onDemand", count: 1, inputTokens: 1000, outputTokens: 500 }
    ].reduce((s, event) => RunSummary.update(s, event as RunEvents.RunEvent), RunSummary.empty)
    assert.deepStrictEqual(summary.tokensByVia, {
      batch: { input: 3000, output: 1000 },
      onDemand: { input: 1000, output: 500 }
    })
    // Without pricing, the JSON is as before: no cost.
    assert.notProperty(RunSummary.toJson(summary), "cost")
    const prices = { "my.model": { batch: { input: 0.5, output: 1 }, onDemand: { input: 1, output: 2 } } }
    const json = RunSummary.toJson(summary, { pricing: { modelId: "us.my.model", prices } })
    // batch 3×0.5 + 1×1 = 2.5; on demand 1×1 + 0.5×2 = 2; all on demand 4×1 + 1.5×2 = 7.
    assert.deepStrictEqual(json.cost, { batch: 2.5, onDemand: 2, total: 4.5, saving: 2.5 })
    const unknown = RunSummary.toJson(summary, { pricing: { modelId: "other.model" } })
    assert.isNull(unknown.cost)
    assert.include(unknown.costNote, "other.model")
    // Whole-run totals without the split cannot be priced.
    const resumed = RunSummary.toJson(summary, {
      runTotals: { ...summary, failures: [] },
      pricing: { modelId: "us.my.model", prices }
    })
    assert.deepStrictEqual(resumed.cost, json.cost)
    const { tokensByVia: _, ...withoutSplit } = summary
    assert.isNull(
      RunSummary.toJson(summary, {
        runTotals: { ...withoutSplit, failures: [] },
        pricing: { modelId: "us.my.model", prices }
      }).cost
    )
  })
})
