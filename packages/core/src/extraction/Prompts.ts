/**
 * Our prompt templates for the two extraction stages and for entity-classification
 * inference, how they are filled in, and the batch records built from them.
 *
 * - Stage 1, propositions: the chunk text and the source information (the document's
 *   metadata values) → a title line and one proposition per line.
 * - Stage 2, topics: the chunk's propositions (or its text when there are none), the
 *   preferred entity classifications (the reference's 11 by default) and the preferred
 *   topics (none by default) → the topic grammar of {@link Topics}.
 * - Classification inference (`ClassificationInference`, the reference's
 *   `DOMAIN_ENTITY_CLASSIFICATIONS_PROMPT` and `RANK_ENTITY_CLASSIFICATIONS_PROMPT`): sampled
 *   chunks and the existing classifications → classifications for the domain, one per line
 *   between `<entity_classifications>` tags; then those of every round → ranked, same format.
 *
 * Templates are overridable. Placeholders are `{text}`, `{source_info}`,
 * `{preferred_entity_classifications}` and `{preferred_topics}` (the stages),
 * `{text_chunks}` and `{existing_classifications}` (inference) and `{classifications}`
 * (ranking); they are replaced in one pass, so a chunk that contains `{source_info}` is left
 * as it is. Other braces are kept.
 *
 * Gotchas:
 * - The default templates put the chunk text between `<text>` and `</text>` (stage 1) and
 *   the propositions between `<propositions>` and `</propositions>` (stage 2), and mention
 *   neither tag anywhere else: the offline model of the test kit finds its input that way.
 *   Keep that shape in your own templates if you test them offline.
 * - A template must contain `{text}` ({@link templateProblem}).
 *
 * @since 0.1.0
 */
import type * as ModelFamily from "../engine/ModelFamily.ts"
import type { Metadata } from "./Document.ts"
import * as Ids from "./Ids.ts"
import * as Propositions from "./Propositions.ts"

/** A prompt template: an optional system part and the user turn, with `{placeholders}`. */
export interface PromptTemplate {
  readonly system?: string | undefined
  readonly user: string
}

/** The reference's default preferred entity classifications. */
export const defaultEntityClassifications: ReadonlyArray<string> = [
  "Company",
  "Location",
  "Event",
  "Sports Team",
  "Person",
  "Role",
  "Product",
  "Service",
  "Creative Work",
  "Software",
  "Financial Instrument"
]

/** The placeholders the templates may use. */
export const placeholders = [
  "text",
  "source_info",
  "preferred_entity_classifications",
  "preferred_topics",
  "text_chunks",
  "existing_classifications",
  "classifications"
] as const

/** A placeholder name. */
export type Placeholder = (typeof placeholders)[number]

/** Stage 1: break a chunk into propositions. */
export const propositionsTemplate: PromptTemplate = {
  system: "You turn text into atomic propositions for a knowledge graph. You follow the output format exactly.",
  user: `Break the text below into propositions: short, self-contained statements that each state one fact.

Rules:
1. Each proposition is a complete, simple sentence that can be understood without the rest of the text.
2. Replace pronouns, abbreviations, acronyms and other references with the fullest name the text gives for what they refer to. The source information may help you resolve them.
3. Keep quotations word for word, and say who said them.
4. For each named entity, add a proposition that says what kind of thing it is, when the text says so.
5. State only what the text says: no outside knowledge, no opinions, no guesses.

Source information:
{source_info}

<text>
{text}
</text>

Answer with a short title on the first line, then one proposition per line. No numbering, no bullets, no headings, no commentary.`
}

/** Stage 2: group propositions into topics, with entities, relationships and attributes. */
export const topicsTemplate: PromptTemplate = {
  system:
    "You organise propositions into topics, entities, relationships and attributes for a knowledge graph. You follow the output format exactly.",
  user:
    `Organise the propositions below into topics. For each proposition, extract the entities it names, the relationships between them and their attributes.

Topics:
- Group the propositions into a few descriptive topics. When a preferred topic fits, use it word for word.
- Every proposition goes under exactly one topic, repeated word for word.

Preferred topics:
{preferred_topics}

Entities:
- List the named entities of each topic, each with a classification. Prefer these classifications:
{preferred_entity_classifications}
- When none of them fits, use a short, general classification: one or two words, singular.
- Dates, numbers, quantities and measures are not entities; they are attribute values.
- Give each entity the fullest name the propositions use, and always the same name.

Relationships and attributes:
- Under each proposition, list its relationships between entities of its topic as entity|RELATIONSHIP|entity, and its attributes as entity|ATTRIBUTE|value.
- Name relationships and attributes in UPPER_SNAKE_CASE, in one or two words, in the present tense (WORKS_FOR, not WORKED_FOR).
- State only what the propositions say.

<propositions>
{text}
</propositions>

Answer in exactly this format, with no other text and no markdown:

topic: the topic
entities:
entity|Classification
proposition: the proposition, word for word
entity-entity relationships:
entity|RELATIONSHIP|entity
entity-attributes:
entity|ATTRIBUTE|value

Repeat the proposition block for each proposition of the topic, and the whole block for each topic.`
}

/**
 * Classification inference, one round: name the entity classifications of a domain from
 * sampled chunks (`{text_chunks}`: each chunk as `<chunk>…</chunk>`, one per line) and the
 * classifications already given (`{existing_classifications}`, one per line). The reference's
 * `DOMAIN_ENTITY_CLASSIFICATIONS_PROMPT`, in its structure, guidelines and output format.
 */
export const inferClassificationsTemplate: PromptTemplate = {
  user:
    `You are an expert system analyzing text to identify domain-specific entity types. Based on the provided text samples and list of existing classifications, identify the 5 most significant entity classifications for this domain.

Guidelines:
1. Identify the most important specific types of entities that appear in or are relevant to the domain
2. Reuse existing classifications where possible
3. Focus on concrete entities, not abstract concepts
4. DO NOT treat numerical values, dates, times, measurements, or object attributes (e.g. size, colour) as entities
5. Use clear, concise classification names (1-2 words)
6. Use the singular, not plural, form for each classification
7. Aim for 5 classifications
8. Format each classification as a single word, or multiple words separated by a space
9. Do not use underscores or any other punctuation

Sample text chunks:
<chunks>
{text_chunks}
</chunks>

Existing classifications:
<existing_classifications>
{existing_classifications}
</existing_classifications>

Output the classifications between entity_classifications tags, one per line.

Expected format:
<entity_classifications>
Classification1
Classification2
Classification3
</entity_classifications>`
}

/**
 * Classification inference, last step: rank (and deduplicate) the classifications every
 * round proposed (`{classifications}`, one per line). The reference's
 * `RANK_ENTITY_CLASSIFICATIONS_PROMPT`.
 */
export const rankClassificationsTemplate: PromptTemplate = {
  user:
    `You are an expert system analyzing text to rank domain-specific entity types. Order the list of entity classifications below, most important classifications first.

Guidelines:
1. If the classifications cover multiple domains, choose high-level classifications across domains, rather than going deep into a single domain
2. Eliminate synonyms
3. Convert plural forms to the singular form, if necessary
4. If you can identify a broader classification that covers several classifications, use the broader classification

Original classifications:
<classifications>
{classifications}
</classifications>

Output the ranked classifications between entity_classifications tags, one per line.

Expected format:
<entity_classifications>
Classification1
Classification2
Classification3
</entity_classifications>`
}

/** The placeholders of the inference template (the stages' are not filled in there). */
const inferencePlaceholders: ReadonlyArray<Placeholder> = ["text_chunks", "existing_classifications"]

/**
 * Why a template cannot be used for classification inference, or `undefined` when it is
 * fine: it must hold `{text_chunks}` (the sample), and may hold `{existing_classifications}`;
 * the stages' placeholders are not filled in there, so a template naming them is a mistake.
 */
export const inferenceTemplateProblem = (template: PromptTemplate): string | undefined => {
  const text = `${template.system ?? ""}\n${template.user}`
  if (!text.includes("{text_chunks}")) return "the template has no {text_chunks} placeholder (the sampled chunks)"
  const foreign = placeholders.filter((name) => !inferencePlaceholders.includes(name) && text.includes(`{${name}}`))
  return foreign.length === 0 ?
    undefined :
    `{${foreign.join("}, {")}} ${
      foreign.length === 1 ? "is" : "are"
    } not filled in in this prompt (its placeholders are {text_chunks} and {existing_classifications})`
}

/** Why a template cannot be used for a stage, or `undefined` when it is fine. */
export const templateProblem = (template: PromptTemplate): string | undefined =>
  template.user.includes("{text}") || template.system?.includes("{text}") === true
    ? undefined
    : "the template has no {text} placeholder"

const placeholderPattern = new RegExp(`\\{(${placeholders.join("|")})\\}`, "g")

/** Fill a template in one pass; placeholders without a value are left as they are. */
export const render = (
  template: PromptTemplate,
  values: Partial<Record<Placeholder, string>>
): ModelFamily.Prompt => {
  const fill = (text: string) => text.replace(placeholderPattern, (match, name: Placeholder) => values[name] ?? match)
  return template.system === undefined
    ? { user: fill(template.user) }
    : { system: fill(template.system), user: fill(template.user) }
}

/** The source information of a chunk: its document's metadata values, one per line (as the reference). */
export const sourceInfo = (metadata: Metadata): string =>
  Object.values(metadata).map((value) => Ids.pythonStr(value)).join("\n")

const listOrNone = (values: ReadonlyArray<string>): string => (values.length === 0 ? "none" : values.join("\n"))

/** Options of the proposition stage. */
export interface PropositionsOptions {
  readonly template?: PromptTemplate | undefined
}

/** Options of the topic stage. */
export interface TopicsOptions {
  readonly template?: PromptTemplate | undefined
  /** Default: {@link defaultEntityClassifications}. */
  readonly preferredEntityClassifications?: ReadonlyArray<string> | undefined
  /** Default: none. */
  readonly preferredTopics?: ReadonlyArray<string> | undefined
}

/** What the stages need of a chunk (a `Chunker.Chunk` fits). */
export interface ChunkInput {
  readonly id: string
  readonly text: string
  /** The metadata the source information is printed from (the document's). */
  readonly metadata: Metadata
}

/** The stage-1 prompt of a chunk. */
export const propositionsPrompt = (chunk: ChunkInput, options: PropositionsOptions = {}): ModelFamily.Prompt =>
  render(options.template ?? propositionsTemplate, { text: chunk.text, source_info: sourceInfo(chunk.metadata) })

/**
 * The stage-2 prompt of a chunk: its propositions, or its text when there are none
 * (`enablePropositionExtraction: false`, or stage 1 produced nothing).
 */
export const topicsPrompt = (
  chunk: ChunkInput,
  propositions: ReadonlyArray<string> | undefined,
  options: TopicsOptions = {}
): ModelFamily.Prompt =>
  render(options.template ?? topicsTemplate, {
    text: Propositions.topicsInput(propositions, chunk.text),
    preferred_entity_classifications: listOrNone(
      options.preferredEntityClassifications ?? defaultEntityClassifications
    ),
    preferred_topics: listOrNone(options.preferredTopics ?? [])
  })

/** A batch record (`{recordId, modelInput}`, the JSONL line of a batch input file). */
export interface StageRecord {
  readonly recordId: string
  readonly modelInput: Record<string, unknown>
}

/** The stage-1 record of a chunk: its id and the family's request body for its prompt. */
export const propositionsRecord = (
  chunk: ChunkInput,
  family: ModelFamily.ModelFamily,
  parameters: ModelFamily.InferenceParameters,
  options: PropositionsOptions = {}
): StageRecord => ({
  recordId: chunk.id,
  modelInput: family.buildRequest(propositionsPrompt(chunk, options), parameters)
})

/** The stage-2 record of a chunk, from its propositions (or its text when there are none). */
export const topicsRecord = (
  chunk: ChunkInput,
  propositions: ReadonlyArray<string> | undefined,
  family: ModelFamily.ModelFamily,
  parameters: ModelFamily.InferenceParameters,
  options: TopicsOptions = {}
): StageRecord => ({
  recordId: chunk.id,
  modelInput: family.buildRequest(topicsPrompt(chunk, propositions, options), parameters)
})
