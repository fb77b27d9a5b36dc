/**
 * Model families as data: how to build a request body for a model (and set its token limit
 * in a body), and how to read its output (text, stop reason, token usage), for Anthropic
 * Claude, Amazon Nova, Meta Llama and the Converse invocation type.
 *
 * When to use: the engine resolves the family once from the configured model id and uses
 * it for every record, batch and on demand alike. Call {@link resolve} yourself when you
 * build `modelInput` bodies for the generic engine.
 *
 * Gotchas:
 * - Only the parameters the caller set are sent; newer models reject some combinations.
 * - An application-inference-profile ARN does not name its model: set the family explicitly.
 *
 * @since 0.1.0
 */
import { Data, Result } from "effect"
import type { InvocationType } from "./BatchInference.ts"

/** The families batch-extract knows. `converse` is the Converse invocation type. */
export type FamilyName = "anthropic" | "nova" | "llama" | "converse"

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

/** All families by name. */
export const families: Readonly<Record<FamilyName, ModelFamily>> = { anthropic, nova, llama, converse }

const geoPrefix = /^(?:us|eu|apac|global|us-gov|ca|jp|au|apne\d?)\./

/**
 * The family a model id belongs to, from foundation-model ids, inference-profile ids
 * (`us.`, `eu.`, `apac.`, `global.` …) and their ARNs. `none` when the id does not say.
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
