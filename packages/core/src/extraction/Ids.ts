/**
 * Deterministic ids of source documents and chunks, computed exactly as the reference
 * (graphrag-toolkit's `IdRewriter` and `IdGenerator`) computes them, so a corpus extracted
 * by batch-extract gets the ids the reference would give it.
 *
 * - metadata string: the `key:value` pairs (values as Python's `str()` prints them), with
 *   the versioning keys left out, sorted, joined with `;`;
 * - source id: `aws::` + 8 hex of md5(text) + `:` + 4 hex of md5(metadata string);
 * - chunk id: source id + `:` + 8 hex of md5(chunk text + metadata string);
 * - an id that already starts with `aws:` is kept.
 *
 * Gotchas:
 * - The reference sorts the joined `key:value` strings, not the keys (`a1:…` sorts before
 *   `a:…`); so do we, by code point as Python does.
 * - Values print as Python would: `True`/`False`, `None`, `['a', 1]`. A JSON number that
 *   is a whole number prints as an integer (`1.0` in the input file prints as `1`: JavaScript
 *   cannot tell them apart).
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import type { Metadata, MetadataValue } from "./Document.ts"

/** The reference's versioning metadata keys: never part of a metadata string. */
export const versioningKeys: ReadonlySet<string> = new Set([
  "__aws__versioning__valid_from__",
  "__aws__versioning__valid_to__",
  "__aws__versioning__extract_timestamp__",
  "__aws__versioning__build_timestamp__",
  "__aws__versioning__id_fields__",
  "__aws__versioning__prev_versions__"
])

/** Hex md5 of a string's UTF-8 bytes. */
export const md5Hex = (text: string): string => createHash("md5").update(text, "utf8").digest("hex")

const pythonFloat = (n: number): string => {
  if (Number.isNaN(n)) return "nan"
  if (!Number.isFinite(n)) return n > 0 ? "inf" : "-inf"
  if (Number.isInteger(n) && Math.abs(n) < 1e16) return String(n)
  const magnitude = Math.abs(n)
  if (magnitude >= 1e16 || magnitude < 1e-4) {
    // Python pads the exponent to two digits: 1e-05, 1.5e+16.
    return n.toExponential().replace(/e([+-])(\d)$/, "e$10$2")
  }
  return String(n)
}

const pythonStringRepr = (s: string): string => {
  const quote = s.includes("'") && !s.includes("\"") ? "\"" : "'"
  const escaped = s
    .replace(/\\/g, "\\\\")
    .replace(/\n/g, "\\n")
    .replace(/\r/g, "\\r")
    .replace(/\t/g, "\\t")
  return quote + (quote === "'" ? escaped.replace(/'/g, "\\'") : escaped) + quote
}

const pythonRepr = (value: MetadataValue): string => {
  if (typeof value === "string") return pythonStringRepr(value)
  return pythonStr(value)
}

/** A metadata value as Python's `str()` prints it (`True`, `None`, `['a', 1]`, `{'k': 'v'}`). */
export const pythonStr = (value: MetadataValue): string => {
  if (value === null) return "None"
  if (typeof value === "string") return value
  if (typeof value === "boolean") return value ? "True" : "False"
  if (typeof value === "number") return pythonFloat(value)
  if (Array.isArray(value)) return `[${value.map(pythonRepr).join(", ")}]`
  const entries = Object.entries(value as { readonly [key: string]: MetadataValue })
  return `{${entries.map(([k, v]) => `${pythonStringRepr(k)}: ${pythonRepr(v)}`).join(", ")}}`
}

/** Compare by Unicode code point, as Python compares strings. */
const compareCodePoints = (a: string, b: string): number => {
  const left = Array.from(a)
  const right = Array.from(b)
  const n = Math.min(left.length, right.length)
  for (let i = 0; i < n; i++) {
    const x = left[i]!.codePointAt(0)!
    const y = right[i]!.codePointAt(0)!
    if (x !== y) return x - y
  }
  return left.length - right.length
}

/**
 * The metadata string of a node: `key:value` pairs without the versioning keys, sorted,
 * joined with `;` (empty for no metadata).
 */
export const metadataString = (metadata: Metadata): string =>
  Object.entries(metadata)
    .filter(([key]) => !versioningKeys.has(key))
    .map(([key, value]) => `${key}:${pythonStr(value)}`)
    .sort(compareCodePoints)
    .join(";")

/** The source id of a document's text and metadata: `aws::<8 hex>:<4 hex>`. */
export const sourceId = (text: string, metadata: Metadata): string =>
  `aws::${md5Hex(text).slice(0, 8)}:${md5Hex(metadataString(metadata)).slice(0, 4)}`

/**
 * The source id of a document: its own id when that starts with `aws:` (the reference keeps
 * those), else {@link sourceId}. Any other id the caller gave is not used for the graph.
 */
export const sourceIdOf = (document: {
  readonly id?: string | undefined
  readonly text: string
  readonly metadata: Metadata
}): string => (document.id !== undefined && document.id.startsWith("aws:")
  ? document.id
  : sourceId(document.text, document.metadata))

/** The hex digits that end a chunk id, after its source's id and a colon. */
export const chunkDigestLength = 8

/** The chunk id of a chunk of a source: `<source id>:<8 hex>`. */
export const chunkId = (source: string, chunkText: string, metadata: Metadata): string =>
  `${source}:${md5Hex(chunkText + metadataString(metadata)).slice(0, chunkDigestLength)}`

/**
 * The hash stored on a chunk's source relationship: the two digests the source id truncates,
 * kept whole (64 hex). Unchanged as long as the source id is.
 */
export const sourceHash = (text: string, metadata: Metadata): string => md5Hex(text) + md5Hex(metadataString(metadata))

/**
 * The reference's Windows-safe file name of an id: `::` → `__`, then `:` → `_`. The
 * directory sink writes ids as they are by default; readers accept both.
 */
export const windowsSafeName = (id: string): string => id.replace(/::/g, "__").replace(/:/g, "_")

/**
 * The id a Windows-safe file name stands for ({@link windowsSafeName} inverted): `_` → `:`
 * (so `__` → `::`).
 *
 * Gotchas: exact for ids without `_`, which is every id the reference generates
 * (`aws::<hex>:<hex>:<hex>`); an id of your own with `_` in it does not come back.
 */
export const fromWindowsSafeName = (name: string): string => name.replace(/_/g, ":")
