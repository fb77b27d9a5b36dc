/**
 * The topic stage's data model (topics → entities, statements → facts) as Schemas, and the
 * parser of the model's line grammar into it.
 *
 * The model is the reference's (`graphrag_toolkit.lexical_graph.indexing.model`), stored as
 * `metadata["aws::graph::topics"] = { topics: Topic[] }`, with every id `null` at extract
 * time (the build stage computes them).
 *
 * The grammar (EXTRACTION.md):
 *
 * ```
 * topic: <topic>
 * entities:
 * <entity>|<classification>
 * proposition: <statement text>
 * entity-entity relationships:
 * <entity>|<RELATION>|<entity>
 * entity-attributes:
 * <entity>|<ATTRIBUTE>|<value>
 * ```
 *
 * Parsing follows the reference with its bugs fixed:
 * - headers are recognised case-insensitively and through markdown (`**Topic:**`, `## topic:`,
 *   `- entities:`); only the first `:` separates a header from its value, so `10:30` stays;
 * - a statement with no fact and no detail is kept; a topic with neither entities nor
 *   statements is dropped (and reported, unless it is the implicit `context` topic);
 * - only a trailing parenthesised suffix is stripped from an entity (`Alpha (x) and Beta (y)`
 *   keeps `Alpha (x) and Beta`, where the reference kept `Alpha`); `|`-separated parts are
 *   trimmed;
 * - every line the grammar cannot place is a {@link ParseDiagnostic}, never dropped silently.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as ParseDiagnostic from "./ParseDiagnostic.ts"

// -----------------------------------------------------------------------------
// Model
// -----------------------------------------------------------------------------

/** The metadata key of a chunk's topics. */
export const metadataKey = "aws::graph::topics"

/** The topic of statements written before any `topic:` line. */
export const defaultTopic = "context"

/** The classification of an entity that is local to a statement (not declared in its topic). */
export const localEntityClassification = "__Local_Entity__"

/** An entity: a value and its classification. */
export const Entity = Schema.Struct({
  entityId: Schema.Null,
  value: Schema.String,
  classification: Schema.String
})
/** An entity. */
export type Entity = typeof Entity.Type

/** The predicate of a fact (the reference's `Relation`). */
export const Predicate = Schema.Struct({ value: Schema.String })
/** The predicate of a fact. */
export type Predicate = typeof Predicate.Type

/**
 * A fact: subject, predicate, and either an object (a declared entity) or a complement (a
 * local entity).
 */
export const Fact = Schema.Struct({
  factId: Schema.Null,
  statementId: Schema.Null,
  subject: Entity,
  predicate: Predicate,
  object: Schema.NullOr(Entity),
  complement: Schema.NullOr(Entity)
})
/** A fact. */
export type Fact = typeof Fact.Type

/** A statement (a proposition assigned to a topic), its details and facts. */
export const Statement = Schema.Struct({
  statementId: Schema.Null,
  topicId: Schema.Null,
  chunkId: Schema.Null,
  value: Schema.String,
  details: Schema.Array(Schema.String),
  facts: Schema.Array(Fact)
})
/** A statement. */
export type Statement = typeof Statement.Type

/** A topic, its entities and statements. */
export const Topic = Schema.Struct({
  topicId: Schema.Null,
  chunkIds: Schema.Array(Schema.String),
  value: Schema.String,
  entities: Schema.Array(Entity),
  statements: Schema.Array(Statement)
})
/** A topic. */
export type Topic = typeof Topic.Type

/** What a chunk stores under `aws::graph::topics`. */
export const TopicCollection = Schema.Struct({ topics: Schema.Array(Topic) })
/** What a chunk stores under `aws::graph::topics`. */
export type TopicCollection = typeof TopicCollection.Type

/** No topics: what a chunk whose topic extraction failed stores. */
export const empty: TopicCollection = { topics: [] }

/** An entity (ids null). */
export const entity = (value: string, classification: string): Entity => ({ entityId: null, value, classification })

/** A local entity (`__Local_Entity__`). */
export const localEntity = (value: string): Entity => entity(value, localEntityClassification)

// -----------------------------------------------------------------------------
// Normalisation (the reference's helpers, fixed)
// -----------------------------------------------------------------------------

/** `_` → space (the reference's `format_value`). */
export const formatValue = (s: string): string => s.replace(/_/g, " ")

/** Python's `str.title()`: each run of cased letters starts upper case, the rest lower case. */
export const pythonTitle = (s: string): string => {
  let out = ""
  let previousCased = false
  for (const ch of s) {
    const cased = ch.toLowerCase() !== ch.toUpperCase()
    out += cased ? (previousCased ? ch.toLowerCase() : ch.toUpperCase()) : ch
    previousCased = cased
  }
  return out
}

/** A classification: `_` → space, Title Case. */
export const formatClassification = (s: string): string => pythonTitle(formatValue(s).trim())

const articles = ["a ", "an ", "the "]

/**
 * An entity value as declared and as looked up: `_` → space, a trailing parenthesised suffix
 * removed, spaces collapsed, one leading article removed.
 */
export const cleanEntity = (s: string): string => {
  const value = formatValue(s).replace(/\s*\([^()]*\)\s*$/, "").replace(/\s+/g, " ").trim()
  const lower = value.toLowerCase()
  for (const article of articles) {
    if (lower.startsWith(article)) return value.slice(article.length).trim()
  }
  return value
}

// -----------------------------------------------------------------------------
// Parser
// -----------------------------------------------------------------------------

/** A parsed topic-stage answer: the topics and what could not be used. */
export interface ParsedTopics {
  readonly topics: TopicCollection
  readonly diagnostics: ReadonlyArray<ParseDiagnostic.ParseDiagnostic>
}

type Header =
  | { readonly kind: "topic" | "proposition"; readonly value: string }
  | { readonly kind: "entities" | "relationships"; readonly value: string }

// Leading markdown (quote, heading, emphasis, bullet), a known header name, optional closing
// emphasis, then the first colon.
const headerPattern = /^[\s>#*_`~+•-]*(topic|proposition|entities|entity[- ][a-z -]*)[\s*_`~]*:(.*)$/i
const decoration = /^[\s*_`~]+|[\s*_`~]+$/g

const readHeader = (line: string): Header | undefined => {
  const match = headerPattern.exec(line)
  if (match === null) return undefined
  const name = match[1]!.toLowerCase()
  const value = match[2]!.replace(decoration, "")
  if (name === "topic" || name === "proposition") return { kind: name, value }
  if (name === "entities") return { kind: "entities", value }
  return { kind: "relationships", value }
}

// Code fences and horizontal rules carry nothing.
const ignorable = /^(`{3,}.*|~{3,}.*|[-*_=]{3,})$/
const bullet = /^[-*•+]\s+/

interface MutableStatement {
  readonly value: string
  readonly details: Array<string>
  readonly facts: Array<Fact>
}

interface MutableTopic {
  readonly value: string
  readonly line: number
  readonly entities: Map<string, Entity>
  readonly statements: Array<MutableStatement>
}

const toStatement = (s: MutableStatement): Statement => ({
  statementId: null,
  topicId: null,
  chunkId: null,
  value: s.value,
  details: s.details,
  facts: s.facts
})

const fact = (subject: Entity, predicate: string, object: Entity | null, complement: Entity | null): Fact => ({
  factId: null,
  statementId: null,
  subject,
  predicate: { value: predicate },
  object,
  complement
})

/** Parse a topic-stage answer into the topic model. Never fails; see the module doc for the rules. */
export const parse = (raw: string): ParsedTopics => {
  const diagnostics: Array<ParseDiagnostic.ParseDiagnostic> = []
  const topics: Array<Topic> = []
  let topic: MutableTopic = { value: defaultTopic, line: 0, entities: new Map(), statements: [] }
  let statement: MutableStatement | undefined
  let state: "none" | "entities" | "relationships" = "none"

  const closeTopic = () => {
    if (topic.entities.size > 0 || topic.statements.length > 0) {
      topics.push({
        topicId: null,
        chunkIds: [],
        value: topic.value,
        entities: [...topic.entities.values()],
        statements: topic.statements.map(toStatement)
      })
    } else if (topic.line > 0) {
      diagnostics.push(ParseDiagnostic.make(topic.line, `topic: ${topic.value}`, "EmptyTopic"))
    }
  }

  const lines = raw.split(/\r?\n/)
  if (raw.trim() === "") diagnostics.push(ParseDiagnostic.make(0, "", "EmptyOutput"))

  lines.forEach((rawLine, index) => {
    const lineNumber = index + 1
    const line = rawLine.trim()
    if (line === "" || ignorable.test(line)) return
    const report = (reason: ParseDiagnostic.Reason) => diagnostics.push(ParseDiagnostic.make(lineNumber, line, reason))

    const header = readHeader(line)
    if (header !== undefined) {
      switch (header.kind) {
        case "topic": {
          closeTopic()
          statement = undefined
          state = "none"
          const value = formatValue(header.value).trim().replace(/\.$/, "")
          if (value === "") report("EmptyValue")
          topic = { value: value === "" ? defaultTopic : value, line: lineNumber, entities: new Map(), statements: [] }
          return
        }
        case "proposition": {
          const value = formatValue(header.value).trim()
          state = "relationships"
          if (value === "") {
            report("EmptyValue")
            statement = undefined
            return
          }
          statement = { value, details: [], facts: [] }
          topic.statements.push(statement)
          return
        }
        case "entities":
          state = "entities"
          if (header.value !== "") parseEntity(header.value)
          return
        case "relationships":
          state = "relationships"
          if (header.value !== "") parseRelationship(header.value)
          return
      }
    }

    const content = line.replace(bullet, "").trim()
    if (state === "entities") parseEntity(content)
    else if (state === "relationships") parseRelationship(content)
    else report("UnexpectedLine")

    function parseEntity(text: string) {
      const parts = text.split("|")
      const value = parts.length === 2 ? cleanEntity(parts[0]!) : ""
      const classification = parts.length === 2 ? formatClassification(parts[1]!) : ""
      if (value === "" || classification === "") {
        report("UnparseableEntity")
        return
      }
      if (!topic.entities.has(value)) topic.entities.set(value, entity(value, classification))
    }

    function parseRelationship(text: string) {
      if (statement === undefined) {
        report("NoStatement")
        return
      }
      const parts = text.split("|").map((part) => formatValue(part).replace(/\s+/g, " ").trim())
      if (parts.length === 3 && parts.every((part) => part !== "")) {
        const [s, p, o] = parts as [string, string, string]
        const subject = topic.entities.get(cleanEntity(s))
        const object = topic.entities.get(cleanEntity(o))
        if (subject !== undefined && object !== undefined) {
          statement.facts.push(fact(subject, p, object, null))
        } else if (subject !== undefined) {
          statement.facts.push(fact(subject, p, null, localEntity(o)))
        } else {
          statement.facts.push(fact(localEntity(s), p, null, localEntity(o)))
          statement.details.push(`${s} ${p} ${o}`)
        }
        return
      }
      const detail = parts.filter((part) => part !== "").join(" ")
      if (detail === "") report("NoStatement")
      else statement.details.push(detail)
    }
  })
  closeTopic()
  return { topics: { topics }, diagnostics }
}
