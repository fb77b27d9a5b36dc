/**
 * A deterministic offline model: it reads a prompt and answers in the shape of the model
 * family that asked, with no network and no weights. The simulated services of the test kit
 * and the local emulator answer every record with it.
 *
 * How it answers (same input, same output, always):
 * - a prompt asking for `<entity_classifications>` with sampled `<chunk>…</chunk>`s (entity
 *   classification inference) gets, between those tags, the (at most 5) domain
 *   classifications its rules give the most capitalised phrases of the chunks — Government
 *   Body, Legislation, Government Program, Political Party, Organization, Country, Region,
 *   and Role or Person — spelled as an existing classification when one matches; one asking
 *   to rank `<classifications>…</classifications>` gets them back in order, repeats and
 *   plurals of listed singulars removed;
 * - a prompt holding `<propositions>…</propositions>` (the topic stage) gets the topic
 *   grammar: one topic, the capitalised phrases as entities, one statement per proposition
 *   (per sentence when the input is chunk text) with relationships from the first entity it
 *   names to the others (named after the lower-case words between them) and an attribute for
 *   its first number. An entity is classified with the domain classification of its phrase
 *   when the prompt offers that classification on a line of its own (outside the
 *   propositions), else with fixed rules among the reference's default classifications;
 * - a prompt holding `<text>…</text>` (the proposition stage) gets a title line and one
 *   proposition per sentence (abbreviation-aware), a leading pronoun replaced by the
 *   subject of the sentence before;
 * - anything else is echoed back;
 * - an embedding request (Titan Text Embeddings V2, Cohere Embed v3) gets one vector per
 *   text, of the requested dimensions, from {@link embed}: feature hashing of the lower-cased
 *   words and word pairs, L2-normalised, so texts sharing words land near each other.
 *
 * Token counts are estimated (4 characters a token); an answer longer than the request's
 * token limit is cut off with the family's max-tokens stop reason, as a real model would.
 *
 * Gotchas: the vectors are not semantic — a paraphrase with other words is far away — and
 * Titan's `normalize: false` still gets unit vectors.
 *
 * @since 0.1.0
 */
import { Result } from "effect"
import * as ModelFamily from "../engine/ModelFamily.ts"
import * as SeededRandom from "./SeededRandom.ts"

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** Estimated tokens of a text (about four characters a token). */
export const estimateTokens = (text: string): number => Math.max(1, Math.ceil(text.length / 4))

const between = (text: string, open: string, close: string): string | undefined => {
  const start = text.indexOf(open)
  if (start < 0) return undefined
  const end = text.indexOf(close, start + open.length)
  return end < 0 ? undefined : text.slice(start + open.length, end)
}

// A sentence ends at `.`, `!` or `?` followed by a capital, unless the period ends a common
// abbreviation (`Mr.`, `Dr.`, `Inc.`) or an initial (`U.S.`, `J. Smith`).
const sentenceBreak =
  /(?<!\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Mt|Gen|Gov|Sen|Rep|Rev|Hon|Capt|Col|Lt|Sgt|No|Co|Inc|Ltd|Corp|vs|etc|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.)(?<!\b[A-Z]\.)(?<=[.!?])\s+(?=["'(\[]?[A-Z0-9])/

/** Split a text into sentences (deterministic, punctuation-based, abbreviation-aware). */
export const sentences = (text: string): Array<string> =>
  text
    .replace(/\s+/g, " ")
    .split(sentenceBreak)
    .map((s) => s.trim())
    .filter((s) => s.length > 0)

const stopWords = new Set([
  "The",
  "A",
  "An",
  "In",
  "On",
  "At",
  "Of",
  "And",
  "But",
  "Or",
  "For",
  "To",
  "It",
  "This",
  "That",
  "These",
  "Those",
  "We",
  "I",
  "You",
  "He",
  "She",
  "They",
  "Our",
  "My",
  "Its",
  "Their",
  "His",
  "Her",
  "As",
  "If",
  "When",
  "While",
  "With",
  "By",
  "From",
  "So",
  "Yet",
  "All",
  "No",
  "Not",
  "Let",
  "Now",
  "There",
  "Here",
  "Then",
  "Thus",
  "Every"
])

/** Capitalised phrases of a sentence, as entity candidates (first words of sentences excluded if common). */
export const capitalisedPhrases = (sentence: string): Array<string> => {
  const found: Array<string> = []
  const pattern = /\b([A-Z][a-zA-Z'’-]+(?:\s+(?:of\s+|the\s+)?[A-Z][a-zA-Z'’-]+)*)/g
  // Asides in parentheses ("(Applause.)") name nothing.
  const text = sentence.replace(/\([^)]*\)/g, " ")
  for (const match of text.matchAll(pattern)) {
    const phrase = match[1]!.replace(/['’]s$/, "")
    if (stopWords.has(phrase) || phrase.length < 3) continue
    if (!found.includes(phrase)) found.push(phrase)
  }
  return found
}

const classify = (phrase: string): string => {
  if (/\b(States|America|Nation|Country|City|Congress|Union|Europe|Asia|Africa|Pacific|Atlantic)\b/.test(phrase)) {
    return phrase.includes("Congress") ? "Company" : "Location"
  }
  if (/\b(Act|Treaty|War|Conference|Revolution|Depression)\b/.test(phrase)) return "Event"
  if (
    /\b(Department|Bank|Company|Corporation|Inc|Service|Agency|Administration|Fund|Association|Organization|Committee|Commission|Institute|University|Council|Board|Bureau|Party|Court)\b/
      .test(phrase)
  ) return "Company"
  if (/\b(President|Secretary|Senator|Governor|General|Chief|Minister)\b/.test(phrase)) return "Role"
  return phrase.split(" ").length >= 2 ? "Person" : "Location"
}

// -----------------------------------------------------------------------------
// Domain classifications (entity-classification inference)
// -----------------------------------------------------------------------------

const countries = [
  "America",
  "United States",
  "Iraq",
  "Afghanistan",
  "Iran",
  "China",
  "Russia",
  "Syria",
  "Israel",
  "Korea",
  "Mexico",
  "Canada",
  "Japan",
  "India",
  "Pakistan",
  "Cuba",
  "Ukraine",
  "Libya",
  "Egypt",
  "Germany",
  "France",
  "Britain",
  "United Kingdom",
  "Vietnam",
  "Saudi Arabia",
  "Kuwait",
  "Venezuela",
  "Colombia",
  "Brazil",
  "Lebanon",
  "Jordan",
  "Turkey",
  "Yemen",
  "Somalia",
  "Sudan",
  "Haiti",
  "Poland",
  "Italy",
  "Spain"
]

/**
 * The domain classifications of the offline model, in order of precedence. None is one of
 * the reference's default classifications, so answers to prompts that offer only those stay
 * as they were before inference existed.
 */
const domainRules: ReadonlyArray<readonly [RegExp, string]> = [
  [/\b(Act|Bill|Law|Amendment|Constitution|Treaty|Tax Code)\b/, "Legislation"],
  [/\b(Social Security|Medicare|Medicaid|Program|Initiative|Corps)\b/, "Government Program"],
  [/\b(Republicans?|Democrats?|Democratic|Party)\b/, "Political Party"],
  [
    /\b(Congress|Senate|House|Chamber|Capitol|Government|Administration|Department|Agency|Bureau|Court|Pentagon|Cabinet|Ministry)\b/,
    "Government Body"
  ],
  [
    /\b(NATO|United Nations|Al Qaida|Al Qaeda|ISIS|Taliban|Hamas|Hezbollah|Alliance|Corporation|Company)\b/,
    "Organization"
  ],
  [new RegExp(`\\b(${countries.join("|")})\\b`), "Country"],
  [/\b(Middle East|Europe|Asia|Africa|Latin America|Pacific|Atlantic|Persian Gulf)\b/, "Region"]
]

/** The domain classification of a phrase, when a rule gives one. */
export const domainClassification = (phrase: string): string | undefined =>
  domainRules.find(([pattern]) => pattern.test(phrase))?.[1]

const rolePattern = /\b(President|Secretary|Senator|Governor|General|Chief|Minister|Speaker|Lady|Justice)\b/

/** What the inference counts a phrase as: its domain classification, a role, a person, or nothing. */
const inferenceClassification = (phrase: string): string | undefined =>
  domainClassification(phrase) ??
    (rolePattern.test(phrase) ? "Role" : phrase.split(" ").length >= 2 ? "Person" : undefined)

const lines = (block: string | undefined): Array<string> =>
  (block ?? "").split("\n").map((line) => line.trim()).filter((line) => line !== "")

const entityClassificationsBlock = (names: ReadonlyArray<string>): string =>
  ["<entity_classifications>", ...names, "</entity_classifications>"].join("\n")

/**
 * The inference answer: the (at most 5) classifications the most capitalised phrases of the
 * sampled chunks get, most frequent first (ties in rule order), spelled as an existing
 * classification when one matches.
 */
export const answerClassifications = (chunks: ReadonlyArray<string>, existing: ReadonlyArray<string>): string => {
  const counts = new Map<string, number>()
  for (const chunk of chunks) {
    for (const sentence of sentences(chunk)) {
      for (const phrase of capitalisedPhrases(sentence)) {
        const classification = inferenceClassification(phrase)
        if (classification !== undefined) counts.set(classification, (counts.get(classification) ?? 0) + 1)
      }
    }
  }
  const order = [...domainRules.map(([, name]) => name), "Role", "Person"]
  const ranked = [...counts.entries()]
    .sort(([a, m], [b, n]) => n - m || order.indexOf(a) - order.indexOf(b))
    .slice(0, 5)
    .map(([name]) => existing.find((known) => known.toLowerCase() === name.toLowerCase()) ?? name)
  return entityClassificationsBlock(ranked)
}

/** The ranking answer: the listed classifications in their order, repeats and plurals of listed singulars removed. */
export const answerRanking = (listed: string): string => {
  const names = lines(listed)
  const kept: Array<string> = []
  for (const name of names) {
    const lower = name.toLowerCase()
    const plural = lower.endsWith("s") && names.some((other) => other.toLowerCase() === lower.slice(0, -1))
    if (!plural && !kept.some((known) => known.toLowerCase() === lower)) kept.push(name)
  }
  return entityClassificationsBlock(kept)
}

const pronounStart = /^(He|She|It|They|This|These)\b\s*/

/**
 * The proposition-stage answer: a title line, then one proposition per sentence, with a
 * leading pronoun replaced by the first named entity of the sentence before (a crude form
 * of the coreference resolution the prompt asks for).
 */
export const answerPropositions = (text: string): string => {
  const list = sentences(text)
  const title = capitalisedPhrases(text)[0] ?? "Text"
  const propositions: Array<string> = []
  let previousEntity: string | undefined
  for (const sentence of list) {
    const resolved = previousEntity !== undefined && pronounStart.test(sentence)
      ? sentence.replace(pronounStart, `${previousEntity} `)
      : sentence
    if (!propositions.includes(resolved)) propositions.push(resolved)
    // The subject carries over only when the sentence starts with it.
    const subject = capitalisedPhrases(resolved)[0]
    if (subject !== undefined && resolved.indexOf(subject) <= 4) previousEntity = subject
  }
  return [`Propositions about ${title}`, ...propositions].join("\n")
}

/** An entity name as the topic parser looks it up: one leading article removed. */
const entityKey = (phrase: string): string => phrase.replace(/^(?:the|a|an)\s+/i, "")

const fillerWords = new Set([
  "the",
  "a",
  "an",
  "of",
  "and",
  "to",
  "in",
  "on",
  "at",
  "with",
  "that",
  "which",
  "is",
  "was"
])

/** The relation between two names in a sentence: the first words between them, as UPPER_SNAKE_CASE. */
const relationBetween = (sentence: string, subject: string, object: string): string => {
  const start = sentence.indexOf(subject)
  const end = sentence.indexOf(object, start + subject.length)
  if (start < 0 || end < 0) return "RELATED_TO"
  // Verbs and their particles are the lower-case words between the two names.
  const words = sentence
    .slice(start + subject.length, end)
    .split(/[^A-Za-z]+/)
    .filter((word) => /^[a-z]{2,}$/.test(word) && !fillerWords.has(word))
    .slice(0, 2)
  return words.length === 0 ? "RELATED_TO" : words.join("_").toUpperCase()
}

/**
 * The topic-stage answer, in the topic grammar: one topic; the capitalised phrases as
 * entities; one statement per proposition (or per sentence, when the input is chunk text),
 * with a relationship from the first entity it names to each other one and an attribute
 * for the first number.
 */
export const answerTopics = (propositions: string, offered: ReadonlySet<string> = new Set()): string => {
  const lines = propositions
    .split("\n")
    .flatMap((line) => sentences(line))
  const entities = new Map<string, string>()
  for (const line of lines) {
    for (const phrase of capitalisedPhrases(line)) {
      const key = entityKey(phrase)
      if (key.length >= 3 && !entities.has(key)) entities.set(key, phrase)
    }
  }
  const names = [...entities.keys()]
  const topic = names[0] ?? "General"
  const out: Array<string> = [`topic: ${topic}`, "", "entities:"]
  const classificationOf = (name: string) => {
    const domain = domainClassification(name)
    return domain !== undefined && offered.has(domain.toLowerCase()) ? domain : classify(name)
  }
  for (const name of names) out.push(`${name}|${classificationOf(name)}`)
  out.push("")
  for (const line of lines) {
    out.push(`proposition: ${line}`)
    const named = capitalisedPhrases(line).filter((p) => entities.has(entityKey(p)))
    const distinct = named.filter((p, i) => named.findIndex((q) => entityKey(q) === entityKey(p)) === i)
    if (distinct.length >= 2) {
      out.push("", "entity-entity relationships:")
      for (let i = 1; i < distinct.length; i++) {
        out.push(
          `${entityKey(distinct[0]!)}|${relationBetween(line, distinct[0]!, distinct[i]!)}|${entityKey(distinct[i]!)}`
        )
      }
    }
    const numbers = line.match(/\b\d[\d,.:]*\b/)
    if (distinct.length >= 1 && numbers !== null) {
      out.push("", "entity-attributes:", `${entityKey(distinct[0]!)}|MENTIONS|${numbers[0]}`)
    }
    out.push("")
  }
  return out.join("\n")
}

/** The answer to a prompt's text (see the module doc). */
export const answer = (prompt: string): string => {
  if (prompt.includes("<entity_classifications>")) {
    const chunks = [...prompt.matchAll(/<chunk>([\s\S]*?)<\/chunk>/g)].map((match) => match[1]!)
    if (chunks.length > 0) {
      return answerClassifications(
        chunks,
        lines(between(prompt, "<existing_classifications>", "</existing_classifications>"))
      )
    }
    const listed = between(prompt, "<classifications>", "</classifications>")
    if (listed !== undefined) return answerRanking(listed)
  }
  const propositions = between(prompt, "<propositions>", "</propositions>")
  if (propositions !== undefined) {
    // The classifications a topic prompt offers: its lines outside the propositions.
    const outside = prompt.replace(`<propositions>${propositions}</propositions>`, "")
    return answerTopics(propositions, new Set(lines(outside).map((line) => line.toLowerCase())))
  }
  const text = between(prompt, "<text>", "</text>")
  if (text !== undefined) return answerPropositions(text)
  return prompt
}

// -----------------------------------------------------------------------------
// Embeddings
// -----------------------------------------------------------------------------

/**
 * A deterministic embedding of a text: its lower-cased words (weight 1) and pairs of
 * neighbouring words (weight ½) hashed (32-bit FNV-1a, `SeededRandom.hash`, stable across runs
 * and platforms) into `dimensions` slots with a hash-chosen sign, then
 * L2-normalised. Texts sharing most words are near each other (cosine), the same text always
 * gets the same vector, and every vector has norm 1; a text without words gets a fixed unit
 * vector (every slot `1/√dimensions`).
 */
export const embed = (text: string, dimensions: number): Array<number> => {
  const size = Math.max(0, Math.floor(dimensions))
  const vector = new Array<number>(size).fill(0)
  if (size === 0) return vector
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []
  const add = (feature: string, weight: number) => {
    const hash = SeededRandom.hash(feature)
    vector[hash % size]! += (hash >>> 31 === 1 ? -1 : 1) * weight
  }
  words.forEach((word, i) => {
    add(`w:${word}`, 1)
    if (i > 0) add(`b:${words[i - 1]} ${word}`, 0.5)
  })
  const norm = Math.sqrt(vector.reduce((sum, x) => sum + x * x, 0))
  return norm === 0 ? vector.fill(1 / Math.sqrt(size)) : vector.map((x) => x / norm)
}

/** The texts of an embedding request, the vector size it asks for, and whether it asked for typed embeddings. */
export interface EmbeddingRequest {
  readonly texts: ReadonlyArray<string>
  readonly dimensions: number
  /** The request named `embedding_types` (Cohere): the answer lists floats under `embeddings.float`. */
  readonly byType: boolean
}

/** Read an embedding request body of an embedding family (Titan: one text; Cohere: a list). */
export const readEmbeddingRequest = (
  family: ModelFamily.ModelFamily,
  body: unknown
): Result.Result<EmbeddingRequest, string> => {
  if (!isRecord(body)) return Result.fail("request body is not an object")
  const dimensions = family.embedding?.dimensions ?? 1024
  switch (family.name) {
    case "titan-embed": {
      if (typeof body.inputText !== "string") return Result.fail("inputText is required")
      return Result.succeed({
        texts: [body.inputText],
        dimensions: typeof body.dimensions === "number" ? body.dimensions : 1024,
        byType: false
      })
    }
    case "cohere-embed": {
      if (!Array.isArray(body.texts) || !body.texts.every((t) => typeof t === "string")) {
        return Result.fail("texts must be a list of strings")
      }
      return Result.succeed({
        texts: body.texts as Array<string>,
        dimensions,
        byType: body.embedding_types !== undefined
      })
    }
    default:
      return Result.fail(`the ${family.name} family is not an embedding model`)
  }
}

/**
 * An embedding answer in the family's response shape, one {@link embed} vector per text:
 * Titan `{embedding, inputTextTokenCount, embeddingsByType: {float}}` (its first text);
 * Cohere `{id, texts, embeddings, response_type}` (`embeddings: {float}` when `byType`).
 */
export const toEmbeddingResponse = (
  family: ModelFamily.ModelFamily,
  request: EmbeddingRequest
): Record<string, unknown> => {
  if (family.name === "titan-embed") {
    const text = request.texts[0] ?? ""
    const vector = embed(text, request.dimensions)
    return { embedding: vector, inputTextTokenCount: estimateTokens(text), embeddingsByType: { float: vector } }
  }
  const vectors = request.texts.map((text) => embed(text, request.dimensions))
  return {
    id: `offline-${SeededRandom.hash(request.texts.join("\u0000")).toString(16).padStart(8, "0")}`,
    texts: [...request.texts],
    embeddings: request.byType ? { float: vectors } : vectors,
    response_type: request.byType ? "embeddings_by_type" : "embeddings_floats"
  }
}

// -----------------------------------------------------------------------------
// Requests and responses
// -----------------------------------------------------------------------------

/**
 * The prompt text (system and user turns) and the token limit of a request body. An
 * embedding body's prompt is its texts, one a line, and its limit 0 (no answer tokens).
 */
export const readRequest = (
  family: ModelFamily.ModelFamily,
  body: unknown
): Result.Result<{ readonly prompt: string; readonly maxTokens: number }, string> => {
  if (!isRecord(body)) return Result.fail("request body is not an object")
  const textOf = (content: unknown): string =>
    Array.isArray(content)
      ? content.map((piece) => (isRecord(piece) && typeof piece.text === "string" ? piece.text : "")).join("")
      : ""
  const messagesText = (messages: unknown): string =>
    Array.isArray(messages) ? messages.map((m) => (isRecord(m) ? textOf(m.content) : "")).join("\n") : ""
  switch (family.name) {
    case "anthropic": {
      if (typeof body.max_tokens !== "number") return Result.fail("max_tokens is required")
      if (!Array.isArray(body.messages)) return Result.fail("messages is required")
      const system = typeof body.system === "string" ? body.system : ""
      return Result.succeed({ prompt: `${system}\n${messagesText(body.messages)}`, maxTokens: body.max_tokens })
    }
    case "nova":
    case "converse": {
      if (!Array.isArray(body.messages)) return Result.fail("messages is required")
      const config = isRecord(body.inferenceConfig) ? body.inferenceConfig : {}
      return Result.succeed({
        prompt: `${textOf(body.system)}\n${messagesText(body.messages)}`,
        maxTokens: typeof config.maxTokens === "number" ? config.maxTokens : 4096
      })
    }
    case "llama": {
      if (typeof body.prompt !== "string") return Result.fail("prompt is required")
      return Result.succeed({
        prompt: body.prompt,
        maxTokens: typeof body.max_gen_len === "number" ? body.max_gen_len : 512
      })
    }
    case "titan-embed":
    case "cohere-embed":
      return Result.map(readEmbeddingRequest(family, body), ({ texts }) => ({ prompt: texts.join("\n"), maxTokens: 0 }))
  }
}

/**
 * Wrap an answer in a family's response shape. An embedding family embeds the answer text as
 * its one text (usage and `truncated` do not apply).
 */
export const toResponse = (
  family: ModelFamily.ModelFamily,
  text: string,
  usage: ModelFamily.Usage,
  truncated: boolean
): Record<string, unknown> => {
  switch (family.name) {
    case "anthropic":
      return {
        id: "msg_offline",
        type: "message",
        role: "assistant",
        content: [{ type: "text", text }],
        stop_reason: truncated ? "max_tokens" : "end_turn",
        usage: { input_tokens: usage.inputTokens, output_tokens: usage.outputTokens }
      }
    case "nova":
    case "converse":
      return {
        output: { message: { role: "assistant", content: [{ text }] } },
        stopReason: truncated ? "max_tokens" : "end_turn",
        usage: {
          inputTokens: usage.inputTokens,
          outputTokens: usage.outputTokens,
          totalTokens: usage.inputTokens + usage.outputTokens
        }
      }
    case "llama":
      return {
        generation: text,
        prompt_token_count: usage.inputTokens,
        generation_token_count: usage.outputTokens,
        stop_reason: truncated ? "length" : "stop"
      }
    case "titan-embed":
    case "cohere-embed":
      return toEmbeddingResponse(family, {
        texts: [text],
        dimensions: family.embedding?.dimensions ?? 1024,
        byType: false
      })
  }
}

/**
 * Answer a request body of the given family, as the model would: the response body, or a
 * reason when the body is invalid for that family (a real service answers those with a
 * validation error). An embedding body gets its vectors ({@link toEmbeddingResponse}).
 */
export const respond = (
  family: ModelFamily.ModelFamily,
  body: unknown
): Result.Result<Record<string, unknown>, string> =>
  ModelFamily.isEmbedding(family)
    ? Result.map(readEmbeddingRequest(family, body), (request) => toEmbeddingResponse(family, request))
    : Result.map(readRequest(family, body), ({ maxTokens, prompt }) => {
      const full = answer(prompt)
      const truncated = estimateTokens(full) > maxTokens
      const text = truncated ? full.slice(0, maxTokens * 4) : full
      return toResponse(
        family,
        text,
        { inputTokens: estimateTokens(prompt), outputTokens: estimateTokens(text) },
        truncated
      )
    })
