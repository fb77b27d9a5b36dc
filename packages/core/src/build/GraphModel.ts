/**
 * The lexical graph of extracted chunks: the reference's nodes, edges, labels, properties and
 * ids (graphrag-toolkit's build stage), derived as plain values, before any store is involved.
 *
 * When to use: {@link build} turns the `TextNode`s of a corpus (as read from
 * `<dir>/<collection>/<sourceId>/*.json`, or made from {@link ExtractedChunk}s with
 * {@link fromExtracted}) into one {@link Graph}; {@link contribution} gives what a single chunk
 * contributes, so a store can replace one chunk without rebuilding the corpus.
 *
 * Design — contributions:
 * - Every node and edge is a pure function of **one chunk** (plus the build timestamp on the
 *   source). A chunk's {@link Contribution} is its nodes, edges and embedding texts; a graph is
 *   the union of contributions, merged by id. Every node and edge records the chunks that
 *   contributed it (`chunkIds`).
 * - Replacing a chunk is therefore expressible per chunk: remove the chunk from every element's
 *   `chunkIds`, delete the elements left with none, and upsert the new contribution (what
 *   `GraphStore.replaceChunk` does). Nothing another chunk contributed is touched.
 * - Ids are stable: nodes carry the reference's ids (md5 of normalised values, see
 *   {@link nodeId}); an edge's id is the md5 of its label, endpoints and `value`, so the same edge
 *   always gets the same id and upserts by id are idempotent.
 * - Properties of an element contributed by several chunks: within one {@link build}, for each
 *   key, the first contribution in {@link compareOrder canonical chunk order} wins (the
 *   reference's "first occurrence", with a fixed order). A store applies writes per key, last
 *   writer wins (as MERGE + SET does), so after a replacement a shared element carries the new
 *   chunk's values; only variants of one id (case variants of a value, another statement's
 *   details) can differ from a full rebuild.
 *
 * Decisions on the reference's bugs and order-dependent edges (BUILD.md §9), also listed in
 * README.md ("How the graph differs from the reference's"):
 * - §9.8 order: a statement is `__MENTIONED_IN__` **every** chunk it appears in (the reference
 *   links only the first chunk read, in unsorted directory order); a statement's `__PREVIOUS__`
 *   is the previous distinct statement of the same topic in the **same chunk** (repeats within
 *   the chunk skipped, as the reference does), independent of other chunks; property values come
 *   from the first chunk in canonical order: source id, then `start_char_idx` (document order,
 *   missing last), then chunk id.
 * - §9.7: `relationships["5"]` (CHILD) is a list: one `__CHILD__` edge per child.
 * - §9.2: `__Fact__.relation` is not written (the reference never sets it either); the
 *   predicate lives on `__RELATION__`.
 * - §9.4: `__SYS_Class__` and `__SYS_RELATION__` carry no `count` (an aggregate over the corpus
 *   cannot be an idempotent per-chunk upsert; count edges with a query instead).
 * - §9.5: identity is exact: predicates differing only in case give two `__RELATION__` edges.
 * - §9.9: a chunk without `aws::graph::topics` yields nothing, as in the reference, but is
 *   reported in {@link Graph.skipped}; declared entities that appear in no fact get no node;
 *   facts with a local subject get a `__Fact__` and no entity edges; a chunk-to-chunk edge to a
 *   chunk never built creates a bare `__Chunk__` (contributed by the chunk that points at it).
 * - §9.10: a chunk of the wrong shape is an {@link InvalidInput} naming every bad chunk (the
 *   model is pure, so nothing is half-written); `null` under a `*_date` key is dropped instead of
 *   crashing; booleans stay booleans (the reference stores 1/0).
 * - §9.13: texts are embedded as they are (no JSON-to-YAML rewrite).
 * - Dates: only ISO 8601 values under `*_date`/`*_datetime` keys are converted (`2025-02-12` →
 *   `2025-02-12T00:00:00`); other strings stay text (the reference's `dateutil` also guesses
 *   free-form dates, filling missing fields from today's date).
 * - §9.3: local entities never become nodes (the reference's default), so the broken
 *   LocalEntityRewrites has nothing to do and is not reproduced.
 * - §9.15 and §7: no VersionManager: `valid_from` is the chunk's own value or its extract
 *   timestamp, `valid_to` the upper bound, `prev_versions` empty.
 * - Not modelled: tenants, domain labels, build filters, chunk external properties — the
 *   reference's defaults apply. §9.1, §9.6, §9.11, §9.14 are decided in `OpenCypher` and
 *   `GraphStore`, §9.12 in `VectorStore`.
 *
 * @since 0.1.0
 */
import { Data, Result, Schema } from "effect"
import * as ExtractedChunk from "../extraction/ExtractedChunk.ts"
import * as Ids from "../extraction/Ids.ts"
import * as TextNode from "../extraction/TextNode.ts"
import * as Topics from "../extraction/Topics.ts"

// -----------------------------------------------------------------------------
// Labels and ids
// -----------------------------------------------------------------------------

/** The node labels the reference writes (default tenant). */
export const NodeLabel = {
  Source: "__Source__",
  Chunk: "__Chunk__",
  Topic: "__Topic__",
  Statement: "__Statement__",
  Fact: "__Fact__",
  Entity: "__Entity__",
  SysClass: "__SYS_Class__"
} as const
/** A node label. */
export type NodeLabel = typeof NodeLabel[keyof typeof NodeLabel]

/** The relationship types the reference writes (never tenant-suffixed). */
export const EdgeLabel = {
  ExtractedFrom: "__EXTRACTED_FROM__",
  Parent: "__PARENT__",
  Child: "__CHILD__",
  Previous: "__PREVIOUS__",
  Next: "__NEXT__",
  MentionedIn: "__MENTIONED_IN__",
  BelongsTo: "__BELONGS_TO__",
  Supports: "__SUPPORTS__",
  Subject: "__SUBJECT__",
  Object: "__OBJECT__",
  Relation: "__RELATION__",
  SysRelation: "__SYS_RELATION__"
} as const
/** An edge label (relationship type). */
export type EdgeLabel = typeof EdgeLabel[keyof typeof EdgeLabel]

/** Every node label, in the reference's build order (for reports that list all labels). */
export const nodeLabels: ReadonlyArray<NodeLabel> = Object.values(NodeLabel)

/** Every edge label (for reports that list all labels). */
export const edgeLabels: ReadonlyArray<EdgeLabel> = Object.values(EdgeLabel)

/**
 * The property holding a node's id on property-keyed stores (Neo4j, FalkorDB, AGE); Neptune
 * uses the vertex `~id` instead.
 */
export const idKeys: { readonly [L in NodeLabel]: string } = {
  __Source__: "sourceId",
  __Chunk__: "chunkId",
  __Topic__: "topicId",
  __Statement__: "statementId",
  __Fact__: "factId",
  __Entity__: "entityId",
  __SYS_Class__: "sysClassId"
}

/** The classification of an entity without one (the reference's `DEFAULT_CLASSIFICATION`). */
export const defaultClassification = "unknown"

/** `valid_to` of a source without versioning (the reference's `TIMESTAMP_UPPER_BOUND`). */
export const validToUpperBound = 10_000_000_000_000

/** The reference's versioning metadata keys, as source properties. */
export const VersioningKey = {
  extractTimestamp: "__aws__versioning__extract_timestamp__",
  buildTimestamp: "__aws__versioning__build_timestamp__",
  validFrom: "__aws__versioning__valid_from__",
  validTo: "__aws__versioning__valid_to__",
  idFields: "__aws__versioning__id_fields__",
  prevVersions: "__aws__versioning__prev_versions__"
} as const

/**
 * The reference's value normalisation inside hashed ids: full-Unicode lower case, then every
 * U+0020 → `_` (tabs and newlines stay).
 */
export const normalise = (value: string): string => value.toLowerCase().replace(/ /g, "_")

/**
 * A derived node id: md5 of `type::norm(v1)[::norm(v2)]` (an empty `v2` is dropped), default
 * tenant.
 */
export const nodeId = (type: string, v1: string, v2?: string | null): string =>
  Ids.md5Hex(
    v2 !== undefined && v2 !== null && v2 !== ""
      ? `${type.toLowerCase()}::${normalise(v1)}::${normalise(v2)}`
      : `${type.toLowerCase()}::${normalise(v1)}`
  )

/** A topic's id: per source, so the same topic in two chunks of a source is one node. */
export const topicId = (sourceId: string, topic: string): string => nodeId("topic", sourceId, topic)

/** A statement's id: per topic. */
export const statementId = (topic: string, statement: string): string => nodeId("statement", topic, statement)

/** A fact's id: global, so the same fact text in two sources is one node. */
export const factId = (factValue: string): string => nodeId("fact", factValue)

/** An entity's id (classification included, the reference's default). */
export const entityId = (value: string, classification: string): string => nodeId("entity", value, classification)

/** A local entity's id (per source). Local entities never become nodes by default. */
export const localEntityId = (sourceId: string, value: string): string => nodeId("local-entity", value, sourceId)

/** A classification node's id: not hashed, not lower-cased. */
export const sysClassId = (classification: string): string =>
  `sys_class::${classification === "" ? defaultClassification : classification}`

/** An edge's id: md5 of its label, endpoint ids and `value` (the reference's MERGE key). */
export const edgeId = (label: EdgeLabel, from: string, to: string, value?: string): string =>
  Ids.md5Hex(JSON.stringify(value === undefined ? [label, from, to] : [label, from, to, value]))

// -----------------------------------------------------------------------------
// Text helpers (the reference's graph_utils)
// -----------------------------------------------------------------------------

const nonWord = /([^\s\p{L}\p{N}]|_)+/gu

/**
 * An entity's `search_str`: runs of non-word characters (and `_`) → space, double spaces
 * collapsed, lower case, trimmed.
 */
export const searchString = (value: string): string => {
  let out = value.replace(nonWord, " ")
  while (out.includes("  ")) out = out.replace(/ {2}/g, " ")
  return out.toLowerCase().trim()
}

/**
 * A classification's label (`Sports Team` → `SportsTeam`, `DB cluster` → `DbCluster`); `__…__`
 * values are kept as they are.
 */
export const labelFrom = (value: string): string => {
  if (value.startsWith("__") && value.endsWith("__")) return value
  return value
    .replace(nonWord, " ")
    .split(/\s+/)
    .filter((word) => word !== "")
    .map((word) => {
      const [first = "", ...rest] = Array.from(word)
      return first.toUpperCase() + rest.join("").toLowerCase()
    })
    .join("")
}

/** A predicate as a `__SYS_RELATION__` value: non-alphanumerics → `_`, upper case. */
export const relationshipName = (value: string): string =>
  Array.from(value, (c) => /[\p{L}\p{N}]/u.test(c) ? c : "_").join("").toUpperCase()

// -----------------------------------------------------------------------------
// Source metadata
// -----------------------------------------------------------------------------

/** A property value a store can hold. */
export type PropertyValue = string | number | boolean

/** A node's or edge's properties. */
export type Properties = { readonly [key: string]: PropertyValue }

/** The key suffixes that mark a date (the reference's `metadata_datetime_suffixes` default). */
export const datetimeSuffixes: ReadonlyArray<string> = ["_date", "_datetime"]

const isoDate =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i

const daysInMonth = (year: number, month: number): number => new Date(Date.UTC(year, month, 0)).getUTCDate()

/**
 * An ISO 8601 date or datetime as the reference stores it (`YYYY-MM-DDTHH:MM:SS`, fractions
 * dropped, an offset kept as `±HH:MM`, `Z` → `+00:00`), or `undefined` when the text is not one.
 */
export const formatDatetime = (text: string): string | undefined => {
  const match = isoDate.exec(text.trim())
  if (match === null) return undefined
  const [, y, mo, d, h = "00", mi = "00", s = "00", zone] = match
  const year = Number(y)
  const month = Number(mo)
  const day = Number(d)
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined
  if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return undefined
  let offset = ""
  if (zone !== undefined) {
    if (zone.toUpperCase() === "Z") {
      offset = "+00:00"
    } else {
      const digits = zone.slice(1).replace(":", "")
      offset = `${zone[0]}${digits.slice(0, 2)}:${digits.length > 2 ? digits.slice(2) : "00"}`
    }
  }
  return `${y}-${mo}-${d}T${h}:${mi}:${s}${offset}`
}

/**
 * A source's properties from its metadata: keys trimmed, spaces → `_`; list and object values
 * dropped (as the reference does); `null` dropped; ISO dates under `*_date`/`*_datetime` keys
 * converted; numbers, booleans and other strings kept. A key named `sourceId` is dropped (it
 * would overwrite the id).
 */
export const sourceProperties = (metadata: { readonly [key: string]: unknown }): Properties => {
  const properties: Record<string, PropertyValue> = {}
  for (const [rawKey, value] of Object.entries(metadata)) {
    const key = rawKey.trim().replace(/ /g, "_")
    if (key === idKeys.__Source__) continue
    if (typeof value === "number" || typeof value === "boolean") {
      properties[key] = value
    } else if (typeof value === "string") {
      const isDateKey = datetimeSuffixes.some((suffix) => rawKey.endsWith(suffix))
      properties[key] = isDateKey ? formatDatetime(value) ?? value : value
    }
  }
  return properties
}

// -----------------------------------------------------------------------------
// Model
// -----------------------------------------------------------------------------

/** A node's identity: label and id. */
export interface NodeRef {
  readonly label: NodeLabel
  readonly id: string
}

/** A node: identity, properties (without the id key) and the chunks that contributed it. */
export interface GraphNode extends NodeRef {
  readonly properties: Properties
  readonly chunkIds: ReadonlyArray<string>
}

/**
 * An edge. `value` (on `__RELATION__` and `__SYS_RELATION__`) is part of its identity, as in
 * the reference's MERGE; edges have no other properties.
 */
export interface GraphEdge {
  readonly id: string
  readonly label: EdgeLabel
  readonly from: NodeRef
  readonly to: NodeRef
  readonly value?: string | undefined
  readonly chunkIds: ReadonlyArray<string>
}

/** The vector indexes of the reference (`topic` is optional there). */
export type EmbeddingIndex = "chunk" | "statement" | "topic"

/** A text to embed into a vector index, keyed by the node it belongs to. */
export interface Embedding {
  readonly index: EmbeddingIndex
  readonly id: string
  readonly text: string
  readonly chunkIds: ReadonlyArray<string>
}

/** A topic as one chunk sees it: what the topic's embedding text is made of. */
export interface TopicStatements {
  readonly topicId: string
  readonly value: string
  /** `value` or `value (d1, d2)` per statement, deduped, first-seen order. */
  readonly statements: ReadonlyArray<string>
}

/** Where a chunk sorts: source id, then document position (missing last), then chunk id. */
export interface ChunkOrder {
  readonly sourceId: string
  readonly startCharIdx: number | null
  readonly chunkId: string
}

/** What one chunk contributes to the graph. */
export interface Contribution {
  readonly chunkId: string
  readonly order: ChunkOrder
  readonly nodes: ReadonlyArray<GraphNode>
  readonly edges: ReadonlyArray<GraphEdge>
  /** The chunk's and its statements' texts (topics are in {@link topics}). */
  readonly embeddings: ReadonlyArray<Embedding>
  readonly topics: ReadonlyArray<TopicStatements>
}

/** The lexical graph of a set of chunks. */
export interface Graph {
  readonly nodes: ReadonlyArray<GraphNode>
  readonly edges: ReadonlyArray<GraphEdge>
  /** Texts to embed: one per chunk, statement and topic. */
  readonly embeddings: ReadonlyArray<Embedding>
  /** Chunks without `aws::graph::topics`: they contribute nothing (as in the reference). */
  readonly skipped: ReadonlyArray<string>
}

/** Options of a build. */
export interface Options {
  /**
   * The build time (epoch ms, from `Clock`): the source's `build_timestamp`, and its extract
   * timestamp when the chunk has none.
   */
  readonly buildTimestamp: number
}

/** One chunk that cannot be built, and why. */
export interface ChunkProblem {
  readonly chunkId: string
  readonly message: string
}

/** Chunks of the wrong shape: the build writes nothing and names every bad chunk. */
export class InvalidInput extends Data.TaggedError("InvalidInput")<{
  readonly problems: ReadonlyArray<ChunkProblem>
  readonly message: string
}> {}

const invalid = (problems: ReadonlyArray<ChunkProblem>): InvalidInput =>
  new InvalidInput({
    problems,
    message: problems.map((problem) => `${problem.chunkId}: ${problem.message}`).join("; ")
  })

// -----------------------------------------------------------------------------
// Input
// -----------------------------------------------------------------------------

/**
 * A chunk file as the build reads it: a {@link TextNode.TextNode} whose relationships may also
 * be lists (LlamaIndex stores CHILD, `"5"`, as a list). Every `TextNode` is one.
 */
export const ChunkInput = Schema.Struct({
  ...TextNode.TextNode.fields,
  relationships: Schema.Record(
    Schema.String,
    Schema.Union([TextNode.RelatedNodeInfo, Schema.Array(TextNode.RelatedNodeInfo)])
  )
})
/** A chunk file as the build reads it. */
export type ChunkInput = typeof ChunkInput.Type

const decodeInput = Schema.decodeUnknownResult(ChunkInput)
const decodeTopics = Schema.decodeUnknownResult(Topics.TopicCollection)

/** Check a parsed chunk file (e.g. `JSON.parse` of `<chunkId>.json`). */
export const decodeChunk = (value: unknown): Result.Result<ChunkInput, InvalidInput> =>
  Result.mapError(decodeInput(value), (cause) => {
    const id = typeof value === "object" && value !== null && "id_" in value ? String(value.id_) : "(no id_)"
    return invalid([{ chunkId: id, message: `not a TextNode: ${cause.message}` }])
  })

/** The chunk file of an extracted chunk (what the sinks write), ready to build. */
export const fromExtracted = (extracted: ExtractedChunk.ExtractedChunk): ChunkInput => TextNode.fromExtracted(extracted)

/** Canonical chunk order (see {@link ChunkOrder}); code-unit order on ids. */
export const compareOrder = (a: ChunkOrder, b: ChunkOrder): number => {
  if (a.sourceId !== b.sourceId) return a.sourceId < b.sourceId ? -1 : 1
  if (a.startCharIdx !== b.startCharIdx) {
    if (a.startCharIdx === null) return 1
    if (b.startCharIdx === null) return -1
    return a.startCharIdx - b.startCharIdx
  }
  if (a.chunkId !== b.chunkId) return a.chunkId < b.chunkId ? -1 : 1
  return 0
}

// -----------------------------------------------------------------------------
// One chunk
// -----------------------------------------------------------------------------

/** LlamaIndex's relationship keys for chunk-to-chunk edges. */
const chunkRelationships: ReadonlyArray<readonly [string, EdgeLabel]> = [
  ["2", EdgeLabel.Previous],
  ["3", EdgeLabel.Next],
  ["4", EdgeLabel.Parent],
  ["5", EdgeLabel.Child]
]

const statementString = (statement: Topics.Statement): string =>
  statement.details.length === 0 ? statement.value : `${statement.value} (${statement.details.join(", ")})`

const statementText = (statement: Topics.Statement): string =>
  statement.details.length === 0 ? statement.value : `${statement.value}\n\n${statement.details.join("\n")}`

/** Accumulates one chunk's elements, first occurrence wins. */
class ContributionBuilder {
  readonly nodes = new Map<string, GraphNode>()
  readonly edges = new Map<string, GraphEdge>()
  readonly chunkId: string
  constructor(chunkId: string) {
    this.chunkId = chunkId
  }

  node(label: NodeLabel, id: string, properties: Properties = {}): NodeRef {
    const existing = this.nodes.get(id)
    if (existing === undefined) {
      this.nodes.set(id, { label, id, properties, chunkIds: [this.chunkId] })
    } else {
      this.nodes.set(id, { ...existing, properties: { ...properties, ...existing.properties } })
    }
    return { label, id }
  }

  edge(label: EdgeLabel, from: NodeRef, to: NodeRef, value?: string): void {
    const id = edgeId(label, from.id, to.id, value)
    if (this.edges.has(id)) return
    this.edges.set(
      id,
      value === undefined
        ? { id, label, from, to, chunkIds: [this.chunkId] }
        : { id, label, from, to, value, chunkIds: [this.chunkId] }
    )
  }
}

type Related = ChunkInput["relationships"][string]

const isList = (related: Related): related is ReadonlyArray<TextNode.RelatedNodeInfo> => Array.isArray(related)

const relatedIds = (related: Related | undefined): ReadonlyArray<string> =>
  related === undefined ? [] : isList(related) ? related.map((r) => r.node_id) : [related.node_id]

const sourceVersioning = (chunk: ChunkInput, buildTimestamp: number): Properties => {
  const metadata = chunk.metadata
  const extract = metadata[ExtractedChunk.extractTimestampKey]
  const extractTimestamp = typeof extract === "number" ? extract : buildTimestamp
  const validFrom = metadata[VersioningKey.validFrom]
  const idFields = metadata[VersioningKey.idFields]
  const properties: Record<string, PropertyValue> = {
    [VersioningKey.extractTimestamp]: extractTimestamp,
    [VersioningKey.buildTimestamp]: buildTimestamp,
    [VersioningKey.validFrom]: typeof validFrom === "number" ? validFrom : extractTimestamp,
    [VersioningKey.validTo]: validToUpperBound,
    [VersioningKey.prevVersions]: ""
  }
  if (typeof idFields === "string") properties[VersioningKey.idFields] = idFields
  if (Array.isArray(idFields)) properties[VersioningKey.idFields] = idFields.map(String).sort().join(";")
  return properties
}

/**
 * What one chunk contributes, or `undefined` for a chunk without `aws::graph::topics` (it
 * yields nothing, as in the reference). Fails when the chunk has no source relationship or its
 * topics do not validate.
 */
export const contribution = (
  chunk: ChunkInput,
  options: Options
): Result.Result<Contribution | undefined, InvalidInput> => {
  const chunkId = chunk.id_
  const rawTopics = chunk.metadata[Topics.metadataKey]
  if (rawTopics === undefined || rawTopics === null) return Result.succeed(undefined)
  const related = chunk.relationships[TextNode.sourceRelationship]
  if (related === undefined || isList(related)) {
    return Result.fail(invalid([{ chunkId, message: `no single source relationship ("1")` }]))
  }
  const decoded = decodeTopics(rawTopics)
  if (Result.isFailure(decoded)) {
    return Result.fail(invalid([{ chunkId, message: `${Topics.metadataKey}: ${decoded.failure.message}` }]))
  }
  const sourceId = related.node_id
  const text = chunk.text.replace(/\x00/g, "")
  const builder = new ContributionBuilder(chunkId)

  // Source and chunk.
  const source = builder.node(NodeLabel.Source, sourceId, {
    ...sourceProperties(related.metadata),
    ...sourceVersioning(chunk, options.buildTimestamp)
  })
  const chunkNode = builder.node(NodeLabel.Chunk, chunkId, { value: text })
  builder.edge(EdgeLabel.ExtractedFrom, chunkNode, source)
  for (const [key, label] of chunkRelationships) {
    for (const target of relatedIds(chunk.relationships[key])) {
      builder.edge(label, chunkNode, builder.node(NodeLabel.Chunk, target))
    }
  }

  const embeddings = new Map<string, Embedding>([[chunkId, { index: "chunk", id: chunkId, text, chunkIds: [chunkId] }]])
  const topics = new Map<string, { value: string; statements: Set<string> }>()

  for (const topic of decoded.success.topics) {
    const topicKey = topicId(sourceId, topic.value)
    const topicNode = builder.node(NodeLabel.Topic, topicKey, { value: topic.value })
    builder.edge(EdgeLabel.MentionedIn, topicNode, chunkNode)
    const summary = topics.get(topicKey) ?? { value: topic.value, statements: new Set<string>() }
    topics.set(topicKey, summary)

    let previous: NodeRef | undefined
    for (const statement of topic.statements) {
      summary.statements.add(statementString(statement))
      const statementKey = statementId(topicKey, statement.value)
      const isNew = !builder.nodes.has(statementKey)
      const statementNode = builder.node(NodeLabel.Statement, statementKey, {
        value: statement.value,
        details: statement.details.join("\n")
      })
      if (isNew) {
        builder.edge(EdgeLabel.MentionedIn, statementNode, chunkNode)
        builder.edge(EdgeLabel.BelongsTo, statementNode, topicNode)
        if (previous !== undefined) builder.edge(EdgeLabel.Previous, statementNode, previous)
        previous = statementNode
        embeddings.set(statementKey, {
          index: "statement",
          id: statementKey,
          text: statementText(statement),
          chunkIds: [chunkId]
        })
      }

      for (const fact of statement.facts) {
        const target = fact.object ?? fact.complement
        if (target === null) {
          return Result.fail(
            invalid([{ chunkId, message: `a fact of "${statement.value}" has no object or complement` }])
          )
        }
        const factValue = `${fact.subject.value} ${fact.predicate.value} ${target.value}`
        const factNode = builder.node(NodeLabel.Fact, factId(factValue), { value: factValue })
        builder.edge(EdgeLabel.Supports, factNode, statementNode)
        if (fact.subject.classification === Topics.localEntityClassification) continue

        const entity = (e: Topics.Entity) =>
          builder.node(NodeLabel.Entity, entityId(e.value, e.classification), {
            value: e.value,
            search_str: searchString(e.value),
            class: e.classification === "" ? defaultClassification : e.classification
          })
        const subject = entity(fact.subject)
        builder.edge(EdgeLabel.Subject, subject, factNode)
        if (fact.object !== null) {
          const object = entity(fact.object)
          builder.edge(EdgeLabel.Object, object, factNode)
          builder.edge(EdgeLabel.Relation, subject, object, fact.predicate.value)
          const sysClass = (classification: string) =>
            builder.node(NodeLabel.SysClass, sysClassId(classification), {
              value: labelFrom(classification === "" ? defaultClassification : classification)
            })
          builder.edge(
            EdgeLabel.SysRelation,
            sysClass(fact.subject.classification),
            sysClass(fact.object.classification),
            relationshipName(fact.predicate.value)
          )
        }
      }
    }
  }

  return Result.succeed({
    chunkId,
    order: { sourceId, startCharIdx: chunk.start_char_idx ?? null, chunkId },
    nodes: [...builder.nodes.values()],
    edges: [...builder.edges.values()],
    embeddings: [...embeddings.values()],
    topics: [...topics].map(([id, summary]) => ({
      topicId: id,
      value: summary.value,
      statements: [...summary.statements]
    }))
  })
}

// -----------------------------------------------------------------------------
// Many chunks
// -----------------------------------------------------------------------------

/** The chunk ids of `a`, then those of `b` not in `a` (order kept; `a` itself when nothing is new). */
export const uniteChunkIds = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): ReadonlyArray<string> => {
  const missing = b.filter((id) => !a.includes(id))
  return missing.length === 0 ? a : [...a, ...missing]
}

/** The text a topic is embedded with: value and statements (the reference's template). */
export const topicText = (value: string, statements: ReadonlyArray<string>): string =>
  statements.length === 0 ? value : `${value}\n\n${statements.join(" ")}`.trim()

/**
 * Merge contributions into a graph, in canonical chunk order whatever the input order: nodes
 * and edges by id (`chunkIds` united, for each property key the first chunk wins), topic texts
 * from every chunk's statements.
 */
export const merge = (contributions: ReadonlyArray<Contribution>, skipped: ReadonlyArray<string> = []): Graph => {
  const ordered = [...contributions].sort((a, b) => compareOrder(a.order, b.order))
  const nodes = new Map<string, GraphNode>()
  const edges = new Map<string, GraphEdge>()
  const embeddings = new Map<string, Embedding>()
  const topics = new Map<string, { value: string; statements: Array<string>; chunkIds: ReadonlyArray<string> }>()
  for (const part of ordered) {
    for (const node of part.nodes) {
      const existing = nodes.get(node.id)
      nodes.set(
        node.id,
        existing === undefined ? node : {
          ...existing,
          properties: { ...node.properties, ...existing.properties },
          chunkIds: uniteChunkIds(existing.chunkIds, node.chunkIds)
        }
      )
    }
    for (const edge of part.edges) {
      const existing = edges.get(edge.id)
      edges.set(
        edge.id,
        existing === undefined ? edge : { ...existing, chunkIds: uniteChunkIds(existing.chunkIds, edge.chunkIds) }
      )
    }
    for (const embedding of part.embeddings) {
      const existing = embeddings.get(embedding.id)
      embeddings.set(
        embedding.id,
        existing === undefined
          ? embedding
          : { ...existing, chunkIds: uniteChunkIds(existing.chunkIds, embedding.chunkIds) }
      )
    }
    for (const topic of part.topics) {
      const existing = topics.get(topic.topicId)
      if (existing === undefined) {
        topics.set(topic.topicId, { value: topic.value, statements: [...topic.statements], chunkIds: [part.chunkId] })
      } else {
        for (const statement of topic.statements) {
          if (!existing.statements.includes(statement)) existing.statements.push(statement)
        }
        existing.chunkIds = uniteChunkIds(existing.chunkIds, [part.chunkId])
      }
    }
  }
  for (const [id, topic] of topics) {
    embeddings.set(id, { index: "topic", id, text: topicText(topic.value, topic.statements), chunkIds: topic.chunkIds })
  }
  return { nodes: [...nodes.values()], edges: [...edges.values()], embeddings: [...embeddings.values()], skipped }
}

/**
 * The graph of a set of chunks (any order; see {@link compareOrder}). Fails, writing nothing,
 * with every bad chunk named (a chunk id seen twice is one of them).
 */
export const build = (
  chunks: Iterable<ChunkInput>,
  options: Options
): Result.Result<Graph, InvalidInput> => {
  const contributions: Array<Contribution> = []
  const skipped: Array<string> = []
  const problems: Array<ChunkProblem> = []
  const seen = new Set<string>()
  for (const chunk of chunks) {
    if (seen.has(chunk.id_)) {
      problems.push({ chunkId: chunk.id_, message: "the same chunk id appears twice" })
      continue
    }
    seen.add(chunk.id_)
    const result = contribution(chunk, options)
    if (Result.isFailure(result)) problems.push(...result.failure.problems)
    else if (result.success === undefined) skipped.push(chunk.id_)
    else contributions.push(result.success)
  }
  return problems.length > 0 ? Result.fail(invalid(problems)) : Result.succeed(merge(contributions, skipped))
}

/** Counts by label, every label present (0 when absent). */
export interface Counts {
  readonly nodes: { readonly [L in NodeLabel]: number }
  readonly edges: { readonly [L in EdgeLabel]: number }
}

/** Zero of every label. */
export const emptyCounts = (): { nodes: Record<NodeLabel, number>; edges: Record<EdgeLabel, number> } => ({
  nodes: Object.fromEntries(nodeLabels.map((label) => [label, 0])) as Record<NodeLabel, number>,
  edges: Object.fromEntries(edgeLabels.map((label) => [label, 0])) as Record<EdgeLabel, number>
})

/** How many nodes and edges of each label a graph (or contribution) has. */
export const counts = (graph: Pick<Graph, "nodes" | "edges">): Counts => {
  const result = emptyCounts()
  for (const node of graph.nodes) result.nodes[node.label] += 1
  for (const edge of graph.edges) result.edges[edge.label] += 1
  return result
}
