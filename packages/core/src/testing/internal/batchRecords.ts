/**
 * What the model of the batch service does with the records of a job: parse input lines,
 * answer each record with the offline model (or a fault, or the service's refusal of an
 * invalid body), and build output lines and the manifest.
 *
 * @internal
 */
import { Result } from "effect"
import * as ModelFamily from "../../engine/ModelFamily.ts"
import * as OfflineModel from "../OfflineModel.ts"
import * as RequestBodies from "../RequestBodies.ts"

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** One input record. */
export interface InputRecord {
  readonly recordId: string
  readonly modelInput: unknown
}

/**
 * Parse one input line: a record, `undefined` for a blank line, or why the line is invalid
 * (which fails the whole job during validation, as on Bedrock).
 */
export const parseLine = (
  line: string,
  lineNumber: number,
  fileName: string
): Result.Result<InputRecord | undefined, string> => {
  if (line.trim() === "") return Result.succeed(undefined)
  let parsed: unknown
  try {
    parsed = JSON.parse(line)
  } catch {
    return Result.fail(`Invalid JSONL in ${fileName} at line ${lineNumber}: the line is not valid JSON.`)
  }
  if (!isRecord(parsed) || !isRecord(parsed.modelInput)) {
    return Result.fail(`Invalid JSONL in ${fileName} at line ${lineNumber}: each line needs a modelInput object.`)
  }
  const recordId = parsed.recordId
  if (recordId !== undefined && typeof recordId !== "string") {
    return Result.fail(`Invalid JSONL in ${fileName} at line ${lineNumber}: recordId must be a string.`)
  }
  return Result.succeed({
    recordId: recordId ?? `RECORD${String(lineNumber).padStart(9, "0")}`,
    modelInput: parsed.modelInput
  })
}

/** Per-record fault rates (fractions 0..1; together at most 1). */
export interface RecordFaults {
  readonly recordErrorRate: number
  readonly recordMissingRate: number
  readonly malformedRate: number
  readonly truncatedRate: number
}

/** The kind of fault (or refusal) that shaped a record's outcome. */
export type RecordFault = "missing" | "errored" | "malformed" | "truncated" | "rejected"

/** What becomes of one record in the output. */
export type RecordOutcome =
  | { readonly _tag: "Missing" }
  | {
    readonly _tag: "Line"
    readonly line: string
    readonly success: boolean
    readonly inputTokens: number
    readonly outputTokens: number
    /** The injected fault or the refusal behind this line, if any. */
    readonly fault?: RecordFault | undefined
  }

const errorLine = (
  record: InputRecord,
  errorCode: number,
  errorMessage: string,
  fault: RecordFault
): RecordOutcome => ({
  _tag: "Line",
  line: JSON.stringify({
    recordId: record.recordId,
    modelInput: record.modelInput,
    error: { errorCode, errorMessage }
  }),
  success: false,
  inputTokens: 0,
  outputTokens: 0,
  fault
})

/** Answers a valid request body: the offline model, unless replaced. */
export type Respond = (family: ModelFamily.ModelFamily, body: unknown) => Result.Result<unknown, string>

/**
 * Answer one record with the offline model, or with the fault its roll (0..1) selects:
 * missing, errored, malformed (a garbage line) or truncated (cut with the max-tokens stop
 * reason; not for embedding models, which answer whole). A body the service would refuse for
 * the family gets an error line (400).
 */
export const answerRecord = (
  family: ModelFamily.ModelFamily,
  record: InputRecord,
  roll: number,
  faults: RecordFaults,
  respond: Respond = OfflineModel.respond
): RecordOutcome => {
  let threshold = faults.recordMissingRate
  if (roll < threshold) return { _tag: "Missing" }
  const invalid = RequestBodies.problemOf(family.name, record.modelInput)
  if (invalid !== undefined) return errorLine(record, 400, `Malformed input request: ${invalid}`, "rejected")
  threshold += faults.recordErrorRate
  if (roll < threshold) return errorLine(record, 500, "Internal server error (injected).", "errored")
  threshold += faults.malformedRate
  if (roll < threshold) {
    const whole = JSON.stringify({ recordId: record.recordId, modelInput: record.modelInput, modelOutput: {} })
    return {
      _tag: "Line",
      line: whole.slice(0, Math.max(1, Math.floor(whole.length / 2))),
      success: true,
      inputTokens: 0,
      outputTokens: 0,
      fault: "malformed"
    }
  }
  // An embedding answer has no token limit to be cut off at.
  const truncate = roll < threshold + faults.truncatedRate && !ModelFamily.isEmbedding(family)
  const response = respond(family, record.modelInput)
  if (Result.isFailure(response)) {
    return errorLine(record, 400, `Malformed input request: ${response.failure}`, "rejected")
  }
  let modelOutput = response.success
  const read = family.readOutput(modelOutput)
  const usage = Result.isSuccess(read) ? read.success.usage : { inputTokens: 0, outputTokens: 0 }
  if (truncate && Result.isSuccess(read)) {
    const cut = read.success.text.slice(0, Math.max(1, Math.floor(read.success.text.length / 2)))
    const cutUsage = { inputTokens: usage.inputTokens, outputTokens: OfflineModel.estimateTokens(cut) }
    modelOutput = OfflineModel.toResponse(family, cut, cutUsage, true)
    return {
      _tag: "Line",
      line: JSON.stringify({ recordId: record.recordId, modelInput: record.modelInput, modelOutput }),
      success: true,
      ...cutUsage,
      fault: "truncated"
    }
  }
  return {
    _tag: "Line",
    line: JSON.stringify({ recordId: record.recordId, modelInput: record.modelInput, modelOutput }),
    success: true,
    ...usage
  }
}

/** The `manifest.json.out` of a job. */
export interface Manifest {
  readonly totalRecordCount: number
  readonly processedRecordCount: number
  readonly successRecordCount: number
  readonly errorRecordCount: number
  readonly inputTokenCount: number
  readonly outputTokenCount: number
}

/** Sum the outcomes of a job's records into its manifest. */
export const manifestOf = (total: number, outcomes: ReadonlyArray<RecordOutcome>): Manifest => {
  let processed = 0
  let success = 0
  let errors = 0
  let inputTokens = 0
  let outputTokens = 0
  for (const outcome of outcomes) {
    if (outcome._tag === "Missing") continue
    processed++
    if (outcome.success) success++
    else errors++
    inputTokens += outcome.inputTokens
    outputTokens += outcome.outputTokens
  }
  return {
    totalRecordCount: total,
    processedRecordCount: processed,
    successRecordCount: success,
    errorRecordCount: errors,
    inputTokenCount: inputTokens,
    outputTokenCount: outputTokens
  }
}

/** The family that answers a job's records: Converse for that type, else the model id's, else the override. */
export const familyFor = (
  modelId: string,
  invocationType: "InvokeModel" | "Converse",
  override: ModelFamily.FamilyName | undefined
): ModelFamily.ModelFamily | undefined => {
  const resolved = ModelFamily.resolve({ modelId, invocationType })
  if (Result.isSuccess(resolved)) return resolved.success
  return override === undefined ? undefined : ModelFamily.families[override]
}
