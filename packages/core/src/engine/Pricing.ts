/**
 * Token prices and what tokens cost: a price table per model (batch and on-demand, US dollars
 * per 1,000 input and output tokens), the model a model id, inference profile or ARN is priced
 * as, and the cost of a run's tokens — billed at batch price for what batch jobs answered and
 * at on-demand price for the rest — with the saving against an all-on-demand run.
 *
 * When to use: {@link lookup} the price of the configured model (the built-in table of
 * `BedrockPrices`, overridden per model by the `prices` setting), then {@link costOf} the
 * tokens of a run or a plan.
 *
 * Details:
 * - An inference-profile id (`us.`, `eu.`, `apac.`, `global.`, …) or a foundation-model or
 *   inference-profile ARN is priced as its base model; an exact entry for the id wins. A model
 *   with a `geoPremium` costs that much more through a geographic profile (not `global.`).
 * - An application-inference-profile, provisioned-model or custom-model ARN, or a model the
 *   table does not hold, has no price: {@link lookup} says so ({@link unknownModelNote}), and
 *   callers report tokens only.
 * - Overrides ({@link PriceTable}, the same shape as the built-in table) replace the built-in
 *   entry of each model they name; {@link decode} checks them (a price is a finite number of 0
 *   or more; every price is required) and lists every problem.
 *
 * Gotchas: prices are the standard tier in US East; prompt caching, long-context rates, other
 * regions and tiers are not modelled. Costs are estimates from token counts, not a bill.
 *
 * @since 0.3.0
 */
import { Effect, Schema } from "effect"
import * as BedrockPrices from "./BedrockPrices.ts"
import { type ConfigIssue, InvalidConfig, issuesOf, rule } from "./Setting.ts"

// -----------------------------------------------------------------------------
// The table
// -----------------------------------------------------------------------------

/** A price in US dollars per 1,000 tokens: a finite number of 0 or more. */
export const Price = Schema.Number.check(rule((value: number) =>
  Number.isFinite(value) && value >= 0
    ? undefined
    : `must be a price of 0 or more (US dollars per 1,000 tokens), got ${value}`
))

/** Prices per 1,000 input and output tokens. */
export const Rate = Schema.Struct({ input: Price, output: Price })

/** Prices per 1,000 tokens. */
export type Rate = typeof Rate.Type

/** One model's prices, and where they come from. */
export const ModelPrice = Schema.Struct({
  /** A readable name ("Claude 3.5 Haiku"). */
  name: Schema.optionalKey(Schema.String),
  /** On-demand (bedrock-runtime) prices. */
  onDemand: Rate,
  /** Batch-inference prices. */
  batch: Rate,
  /**
   * The fraction geographic inference profiles (`us.`, `eu.`, `apac.`, …; not `global.`) cost
   * more than the base model (0.1 = 10%).
   */
  geoPremium: Schema.optionalKey(Price),
  /** The public page the prices were taken from. */
  source: Schema.optionalKey(Schema.String),
  /** When they were read. */
  read: Schema.optionalKey(Schema.String),
  /** The date of the copy they were read from, when it has one. */
  asOf: Schema.optionalKey(Schema.String),
  /** How they were taken (which copy, what was derived). */
  note: Schema.optionalKey(Schema.String)
})

/** One model's prices. */
export type ModelPrice = typeof ModelPrice.Type

/** Prices by model id (a base model id, or an exact inference-profile id). */
export const PriceTable = Schema.Record(Schema.String, ModelPrice)

/** Prices by model id. */
export type PriceTable = typeof PriceTable.Type

/** The built-in table (`BedrockPrices.table`). */
export const builtIn: PriceTable = BedrockPrices.table

/**
 * Decode a price table (e.g. a `--prices` file), listing every problem with its path
 * (`<model>.batch.input`: a missing, negative or non-numeric price).
 */
export const decode = (input: unknown): Effect.Effect<PriceTable, InvalidConfig> =>
  Effect.suspend(() => {
    const decoded = Schema.decodeUnknownResult(PriceTable)(input, { errors: "all", onExcessProperty: "error" })
    if (decoded._tag === "Success") return Effect.succeed(decoded.success)
    const issues: Array<ConfigIssue> = issuesOf(decoded.failure.issue)
    return Effect.fail(new InvalidConfig({ issues }))
  })

// -----------------------------------------------------------------------------
// Model ids
// -----------------------------------------------------------------------------

const profilePrefix = /^(us|eu|apac|global|us-gov|ca|jp|au|apne\d?|in)\./

/** What a model id names, for pricing: its base model and the profile prefix it came with. */
export interface PricedId {
  /** The base model id (`anthropic.claude-3-5-haiku-20241022-v1:0`). */
  readonly base: string
  /** The id without an ARN around it (`us.anthropic.…`). */
  readonly id: string
  /** The inference-profile prefix (`us`, `global`, …), when there is one. */
  readonly profile?: string | undefined
}

/**
 * The base model of a model id: foundation-model ids as they are, inference-profile ids
 * without their prefix, ARNs of foundation models and inference profiles by their last part.
 * `undefined` for ARNs that do not say (application inference profiles, provisioned and custom
 * models).
 */
export const pricedIdOf = (modelId: string): PricedId | undefined => {
  let id = modelId.trim()
  if (id.startsWith("arn:")) {
    const resource = id.split(":").slice(5).join(":")
    const slash = resource.indexOf("/")
    const kind = slash < 0 ? resource : resource.slice(0, slash)
    if (kind !== "foundation-model" && kind !== "inference-profile") return undefined
    id = resource.slice(slash + 1)
  }
  const match = profilePrefix.exec(id)
  return match === null ? { base: id, id } : { base: id.slice(match[0].length), id, profile: match[1]! }
}

// -----------------------------------------------------------------------------
// Lookup
// -----------------------------------------------------------------------------

/** A model's prices, as a run of it is billed. */
export interface Priced {
  /** The model id asked for. */
  readonly modelId: string
  /** The table entry that priced it (the exact id, or its base model). */
  readonly pricedAs: string
  /** The prices, the geographic premium applied. */
  readonly price: ModelPrice
  /** Whether the prices come from the `prices` setting rather than the built-in table. */
  readonly overridden: boolean
}

const scaled = (rate: Rate, factor: number): Rate => ({ input: rate.input * factor, output: rate.output * factor })

/**
 * The prices of a model: an exact entry for the id, else its base model's (with its
 * `geoPremium` through a geographic profile); `overrides` first, then the built-in table.
 * `undefined` when no entry prices it.
 */
export const lookup = (modelId: string, overrides?: PriceTable | undefined): Priced | undefined => {
  const named = pricedIdOf(modelId)
  if (named === undefined) return undefined
  const find = (key: string) =>
    overrides?.[key] !== undefined
      ? { price: overrides[key], overridden: true }
      : builtIn[key] !== undefined
      ? { price: builtIn[key], overridden: false }
      : undefined
  const exact = find(named.id)
  if (exact !== undefined) return { modelId, pricedAs: named.id, ...exact }
  const base = find(named.base)
  if (base === undefined) return undefined
  const premium = named.profile !== undefined && named.profile !== "global" ? base.price.geoPremium ?? 0 : 0
  const price = premium === 0
    ? base.price
    : {
      ...base.price,
      onDemand: scaled(base.price.onDemand, 1 + premium),
      batch: scaled(base.price.batch, 1 + premium)
    }
  return { modelId, pricedAs: named.base, price, overridden: base.overridden }
}

/** What a plan or summary says of a model without a price. */
export const unknownModelNote = (modelId: string): string =>
  `no price is known for model "${modelId}": tokens only (give its prices with --prices FILE, ` +
  `or the prices setting: {"<model id>": {"batch": {"input": …, "output": …}, "onDemand": {…}}}, ` +
  "US dollars per 1,000 tokens)"

// -----------------------------------------------------------------------------
// Cost
// -----------------------------------------------------------------------------

/** Input and output tokens. */
export interface Tokens {
  readonly input: number
  readonly output: number
}

/** Tokens by how they were billed: answered by batch jobs, or on demand. */
export interface TokensByVia {
  readonly batch: Tokens
  readonly onDemand: Tokens
}

/** No tokens. */
export const noTokens: Tokens = { input: 0, output: 0 }

/** Add tokens. */
export const addTokens = (a: Tokens, b: Tokens): Tokens => ({ input: a.input + b.input, output: a.output + b.output })

/**
 * What tokens cost, in US dollars: `batch` the part answered by batch jobs (at batch prices),
 * `onDemand` the part answered on demand, `total` both, `saving` what the same tokens would
 * have cost more all on demand.
 */
export interface Cost {
  readonly batch: number
  readonly onDemand: number
  readonly total: number
  readonly saving: number
}

/** Round to a millionth of a dollar (costs are estimates; this keeps the JSON readable). */
export const roundUsd = (usd: number): number => Math.round(usd * 1_000_000) / 1_000_000

const at = (rate: Rate, tokens: Tokens) => (tokens.input * rate.input + tokens.output * rate.output) / 1000

/** The cost of tokens billed batch and on demand, and the saving against all on demand. */
export const costOf = (price: ModelPrice, tokens: TokensByVia): Cost => {
  const batch = at(price.batch, tokens.batch)
  const onDemand = at(price.onDemand, tokens.onDemand)
  const allOnDemand = at(price.onDemand, addTokens(tokens.batch, tokens.onDemand))
  return {
    batch: roundUsd(batch),
    onDemand: roundUsd(onDemand),
    total: roundUsd(batch + onDemand),
    saving: roundUsd(allOnDemand - batch - onDemand)
  }
}

/** Add costs. */
export const addCosts = (a: Cost, b: Cost): Cost => ({
  batch: roundUsd(a.batch + b.batch),
  onDemand: roundUsd(a.onDemand + b.onDemand),
  total: roundUsd(a.total + b.total),
  saving: roundUsd(a.saving + b.saving)
})

/** No cost. */
export const noCost: Cost = { batch: 0, onDemand: 0, total: 0, saving: 0 }

/** Where a model's prices come from, as a summary or plan reports it. */
export const describePrice = (priced: Priced) => ({
  model: priced.modelId,
  pricedAs: priced.pricedAs,
  currency: "USD" as const,
  per: 1000,
  batch: priced.price.batch,
  onDemand: priced.price.onDemand,
  source: priced.overridden ? "the prices setting (--prices)" : priced.price.source,
  ...(priced.price.read === undefined ? {} : { read: priced.price.read }),
  ...(priced.price.asOf === undefined ? {} : { asOf: priced.price.asOf })
})

/** A cost as summaries report it: the cost, or `null` and the reason. */
export interface CostReport {
  readonly cost: Cost | null
  readonly costNote?: string
}

/**
 * The cost of a model's tokens by path, or `null` with {@link unknownModelNote} when the model
 * has no price.
 */
export const report = (modelId: string, tokens: TokensByVia, overrides?: PriceTable | undefined): CostReport => {
  const priced = lookup(modelId, overrides)
  return priced === undefined
    ? { cost: null, costNote: unknownModelNote(modelId) }
    : { cost: costOf(priced.price, tokens) }
}
