/**
 * Chunking: a document becomes chunks of at most `chunkSize` tokens (cl100k_base), split at
 * sentence boundaries, each starting with up to `chunkOverlap` tokens of whole trailing
 * sentences of the previous one; or, with `"none"`, one chunk per document.
 *
 * The splitting is the `SentenceSplitter` the reference uses, as LlamaIndex's TypeScript core
 * has it (same defaults: 256 tokens, 25 overlap, metadata aware; `internal/sentenceSplitter.ts`,
 * linear in the length of a document), with a cl100k_base tokenizer from `gpt-tokenizer`.
 * Ids are the reference's ({@link Ids}), so the same corpus gets the same source and chunk ids.
 *
 * When to use: between the document readers and the proposition stage, with {@link chunk}
 * per document or {@link chunks} over a stream.
 *
 * Gotchas:
 * - Metadata aware, as the reference: the budget of a chunk is `chunkSize` minus the tokens of
 *   the document's metadata printed as `key: value` lines, because the metadata travels with
 *   the chunk into the prompts. A document whose metadata alone does not fit fails with a
 *   {@link ChunkingError}.
 * - Chunks are trimmed; `startCharIdx`/`endCharIdx` locate the chunk in the document text,
 *   counted in Unicode code points as Python counts them (not UTF-16 units).
 * - A document with only whitespace has no chunks.
 *
 * @since 0.1.0
 */
import { Data, Effect, Stream } from "effect"
import { ALL_SPECIAL_TOKENS, encode } from "gpt-tokenizer/encoding/cl100k_base"
import type { Document, Metadata } from "./Document.ts"
import * as Ids from "./Ids.ts"
import { splitText } from "./internal/sentenceSplitter.ts"

/** Sentence-aware, token-bounded chunking options. */
export interface ChunkOptions {
  /** Maximum tokens of a chunk (cl100k_base). */
  readonly chunkSize: number
  /** Tokens of whole trailing sentences repeated at the start of the next chunk. */
  readonly chunkOverlap: number
  /** Count the document's metadata against the chunk size, as the reference does. Default `true`. */
  readonly includeMetadata?: boolean | undefined
}

/** How to chunk: token-bounded options, or `"none"` for one chunk per document. */
export type Chunking = ChunkOptions | "none"

/** The reference's chunking: 256 tokens with an overlap of 25. */
export const defaultChunking: ChunkOptions = { chunkSize: 256, chunkOverlap: 25 }

/** The source document of a chunk, as a chunk's source relationship records it. */
export interface Source {
  /** The source id (`aws::…`). */
  readonly id: string
  /** The document's metadata. */
  readonly metadata: Metadata
  /** The source hash ({@link Ids.sourceHash}). */
  readonly hash: string
  /** The caller's document id, when it had one (for reports). */
  readonly documentId?: string | undefined
}

/** A chunk of a document. */
export interface Chunk {
  /** The chunk id (`<source id>:<8 hex>`); also the record id of its batch records. */
  readonly id: string
  readonly text: string
  /** Its position among its source's chunks (0-based): document order. */
  readonly index: number
  /** Where the chunk starts in the document text (code points), or `null` if not located. */
  readonly startCharIdx: number | null
  /** Where the chunk ends in the document text (code points, exclusive), or `null`. */
  readonly endCharIdx: number | null
  /** The document's metadata (every chunk carries it). */
  readonly metadata: Metadata
  readonly source: Source
}

/** A document could not be chunked (invalid options, or metadata longer than the chunk size). */
export class ChunkingError extends Data.TaggedError("ChunkingError")<{
  readonly sourceId: string
  readonly documentId?: string | undefined
  readonly message: string
  readonly cause?: unknown
}> {}

/** Tokens of a text in cl100k_base (special-token text counts as the special token, as in LlamaIndex). */
export const countTokens = (text: string): number => encode(text, { allowedSpecial: ALL_SPECIAL_TOKENS }).length

/** Why chunking options are invalid, or `undefined` when they are fine. */
export const optionsProblem = (chunking: Chunking): string | undefined => {
  if (chunking === "none") return undefined
  if (!Number.isInteger(chunking.chunkSize) || chunking.chunkSize < 1) {
    return `chunkSize must be a positive integer (got ${chunking.chunkSize})`
  }
  if (!Number.isInteger(chunking.chunkOverlap) || chunking.chunkOverlap < 0) {
    return `chunkOverlap must be a non-negative integer (got ${chunking.chunkOverlap})`
  }
  if (chunking.chunkOverlap >= chunking.chunkSize) {
    return `chunkOverlap (${chunking.chunkOverlap}) must be less than chunkSize (${chunking.chunkSize})`
  }
  return undefined
}

/** The metadata as LlamaIndex prints it for the splitter's budget: `key: value` lines. */
export const metadataForBudget = (metadata: Metadata): string =>
  Object.entries(metadata).map(([key, value]) => `${key}: ${Ids.pythonStr(value)}`).join("\n")

const codePointLength = (text: string, from: number, to: number): number => {
  let count = 0
  for (let i = from; i < to; i++) {
    const unit = text.charCodeAt(i)
    // A high surrogate followed by a low one is one code point.
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < to) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) i++
    }
    count++
  }
  return count
}

/** Locate each piece in the text, in order, as code-point offsets. */
const locate = (text: string, pieces: ReadonlyArray<string>): Array<readonly [number, number] | null> => {
  const located: Array<readonly [number, number] | null> = []
  let searchFrom = 0
  // Code-point offset of `unitCursor`, advanced incrementally.
  let unitCursor = 0
  let pointCursor = 0
  for (const piece of pieces) {
    const at = text.indexOf(piece, searchFrom)
    if (at < 0) {
      located.push(null)
      continue
    }
    // `at` only moves forward (the search starts after the previous chunk's start).
    pointCursor += codePointLength(text, unitCursor, at)
    unitCursor = at
    const start = pointCursor
    located.push([start, start + codePointLength(text, at, at + piece.length)])
    // The next chunk starts after this one's start (overlap puts it inside this one).
    searchFrom = at + 1
  }
  return located
}

/** The source of a document (id, metadata, hash). */
export const sourceOf = (document: Document): Source => {
  const id = Ids.sourceIdOf(document)
  const hash = Ids.sourceHash(document.text, document.metadata)
  return document.id === undefined
    ? { id, metadata: document.metadata, hash }
    : { id, metadata: document.metadata, hash, documentId: document.id }
}

/**
 * Chunk one document: its chunks in document order, with ids, text and offsets.
 *
 * Fails with {@link ChunkingError} for invalid options or metadata too long for the chunk
 * size (the other documents are unaffected).
 */
export const chunk = Effect.fn("Chunker.chunk")(function*(document: Document, chunking: Chunking = defaultChunking) {
  const source = sourceOf(document)
  const fail = (message: string, cause?: unknown) =>
    new ChunkingError({ sourceId: source.id, documentId: document.id, message, cause })
  const problem = optionsProblem(chunking)
  if (problem !== undefined) return yield* fail(problem)
  if (document.text.trim() === "") return [] as ReadonlyArray<Chunk>

  let pieces: ReadonlyArray<string>
  if (chunking === "none") {
    pieces = [document.text]
  } else {
    const budgetText = metadataForBudget(document.metadata)
    const withMetadata = chunking.includeMetadata !== false && budgetText !== ""
    if (withMetadata) {
      const metadataTokens = countTokens(budgetText)
      if (metadataTokens >= chunking.chunkSize) {
        return yield* fail(
          `the document's metadata (${metadataTokens} tokens) does not fit in a chunk of ${chunking.chunkSize} tokens; ` +
            "raise chunkSize, shorten the metadata or set includeMetadata: false"
        )
      }
    }
    pieces = yield* Effect.try({
      try: () =>
        splitText(document.text, {
          chunkSize: chunking.chunkSize,
          chunkOverlap: chunking.chunkOverlap,
          countTokens,
          metadata: withMetadata ? budgetText : undefined
        }),
      catch: (cause) => fail(`the splitter failed: ${cause instanceof Error ? cause.message : String(cause)}`, cause)
    })
  }

  const offsets = locate(document.text, pieces)
  return pieces.map((text, index): Chunk => {
    const at = offsets[index] ?? null
    return {
      id: Ids.chunkId(source.id, text, document.metadata),
      text,
      index,
      startCharIdx: at === null ? null : at[0],
      endCharIdx: at === null ? null : at[1],
      metadata: document.metadata,
      source
    }
  })
})

/**
 * Chunk a stream of documents, in order. A document that cannot be chunked fails the
 * stream; use {@link chunk} per document to decide otherwise.
 */
export const chunks =
  (chunking: Chunking = defaultChunking) =>
  <E, R>(documents: Stream.Stream<Document, E, R>): Stream.Stream<Chunk, E | ChunkingError, R> =>
    documents.pipe(
      Stream.mapEffect((document) => chunk(document, chunking)),
      Stream.flatMap((list) => Stream.fromIterable(list))
    )
