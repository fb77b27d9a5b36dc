/**
 * Where extracted chunks go: a directory in the reference's layout, or the same layout in
 * the object store, one LlamaIndex `TextNode` JSON per chunk at
 * `<root>/<collectionId>/<sourceId>/<chunkId>.json` — what graphrag-toolkit's build stage
 * reads (`FileBasedDocs`, `S3BasedDocs`). And readers that give back every source with its
 * chunks together, in document order.
 *
 * When to use: provide {@link Sink} with {@link layerDirectory} or {@link layerObjectStore}
 * (or build one with {@link directory} / {@link objectStore}) and write each
 * `ExtractedChunk` as it completes; a chunk whose extraction failed is written too, with
 * empty results ({@link ExtractedChunk.failed}).
 *
 * Details:
 * - Directory writes are atomic per file: the JSON goes to a temporary file under
 *   `<root>/.batch-extract-tmp/` (outside the collection, where the build stage never looks)
 *   and is renamed into place, so a reader never sees half a file. Rewriting a chunk
 *   replaces it whole. {@link writeFileAtomically} does the same for any file of yours
 *   (a summary beside the chunks, say).
 * - {@link chunkIdsInDirectory} lists the chunks a directory holds from the file names alone
 *   (to skip what is already written), whichever naming wrote them.
 * - File names are the ids as they are (the reference's format, with `:`), or with
 *   `fileNaming: "windowsSafe"` the reference's Windows-safe names (`::` → `__`, `:` → `_`).
 *   Readers accept both: they take ids from the file contents, not from the names.
 * - Order: a source's chunks are read back sorted by `start_char_idx` (then
 *   `end_char_idx`, then id). Chunk offsets increase in document order, so no index file or
 *   extra metadata key is needed, and files written by the reference order the same way.
 * - Object-store puts are retried on throttling and unavailability.
 *
 * @since 0.1.0
 */
import {
  Context,
  Data,
  Effect,
  FileSystem,
  Layer,
  Option,
  Path,
  type PlatformError,
  Random,
  Result,
  Stream
} from "effect"
import * as ObjectStore from "../engine/ObjectStore.ts"
import * as ServiceError from "../engine/ServiceError.ts"
import { retryTransient } from "../engine/ServiceError.ts"
import * as ExtractedChunk from "./ExtractedChunk.ts"
import * as Ids from "./Ids.ts"
import * as TextNode from "./TextNode.ts"

// -----------------------------------------------------------------------------
// Model
// -----------------------------------------------------------------------------

/** How ids become file names. */
export type FileNaming = "ids" | "windowsSafe"

/** A write or read of extracted output failed. */
export class SinkError extends Data.TaggedError("SinkError")<{
  readonly operation: "write" | "read" | "list"
  /** The file path or `s3://` URI concerned. */
  readonly location: string
  readonly message: string
  readonly cause?: unknown
}> {}

/** A source document and its extracted chunks, in document order. */
export interface ExtractedSource {
  readonly sourceId: string
  readonly chunks: ReadonlyArray<ExtractedChunk.ExtractedChunk>
}

/**
 * The sink service: writes one extracted chunk (idempotent: writing a chunk again replaces
 * it).
 */
export class Sink extends Context.Service<Sink, {
  readonly write: (extracted: ExtractedChunk.ExtractedChunk) => Effect.Effect<void, SinkError>
}>()("@batch-extract/core/Sink") {}

/** Why an id cannot be a path segment, or `undefined` when it can. */
export const nameProblem = (name: string): string | undefined => {
  if (name === "" || name === "." || name === "..") return "is empty or a relative path segment"
  if (/[/\\\u0000]/.test(name)) return "contains a path separator or NUL"
  return undefined
}

/** The file-name form of an id. */
export const fileName = (id: string, naming: FileNaming = "ids"): string =>
  naming === "windowsSafe" ? Ids.windowsSafeName(id) : id

/** The id a file name (without `.json`) stands for: {@link fileName} inverted. */
export const idOfFileName = (name: string, naming: FileNaming = "ids"): string =>
  naming === "windowsSafe" ? Ids.fromWindowsSafeName(name) : name

/**
 * The naming a chunk's file name was written with: chunk ids always hold `:` (the source id
 * starts with `aws:`), which Windows-safe names never do.
 */
const namingOfChunkFile = (name: string): FileNaming => (name.includes(":") ? "ids" : "windowsSafe")

/** The relative path of a chunk's file: `<collectionId>/<sourceId>/<chunkId>.json`. */
export const relativePath = (
  collectionId: string,
  extracted: ExtractedChunk.ExtractedChunk,
  naming: FileNaming = "ids"
): Result.Result<ReadonlyArray<string>, string> => {
  const segments = [
    collectionId,
    fileName(extracted.chunk.source.id, naming),
    `${fileName(extracted.chunk.id, naming)}.json`
  ]
  for (
    const [label, segment] of [["collection id", segments[0]!], ["source id", segments[1]!], [
      "chunk id",
      segments[2]!
    ]] as const
  ) {
    const problem = nameProblem(segment)
    if (problem !== undefined) return Result.fail(`the ${label} ${JSON.stringify(segment)} ${problem}`)
  }
  return Result.succeed(segments)
}

const compareNullable = (a: number | null, b: number | null): number =>
  a === b ? 0 : a === null ? 1 : b === null ? -1 : a - b

/** Put a source's nodes in document order: by start offset, then end offset, then id. */
export const documentOrder = (nodes: ReadonlyArray<TextNode.TextNode>): Array<TextNode.TextNode> =>
  [...nodes].sort((a, b) =>
    compareNullable(a.start_char_idx ?? null, b.start_char_idx ?? null) ||
    compareNullable(a.end_char_idx ?? null, b.end_char_idx ?? null) ||
    (a.id_ < b.id_ ? -1 : a.id_ > b.id_ ? 1 : 0)
  )

/** A source from its nodes: ordered, numbered, decoded. */
const toSource = (
  fallbackSourceId: string,
  nodes: ReadonlyArray<readonly [location: string, node: TextNode.TextNode]>
): Result.Result<ExtractedSource, SinkError> => {
  const locations = new Map(nodes.map(([location, node]) => [node, location]))
  const ordered = documentOrder(nodes.map(([, node]) => node))
  const chunks: Array<ExtractedChunk.ExtractedChunk> = []
  for (const [index, node] of ordered.entries()) {
    const extracted = TextNode.toExtracted(node, index)
    if (Result.isFailure(extracted)) {
      return Result.fail(
        new SinkError({
          operation: "read",
          location: locations.get(node) ?? fallbackSourceId,
          message: extracted.failure.message,
          cause: extracted.failure
        })
      )
    }
    chunks.push(extracted.success)
  }
  return Result.succeed({ sourceId: chunks[0]?.chunk.source.id ?? fallbackSourceId, chunks })
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

// -----------------------------------------------------------------------------
// Directory
// -----------------------------------------------------------------------------

/** Where and how the directory sink writes. */
export interface DirectoryOptions {
  /** The output directory (the reference's `docs_directory`). */
  readonly directory: string
  /** The collection (the reference's `collection_id`, a sub-directory). */
  readonly collectionId: string
  readonly fileNaming?: FileNaming | undefined
}

/** The temporary directory of atomic writes (beside the collections, never inside one). */
export const temporaryDirectoryName = ".batch-extract-tmp"

/**
 * Write a text file atomically: to a temporary file, then renamed over `file`, so a reader
 * sees the old content or the new, never half of it. Creates the file's directory.
 *
 * Details: the temporary file goes to `temporaryDirectory` (created if needed; default: the
 * file's own directory). It must be on the same file system as `file` (a rename is atomic
 * only there). On failure the temporary file is removed.
 */
export const writeFileAtomically = Effect.fn("Sink.writeFileAtomically")(
  function*(file: string, text: string, options?: { readonly temporaryDirectory?: string | undefined }) {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const directory = path.dirname(file)
    const temporaryDirectory = options?.temporaryDirectory ?? directory
    const suffix = (yield* Random.nextInt).toString(36).replace("-", "")
    const temporary = path.join(temporaryDirectory, `${path.basename(file)}.${suffix}.tmp`)
    const fail = (message: string) => (cause: unknown) =>
      new SinkError({ operation: "write", location: file, message, cause })
    yield* fs.makeDirectory(directory, { recursive: true }).pipe(
      Effect.mapError(fail("cannot create the file's directory"))
    )
    if (temporaryDirectory !== directory) {
      yield* fs.makeDirectory(temporaryDirectory, { recursive: true }).pipe(
        Effect.mapError(fail("cannot create the temporary directory"))
      )
    }
    yield* fs.writeFileString(temporary, text).pipe(
      Effect.andThen(fs.rename(temporary, file)),
      Effect.mapError(fail("cannot write the file")),
      Effect.onError(() => Effect.ignore(fs.remove(temporary, { force: true })))
    )
  }
)

/** Write one extracted chunk under a directory, atomically (temporary file + rename). */
export const writeToDirectory = Effect.fn("Sink.writeToDirectory")(
  function*(options: DirectoryOptions, extracted: ExtractedChunk.ExtractedChunk) {
    const path = yield* Path.Path
    const segments = relativePath(options.collectionId, extracted, options.fileNaming)
    if (Result.isFailure(segments)) {
      return yield* new SinkError({ operation: "write", location: options.directory, message: segments.failure })
    }
    yield* writeFileAtomically(
      path.join(options.directory, ...segments.success),
      TextNode.toJson(TextNode.fromExtracted(extracted)),
      { temporaryDirectory: path.join(options.directory, temporaryDirectoryName) }
    )
  }
)

/** A directory sink (captures the file system). */
export const directory = (
  options: DirectoryOptions
): Effect.Effect<Sink["Service"], never, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<FileSystem.FileSystem | Path.Path>()
    return Sink.of({
      write: (extracted) => writeToDirectory(options, extracted).pipe(Effect.provide(context))
    })
  })

/** The directory sink as a Layer. */
export const layerDirectory = (
  options: DirectoryOptions
): Layer.Layer<Sink, never, FileSystem.FileSystem | Path.Path> => Layer.effect(Sink, directory(options))

/** Whether the file of this chunk exists (to skip chunks already written, e.g. on resume). */
export const existsInDirectory = (
  options: DirectoryOptions,
  extracted: ExtractedChunk.ExtractedChunk
): Effect.Effect<boolean, SinkError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const segments = relativePath(options.collectionId, extracted, options.fileNaming)
    if (Result.isFailure(segments)) {
      return yield* new SinkError({ operation: "read", location: options.directory, message: segments.failure })
    }
    const target = path.join(options.directory, ...segments.success)
    return yield* fs.exists(target).pipe(
      Effect.mapError((cause) =>
        new SinkError({ operation: "read", location: target, message: `cannot check: ${cause.message}`, cause })
      )
    )
  })

/**
 * The ids of the chunks in a collection written by the directory sink (or by the reference),
 * from the file names alone — whichever naming wrote them (`ids` or `windowsSafe`; see
 * {@link idOfFileName}) — one per `.json` file of each source directory. A collection that
 * does not exist holds none.
 *
 * When to use: to leave out chunks already written (a checkpoint), without reading them.
 */
export const chunkIdsInDirectory = (
  options: Pick<DirectoryOptions, "directory" | "collectionId">
): Stream.Stream<string, SinkError, FileSystem.FileSystem | Path.Path> =>
  Stream.unwrap(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const collection = path.join(options.directory, options.collectionId)
    const listError = (location: string) => (cause: PlatformError.PlatformError) =>
      new SinkError({ operation: "list", location, message: `cannot list: ${cause.message}`, cause })
    if (!(yield* fs.exists(collection).pipe(Effect.mapError(listError(collection))))) return Stream.empty
    const sources = yield* fs.readDirectory(collection).pipe(Effect.mapError(listError(collection)))
    return Stream.fromIterable(sources).pipe(
      Stream.mapEffect((source) =>
        Effect.gen(function*() {
          const dir = path.join(collection, source)
          const info = yield* fs.stat(dir).pipe(Effect.mapError(listError(dir)))
          if (info.type !== "Directory") return []
          const files = yield* fs.readDirectory(dir).pipe(Effect.mapError(listError(dir)))
          return files.filter((file) => file.endsWith(".json")).map((file) => {
            const name = file.slice(0, -".json".length)
            return idOfFileName(name, namingOfChunkFile(name))
          })
        })
      ),
      Stream.flattenIterable
    )
  }))

/**
 * Read a collection written by the directory sink (or by the reference): one
 * {@link ExtractedSource} per source directory, in sorted order, its chunks in document order.
 * Files that are not `.json` are ignored; a `.json` file that is not a `TextNode` fails the
 * stream with a {@link SinkError}.
 */
export const readDirectory = (
  options: Pick<DirectoryOptions, "directory" | "collectionId">
): Stream.Stream<ExtractedSource, SinkError, FileSystem.FileSystem | Path.Path> =>
  Stream.unwrap(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const collection = path.join(options.directory, options.collectionId)
    const list = (dir: string) =>
      fs.readDirectory(dir).pipe(
        Effect.map((names) => [...names].sort(byName)),
        Effect.mapError((cause) =>
          new SinkError({ operation: "list", location: dir, message: `cannot list: ${cause.message}`, cause })
        )
      )
    const isDirectory = (p: string) =>
      fs.stat(p).pipe(
        Effect.map((info) => info.type === "Directory"),
        Effect.mapError((cause) =>
          new SinkError({ operation: "list", location: p, message: `cannot stat: ${cause.message}`, cause })
        )
      )
    const sourceNames = yield* list(collection)
    return Stream.fromIterable(sourceNames).pipe(
      Stream.mapEffect((name) => Effect.map(isDirectory(path.join(collection, name)), (dir) => [name, dir] as const)),
      Stream.filterMap(([name, dir]) => (dir ? Result.succeed(name) : Result.failVoid)),
      Stream.mapEffect((name) =>
        Effect.gen(function*() {
          const sourceDir = path.join(collection, name)
          const files = (yield* list(sourceDir)).filter((file) => file.endsWith(".json"))
          const nodes = yield* Effect.forEach(files, (file) => {
            const location = path.join(sourceDir, file)
            return fs.readFileString(location).pipe(
              Effect.mapError((cause) =>
                new SinkError({ operation: "read", location, message: `cannot read: ${cause.message}`, cause })
              ),
              Effect.flatMap((json) =>
                Effect.mapError(
                  Effect.fromResult(TextNode.fromJson(json)),
                  (cause) => new SinkError({ operation: "read", location, message: cause.message, cause })
                )
              ),
              Effect.map((node) => [location, node] as const)
            )
          })
          return yield* Effect.fromResult(toSource(name, nodes))
        })
      )
    )
  }))

// -----------------------------------------------------------------------------
// Object store
// -----------------------------------------------------------------------------

/** Where and how the object-store sink writes. */
export interface ObjectStoreOptions {
  readonly bucket: string
  /** A key prefix (the reference's `key_prefix`); keys are `<prefix>/<collectionId>/…`. */
  readonly prefix?: string | undefined
  readonly collectionId: string
  readonly fileNaming?: FileNaming | undefined
  /** SSE-KMS key for the objects. */
  readonly kmsKeyId?: string | undefined
}

const joinKey = (prefix: string | undefined, segments: ReadonlyArray<string>): string => {
  const base = prefix === undefined ? "" : prefix.replace(/\/+$/, "")
  return base === "" ? segments.join("/") : `${base}/${segments.join("/")}`
}

/** The object key of a chunk. */
export const objectKey = (
  options: Pick<ObjectStoreOptions, "prefix" | "collectionId" | "fileNaming">,
  extracted: ExtractedChunk.ExtractedChunk
): Result.Result<string, string> =>
  Result.map(
    relativePath(options.collectionId, extracted, options.fileNaming),
    (segments) => joinKey(options.prefix, segments)
  )

/** Write one extracted chunk to the object store (one put; retried on transient errors). */
export const writeToObjectStore = Effect.fn("Sink.writeToObjectStore")(
  function*(options: ObjectStoreOptions, extracted: ExtractedChunk.ExtractedChunk) {
    const key = objectKey(options, extracted)
    if (Result.isFailure(key)) {
      return yield* new SinkError({ operation: "write", location: `s3://${options.bucket}`, message: key.failure })
    }
    const ref = { bucket: options.bucket, key: key.success }
    const json = TextNode.toJson(TextNode.fromExtracted(extracted))
    yield* retryTransient(
      ObjectStore.putString(ref, json, { contentType: "application/json", kmsKeyId: options.kmsKeyId })
    ).pipe(
      Effect.mapError((cause) =>
        new SinkError({
          operation: "write",
          location: ObjectStore.toUri(ref),
          message: ServiceError.describe(cause),
          cause
        })
      )
    )
  }
)

/** An object-store sink (captures the store). */
export const objectStore = (
  options: ObjectStoreOptions
): Effect.Effect<Sink["Service"], never, ObjectStore.ObjectStore> =>
  Effect.gen(function*() {
    const store = yield* ObjectStore.ObjectStore
    return Sink.of({
      write: (extracted) =>
        writeToObjectStore(options, extracted).pipe(Effect.provideService(ObjectStore.ObjectStore, store))
    })
  })

/** The object-store sink as a Layer. */
export const layerObjectStore = (options: ObjectStoreOptions): Layer.Layer<Sink, never, ObjectStore.ObjectStore> =>
  Layer.effect(Sink, objectStore(options))

/**
 * Read a collection written by the object-store sink: one {@link ExtractedSource} per
 * source "directory", in key order, its chunks in document order. Chunks of a source are
 * gathered from the (sorted) listing, so memory holds one source at a time.
 */
export const readObjectStore = (
  options: Pick<ObjectStoreOptions, "bucket" | "prefix" | "collectionId">
): Stream.Stream<ExtractedSource, SinkError, ObjectStore.ObjectStore> => {
  const collectionPrefix = `${joinKey(options.prefix, [options.collectionId])}/`
  const sourceOf = (key: string): string | undefined => {
    const rest = key.slice(collectionPrefix.length).split("/")
    return rest.length === 2 && rest[1]!.endsWith(".json") ? rest[0] : undefined
  }
  return Stream.unwrap(Effect.gen(function*() {
    const store = yield* ObjectStore.ObjectStore
    const listing = store.list(options.bucket, collectionPrefix).pipe(
      Stream.mapError((cause) =>
        new SinkError({
          operation: "list",
          location: `s3://${options.bucket}/${collectionPrefix}`,
          message: ServiceError.describe(cause),
          cause
        })
      ),
      Stream.filterMap((info) => {
        const source = sourceOf(info.key)
        return source === undefined ? Result.failVoid : Result.succeed([source, info.key] as const)
      }),
      Stream.groupAdjacentBy(([source]) => source)
    )
    return listing.pipe(
      Stream.mapEffect(([source, entries]) =>
        Effect.gen(function*() {
          const nodes = yield* Effect.forEach(entries, ([, key]) => {
            const ref = { bucket: options.bucket, key }
            return ObjectStore.getString(ref).pipe(
              retryTransient,
              Effect.mapError((cause) =>
                new SinkError({
                  operation: "read",
                  location: ObjectStore.toUri(ref),
                  message: ServiceError.describe(cause),
                  cause
                })
              ),
              Effect.flatMap((json) =>
                Effect.mapError(
                  Effect.fromResult(TextNode.fromJson(json)),
                  (cause) =>
                    new SinkError({
                      operation: "read",
                      location: ObjectStore.toUri(ref),
                      message: cause.message,
                      cause
                    })
                )
              ),
              Effect.map((node) => [ObjectStore.toUri(ref), node] as const)
            )
          })
          return yield* Effect.fromResult(toSource(source, nodes))
        }).pipe(Effect.provideService(ObjectStore.ObjectStore, store))
      )
    )
  }))
}

/** Whether an object exists for this chunk (to skip chunks already written, e.g. on resume). */
export const existsInObjectStore = (
  options: Pick<ObjectStoreOptions, "bucket" | "prefix" | "collectionId" | "fileNaming">,
  extracted: ExtractedChunk.ExtractedChunk
): Effect.Effect<boolean, SinkError, ObjectStore.ObjectStore> => {
  const key = objectKey(options, extracted)
  if (Result.isFailure(key)) {
    return Effect.fail(new SinkError({ operation: "read", location: `s3://${options.bucket}`, message: key.failure }))
  }
  return ObjectStore.ObjectStore.use((store) => store.head({ bucket: options.bucket, key: key.success })).pipe(
    Effect.map(Option.isSome),
    Effect.mapError((cause) =>
      new SinkError({
        operation: "read",
        location: `s3://${options.bucket}/${key.success}`,
        message: ServiceError.describe(cause),
        cause
      })
    )
  )
}
