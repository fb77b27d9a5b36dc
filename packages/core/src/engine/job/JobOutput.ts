/**
 * What a batch job answered: its output file read line by line and every input record
 * classified as succeeded, errored or missing, and the token totals of its manifest.
 *
 * Details:
 * - Outputs are matched by `recordId` (order is not guaranteed); the first line of a record wins.
 * - A malformed line is an errored record when its record id can still be read, else it is
 *   counted as unattributed — never a crash.
 * - A line with an `error`, without `modelOutput`, or with a body the model family cannot read
 *   is an errored record (retryable); a record without a line is missing.
 *
 * @since 0.1.0
 */
import { Effect, Option, Result, Stream } from "effect"
import type { PackedRecord } from "../BatchRecord.ts"
import type * as ModelFamily from "../ModelFamily.ts"
import * as ObjectStore from "../ObjectStore.ts"
import type * as ServiceError from "../ServiceError.ts"

/** A record the job answered. */
export interface JobSuccess {
  readonly record: PackedRecord
  readonly modelOutput: unknown
  readonly output: ModelFamily.ModelOutput
}

/** A record the job did not answer. */
export interface JobFailure {
  readonly record: PackedRecord
  readonly kind: "errored" | "missing" | "rejected"
  readonly reason: string
  /** Whether sending it again may help. */
  readonly retryable: boolean
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** What the classification of a job's output found. */
export interface Classified {
  succeeded: Array<JobSuccess>
  failed: Array<JobFailure>
  /** Lines that could not be attributed to a record of the job. */
  unattributed: number
}

/**
 * An incremental classifier: feed the output lines as they are read (`push`), then take the
 * result once (`finish`). Reading and classifying together keeps only the answers in memory,
 * never the whole output file.
 */
const makeClassifier = (family: ModelFamily.ModelFamily, records: ReadonlyArray<PackedRecord>) => {
  const byId = new Map<string, PackedRecord>()
  for (const record of records) byId.set(record.recordId, record)
  const answered = new Map<string, JobSuccess | JobFailure>()
  let unattributed = 0

  const push = (raw: string): void => {
    const line = raw.trim()
    if (line === "") return
    let parsed: unknown
    try {
      parsed = JSON.parse(line)
    } catch {
      // A malformed line: attribute it when its record id can still be read.
      const id = /"recordId"\s*:\s*"([^"\\]*)"/.exec(line)?.[1]
      const record = id === undefined ? undefined : byId.get(id)
      if (record !== undefined && !answered.has(record.recordId)) {
        answered.set(record.recordId, { record, kind: "errored", reason: "malformed output line", retryable: true })
      } else {
        unattributed++
      }
      return
    }
    const id = isRecord(parsed) && typeof parsed.recordId === "string" ? parsed.recordId : undefined
    const record = id === undefined ? undefined : byId.get(id)
    if (record === undefined || !isRecord(parsed)) {
      unattributed++
      return
    }
    if (answered.has(record.recordId)) return
    if (isRecord(parsed.error)) {
      const code = parsed.error.errorCode
      const message = typeof parsed.error.errorMessage === "string" ? parsed.error.errorMessage : "no message"
      answered.set(record.recordId, {
        record,
        kind: "errored",
        reason: `model error${code === undefined ? "" : ` ${String(code)}`}: ${message}`,
        retryable: true
      })
      return
    }
    if (parsed.modelOutput === undefined) {
      answered.set(record.recordId, {
        record,
        kind: "errored",
        reason: "output line has no modelOutput",
        retryable: true
      })
      return
    }
    const output = family.readOutput(parsed.modelOutput)
    answered.set(
      record.recordId,
      Result.isSuccess(output)
        ? { record, modelOutput: parsed.modelOutput, output: output.success }
        : { record, kind: "errored", reason: `unreadable model output: ${output.failure}`, retryable: true }
    )
  }

  const finish = (): Classified => {
    const succeeded: Array<JobSuccess> = []
    const failed: Array<JobFailure> = []
    for (const record of records) {
      const entry = answered.get(record.recordId)
      if (entry === undefined) {
        failed.push({ record, kind: "missing", reason: "no output line for this record", retryable: true })
      } else if ("output" in entry) {
        succeeded.push(entry)
      } else {
        failed.push(entry)
      }
    }
    return { succeeded, failed, unattributed }
  }

  return { push, finish }
}

/** Classify the lines of an output file against the job's records. */
export const classifyOutput = (
  family: ModelFamily.ModelFamily,
  records: ReadonlyArray<PackedRecord>,
  lines: Iterable<string>
): Classified => {
  const classifier = makeClassifier(family, records)
  for (const line of lines) classifier.push(line)
  return classifier.finish()
}

/**
 * Read a job's output file and classify every record against it. The lines are classified as
 * they are read, so the file is never held whole (each call starts afresh: safe to retry).
 * Fails with `NotFound` when there is no output file.
 */
export const classifyOutputFile = (
  family: ModelFamily.ModelFamily,
  records: ReadonlyArray<PackedRecord>,
  ref: ObjectStore.ObjectRef
): Effect.Effect<Classified, ServiceError.ServiceError, ObjectStore.ObjectStore> =>
  Effect.suspend(() => {
    const classifier = makeClassifier(family, records)
    return ObjectStore.getLines(ref).pipe(
      Stream.runForEachArray((lines) =>
        Effect.sync(() => {
          for (const line of lines) classifier.push(line)
        })
      ),
      Effect.map(() => classifier.finish())
    )
  })

/** Token totals from `manifest.json.out`, read defensively. */
export const readManifest = (text: string): Option.Option<{ inputTokens: number; outputTokens: number }> => {
  try {
    const parsed: unknown = JSON.parse(text)
    if (!isRecord(parsed)) return Option.none()
    const n = (u: unknown) => (typeof u === "number" && Number.isFinite(u) ? u : 0)
    return Option.some({ inputTokens: n(parsed.inputTokenCount), outputTokens: n(parsed.outputTokenCount) })
  } catch {
    return Option.none()
  }
}
