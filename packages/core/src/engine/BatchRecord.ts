/**
 * A batch record — one line of a Bedrock batch input file — and the outcome the engine
 * reports for it.
 *
 * @since 0.1.0
 */
import { Buffer } from "node:buffer"
import type * as ModelFamily from "./ModelFamily.ts"

/** One record: a unique id (within a job) and the model's request body. */
export interface BatchRecord {
  readonly recordId: string
  readonly modelInput: Record<string, unknown>
}

/** Record ids Bedrock accepts safely: letters, digits, `_`, `.`, `:`, `-`. */
export const recordIdPattern = /^[A-Za-z0-9_.:-]{1,256}$/

/** Why a record id is unusable, or `undefined` when it is fine. */
export const recordIdProblem = (recordId: string): string | undefined =>
  recordIdPattern.test(recordId)
    ? undefined
    : `record id "${recordId.slice(0, 80)}" must be 1 to 256 characters of letters, digits, '_', '.', ':' or '-'`

/** The JSONL line of a record (no trailing line break), UTF-8 without escaping. */
export const toLine = (record: BatchRecord): string =>
  JSON.stringify({ recordId: record.recordId, modelInput: record.modelInput })

/**
 * UTF-8 size of a string in bytes, without encoding it (a lone surrogate counts as the three
 * bytes of the U+FFFD that replaces it, as `TextEncoder` does).
 */
export const utf8Bytes = (text: string): number => Buffer.byteLength(text, "utf8")

/**
 * A record ready for packing: its id, its serialized line and the line's size in bytes
 * (line break included). The line is kept instead of the object, so it is serialized once.
 */
export interface PackedRecord {
  readonly recordId: string
  readonly line: string
  readonly bytes: number
}

/** Serialize and measure a record. */
export const pack = (record: BatchRecord): PackedRecord => {
  const line = toLine(record)
  return { recordId: record.recordId, line, bytes: utf8Bytes(line) + 1 }
}

/** The request body of a packed record (parsed back from its line; used by the on-demand path). */
export const modelInputOf = (record: PackedRecord): Record<string, unknown> =>
  (JSON.parse(record.line) as { modelInput: Record<string, unknown> }).modelInput

/** How a record was finally answered. */
export type Via = "batch" | "onDemand"

/** A record the model answered. */
export interface Succeeded {
  readonly _tag: "Succeeded"
  readonly recordId: string
  readonly stage: string
  /** The response body, as the model sent it. */
  readonly modelOutput: unknown
  /** Text, stop reason and usage read from the body. `output.truncated` marks a cut-off answer. */
  readonly output: ModelFamily.ModelOutput
  readonly via: Via
  /** Attempts it took (1 = first try). */
  readonly attempts: number
  /**
   * Set when the answer is partial, and why: it was cut off at its token limit and cut off
   * again when asked with a larger one (see `BatchRunner.RunOptions.reaskCutOff`). The
   * partial answer is `output` (`output.truncated` is true).
   */
  readonly partialReason?: string | undefined
}

/** A record that could not be answered, with the last reason. */
export interface Failed {
  readonly _tag: "Failed"
  readonly recordId: string
  readonly stage: string
  readonly reason: string
  readonly attempts: number
}

/** The final outcome of one record: every record ends as exactly one of these. */
export type RecordOutcome = Succeeded | Failed
