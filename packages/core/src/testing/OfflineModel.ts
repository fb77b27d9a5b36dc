/**
 * A deterministic offline model: it reads a prompt and answers in the shape of the model
 * family that asked, with no network and no weights. The simulated services of the test kit
 * and the local emulator answer every record with it.
 *
 * How it answers (same input, same output, always):
 * - a prompt holding `<propositions>…</propositions>` (the topic stage) gets the topic
 *   grammar: one topic, the capitalised phrases as entities, one statement per proposition
 *   (per sentence when the input is chunk text) with relationships from the first entity it
 *   names to the others (named after the lower-case words between them) and an attribute for
 *   its first number;
 * - a prompt holding `<text>…</text>` (the proposition stage) gets a title line and one
 *   proposition per sentence (abbreviation-aware), a leading pronoun replaced by the
 *   subject of the sentence before;
 * - anything else is echoed back.
 *
 * Token counts are estimated (4 characters a token); an answer longer than the request's
 * token limit is cut off with the family's max-tokens stop reason, as a real model would.
 *
 * @since 0.1.0
 */
import { Result } from "effect"
import * as ModelFamily from "../engine/ModelFamily.ts"

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
export const answerTopics = (propositions: string): string => {
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
  for (const name of names) out.push(`${name}|${classify(name)}`)
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
  const propositions = between(prompt, "<propositions>", "</propositions>")
  if (propositions !== undefined) return answerTopics(propositions)
  const text = between(prompt, "<text>", "</text>")
  if (text !== undefined) return answerPropositions(text)
  return prompt
}

/** The prompt text (system and user turns) and the token limit of a request body. */
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
  }
}

/** Wrap an answer in a family's response shape. */
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
  }
}

/**
 * Answer a request body of the given family, as the model would: the response body, or a
 * reason when the body is invalid for that family (a real service answers those with a
 * validation error).
 */
export const respond = (
  family: ModelFamily.ModelFamily,
  body: unknown
): Result.Result<Record<string, unknown>, string> =>
  Result.map(readRequest(family, body), ({ maxTokens, prompt }) => {
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
