/**
 * What a model-output parser could not use, line by line. Parsers never throw and never drop
 * a line silently: every line they cannot place becomes a diagnostic, so a run can count and
 * show them.
 *
 * @since 0.1.0
 */

/** Why a line was not used. */
export type Reason =
  /** The model answered nothing. */
  | "EmptyOutput"
  /** An exact repeat of an earlier proposition (dropped). */
  | "Duplicate"
  /** An `entities:` line that is not `value|classification`. */
  | "UnparseableEntity"
  /** A relationship or attribute line with no `proposition:` to attach it to. */
  | "NoStatement"
  /** A line where the grammar expects a header (before `entities:` or any `proposition:`). */
  | "UnexpectedLine"
  /** A `topic:` or `proposition:` header without a value. */
  | "EmptyValue"
  /** A topic with neither entities nor statements (dropped). */
  | "EmptyTopic"

/** One line a parser could not use. */
export interface ParseDiagnostic {
  /** 1-based line number in the model's output (0 for the output as a whole). */
  readonly line: number
  /** The line as the model wrote it (trimmed). */
  readonly text: string
  readonly reason: Reason
}

/** Build a diagnostic. */
export const make = (line: number, text: string, reason: Reason): ParseDiagnostic => ({ line, text, reason })

/** A one-line description, e.g. `line 7: UnparseableEntity: "Acme"`. */
export const describe = (diagnostic: ParseDiagnostic): string =>
  `line ${diagnostic.line}: ${diagnostic.reason}: ${JSON.stringify(diagnostic.text)}`

/** Count diagnostics by reason. */
export const countByReason = (diagnostics: ReadonlyArray<ParseDiagnostic>): Partial<Record<Reason, number>> => {
  const counts: Partial<Record<Reason, number>> = {}
  for (const d of diagnostics) counts[d.reason] = (counts[d.reason] ?? 0) + 1
  return counts
}
