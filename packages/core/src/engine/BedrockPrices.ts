/**
 * The built-in price table: Amazon Bedrock's published token prices of the models
 * batch-extract knows, batch and on demand, in US dollars per 1,000 tokens — data, read by
 * `Pricing` and overridable by a file of the same shape (`--prices FILE`, the `prices`
 * setting).
 *
 * Every entry says where its figures come from (`source`, the public page), when they were
 * read (`read`), the date of the copy that was read (`asOf`) and how (`note`). Prices are the
 * standard tier in US East; other regions, tiers (Flex, Priority), prompt caching and
 * long-context rates are not modelled.
 *
 * Gotchas:
 * - Where the page listed no batch price for a model (Claude 3.5 Haiku, Claude 3.7 Sonnet,
 *   Claude Sonnet 4 in the copy read here), the batch price is 50% of on-demand — the
 *   discount the pricing page states for batch — and the entry's `note` says it is derived,
 *   not published.
 * - Embedding models (Titan Text Embeddings V2, Cohere Embed v3) are billed for input tokens
 *   only: their output price is 0. Cohere Embed cannot run in batch jobs; its batch price
 *   follows the 50% convention but never applies.
 * - Claude Sonnet 4.5 and Haiku 4.5 (and later Claude models) cost 10% more through a
 *   geographic inference profile (`us.`, `eu.`, `apac.`, …) than through `global.` or the base
 *   id: their `geoPremium` is 0.1.
 * - Prices change. Check https://aws.amazon.com/bedrock/pricing/ and override what differs.
 *
 * @since 0.3.0
 */

/** Where every price of this table is published. */
export const pricingPage = "https://aws.amazon.com/bedrock/pricing/"

/** When the figures below were read from their copies. */
export const read = "2026-12-01"

const rate = (input: number, output: number) => ({ input, output })

const anthropicCopy = "The pricing page's Anthropic table (US East, N. Virginia) as transcribed on 2025-07-20 in " +
  "github.com/convo-lang/convo-lang packages/convo-lang-bedrock/bedrock-pricing.md"

const derivedBatch = "That table lists no batch price for this model (N/A): the batch price here is 50% of " +
  "on-demand, the discount the pricing page states for batch, not a published figure."

const claude45Copy = "github.com/aws/agent-toolkit-for-aws bedrock-pricing-cache.md (updated 2026-09-03; " +
  "on-demand re-verified 2026-10-05 in its gcp-to-aws copy), an AWS transcription of the pricing page " +
  "(US East, N. Virginia): on-demand and batch (batch support verified against the batch-inference " +
  "supported-models table on 2026-09-02). Geographic profiles cost 10% more than global " +
  "(the same source's Geo vs. Global note)."

const novaCopy = "The pricing page's Amazon Nova table (on-demand and batch) as transcribed on 2025-07-20 in " +
  "github.com/convo-lang/convo-lang packages/convo-lang-bedrock/bedrock-pricing.md; the same figures in " +
  "aws/agent-toolkit-for-aws bedrock-pricing-cache.md (2026-09-03, US East Ohio, Standard and Batch tiers)."

const llamaCopy = "The pricing page's Meta table (on-demand and batch) as transcribed on 2025-07-20 in " +
  "github.com/convo-lang/convo-lang packages/convo-lang-bedrock/bedrock-pricing.md; the same figures in " +
  "aws/agent-toolkit-for-aws bedrock-pricing-cache.md (2026-09-03, US East Ohio)."

const cohereEmbedCopy = "The pricing page lists Cohere Embed 3 at $0.0001 per 1,000 input tokens; read here from " +
  "github.com/BerriAI/litellm model_prices_and_context_window.json (commit 00035b69f416, provider bedrock: " +
  "1e-07 USD per input token, 0 per output token; undated copy). Embeddings have no output tokens. Bedrock batch " +
  "inference does not accept Cohere Embed (`ModelFamily.cohereEmbed.embedding.batch` is false; its records go on " +
  "demand), so no batch price is published: the batch price here is 50% of on-demand only to keep the table's " +
  "shape, and no batch job is billed at it."

/**
 * The built-in table, by base model id (an inference-profile id or ARN finds its base model;
 * see `Pricing.lookup`). Shape: `Pricing.PriceTable`.
 */
export const table = {
  "anthropic.claude-3-5-haiku-20241022-v1:0": {
    name: "Claude 3.5 Haiku",
    onDemand: rate(0.0008, 0.004),
    batch: rate(0.0004, 0.002),
    source: pricingPage,
    read,
    asOf: "2025-07-20",
    note: `${anthropicCopy}. ${derivedBatch}`
  },
  "anthropic.claude-3-7-sonnet-20250219-v1:0": {
    name: "Claude 3.7 Sonnet",
    onDemand: rate(0.003, 0.015),
    batch: rate(0.0015, 0.0075),
    source: pricingPage,
    read,
    asOf: "2025-07-20",
    note: `${anthropicCopy}. ${derivedBatch}`
  },
  "anthropic.claude-sonnet-4-20250514-v1:0": {
    name: "Claude Sonnet 4",
    onDemand: rate(0.003, 0.015),
    batch: rate(0.0015, 0.0075),
    source: pricingPage,
    read,
    asOf: "2025-07-20",
    note: `${anthropicCopy} (on-demand also in aws/agent-toolkit-for-aws bedrock-pricing-cache.md, 2026-10-05). ` +
      derivedBatch
  },
  "anthropic.claude-sonnet-4-5-20250929-v1:0": {
    name: "Claude Sonnet 4.5",
    onDemand: rate(0.003, 0.015),
    batch: rate(0.0015, 0.0075),
    geoPremium: 0.1,
    source: pricingPage,
    read,
    asOf: "2026-09-03",
    note: claude45Copy
  },
  "anthropic.claude-haiku-4-5-20251001-v1:0": {
    name: "Claude Haiku 4.5",
    onDemand: rate(0.001, 0.005),
    batch: rate(0.0005, 0.0025),
    geoPremium: 0.1,
    source: pricingPage,
    read,
    asOf: "2026-09-03",
    note: claude45Copy
  },
  "amazon.nova-micro-v1:0": {
    name: "Amazon Nova Micro",
    onDemand: rate(0.000035, 0.00014),
    batch: rate(0.0000175, 0.00007),
    source: pricingPage,
    read,
    asOf: "2025-07-20",
    note: novaCopy
  },
  "amazon.nova-lite-v1:0": {
    name: "Amazon Nova Lite",
    onDemand: rate(0.00006, 0.00024),
    batch: rate(0.00003, 0.00012),
    source: pricingPage,
    read,
    asOf: "2025-07-20",
    note: novaCopy
  },
  "amazon.nova-pro-v1:0": {
    name: "Amazon Nova Pro",
    onDemand: rate(0.0008, 0.0032),
    batch: rate(0.0004, 0.0016),
    source: pricingPage,
    read,
    asOf: "2025-07-20",
    note: novaCopy
  },
  "meta.llama3-1-70b-instruct-v1:0": {
    name: "Llama 3.1 70B Instruct",
    onDemand: rate(0.00072, 0.00072),
    batch: rate(0.00036, 0.00036),
    source: pricingPage,
    read,
    asOf: "2025-07-20",
    note: llamaCopy
  },
  "meta.llama3-3-70b-instruct-v1:0": {
    name: "Llama 3.3 70B Instruct",
    onDemand: rate(0.00072, 0.00072),
    batch: rate(0.00036, 0.00036),
    source: pricingPage,
    read,
    asOf: "2025-07-20",
    note: llamaCopy
  },
  "amazon.titan-embed-text-v2:0": {
    name: "Amazon Titan Text Embeddings V2",
    onDemand: rate(0.00002, 0),
    batch: rate(0.00001, 0),
    source: pricingPage,
    read,
    note: "The pricing page's Amazon Titan table (Korean edition, US East N. Virginia; on-demand and batch) as " +
      "crawled in github.com/sungminna/GapS crawl/aws_pricing_data_titan.md (undated copy). Embeddings have " +
      "no output tokens."
  },
  "cohere.embed-english-v3": {
    name: "Cohere Embed English v3",
    onDemand: rate(0.0001, 0),
    batch: rate(0.00005, 0),
    source: pricingPage,
    read,
    note: cohereEmbedCopy
  },
  "cohere.embed-multilingual-v3": {
    name: "Cohere Embed Multilingual v3",
    onDemand: rate(0.0001, 0),
    batch: rate(0.00005, 0),
    source: pricingPage,
    read,
    note: cohereEmbedCopy
  }
} as const
