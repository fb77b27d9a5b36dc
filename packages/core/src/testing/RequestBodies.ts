/**
 * Validation of model request bodies as Amazon Bedrock documents them, per family: the
 * Anthropic Messages body, the Amazon Nova `messages-v1` body, the Meta Llama `prompt` body,
 * the Converse request (the `modelInput` of a Converse-type batch job), and the embedding
 * bodies of Amazon Titan Text Embeddings V2 and Cohere Embed v3. The simulated
 * services answer an invalid body the way the service does: a batch record gets an error
 * line (`errorCode` 400), a runtime call a `ValidationException`.
 *
 * What is checked, for every family: the body is an object; required fields are present
 * and of their type; numbers are in their documented ranges; a key the family does not
 * define is refused (`extraneous key [k] is not permitted`, as the service words it).
 * - Anthropic: `anthropic_version` is `bedrock-2023-05-31`; `max_tokens` ≥ 1; `messages` a
 *   non-empty list of `user`/`assistant` turns whose content is a string or a list of typed
 *   blocks; `system` a string or a list of text blocks (never a `system` role);
 *   `temperature` and `top_p` in 0..1.
 * - Nova: `schemaVersion`, when set, is `messages-v1`; `messages` as above with `{text}`
 *   blocks; `system` a list of `{text}`; `inferenceConfig.maxTokens` ≥ 1.
 * - Llama: `prompt` a non-empty string (the only required field, as documented);
 *   `max_gen_len` 1..2048; no `messages` (the chat turns belong in the prompt template).
 * - Converse: `messages` required; no `modelId` (the job names the model) and no
 *   `toolConfig` (tool calling is not supported for Converse-type jobs).
 * - Titan Text Embeddings V2: `inputText` a non-empty string of at most 50,000 characters;
 *   `dimensions` 256, 512 or 1024; `normalize` a boolean; `embeddingTypes` a list of
 *   `float` / `binary`.
 * - Cohere Embed v3: `texts` a list of 1 to 96 strings of at most 2,048 characters each;
 *   `input_type` one of `search_document`, `search_query`, `classification`, `clustering`
 *   (required); `truncate` `NONE`, `START` or `END`; `embedding_types` a list of `float`,
 *   `int8`, `uint8`, `binary`, `ubinary`.
 *
 * @since 0.1.0
 */
import type * as ModelFamily from "../engine/ModelFamily.ts"

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

type Problem = string | undefined

const firstProblem = (...checks: ReadonlyArray<() => Problem>): Problem => {
  for (const check of checks) {
    const problem = check()
    if (problem !== undefined) return problem
  }
  return undefined
}

const onlyKeys = (body: Record<string, unknown>, allowed: ReadonlySet<string>, where = ""): Problem => {
  const extra = Object.keys(body).find((key) => !allowed.has(key))
  return extra === undefined ? undefined : `extraneous key [${where}${extra}] is not permitted`
}

const integerAtLeast = (value: unknown, name: string, min: number, max = Number.MAX_SAFE_INTEGER): Problem =>
  typeof value === "number" && Number.isInteger(value) && value >= min && value <= max
    ? undefined
    : `${name}: ${JSON.stringify(value)} is not an integer between ${min} and ${max}`

const optionalUnit = (value: unknown, name: string): Problem =>
  value === undefined || (typeof value === "number" && value >= 0 && value <= 1)
    ? undefined
    : `${name}: ${JSON.stringify(value)} is not a number between 0 and 1`

const optionalStrings = (value: unknown, name: string): Problem =>
  value === undefined || (Array.isArray(value) && value.every((s) => typeof s === "string"))
    ? undefined
    : `${name} must be a list of strings`

const textBlocks = (value: unknown, name: string, typed: boolean): Problem => {
  if (!Array.isArray(value)) return `${name} must be a list`
  for (const block of value) {
    if (!isRecord(block)) return `${name} holds a value that is not an object`
    if (typed && typeof block.type !== "string") return `${name}: every block needs a type`
    const isText = typed ? block.type === "text" : "text" in block
    if (isText && typeof block.text !== "string") return `${name}: a text block needs a text string`
    if (!typed && Object.keys(block).length === 0) return `${name} holds an empty block`
  }
  return undefined
}

const messageList = (messages: unknown, typed: boolean, stringContent: boolean): Problem => {
  if (messages === undefined) return "messages is required"
  if (!Array.isArray(messages) || messages.length === 0) return "messages must be a non-empty list"
  for (const [index, message] of messages.entries()) {
    const at = `messages.${index}`
    if (!isRecord(message)) return `${at} is not an object`
    if (message.role !== "user" && message.role !== "assistant") {
      return `${at}.role: ${JSON.stringify(message.role)} is not one of user, assistant`
    }
    const content = message.content
    if (stringContent && typeof content === "string") {
      if (content === "") return `${at}.content must not be empty`
      continue
    }
    if (!Array.isArray(content) || content.length === 0) return `${at}.content must be a non-empty list`
    const problem = textBlocks(content, `${at}.content`, typed)
    if (problem !== undefined) return problem
  }
  return undefined
}

const anthropicKeys = new Set([
  "anthropic_version",
  "anthropic_beta",
  "max_tokens",
  "system",
  "messages",
  "temperature",
  "top_p",
  "top_k",
  "stop_sequences",
  "tools",
  "tool_choice",
  "metadata",
  "thinking"
])

const anthropic = (body: Record<string, unknown>): Problem =>
  firstProblem(
    () => onlyKeys(body, anthropicKeys),
    () =>
      body.anthropic_version === "bedrock-2023-05-31"
        ? undefined
        : body.anthropic_version === undefined
        ? "anthropic_version is required"
        : `anthropic_version: ${JSON.stringify(body.anthropic_version)} is not bedrock-2023-05-31`,
    () => body.max_tokens === undefined ? "max_tokens is required" : integerAtLeast(body.max_tokens, "max_tokens", 1),
    () => messageList(body.messages, true, true),
    () =>
      body.system === undefined || typeof body.system === "string"
        ? undefined
        : textBlocks(body.system, "system", true),
    () => optionalUnit(body.temperature, "temperature"),
    () => optionalUnit(body.top_p, "top_p"),
    () => body.top_k === undefined ? undefined : integerAtLeast(body.top_k, "top_k", 0),
    () => optionalStrings(body.stop_sequences, "stop_sequences")
  )

const inferenceConfigKeys = new Set(["maxTokens", "max_new_tokens", "temperature", "topP", "topK", "stopSequences"])

const inferenceConfig = (config: unknown, keys: ReadonlySet<string>): Problem => {
  if (config === undefined) return undefined
  if (!isRecord(config)) return "inferenceConfig must be an object"
  return firstProblem(
    () => onlyKeys(config, keys, "inferenceConfig."),
    () => config.maxTokens === undefined ? undefined : integerAtLeast(config.maxTokens, "inferenceConfig.maxTokens", 1),
    () =>
      config.max_new_tokens === undefined
        ? undefined
        : integerAtLeast(config.max_new_tokens, "inferenceConfig.max_new_tokens", 1),
    () => optionalUnit(config.temperature, "inferenceConfig.temperature"),
    () => optionalUnit(config.topP, "inferenceConfig.topP"),
    () => optionalStrings(config.stopSequences, "inferenceConfig.stopSequences")
  )
}

const systemTexts = (system: unknown): Problem => system === undefined ? undefined : textBlocks(system, "system", false)

const novaKeys = new Set(["schemaVersion", "system", "messages", "inferenceConfig", "toolConfig"])

const nova = (body: Record<string, unknown>): Problem =>
  firstProblem(
    () => onlyKeys(body, novaKeys),
    () =>
      body.schemaVersion === undefined || body.schemaVersion === "messages-v1"
        ? undefined
        : `schemaVersion: ${JSON.stringify(body.schemaVersion)} is not messages-v1`,
    () => messageList(body.messages, false, false),
    () => systemTexts(body.system),
    () => inferenceConfig(body.inferenceConfig, inferenceConfigKeys)
  )

const llamaKeys = new Set(["prompt", "max_gen_len", "temperature", "top_p", "images"])

const llama = (body: Record<string, unknown>): Problem =>
  firstProblem(
    () => onlyKeys(body, llamaKeys),
    () =>
      typeof body.prompt === "string" && body.prompt !== ""
        ? undefined
        : body.prompt === undefined
        ? "prompt is required"
        : "prompt must be a non-empty string",
    () => body.max_gen_len === undefined ? undefined : integerAtLeast(body.max_gen_len, "max_gen_len", 1, 2048),
    () => optionalUnit(body.temperature, "temperature"),
    () => optionalUnit(body.top_p, "top_p")
  )

const converseKeys = new Set([
  "messages",
  "system",
  "inferenceConfig",
  "additionalModelRequestFields",
  "additionalModelResponseFieldPaths",
  "guardrailConfig",
  "promptVariables",
  "requestMetadata",
  "performanceConfig"
])

const converse = (body: Record<string, unknown>): Problem =>
  firstProblem(
    () => "toolConfig" in body ? "toolConfig is not supported with the Converse invocation type" : undefined,
    () => "modelId" in body ? "modelId belongs to the job, not to the record" : undefined,
    () => onlyKeys(body, converseKeys),
    () => messageList(body.messages, false, false),
    () => systemTexts(body.system),
    () => inferenceConfig(body.inferenceConfig, new Set(["maxTokens", "temperature", "topP", "stopSequences"]))
  )

const oneOf = (value: unknown, name: string, allowed: ReadonlyArray<string | number>): Problem =>
  allowed.includes(value as string | number)
    ? undefined
    : `${name}: ${JSON.stringify(value)} is not one of ${allowed.join(", ")}`

const optionalListOf = (value: unknown, name: string, allowed: ReadonlyArray<string>): Problem => {
  if (value === undefined) return undefined
  if (!Array.isArray(value) || value.length === 0) return `${name} must be a non-empty list`
  const other = value.find((item) => !allowed.includes(item as string))
  return other === undefined ? undefined : `${name}: ${JSON.stringify(other)} is not one of ${allowed.join(", ")}`
}

/** Characters as the embedding models count them (code points). */
const characters = (text: string): number => Array.from(text).length

const titanEmbedKeys = new Set(["inputText", "dimensions", "normalize", "embeddingTypes"])

const titanEmbed = (body: Record<string, unknown>): Problem =>
  firstProblem(
    () => onlyKeys(body, titanEmbedKeys),
    () =>
      typeof body.inputText === "string" && body.inputText !== ""
        ? characters(body.inputText) <= 50_000 ? undefined : "inputText must be at most 50000 characters long"
        : body.inputText === undefined
        ? "inputText is required"
        : "inputText must be a non-empty string",
    () => body.dimensions === undefined ? undefined : oneOf(body.dimensions, "dimensions", [256, 512, 1024]),
    () =>
      body.normalize === undefined || typeof body.normalize === "boolean" ? undefined : "normalize must be a boolean",
    () => optionalListOf(body.embeddingTypes, "embeddingTypes", ["float", "binary"])
  )

const cohereEmbedKeys = new Set(["texts", "input_type", "truncate", "embedding_types"])

const cohereEmbed = (body: Record<string, unknown>): Problem =>
  firstProblem(
    () => onlyKeys(body, cohereEmbedKeys),
    () => {
      const texts = body.texts
      if (texts === undefined) return "texts is required"
      if (!Array.isArray(texts) || texts.length < 1 || texts.length > 96) {
        return `texts must be a list of 1 to 96 strings, got ${Array.isArray(texts) ? texts.length : typeof texts}`
      }
      const at = texts.findIndex((text) => typeof text !== "string" || characters(text) > 2048)
      if (at < 0) return undefined
      return typeof texts[at] === "string"
        ? `texts.${at} must be at most 2048 characters long`
        : `texts.${at} must be a string`
    },
    () =>
      body.input_type === undefined
        ? "input_type is required"
        : oneOf(body.input_type, "input_type", ["search_document", "search_query", "classification", "clustering"]),
    () => body.truncate === undefined ? undefined : oneOf(body.truncate, "truncate", ["NONE", "START", "END"]),
    () => optionalListOf(body.embedding_types, "embedding_types", ["float", "int8", "uint8", "binary", "ubinary"])
  )

/**
 * Why the service would refuse this request body for the family, or `undefined` when the
 * body is valid.
 */
export const problemOf = (family: ModelFamily.FamilyName, body: unknown): string | undefined => {
  if (!isRecord(body)) return "the request body is not a JSON object"
  switch (family) {
    case "anthropic":
      return anthropic(body)
    case "nova":
      return nova(body)
    case "llama":
      return llama(body)
    case "converse":
      return converse(body)
    case "titan-embed":
      return titanEmbed(body)
    case "cohere-embed":
      return cohereEmbed(body)
  }
}
