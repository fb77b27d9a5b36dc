/**
 * Model families as data: how to build a request body for a model (and set its token limit
 * in a body), and how to read its output (text, stop reason, token usage), for Anthropic
 * Claude, Amazon Nova, Meta Llama and the Converse invocation type — and, for the embedding
 * models Amazon Titan Text Embeddings V2 (`titan-embed`) and Cohere Embed v3
 * (`cohere-embed`), how to build an embedding request and read its vectors.
 *
 * When to use: the engine resolves the family once from the configured model id and uses
 * it for every record, batch and on demand alike. Call {@link resolve} yourself when you
 * build `modelInput` bodies for the generic engine. To embed texts through the engine, set
 * `model.modelId` to an embedding model, build each record's body with the family's
 * {@link Embedding.buildEmbeddingRequest} and read `output.vectors` of its outcome.
 *
 * Gotchas:
 * - Only the parameters the caller set are sent; newer models reject some combinations.
 * - An application-inference-profile ARN does not name its model: set the family explicitly.
 * - Embedding families have no token limit and no answer text: `maxTokensOf` is `undefined`,
 *   `withMaxTokens` leaves the body as it is, and an output's `text` is `""`.
 * - Bedrock batch inference does not take every embedding model ({@link Embedding.batch}):
 *   Cohere Embed goes on demand only.
 *
 * @since 0.1.0
 */
import { Data, Result } from "effect"
import type { InvocationType } from "./BatchInference.ts"

/**
 * The families batch-extract knows. `converse` is the Converse invocation type; `titan-embed`
 * and `cohere-embed` are embedding models (their family has an {@link Embedding}).
 */
export type FamilyName = "anthropic" | "nova" | "llama" | "converse" | "titan-embed" | "cohere-embed"

/** A prompt: an optional system part and the user turn. */
export interface Prompt {
  readonly system?: string | undefined
  readonly user: string
}

/** Inference parameters; the optional ones are sent only when set. */
export interface InferenceParameters {
  readonly maxTokens: number
  readonly temperature?: number | undefined
  readonly topP?: number | undefined
  readonly stopSequences?: ReadonlyArray<string> | undefined
}

/** Token usage of one model call. */
export interface Usage {
  readonly inputTokens: number
  readonly outputTokens: number
}

/** What a model answered, read from its family's response shape. */
export interface ModelOutput {
  readonly text: string
  readonly stopReason: string | undefined
  /** The model stopped at its token limit: the text is cut off. */
  readonly truncated: boolean
  readonly usage: Usage
  /**
   * The embeddings of an embedding model's answer, one per input text, in input order
   * (`undefined` for text models). An embedding answer has `text` `""`, `truncated` false,
   * no stop reason and no output tokens.
   */
  readonly vectors?: ReadonlyArray<ReadonlyArray<number>> | undefined
}

/** What an embedding request is for: text to store and search (`document`), or a search (`query`). */
export type EmbeddingPurpose = "document" | "query"

/**
 * How an embedding model takes texts: its vector size, how many texts and characters a request
 * may hold, whether Bedrock batch inference accepts it, and the body that embeds texts.
 */
export interface Embedding {
  /** The length of every vector the family's bodies ask for. */
  readonly dimensions: number
  /** The most texts one request may hold (Titan: 1; Cohere: 96). */
  readonly maxTextsPerRequest: number
  /** The most characters of one text the model takes (longer texts are cut or refused). */
  readonly maxTextCharacters: number
  /**
   * Bedrock batch inference accepts this model: records can go in batch jobs. When false,
   * send its records on demand (`ModelRuntime`); a batch job for it is refused.
   */
  readonly batch: boolean
  /**
   * The request body that embeds `texts` (1..{@link maxTextsPerRequest} of them, in order; the
   * answer has one vector per text, in that order). The body is not split: a list beyond the
   * limits builds a body the service refuses, so the mistake surfaces as a failed record.
   */
  readonly buildEmbeddingRequest: (texts: ReadonlyArray<string>, purpose: EmbeddingPurpose) => Record<string, unknown>
}

/** A model family: a request builder and an output reader. */
export interface ModelFamily {
  readonly name: FamilyName
  readonly buildRequest: (prompt: Prompt, parameters: InferenceParameters) => Record<string, unknown>
  /** The token limit a request body of this family sets, or `undefined` when it sets none. */
  readonly maxTokensOf: (body: Record<string, unknown>) => number | undefined
  /**
   * A copy of a request body with its token limit set to `maxTokens`, everything else kept
   * (the engine asks a cut-off answer again with a larger limit this way).
   */
  readonly withMaxTokens: (body: Record<string, unknown>, maxTokens: number) => Record<string, unknown>
  /** The largest token limit a body of this family may set, when the family has one. */
  readonly maxOutputTokens?: number | undefined
  /** Read a response body; fails with a reason when the body is not of this family's shape. */
  readonly readOutput: (modelOutput: unknown) => Result.Result<ModelOutput, string>
  /** How the family embeds texts; set only on embedding families. */
  readonly embedding?: Embedding | undefined
}

/** The model id names no family batch-extract knows, and none was set explicitly. */
export class UnknownModelFamily extends Data.TaggedError("UnknownModelFamily")<{
  readonly modelId: string
  readonly message: string
}> {}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)
const num = (u: unknown): number => (typeof u === "number" && Number.isFinite(u) ? u : 0)
const str = (u: unknown): string | undefined => (typeof u === "string" ? u : undefined)

/** Adds `key: value` only when the value is set. */
const withOptional = (
  target: Record<string, unknown>,
  entries: ReadonlyArray<readonly [string, unknown]>
): Record<string, unknown> => {
  for (const [key, value] of entries) {
    if (value !== undefined) target[key] = Array.isArray(value) ? [...value] : value
  }
  return target
}

/** A number field of a body, when it is one. */
const numberField = (record: Record<string, unknown>, key: string): number | undefined => {
  const value = record[key]
  return typeof value === "number" && Number.isFinite(value) ? value : undefined
}

/** The token limit of `{inferenceConfig: {maxTokens}}` bodies (Nova and Converse). */
const inferenceConfigMaxTokens = (body: Record<string, unknown>): number | undefined =>
  isRecord(body.inferenceConfig) ? numberField(body.inferenceConfig, "maxTokens") : undefined

/** Sets `inferenceConfig.maxTokens`, keeping the rest of the inference configuration. */
const withInferenceConfigMaxTokens = (body: Record<string, unknown>, maxTokens: number): Record<string, unknown> => ({
  ...body,
  inferenceConfig: { ...(isRecord(body.inferenceConfig) ? body.inferenceConfig : {}), maxTokens }
})

const cutOffReasons = new Set(["max_tokens", "length", "MAX_TOKENS", "max_tokens_reached"])

/** Reads `{output: {message: {content: [{text}]}}, stopReason, usage}` (Nova and Converse). */
const readMessagesOutput = (modelOutput: unknown): Result.Result<ModelOutput, string> => {
  if (!isRecord(modelOutput) || !isRecord(modelOutput.output) || !isRecord(modelOutput.output.message)) {
    return Result.fail("response has no output.message")
  }
  const content = modelOutput.output.message.content
  if (!Array.isArray(content)) return Result.fail("response has no output.message.content list")
  const text = content
    .map((piece) => (isRecord(piece) ? str(piece.text) : undefined))
    .filter((piece): piece is string => piece !== undefined)
    .join("")
  const stopReason = str(modelOutput.stopReason)
  const usage = isRecord(modelOutput.usage) ? modelOutput.usage : {}
  return Result.succeed({
    text,
    stopReason,
    truncated: stopReason !== undefined && cutOffReasons.has(stopReason),
    usage: { inputTokens: num(usage.inputTokens), outputTokens: num(usage.outputTokens) }
  })
}

/** Anthropic Claude, Messages API body. */
export const anthropic: ModelFamily = {
  name: "anthropic",
  buildRequest: (prompt, parameters) =>
    withOptional({ anthropic_version: "bedrock-2023-05-31", max_tokens: parameters.maxTokens }, [
      ["system", prompt.system],
      ["messages", [{ role: "user", content: [{ type: "text", text: prompt.user }] }]],
      ["temperature", parameters.temperature],
      ["top_p", parameters.topP],
      ["stop_sequences", parameters.stopSequences]
    ]),
  maxTokensOf: (body) => numberField(body, "max_tokens"),
  withMaxTokens: (body, maxTokens) => ({ ...body, max_tokens: maxTokens }),
  readOutput: (modelOutput) => {
    if (!isRecord(modelOutput) || !Array.isArray(modelOutput.content)) {
      return Result.fail("response has no content list")
    }
    const text = modelOutput.content
      .map((piece) => (isRecord(piece) && piece.type === "text" ? str(piece.text) : undefined))
      .filter((piece): piece is string => piece !== undefined)
      .join("")
    const stopReason = str(modelOutput.stop_reason)
    const usage = isRecord(modelOutput.usage) ? modelOutput.usage : {}
    return Result.succeed({
      text,
      stopReason,
      truncated: stopReason === "max_tokens",
      usage: { inputTokens: num(usage.input_tokens), outputTokens: num(usage.output_tokens) }
    })
  }
}

const inferenceConfig = (parameters: InferenceParameters): Record<string, unknown> =>
  withOptional({ maxTokens: parameters.maxTokens }, [
    ["temperature", parameters.temperature],
    ["topP", parameters.topP],
    ["stopSequences", parameters.stopSequences]
  ])

/** Amazon Nova, `messages-v1` body. */
export const nova: ModelFamily = {
  name: "nova",
  buildRequest: (prompt, parameters) =>
    withOptional({ schemaVersion: "messages-v1" }, [
      ["system", prompt.system === undefined ? undefined : [{ text: prompt.system }]],
      ["messages", [{ role: "user", content: [{ text: prompt.user }] }]],
      ["inferenceConfig", inferenceConfig(parameters)]
    ]),
  maxTokensOf: inferenceConfigMaxTokens,
  withMaxTokens: withInferenceConfigMaxTokens,
  readOutput: readMessagesOutput
}

/** The Llama 3 chat template with a system turn (when set) and the user turn. */
export const llamaChatTemplate = (prompt: Prompt): string =>
  "<|begin_of_text|>" +
  (prompt.system === undefined
    ? ""
    : `<|start_header_id|>system<|end_header_id|>\n\n${prompt.system}<|eot_id|>`) +
  `<|start_header_id|>user<|end_header_id|>\n\n${prompt.user}<|eot_id|>` +
  "<|start_header_id|>assistant<|end_header_id|>\n\n"

/** The most tokens a Llama body may ask for (`max_gen_len` is documented up to 2048). */
export const llamaMaxGenLen = 2048

/** Meta Llama, native `prompt` body; `max_gen_len` is capped at {@link llamaMaxGenLen}. */
export const llama: ModelFamily = {
  name: "llama",
  buildRequest: (prompt, parameters) =>
    withOptional({ prompt: llamaChatTemplate(prompt), max_gen_len: Math.min(parameters.maxTokens, llamaMaxGenLen) }, [
      ["temperature", parameters.temperature],
      ["top_p", parameters.topP]
    ]),
  maxTokensOf: (body) => numberField(body, "max_gen_len"),
  withMaxTokens: (body, maxTokens) => ({ ...body, max_gen_len: Math.min(maxTokens, llamaMaxGenLen) }),
  maxOutputTokens: llamaMaxGenLen,
  readOutput: (modelOutput) => {
    if (!isRecord(modelOutput) || typeof modelOutput.generation !== "string") {
      return Result.fail("response has no generation")
    }
    const stopReason = str(modelOutput.stop_reason)
    return Result.succeed({
      text: modelOutput.generation,
      stopReason,
      truncated: stopReason === "length",
      usage: {
        inputTokens: num(modelOutput.prompt_token_count),
        outputTokens: num(modelOutput.generation_token_count)
      }
    })
  }
}

/** The Converse invocation type: one body for every model (no `modelId` inside). */
export const converse: ModelFamily = {
  name: "converse",
  buildRequest: (prompt, parameters) =>
    withOptional({ messages: [{ role: "user", content: [{ text: prompt.user }] }] }, [
      ["system", prompt.system === undefined ? undefined : [{ text: prompt.system }]],
      ["inferenceConfig", inferenceConfig(parameters)]
    ]),
  maxTokensOf: inferenceConfigMaxTokens,
  withMaxTokens: withInferenceConfigMaxTokens,
  readOutput: readMessagesOutput
}

// -----------------------------------------------------------------------------
// Embedding models
// -----------------------------------------------------------------------------

/** A list of finite numbers (one vector), or `undefined` when the value is not one. */
const vectorOf = (u: unknown): ReadonlyArray<number> | undefined =>
  Array.isArray(u) && u.length > 0 && u.every((x) => typeof x === "number" && Number.isFinite(x))
    ? u as ReadonlyArray<number>
    : undefined

/** An embedding answer: no text, no stop reason, no output tokens. */
const embeddingOutput = (vectors: ReadonlyArray<ReadonlyArray<number>>, inputTokens: number): ModelOutput => ({
  text: "",
  stopReason: undefined,
  truncated: false,
  usage: { inputTokens, outputTokens: 0 },
  vectors
})

/** The vector sizes Titan Text Embeddings V2 offers. */
export type TitanEmbedDimensions = 256 | 512 | 1024

/** The most characters Titan Text Embeddings V2 takes in one text (and at most 8,192 tokens). */
export const titanEmbedMaxTextCharacters = 50_000

/**
 * Amazon Titan Text Embeddings V2 (`amazon.titan-embed-text-v2:0`) asking for vectors of
 * `dimensions` (256, 512 or 1024), normalised: body `{inputText, dimensions, normalize: true}`,
 * one text a request; answer `{embedding, inputTextTokenCount}` (or `embeddingsByType.float`).
 *
 * Details:
 * - Titan V2 makes no query/document distinction: `purpose` changes nothing.
 * - `buildRequest` (the text-family entry point) embeds `prompt.user` as a document.
 * - Other than one text builds a body Bedrock refuses (`inputText` is then the list).
 * - Bedrock batch inference accepts it: the user guide offers Titan Text Embeddings "as
 *   throughput optimized batch jobs for faster indexing"
 *   (https://docs.aws.amazon.com/bedrock/latest/userguide/titan-embedding-models.html), and
 *   it is in the batch table
 *   (https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-supported.html).
 */
export const titanEmbedWith = (dimensions: TitanEmbedDimensions): ModelFamily => {
  const buildEmbeddingRequest = (texts: ReadonlyArray<string>): Record<string, unknown> => ({
    inputText: texts.length === 1 ? texts[0] : [...texts],
    dimensions,
    normalize: true
  })
  return {
    name: "titan-embed",
    buildRequest: (prompt) => buildEmbeddingRequest([prompt.user]),
    maxTokensOf: () => undefined,
    withMaxTokens: (body) => body,
    readOutput: (modelOutput) => {
      if (!isRecord(modelOutput)) return Result.fail("response is not an object")
      const byType = isRecord(modelOutput.embeddingsByType) ? modelOutput.embeddingsByType.float : undefined
      const vector = vectorOf(modelOutput.embedding) ?? vectorOf(byType)
      if (vector === undefined) return Result.fail("response has no embedding (a non-empty list of numbers)")
      return Result.succeed(embeddingOutput([vector], num(modelOutput.inputTextTokenCount)))
    },
    embedding: {
      dimensions,
      maxTextsPerRequest: 1,
      maxTextCharacters: titanEmbedMaxTextCharacters,
      batch: true,
      buildEmbeddingRequest
    }
  }
}

/** Amazon Titan Text Embeddings V2 with its default 1,024-dimension normalised vectors. */
export const titanEmbed: ModelFamily = titanEmbedWith(1024)

/** The most texts one Cohere Embed request holds. */
export const cohereEmbedMaxTexts = 96

/** The most characters of one text Cohere Embed takes; longer texts are cut to it (as the reference does). */
export const cohereEmbedMaxTextCharacters = 2048

/** The first `count` characters (code points, so no surrogate pair is split) of a text. */
const firstCharacters = (text: string, count: number): string =>
  text.length <= count ? text : Array.from(text).slice(0, count).join("")

/**
 * Estimated input tokens of Cohere texts: Cohere's body carries no token count, so each text
 * counts its characters / 4, rounded up (Bedrock's own rule of thumb for Cohere: "1 token is
 * about 4 characters").
 */
export const estimateCohereTokens = (texts: ReadonlyArray<string>): number =>
  texts.reduce((sum, text) => sum + Math.ceil(text.length / 4), 0)

/** Cohere's float embeddings: `embeddings` as a list of vectors, or `{float: [...]}` (with `embedding_types`). */
const cohereVectors = (embeddings: unknown): ReadonlyArray<ReadonlyArray<number>> | undefined => {
  const list = isRecord(embeddings) ? embeddings.float : embeddings
  if (!Array.isArray(list) || list.length === 0) return undefined
  const vectors = list.map(vectorOf)
  return vectors.every((vector) => vector !== undefined) ? vectors as ReadonlyArray<ReadonlyArray<number>> : undefined
}

/**
 * Cohere Embed v3 (`cohere.embed-english-v3`, `cohere.embed-multilingual-v3`; 1,024
 * dimensions): body `{texts, input_type: "search_document" | "search_query", truncate: "END"}`,
 * up to 96 texts a request, each cut to 2,048 characters; answer `{id, texts, embeddings,
 * response_type: "embeddings_floats"}` (or `embeddings: {float}` when `embedding_types` was sent).
 *
 * Details:
 * - The answer carries no token count: input tokens are estimated from its `texts`
 *   ({@link estimateCohereTokens}).
 * - `buildRequest` (the text-family entry point) embeds `prompt.user` as a document.
 *
 * Gotchas: Bedrock batch inference does not take Cohere Embed v3 (`embedding.batch` is
 * false): it is not among the models of the batch table
 * (https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-supported.html), its
 * page documents InvokeModel only
 * (https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-embed.html), and its
 * model card names no inference profile. Send its records on demand; if AWS adds it to batch,
 * a family with `batch: true` is all it takes.
 */
export const cohereEmbed: ModelFamily = (() => {
  const buildEmbeddingRequest = (texts: ReadonlyArray<string>, purpose: EmbeddingPurpose): Record<string, unknown> => ({
    texts: texts.map((text) => firstCharacters(text, cohereEmbedMaxTextCharacters)),
    input_type: purpose === "query" ? "search_query" : "search_document",
    truncate: "END"
  })
  return {
    name: "cohere-embed",
    buildRequest: (prompt) => buildEmbeddingRequest([prompt.user], "document"),
    maxTokensOf: () => undefined,
    withMaxTokens: (body) => body,
    readOutput: (modelOutput) => {
      if (!isRecord(modelOutput)) return Result.fail("response is not an object")
      const vectors = cohereVectors(modelOutput.embeddings)
      if (vectors === undefined) {
        return Result.fail("response has no embeddings (a non-empty list of lists of numbers, or {float: …})")
      }
      const texts = Array.isArray(modelOutput.texts) && modelOutput.texts.every((t) => typeof t === "string")
        ? modelOutput.texts as ReadonlyArray<string>
        : undefined
      if (texts !== undefined && texts.length !== vectors.length) {
        return Result.fail(`response has ${vectors.length} embeddings for ${texts.length} texts`)
      }
      return Result.succeed(embeddingOutput(vectors, texts === undefined ? 0 : estimateCohereTokens(texts)))
    },
    embedding: {
      dimensions: 1024,
      maxTextsPerRequest: cohereEmbedMaxTexts,
      maxTextCharacters: cohereEmbedMaxTextCharacters,
      batch: false,
      buildEmbeddingRequest
    }
  }
})()

/** The family is an embedding family (it has an {@link Embedding}). */
export const isEmbedding = (family: ModelFamily): family is ModelFamily & { readonly embedding: Embedding } =>
  family.embedding !== undefined

/** All families by name. */
export const families: Readonly<Record<FamilyName, ModelFamily>> = {
  anthropic,
  nova,
  llama,
  converse,
  "titan-embed": titanEmbed,
  "cohere-embed": cohereEmbed
}

const geoPrefix = /^(?:us|eu|apac|global|us-gov|ca|jp|au|apne\d?)\./

/**
 * The family a model id belongs to, from foundation-model ids, inference-profile ids
 * (`us.`, `eu.`, `apac.`, `global.` …) and their ARNs. `undefined` when the id does not say.
 *
 * Embedding models: `amazon.titan-embed-text-v2…` is `titan-embed`; `cohere.embed-english-v3`
 * and `cohere.embed-multilingual-v3` are `cohere-embed`. Titan Embeddings G1 (`…-text-v1`,
 * which takes no `dimensions`) and Cohere Embed v4 (`cohere.embed-v4…`, other `truncate`
 * values and 1,536 dimensions) take other bodies and name no family.
 */
export const familyOfModelId = (modelId: string): FamilyName | undefined => {
  let id = modelId.trim()
  if (id.startsWith("arn:")) {
    const resource = id.split(":").slice(5).join(":")
    const slash = resource.indexOf("/")
    const kind = slash < 0 ? resource : resource.slice(0, slash)
    if (kind === "application-inference-profile" || kind === "provisioned-model" || kind === "custom-model") {
      return undefined
    }
    id = slash < 0 ? resource : resource.slice(slash + 1)
  }
  id = id.replace(geoPrefix, "")
  if (id.startsWith("anthropic.")) return "anthropic"
  if (id.startsWith("amazon.nova")) return "nova"
  if (id.startsWith("meta.llama")) return "llama"
  if (id.startsWith("amazon.titan-embed-text-v2")) return "titan-embed"
  if (id.startsWith("cohere.embed-english-v3") || id.startsWith("cohere.embed-multilingual-v3")) return "cohere-embed"
  return undefined
}

/**
 * The family to use for a model: the Converse type when that invocation type is chosen,
 * else the explicit override, else the one the model id names.
 */
export const resolve = (options: {
  readonly modelId: string
  readonly family?: FamilyName | undefined
  readonly invocationType?: InvocationType | undefined
}): Result.Result<ModelFamily, UnknownModelFamily> => {
  if (options.invocationType === "Converse") return Result.succeed(converse)
  if (options.family !== undefined) return Result.succeed(families[options.family])
  const name = familyOfModelId(options.modelId)
  if (name === undefined) {
    return Result.fail(
      new UnknownModelFamily({
        modelId: options.modelId,
        message: `cannot tell the model family of "${options.modelId}"; set model.family ` +
          `(anthropic, nova or llama) or use invocationType "Converse"`
      })
    )
  }
  return Result.succeed(families[name])
}
