/**
 * Source documents, and readers that turn files into a `Stream` of them.
 *
 * A document is text plus metadata (title, url, …) and an optional id. Readers accept
 * `.txt`, `.md`/`.markdown` (one document per file), `.json` (an object, or an array of
 * objects) and `.jsonl` (one object a line, streamed). For JSON inputs the text comes from a
 * configurable field and the other fields become metadata.
 *
 * When to use: {@link fromDirectory} or {@link fromFiles} at the start of a pipeline, then
 * {@link documents} (skips logged and dropped) or {@link strict} (the first skip fails the
 * stream). The readers go through Effect's `FileSystem` and `Path` services, so the Node
 * layer is supplied at the edge (`@effect/platform-node`'s `NodeServices.layer`).
 *
 * Gotchas:
 * - A file that cannot become a document (empty, binary, not UTF-8, unreadable, bad JSON,
 *   no text field, unsupported extension) is a {@link Skipped} result with a reason, never a
 *   crash. Only an input that cannot be listed at all (a missing directory) fails the
 *   stream, with a {@link DocumentError}.
 * - `.json` files are read whole (JSON must be parsed whole); `.jsonl` files are streamed
 *   line by line, so prefer JSONL for large corpora.
 * - Metadata feeds the source and chunk ids ({@link Ids}), so adding a path key
 *   (`pathMetadataKey`) makes ids depend on where the file lies.
 *
 * @since 0.1.0
 */
import { Data, Effect, FileSystem, Path, Result, Stream } from "effect"

// -----------------------------------------------------------------------------
// Model
// -----------------------------------------------------------------------------

/** A metadata value: anything JSON can hold. */
export type MetadataValue =
  | string
  | number
  | boolean
  | null
  | ReadonlyArray<MetadataValue>
  | { readonly [key: string]: MetadataValue }

/** A document's (or chunk's) metadata. */
export type Metadata = { readonly [key: string]: MetadataValue }

/**
 * A source document.
 *
 * `id` is the caller's identifier, kept for reports. The graph uses it only when it starts
 * with `aws:`; otherwise the source id is computed from text and metadata ({@link Ids}).
 */
export interface Document {
  readonly id?: string | undefined
  readonly text: string
  readonly metadata: Metadata
}

/** Build a document. */
export const make = (
  text: string,
  options: { readonly id?: string | undefined; readonly metadata?: Metadata } = {}
): Document =>
  options.id === undefined
    ? { text, metadata: options.metadata ?? {} }
    : { id: options.id, text, metadata: options.metadata ?? {} }

/** Why an input did not become a document. */
export type SkipReason =
  /** No bytes, only whitespace, or no records. */
  | "Empty"
  /** NUL bytes: not a text file. */
  | "Binary"
  /** Invalid UTF-8. */
  | "NotUtf8"
  /** The file could not be opened or read (missing, permissions, a directory, …). */
  | "Unreadable"
  /** An extension the readers do not handle. */
  | "Unsupported"
  /** JSON that does not parse, or is not an object (or an array of objects). */
  | "InvalidJson"
  /** A JSON object without a non-empty string text field. */
  | "NoText"

/** An input that became a document. */
export interface Read {
  readonly _tag: "Read"
  readonly document: Document
  /** The file it came from. */
  readonly path: string
  /** Its place in the file: array index (`.json`) or 1-based line number (`.jsonl`). */
  readonly item?: number | undefined
}

/** An input that did not become a document, and why. */
export interface Skipped {
  readonly _tag: "Skipped"
  readonly path: string
  readonly reason: SkipReason
  /** A human-readable explanation. */
  readonly message: string
  /** Its place in the file: array index (`.json`) or 1-based line number (`.jsonl`). */
  readonly item?: number | undefined
}

/** What a reader reports for each input: a document or a skip. */
export type ReadResult = Read | Skipped

const read = (document: Document, path: string, item?: number): Read =>
  item === undefined ? { _tag: "Read", document, path } : { _tag: "Read", document, path, item }

const skipped = (path: string, reason: SkipReason, message: string, item?: number): Skipped =>
  item === undefined ? { _tag: "Skipped", path, reason, message } : { _tag: "Skipped", path, reason, message, item }

/** A reader could not run at all (the directory to list is missing or unreadable), or {@link strict} met a skip. */
export class DocumentError extends Data.TaggedError("DocumentError")<{
  readonly path: string
  readonly reason: SkipReason | "NotADirectory"
  readonly message: string
  readonly item?: number | undefined
  readonly cause?: unknown
}> {}

// -----------------------------------------------------------------------------
// Options
// -----------------------------------------------------------------------------

/** Options of the readers. */
export interface ReaderOptions {
  /**
   * The JSON field holding the text; a list is tried in order. Default: `text`, `body`,
   * `content`.
   */
  readonly textField?: string | ReadonlyArray<string> | undefined
  /** The JSON field holding the document id (a string or a number). Default `id`. */
  readonly idField?: string | undefined
  /**
   * The JSON fields kept as metadata. Default: every field but the text field (the id field
   * included).
   */
  readonly metadataFields?: ReadonlyArray<string> | undefined
  /**
   * Add the file's path under this metadata key (relative to the directory for
   * {@link fromDirectory}, as given for {@link fromFiles}). Default: none.
   */
  readonly pathMetadataKey?: string | undefined
  /** Extensions read by {@link fromDirectory} (lower case, with the dot). Default: all supported. */
  readonly extensions?: ReadonlyArray<string> | undefined
  /** Walk sub-directories in {@link fromDirectory}. Default `true`. */
  readonly recursive?: boolean | undefined
}

/** The text fields tried by default. */
export const defaultTextFields: ReadonlyArray<string> = ["text", "body", "content"]

/** The extensions the readers handle. */
export const supportedExtensions: ReadonlyArray<string> = [".txt", ".md", ".markdown", ".json", ".jsonl"]

// -----------------------------------------------------------------------------
// Decoding
// -----------------------------------------------------------------------------

type Decoded = { readonly _tag: "Text"; readonly text: string } | Skipped

const hasNulByte = (bytes: Uint8Array): boolean => bytes.includes(0)

/** Decode a whole file's bytes as UTF-8 text, or say why it cannot be. */
const decodeFile = (path: string, bytes: Uint8Array): Decoded => {
  if (bytes.length === 0) return skipped(path, "Empty", "the file is empty")
  if (hasNulByte(bytes)) return skipped(path, "Binary", "the file holds NUL bytes: not a text file")
  try {
    // `fatal` rejects invalid sequences instead of replacing them; the BOM is dropped.
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes)
    if (text.trim() === "") return skipped(path, "Empty", "the file holds only whitespace")
    return { _tag: "Text", text }
  } catch {
    return skipped(path, "NotUtf8", "the file is not valid UTF-8")
  }
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const toMetadataValue = (u: unknown): MetadataValue => {
  if (u === null || typeof u === "string" || typeof u === "boolean" || typeof u === "number") return u
  if (Array.isArray(u)) return u.map(toMetadataValue)
  if (isRecord(u)) {
    const out: Record<string, MetadataValue> = {}
    for (const [key, value] of Object.entries(u)) out[key] = toMetadataValue(value)
    return out
  }
  return String(u)
}

interface ResolvedOptions {
  readonly textFields: ReadonlyArray<string>
  readonly idField: string
  readonly metadataFields: ReadonlyArray<string> | undefined
  readonly pathMetadataKey: string | undefined
}

const resolveOptions = (options: ReaderOptions): ResolvedOptions => ({
  textFields: options.textField === undefined
    ? defaultTextFields
    : typeof options.textField === "string"
    ? [options.textField]
    : options.textField,
  idField: options.idField ?? "id",
  metadataFields: options.metadataFields,
  pathMetadataKey: options.pathMetadataKey
})

const withPath = (metadata: Metadata, options: ResolvedOptions, displayPath: string): Metadata =>
  options.pathMetadataKey === undefined ? metadata : { ...metadata, [options.pathMetadataKey]: displayPath }

/** One JSON value (an object) to a document, or the reason it is not one. */
const fromJsonObject = (
  value: unknown,
  path: string,
  displayPath: string,
  options: ResolvedOptions,
  item: number | undefined
): ReadResult => {
  if (!isRecord(value)) return skipped(path, "InvalidJson", "expected a JSON object", item)
  const textField = options.textFields.find((field) => typeof value[field] === "string")
  if (textField === undefined) {
    return skipped(path, "NoText", `no string field ${options.textFields.map((f) => `"${f}"`).join(" or ")}`, item)
  }
  const text = value[textField] as string
  if (text.trim() === "") return skipped(path, "Empty", `the "${textField}" field is empty`, item)
  const metadata: Record<string, MetadataValue> = {}
  for (const [key, field] of Object.entries(value)) {
    if (key === textField) continue
    if (options.metadataFields !== undefined && !options.metadataFields.includes(key)) continue
    metadata[key] = toMetadataValue(field)
  }
  const rawId = value[options.idField]
  const id = typeof rawId === "string" ? rawId : typeof rawId === "number" ? String(rawId) : undefined
  return read(make(text, { id, metadata: withPath(metadata, options, displayPath) }), path, item)
}

const describeError = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === "string" ? error : "unknown error"

// -----------------------------------------------------------------------------
// Per-file readers
// -----------------------------------------------------------------------------

const readWhole = (
  fs: FileSystem.FileSystem,
  path: string,
  toResults: (text: string) => ReadonlyArray<ReadResult>
): Stream.Stream<ReadResult> =>
  Stream.fromIterableEffect(
    fs.readFile(path).pipe(
      Effect.map((bytes): ReadonlyArray<ReadResult> => {
        const decoded = decodeFile(path, bytes)
        return decoded._tag === "Skipped" ? [decoded] : toResults(decoded.text)
      }),
      Effect.catch((error) =>
        Effect.succeed([skipped(path, "Unreadable", `cannot read the file: ${describeError(error)}`)])
      )
    )
  )

const plainText = (path: string, displayPath: string, options: ResolvedOptions) => (text: string) => [
  read(make(text, { metadata: withPath({}, options, displayPath) }), path)
]

const jsonFile = (path: string, displayPath: string, options: ResolvedOptions) => (text: string) => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    return [skipped(path, "InvalidJson", `the file is not valid JSON: ${describeError(error)}`)]
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return [skipped(path, "Empty", "the JSON array is empty")]
    return value.map((item, index) => fromJsonObject(item, path, displayPath, options, index))
  }
  if (isRecord(value)) return [fromJsonObject(value, path, displayPath, options, undefined)]
  return [skipped(path, "InvalidJson", "expected a JSON object or an array of objects")]
}

const concatBytes = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  if (a.length === 0) return b
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

/**
 * Split a byte stream into lines (without their `\n`). Splitting before decoding is safe in
 * UTF-8 (a newline byte never occurs inside a multi-byte sequence) and lets one bad line be
 * reported without losing the others.
 */
const byteLines = <E, R>(bytes: Stream.Stream<Uint8Array, E, R>): Stream.Stream<Uint8Array, E, R> =>
  bytes.pipe(
    Stream.mapAccum(() => new Uint8Array(0), (pending: Uint8Array, chunk: Uint8Array) => {
      const buffer = concatBytes(pending, chunk)
      const lines: Array<Uint8Array> = []
      let start = 0
      for (let newline = buffer.indexOf(10, start); newline >= 0; newline = buffer.indexOf(10, start)) {
        lines.push(buffer.subarray(start, newline))
        start = newline + 1
      }
      return [buffer.slice(start), lines] as const
    }, { onHalt: (pending) => (pending.length > 0 ? [pending] : []) })
  )

class FileFailure extends Data.TaggedError("FileFailure")<{ readonly skip: Skipped }> {}

/** A `.jsonl` file, streamed: one result a non-blank line. */
const jsonlFile = (
  fs: FileSystem.FileSystem,
  path: string,
  displayPath: string,
  options: ResolvedOptions
): Stream.Stream<ReadResult> =>
  Stream.suspend(() => {
    const decoder = new TextDecoder("utf-8", { fatal: true })
    let firstChunk = true
    let records = 0
    let failed = false
    const bytes = fs.stream(path).pipe(
      Stream.mapError((error) =>
        new FileFailure({ skip: skipped(path, "Unreadable", `cannot read the file: ${describeError(error)}`) })
      ),
      Stream.mapEffect((chunk) => {
        if (firstChunk && hasNulByte(chunk)) {
          return Effect.fail(
            new FileFailure({ skip: skipped(path, "Binary", "the file holds NUL bytes: not a text file") })
          )
        }
        firstChunk = false
        return Effect.succeed(chunk)
      })
    )
    const results = byteLines(bytes).pipe(
      Stream.zipWithIndex,
      Stream.filterMap(([lineBytes, index]): Result.Result<ReadResult, void> => {
        const lineNumber = index + 1
        let line: string
        try {
          line = decoder.decode(lineBytes)
        } catch {
          records++
          return Result.succeed(skipped(path, "NotUtf8", `line ${lineNumber} is not valid UTF-8`, lineNumber))
        }
        if (line.trim() === "") return Result.failVoid
        records++
        let value: unknown
        try {
          value = JSON.parse(line)
        } catch (error) {
          return Result.succeed(
            skipped(path, "InvalidJson", `line ${lineNumber} is not valid JSON: ${describeError(error)}`, lineNumber)
          )
        }
        return Result.succeed(fromJsonObject(value, path, displayPath, options, lineNumber))
      }),
      Stream.catch((failure) => {
        failed = true
        return Stream.succeed(failure.skip)
      })
    )
    return Stream.concat(
      results,
      Stream.suspend(() =>
        records === 0 && !failed
          ? Stream.succeed(skipped(path, "Empty", "the file holds no records"))
          : Stream.empty
      )
    )
  })

const extensionOf = (path: Path.Path, file: string): string => path.extname(file).toLowerCase()

/** The results of one file, by extension. */
const readOne = (
  fs: FileSystem.FileSystem,
  path: Path.Path,
  file: string,
  displayPath: string,
  options: ResolvedOptions
): Stream.Stream<ReadResult> => {
  switch (extensionOf(path, file)) {
    case ".txt":
    case ".md":
    case ".markdown":
      return readWhole(fs, file, plainText(file, displayPath, options))
    case ".json":
      return readWhole(fs, file, jsonFile(file, displayPath, options))
    case ".jsonl":
      return jsonlFile(fs, file, displayPath, options)
    default:
      return Stream.succeed(
        skipped(file, "Unsupported", `unsupported extension (readers handle ${supportedExtensions.join(", ")})`)
      )
  }
}

// -----------------------------------------------------------------------------
// Readers
// -----------------------------------------------------------------------------

/**
 * Read a list of files, in the given order. Each file yields its documents (one for text
 * and markdown, one per object for JSON and JSONL) or a {@link Skipped} result.
 */
export const fromFiles = (
  files: Iterable<string>,
  options: ReaderOptions = {}
): Stream.Stream<ReadResult, never, FileSystem.FileSystem | Path.Path> => {
  const resolved = resolveOptions(options)
  return Stream.unwrap(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    return Stream.fromIterable(files).pipe(
      Stream.flatMap((file) => readOne(fs, path, file, file, resolved))
    )
  }))
}

/**
 * Read every file of a directory (sub-directories too unless `recursive: false`), in
 * sorted path order, so runs over the same tree read documents in the same order.
 *
 * Files with other extensions than `options.extensions` are reported as `Unsupported`
 * skips. Fails with {@link DocumentError} only when the directory itself cannot be listed.
 */
export const fromDirectory = (
  directory: string,
  options: ReaderOptions = {}
): Stream.Stream<ReadResult, DocumentError, FileSystem.FileSystem | Path.Path> => {
  const resolved = resolveOptions(options)
  const extensions = options.extensions ?? supportedExtensions
  return Stream.unwrap(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const info = yield* fs.stat(directory).pipe(
      Effect.mapError((error) =>
        new DocumentError({
          path: directory,
          reason: "Unreadable",
          message: `cannot read the directory: ${error.message}`,
          cause: error
        })
      )
    )
    if (info.type !== "Directory") {
      return yield* new DocumentError({ path: directory, reason: "NotADirectory", message: "not a directory" })
    }
    const names = yield* fs.readDirectory(directory, { recursive: options.recursive ?? true }).pipe(
      Effect.mapError((error) =>
        new DocumentError({
          path: directory,
          reason: "Unreadable",
          message: `cannot list the directory: ${error.message}`,
          cause: error
        })
      )
    )
    const sorted = [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    return Stream.fromIterable(sorted).pipe(
      Stream.flatMap((name) => {
        const file = path.join(directory, name)
        return Stream.unwrap(
          fs.stat(file).pipe(
            Effect.map((stat) => {
              if (stat.type === "Directory") return Stream.empty
              if (!extensions.includes(extensionOf(path, name))) {
                return Stream.succeed(
                  skipped(file, "Unsupported", `extension not read (reading ${extensions.join(", ")})`)
                )
              }
              return readOne(fs, path, file, name, resolved)
            }),
            Effect.catch((error) =>
              Effect.succeed(Stream.succeed(skipped(file, "Unreadable", `cannot read the file: ${error.message}`)))
            )
          )
        )
      })
    )
  }))
}

// -----------------------------------------------------------------------------
// Consumers
// -----------------------------------------------------------------------------

/** A one-line description of a skip, for logs and reports. */
export const describeSkip = (skip: Skipped): string =>
  `${skip.path}${skip.item !== undefined ? ` [${skip.item}]` : ""}: ${skip.reason}: ${skip.message}`

/** Keep the documents; log each skip (warning level) and drop it. */
export const documents = <E, R>(results: Stream.Stream<ReadResult, E, R>): Stream.Stream<Document, E, R> =>
  results.pipe(
    Stream.tap((
      result
    ) => (result._tag === "Skipped" ? Effect.logWarning(`skipped ${describeSkip(result)}`) : Effect.void)),
    Stream.filterMap((result) => (result._tag === "Read" ? Result.succeed(result.document) : Result.failVoid))
  )

/** Keep the documents; fail with a {@link DocumentError} at the first skip. */
export const strict = <E, R>(results: Stream.Stream<ReadResult, E, R>): Stream.Stream<Document, E | DocumentError, R> =>
  results.pipe(
    Stream.mapEffect((result) =>
      result._tag === "Read"
        ? Effect.succeed(result.document)
        : Effect.fail(
          new DocumentError({ path: result.path, reason: result.reason, message: result.message, item: result.item })
        )
    )
  )
