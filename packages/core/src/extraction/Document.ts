/**
 * Source documents, and readers that turn files into a `Stream` of them.
 *
 * A document is text plus metadata (title, url, …) and an optional id. Readers accept
 * `.txt`, `.md`/`.markdown` (one document per file), `.json` (an object, or an array of
 * objects) and `.jsonl` (one object a line, streamed). For JSON inputs the text comes from a
 * configurable field and the other fields become metadata.
 *
 * When to use: {@link fromDirectory} or {@link fromFiles} at the start of a pipeline (or
 * {@link fromObjects} for objects in the object store, e.g. under an `s3://` prefix), then
 * {@link documents} (skips logged and dropped) or {@link strict} (the first skip fails the
 * stream). The file readers go through Effect's `FileSystem` and `Path` services, so the Node
 * layer is supplied at the edge (`@effect/platform-node`'s `NodeServices.layer`); the object
 * reader goes through the `ObjectStore` port.
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
 * - Files and objects share one parser: an object yields exactly the results the same bytes
 *   would as a file, its `path` (and path metadata) being its `s3://bucket/key` URI.
 *
 * @since 0.1.0
 */
import { Data, Effect, FileSystem, Path, Result, Schedule, Stream } from "effect"
import * as ObjectStore from "../engine/ObjectStore.ts"
import * as ServiceError from "../engine/ServiceError.ts"
import { retryTransient, transientSchedule } from "../engine/ServiceError.ts"

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
   * {@link fromDirectory} and {@link fromListedFiles}, as given for {@link fromFiles}, the
   * `s3://bucket/key` URI for {@link fromObjects}). Default: none.
   */
  readonly pathMetadataKey?: string | undefined
  /**
   * Extensions read by {@link fromDirectory}, {@link fromListedFiles} and {@link fromObjects}
   * (lower case, with the dot). Default: all supported.
   */
  readonly extensions?: ReadonlyArray<string> | undefined
  /** Walk sub-directories in {@link fromDirectory}. Default `true`. */
  readonly recursive?: boolean | undefined
}

/** Options of {@link fromObjects}: the readers' options, and how many objects are fetched at once. */
export interface ObjectReaderOptions extends ReaderOptions {
  /** Whole objects (text, markdown, JSON) downloaded ahead, at most. Default 8. */
  readonly concurrency?: number | undefined
}

const defaultObjectConcurrency = 8

/** The text fields tried by default. */
export const defaultTextFields: ReadonlyArray<string> = ["text", "body", "content"]

/** The extensions the readers handle. */
export const supportedExtensions: ReadonlyArray<string> = [".txt", ".md", ".markdown", ".json", ".jsonl"]

// -----------------------------------------------------------------------------
// Decoding
// -----------------------------------------------------------------------------

/** What a reader reads: a file or an object, named so in messages. */
type Noun = "file" | "object"

type Decoded = { readonly _tag: "Text"; readonly text: string } | Skipped

const hasNulByte = (bytes: Uint8Array): boolean => bytes.includes(0)

/** Decode a whole input's bytes as UTF-8 text, or say why it cannot be. */
const decodeWhole = (path: string, noun: Noun, bytes: Uint8Array): Decoded => {
  if (bytes.length === 0) return skipped(path, "Empty", `the ${noun} is empty`)
  if (hasNulByte(bytes)) return skipped(path, "Binary", `the ${noun} holds NUL bytes: not a text file`)
  try {
    // `fatal` rejects invalid sequences instead of replacing them; the BOM is dropped.
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes)
    if (text.trim() === "") return skipped(path, "Empty", `the ${noun} holds only whitespace`)
    return { _tag: "Text", text }
  } catch {
    return skipped(path, "NotUtf8", `the ${noun} is not valid UTF-8`)
  }
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const toMetadataValue = (u: unknown): MetadataValue => {
  if (u === null || typeof u === "string" || typeof u === "boolean" || typeof u === "number") return u
  if (Array.isArray(u)) return u.map(toMetadataValue)
  // `Object.fromEntries` defines own keys: a `__proto__` key stays an ordinary key, as in the
  // reference's dicts, where an assignment would set the object's prototype instead.
  if (isRecord(u)) return Object.fromEntries(Object.entries(u).map(([key, value]) => [key, toMetadataValue(value)]))
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
  const metadata: Record<string, MetadataValue> = Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key !== textField && (options.metadataFields?.includes(key) ?? true))
      .map(([key, field]) => [key, toMetadataValue(field)])
  )
  const rawId = value[options.idField]
  const id = typeof rawId === "string" ? rawId : typeof rawId === "number" ? String(rawId) : undefined
  return read(make(text, { id, metadata: withPath(metadata, options, displayPath) }), path, item)
}

const describeError = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === "string" ? error : "unknown error"

// -----------------------------------------------------------------------------
// The parser, shared by files and objects
// -----------------------------------------------------------------------------

/** The input could not be read; `message` says why (the cause, described). */
class SourceFailure extends Data.TaggedError("SourceFailure")<{ readonly message: string }> {}

/**
 * Where the parser's bytes come from: a file or an object, read whole (text, markdown,
 * JSON) or streamed (JSONL). Both are lazy: nothing is read until they run.
 */
interface Source {
  /** The file path or `s3://` URI: the results' `path`. */
  readonly path: string
  /** What goes under `pathMetadataKey`. */
  readonly displayPath: string
  readonly noun: Noun
  readonly whole: Effect.Effect<Uint8Array, SourceFailure>
  readonly stream: Stream.Stream<Uint8Array, SourceFailure>
}

const unreadable = (source: Source, failure: SourceFailure): Skipped =>
  skipped(source.path, "Unreadable", `cannot read the ${source.noun}: ${failure.message}`)

const plainText = (source: Source, options: ResolvedOptions) => (text: string): ReadonlyArray<ReadResult> => [
  read(make(text, { metadata: withPath({}, options, source.displayPath) }), source.path)
]

const jsonText = (source: Source, options: ResolvedOptions) => (text: string): ReadonlyArray<ReadResult> => {
  const { displayPath, noun, path } = source
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    return [skipped(path, "InvalidJson", `the ${noun} is not valid JSON: ${describeError(error)}`)]
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return [skipped(path, "Empty", "the JSON array is empty")]
    return value.map((item, index) => fromJsonObject(item, path, displayPath, options, index))
  }
  if (isRecord(value)) return [fromJsonObject(value, path, displayPath, options, undefined)]
  return [skipped(path, "InvalidJson", "expected a JSON object or an array of objects")]
}

/** Read a whole input and parse its text; an unreadable input is a skip. */
const readWhole = (
  source: Source,
  toResults: (text: string) => ReadonlyArray<ReadResult>
): Effect.Effect<ReadonlyArray<ReadResult>> =>
  source.whole.pipe(
    Effect.map((bytes): ReadonlyArray<ReadResult> => {
      const decoded = decodeWhole(source.path, source.noun, bytes)
      return decoded._tag === "Skipped" ? [decoded] : toResults(decoded.text)
    }),
    Effect.catch((failure) => Effect.succeed([unreadable(source, failure)]))
  )

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

/**
 * How many leading bytes of a streamed input are checked for NUL bytes (the first piece of a
 * file stream: its default chunk size), whatever the pieces an object arrives in.
 */
const binaryProbeBytes = 64 * 1024

class InputFailure extends Data.TaggedError("InputFailure")<{ readonly skip: Skipped }> {}

/** A `.jsonl` input, streamed: one result a non-blank line. */
const jsonlStream = (source: Source, options: ResolvedOptions): Stream.Stream<ReadResult> =>
  Stream.suspend(() => {
    const { displayPath, noun, path } = source
    const decoder = new TextDecoder("utf-8", { fatal: true })
    let probed = 0
    let records = 0
    let failed = false
    const bytes = source.stream.pipe(
      Stream.mapError((failure) => new InputFailure({ skip: unreadable(source, failure) })),
      Stream.mapEffect((chunk) => {
        if (probed < binaryProbeBytes) {
          const probe = chunk.subarray(0, binaryProbeBytes - probed)
          probed += probe.length
          if (hasNulByte(probe)) {
            return Effect.fail(
              new InputFailure({ skip: skipped(path, "Binary", `the ${noun} holds NUL bytes: not a text file`) })
            )
          }
        }
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
          ? Stream.succeed(skipped(path, "Empty", `the ${noun} holds no records`))
          : Stream.empty
      )
    )
  })

/**
 * The results of one input, by extension, as a stream to run later. Whole inputs are read
 * when the returned effect runs (so several can be fetched at once); a JSONL input is read
 * only as its stream is consumed.
 */
const parse = (
  source: Source,
  extension: string,
  options: ResolvedOptions
): Effect.Effect<Stream.Stream<ReadResult>> => {
  switch (extension) {
    case ".txt":
    case ".md":
    case ".markdown":
      return Effect.map(readWhole(source, plainText(source, options)), Stream.fromIterable)
    case ".json":
      return Effect.map(readWhole(source, jsonText(source, options)), Stream.fromIterable)
    case ".jsonl":
      return Effect.succeed(jsonlStream(source, options))
    default:
      return Effect.succeed(Stream.succeed(
        skipped(source.path, "Unsupported", `unsupported extension (readers handle ${supportedExtensions.join(", ")})`)
      ))
  }
}

/** The skip of an input whose extension is not among those read (as a directory listing reports it). */
const notRead = (location: string, extensions: ReadonlyArray<string>): Skipped =>
  skipped(location, "Unsupported", `extension not read (reading ${extensions.join(", ")})`)

// -----------------------------------------------------------------------------
// Files
// -----------------------------------------------------------------------------

const fileSource = (fs: FileSystem.FileSystem, file: string, displayPath: string): Source => {
  const failure = (error: unknown) => new SourceFailure({ message: describeError(error) })
  return {
    path: file,
    displayPath,
    noun: "file",
    whole: Effect.mapError(fs.readFile(file), failure),
    stream: Stream.mapError(fs.stream(file), failure)
  }
}

const extensionOf = (path: Path.Path, file: string): string => path.extname(file).toLowerCase()

/** The results of one file, by extension. */
const readOne = (
  fs: FileSystem.FileSystem,
  path: Path.Path,
  file: string,
  displayPath: string,
  options: ResolvedOptions
): Stream.Stream<ReadResult> =>
  Stream.unwrap(parse(fileSource(fs, file, displayPath), extensionOf(path, file), options))

const byPath = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/**
 * A directory's entries (relative names), sorted, sub-directories walked unless
 * `recursive: false`; fails when the directory cannot be listed.
 */
const directoryEntries = (
  fs: FileSystem.FileSystem,
  directory: string,
  recursive: boolean
): Effect.Effect<Array<string>, DocumentError> =>
  Effect.gen(function*() {
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
    const names = yield* fs.readDirectory(directory, { recursive }).pipe(
      Effect.mapError((error) =>
        new DocumentError({
          path: directory,
          reason: "Unreadable",
          message: `cannot list the directory: ${error.message}`,
          cause: error
        })
      )
    )
    return [...names].sort(byPath)
  })

// -----------------------------------------------------------------------------
// Objects
// -----------------------------------------------------------------------------

/**
 * An object's bytes as a stream that survives transient failures (throttling, a dropped
 * connection): the download starts again and the bytes already delivered are dropped.
 */
const resumableGet = (
  store: ObjectStore.ObjectStore["Service"],
  ref: ObjectStore.ObjectRef
): Stream.Stream<Uint8Array, ServiceError.ServiceError> =>
  Stream.suspend(() => {
    let delivered = 0
    const attempt = Stream.suspend(() => {
      let toDrop = delivered
      return store.get(ref).pipe(
        Stream.map((chunk) => {
          if (toDrop === 0) return chunk
          const dropped = Math.min(toDrop, chunk.length)
          toDrop -= dropped
          return chunk.subarray(dropped)
        }),
        Stream.filter((chunk) => chunk.length > 0),
        Stream.tap((chunk) =>
          Effect.sync(() => {
            delivered += chunk.length
          })
        )
      )
    })
    return attempt.pipe(
      Stream.retry(
        transientSchedule().pipe(
          Schedule.while(({ input }) => ServiceError.isServiceError(input) && ServiceError.isRetryable(input))
        )
      )
    )
  })

const concatAll = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (chunks.length === 1) return chunks[0]!
  const out = new Uint8Array(chunks.reduce((total, chunk) => total + chunk.length, 0))
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}

const objectSource = (store: ObjectStore.ObjectStore["Service"], ref: ObjectStore.ObjectRef): Source => {
  const uri = ObjectStore.toUri(ref)
  const failure = (error: ServiceError.ServiceError) => new SourceFailure({ message: ServiceError.describe(error) })
  return {
    path: uri,
    displayPath: uri,
    noun: "object",
    whole: retryTransient(Stream.runCollect(store.get(ref))).pipe(Effect.map(concatAll), Effect.mapError(failure)),
    stream: Stream.mapError(resumableGet(store, ref), failure)
  }
}

/** An object key's extension (lower case, with the dot), as `path.extname` gives a file's. */
const extensionOfKey = (key: string): string => {
  const name = key.slice(key.lastIndexOf("/") + 1)
  const dot = name.lastIndexOf(".")
  return dot <= 0 ? "" : name.slice(dot).toLowerCase()
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

/** A file found under a directory: its path and its name relative to the directory. */
export interface ListedFile {
  /** The file's path (the directory joined with `name`). */
  readonly path: string
  /** Its path relative to the directory: what `pathMetadataKey` records. */
  readonly name: string
}

/** A {@link ListedFile} with its size in bytes (0 when it could not be stat'ed). */
export interface ListedFileInfo extends ListedFile {
  readonly size: number
}

/**
 * The files {@link fromDirectory} reads, in its order (sorted relative paths,
 * sub-directories walked unless `recursive: false`), with their sizes. Every file is listed,
 * whatever its extension: reading an unsupported one reports its skip.
 *
 * When to use: to plan work over a directory before reading it; read the listed files (or
 * some of them) with {@link fromListedFiles}, which gives what {@link fromDirectory} gives
 * for them. Fails with {@link DocumentError} only when the directory itself cannot be listed.
 */
export const listDirectory = (
  directory: string,
  options: Pick<ReaderOptions, "recursive"> = {}
): Effect.Effect<ReadonlyArray<ListedFileInfo>, DocumentError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const names = yield* directoryEntries(fs, directory, options.recursive ?? true)
    const files = yield* Effect.forEach(names, (name) => {
      const file = path.join(directory, name)
      return fs.stat(file).pipe(
        Effect.map((info): ReadonlyArray<ListedFileInfo> =>
          info.type === "Directory" ? [] : [{ path: file, name, size: Number(info.size) }]
        ),
        // Reading it will report it unreadable, as {@link fromDirectory} does.
        Effect.orElseSucceed((): ReadonlyArray<ListedFileInfo> => [{ path: file, name, size: 0 }])
      )
    }, { concurrency: 16 })
    return files.flat()
  })

/**
 * Read files found under a directory, in the given order, exactly as {@link fromDirectory}
 * reads them: `pathMetadataKey` records their relative `name`, extensions other than
 * `options.extensions` are `Unsupported` skips, a directory yields nothing.
 */
export const fromListedFiles = (
  files: Iterable<ListedFile>,
  options: ReaderOptions = {}
): Stream.Stream<ReadResult, never, FileSystem.FileSystem | Path.Path> => {
  const resolved = resolveOptions(options)
  const extensions = options.extensions ?? supportedExtensions
  return Stream.unwrap(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    return Stream.fromIterable(files).pipe(
      Stream.flatMap(({ name, path: file }) =>
        Stream.unwrap(
          fs.stat(file).pipe(
            Effect.map((stat) => {
              if (stat.type === "Directory") return Stream.empty
              if (!extensions.includes(extensionOf(path, name))) return Stream.succeed(notRead(file, extensions))
              return readOne(fs, path, file, name, resolved)
            }),
            Effect.catch((error) =>
              Effect.succeed(Stream.succeed(skipped(file, "Unreadable", `cannot read the file: ${error.message}`)))
            )
          )
        )
      )
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
): Stream.Stream<ReadResult, DocumentError, FileSystem.FileSystem | Path.Path> =>
  Stream.unwrap(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const names = yield* directoryEntries(fs, directory, options.recursive ?? true)
    return fromListedFiles(names.map((name) => ({ path: path.join(directory, name), name })), options)
  }))

/**
 * Read objects of the object store, in the given order, as {@link fromListedFiles} reads
 * files: the same formats and parsing, the same skips (an unreadable object, a missing one,
 * or one the credentials may not read is an `Unreadable` skip; an extension other than
 * `options.extensions` an `Unsupported` one). A result's `path`, and the path metadata, is
 * the object's `s3://bucket/key` URI.
 *
 * Details: up to `options.concurrency` whole objects (text, markdown, JSON) are downloaded
 * ahead while earlier ones are read, results staying in order; JSONL objects are streamed.
 * Transient failures (throttling, unavailability) are retried with backoff; a stream cut
 * short resumes where it stopped.
 *
 * Gotchas: up to `concurrency` whole objects are held in memory at once (JSON must be
 * parsed whole); prefer JSONL for large ones.
 */
export const fromObjects = (
  refs: Iterable<ObjectStore.ObjectRef>,
  options: ObjectReaderOptions = {}
): Stream.Stream<ReadResult, never, ObjectStore.ObjectStore> => {
  const resolved = resolveOptions(options)
  const extensions = options.extensions ?? supportedExtensions
  return Stream.unwrap(ObjectStore.ObjectStore.use((store) =>
    Effect.succeed(
      Stream.fromIterable(refs).pipe(
        Stream.mapEffect((ref) => {
          const extension = extensionOfKey(ref.key)
          return extensions.includes(extension)
            ? parse(objectSource(store, ref), extension, resolved)
            : Effect.succeed(Stream.succeed(notRead(ObjectStore.toUri(ref), extensions)))
        }, { concurrency: Math.max(1, options.concurrency ?? defaultObjectConcurrency) }),
        Stream.flatten()
      )
    )
  ))
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
