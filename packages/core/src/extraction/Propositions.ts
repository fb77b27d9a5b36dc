/**
 * The proposition stage's output: a title line, then one proposition per line.
 *
 * Parsing (EXTRACTION.md): trim lines, drop empty ones and the title (the first line), drop
 * exact duplicates, keeping order. Beyond the reference it is tolerant of markdown the
 * models add anyway: code fences are ignored, list bullets (`- `, `* `, `• `) and numbering
 * (`1. `, `2) `) are removed from the start of a line.
 *
 * The result is stored as `metadata["aws::graph::propositions"]`.
 *
 * @since 0.1.0
 */
import * as ParseDiagnostic from "./ParseDiagnostic.ts"

/** The metadata key of a chunk's propositions. */
export const metadataKey = "aws::graph::propositions"

/** A parsed proposition-stage answer. */
export interface ParsedPropositions {
  /** The title line (markdown and a `Title:` label removed), if the answer had one. */
  readonly title: string | undefined
  /** The propositions, in order, without duplicates. */
  readonly propositions: ReadonlyArray<string>
  readonly diagnostics: ReadonlyArray<ParseDiagnostic.ParseDiagnostic>
}

const fence = /^(`{3,}|~{3,})/
const listMarker = /^(?:[-*•+]\s+|\d{1,3}[.)]\s+)/

/** A line without list bullet or numbering. */
const stripListMarker = (line: string): string => line.replace(listMarker, "").trim()

/** The title without markdown heading or emphasis and without a `Title:` label. */
const cleanTitle = (line: string): string =>
  line
    .replace(/^#+\s*/, "")
    .replace(/^[*_]+|[*_]+$/g, "")
    .replace(/^title\s*[*_]*\s*:\s*/i, "")
    .replace(/^[*_]+|[*_]+$/g, "")
    .trim()

/** Parse a proposition-stage answer. Never fails; see the module doc for the rules. */
export const parse = (raw: string): ParsedPropositions => {
  const diagnostics: Array<ParseDiagnostic.ParseDiagnostic> = []
  const propositions: Array<string> = []
  const seen = new Set<string>()
  let title: string | undefined
  const lines = raw.split(/\r?\n/)
  lines.forEach((rawLine, index) => {
    const trimmed = rawLine.trim()
    if (trimmed === "" || fence.test(trimmed)) return
    if (title === undefined) {
      title = cleanTitle(trimmed)
      return
    }
    const proposition = stripListMarker(trimmed)
    if (proposition === "") return
    if (seen.has(proposition)) {
      diagnostics.push(ParseDiagnostic.make(index + 1, trimmed, "Duplicate"))
      return
    }
    seen.add(proposition)
    propositions.push(proposition)
  })
  if (title === undefined) diagnostics.push(ParseDiagnostic.make(0, "", "EmptyOutput"))
  return { title, propositions, diagnostics }
}

/**
 * The topic stage's input for a chunk: its propositions one per line, or the chunk text
 * when there are none (proposition extraction disabled, or it produced nothing).
 */
export const topicsInput = (propositions: ReadonlyArray<string> | undefined, chunkText: string): string =>
  propositions !== undefined && propositions.length > 0 ? propositions.join("\n") : chunkText
