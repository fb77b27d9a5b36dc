/**
 * An extracted chunk: a chunk with its propositions (stage 1), its topics (stage 2) and the
 * time of extraction. What the sinks write, one file (or object) per chunk, as a LlamaIndex
 * `TextNode` ({@link TextNode}).
 *
 * When to use: {@link make} once a chunk's stages are done; {@link failed} for a chunk whose
 * extraction finally failed, which is still written, with empty results, so the build stage
 * sees every chunk of every document.
 *
 * @since 0.1.0
 */
import { Clock, Effect } from "effect"
import type { Chunk } from "./Chunker.ts"
import * as Topics from "./Topics.ts"

/** The metadata key of the extraction time (epoch milliseconds), as the reference names it. */
export const extractTimestampKey = "__aws__versioning__extract_timestamp__"

/** A chunk and what was extracted from it. */
export interface ExtractedChunk {
  readonly chunk: Chunk
  /** Stage 1's propositions (empty when disabled or failed). */
  readonly propositions: ReadonlyArray<string>
  /** Stage 2's topics (`{ topics: [] }` when failed). */
  readonly topics: Topics.TopicCollection
  /** When the chunk was extracted (epoch milliseconds, from `Clock`). */
  readonly extractTimestamp: number
}

/** A chunk with its results, stamped with the current time (`Clock`, so `TestClock` controls it). */
export const make = (
  chunk: Chunk,
  results: {
    readonly propositions?: ReadonlyArray<string> | undefined
    readonly topics?: Topics.TopicCollection | undefined
  } = {}
): Effect.Effect<ExtractedChunk> =>
  Effect.map(Clock.currentTimeMillis, (extractTimestamp) => ({
    chunk,
    propositions: results.propositions ?? [],
    topics: results.topics ?? Topics.empty,
    extractTimestamp
  }))

/** A chunk whose extraction finally failed: written with empty results. */
export const failed = (chunk: Chunk): Effect.Effect<ExtractedChunk> => make(chunk)

/** Whether nothing was extracted (no propositions and no topics). */
export const isEmpty = (extracted: ExtractedChunk): boolean =>
  extracted.propositions.length === 0 && extracted.topics.topics.length === 0
