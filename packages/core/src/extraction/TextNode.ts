/**
 * The LlamaIndex `TextNode` JSON of an extracted chunk: the file format graphrag-toolkit's
 * extract stage writes and its build stage reads (`TextNode.from_json`).
 *
 * Shape (key order as the reference writes it): `id_`, `embedding: null`, `metadata` (the
 * document's metadata, then `aws::graph::propositions`, `aws::graph::topics` and
 * `__aws__versioning__extract_timestamp__`), `excluded_embed_metadata_keys`,
 * `excluded_llm_metadata_keys`, `relationships` (`"1"`: the source, `node_type: "4"`,
 * `class_name: "RelatedNodeInfo"`), `metadata_template`, `metadata_separator`, `text`,
 * `mimetype`, `start_char_idx`, `end_char_idx`, `metadata_seperator` (LlamaIndex's legacy
 * spelling, kept), `text_template`, `class_name: "TextNode"`.
 *
 * Gotchas:
 * - {@link toJson} escapes every non-ASCII character (`\uXXXX`) and indents by 4, as Python's
 *   `json.dump(..., indent=4)` does: the reference opens files without an encoding, so
 *   ASCII-only files read the same on every platform.
 *
 * @since 0.1.0
 */
import { Data, Result, Schema } from "effect"
import type { Chunk } from "./Chunker.ts"
import type { Metadata } from "./Document.ts"
import * as ExtractedChunk from "./ExtractedChunk.ts"
import * as Propositions from "./Propositions.ts"
import * as Topics from "./Topics.ts"

/** LlamaIndex's `NodeRelationship.SOURCE`. */
export const sourceRelationship = "1"

/** LlamaIndex's `ObjectType.DOCUMENT`: the node type of a chunk's source. */
export const documentNodeType = "4"

/** The text template the reference stamps on extracted chunks. */
export const textTemplate = "[Excerpt from document]\n{metadata_str}\nExcerpt:\n-----\n{content}\n-----\n"

/** A related node (the source document of a chunk). */
export const RelatedNodeInfo = Schema.Struct({
  node_id: Schema.String,
  node_type: Schema.optional(Schema.NullOr(Schema.String)),
  metadata: Schema.Record(Schema.String, Schema.Unknown),
  hash: Schema.optional(Schema.NullOr(Schema.String)),
  class_name: Schema.optional(Schema.String)
})
/** A related node. */
export type RelatedNodeInfo = typeof RelatedNodeInfo.Type

/** A `TextNode` as JSON (what the reader accepts; optional keys default as LlamaIndex does). */
export const TextNode = Schema.Struct({
  id_: Schema.String,
  embedding: Schema.optional(Schema.NullOr(Schema.Array(Schema.Number))),
  metadata: Schema.Record(Schema.String, Schema.Unknown),
  excluded_embed_metadata_keys: Schema.optional(Schema.Array(Schema.String)),
  excluded_llm_metadata_keys: Schema.optional(Schema.Array(Schema.String)),
  relationships: Schema.Record(Schema.String, RelatedNodeInfo),
  metadata_template: Schema.optional(Schema.String),
  metadata_separator: Schema.optional(Schema.String),
  text: Schema.String,
  mimetype: Schema.optional(Schema.String),
  start_char_idx: Schema.optional(Schema.NullOr(Schema.Number)),
  end_char_idx: Schema.optional(Schema.NullOr(Schema.Number)),
  metadata_seperator: Schema.optional(Schema.String),
  text_template: Schema.optional(Schema.String),
  class_name: Schema.optional(Schema.String)
})
/** A `TextNode` as JSON. */
export type TextNode = typeof TextNode.Type

/** A file is not the `TextNode` of an extracted chunk. */
export class TextNodeError extends Data.TaggedError("TextNodeError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** The `TextNode` of an extracted chunk, keys in the reference's order. */
export const fromExtracted = (extracted: ExtractedChunk.ExtractedChunk): TextNode => {
  const { chunk } = extracted
  return {
    id_: chunk.id,
    embedding: null,
    metadata: {
      ...chunk.metadata,
      [Propositions.metadataKey]: [...extracted.propositions],
      [Topics.metadataKey]: extracted.topics,
      [ExtractedChunk.extractTimestampKey]: extracted.extractTimestamp
    },
    excluded_embed_metadata_keys: [],
    excluded_llm_metadata_keys: [],
    relationships: {
      [sourceRelationship]: {
        node_id: chunk.source.id,
        node_type: documentNodeType,
        metadata: chunk.source.metadata,
        hash: chunk.source.hash,
        class_name: "RelatedNodeInfo"
      }
    },
    metadata_template: "{key}: {value}",
    metadata_separator: "\n",
    text: chunk.text,
    mimetype: "text/plain",
    start_char_idx: chunk.startCharIdx,
    end_char_idx: chunk.endCharIdx,
    metadata_seperator: "\n",
    text_template: textTemplate,
    class_name: "TextNode"
  }
}

const escapeNonAscii = (json: string): string =>
  json.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)

/** The file content of a node: indented by 4, non-ASCII escaped (as Python's `json.dump`). */
export const toJson = (node: TextNode): string => escapeNonAscii(JSON.stringify(node, null, 4))

const decodeNode = Schema.decodeUnknownResult(TextNode)
const decodeTopics = Schema.decodeUnknownResult(Topics.TopicCollection)

/** Parse and check a node file's content. */
export const fromJson = (json: string): Result.Result<TextNode, TextNodeError> => {
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch (cause) {
    return Result.fail(new TextNodeError({ message: "not valid JSON", cause }))
  }
  return Result.mapError(
    decodeNode(value),
    (cause) => new TextNodeError({ message: `not a TextNode: ${cause.message}`, cause })
  )
}

const extractionKeys = new Set<string>([
  Propositions.metadataKey,
  Topics.metadataKey,
  ExtractedChunk.extractTimestampKey
])

/**
 * The extracted chunk of a node. `index` is the chunk's position in its source (the node
 * does not store it; the reader numbers chunks after ordering them).
 */
export const toExtracted = (
  node: TextNode,
  index: number
): Result.Result<ExtractedChunk.ExtractedChunk, TextNodeError> => {
  const source = node.relationships[sourceRelationship]
  if (source === undefined) {
    return Result.fail(new TextNodeError({ message: `node ${node.id_} has no source relationship ("1")` }))
  }
  const rawPropositions = node.metadata[Propositions.metadataKey] ?? []
  if (!Array.isArray(rawPropositions) || !rawPropositions.every((p) => typeof p === "string")) {
    return Result.fail(
      new TextNodeError({ message: `node ${node.id_}: ${Propositions.metadataKey} is not a list of strings` })
    )
  }
  const topics = decodeTopics(node.metadata[Topics.metadataKey] ?? Topics.empty)
  if (Result.isFailure(topics)) {
    return Result.fail(
      new TextNodeError({
        message: `node ${node.id_}: ${Topics.metadataKey}: ${topics.failure.message}`,
        cause: topics.failure
      })
    )
  }
  const metadata: Record<string, unknown> = Object.fromEntries(
    Object.entries(node.metadata).filter(([key]) => !extractionKeys.has(key))
  )
  const timestamp = node.metadata[ExtractedChunk.extractTimestampKey]
  const chunk: Chunk = {
    id: node.id_,
    text: node.text,
    index,
    startCharIdx: node.start_char_idx ?? null,
    endCharIdx: node.end_char_idx ?? null,
    // Parsed JSON: every value is a metadata value.
    metadata: metadata as Metadata,
    source: { id: source.node_id, metadata: source.metadata as Metadata, hash: source.hash ?? "" }
  }
  return Result.succeed({
    chunk,
    propositions: rawPropositions as ReadonlyArray<string>,
    topics: topics.success,
    extractTimestamp: typeof timestamp === "number" ? timestamp : 0
  })
}
