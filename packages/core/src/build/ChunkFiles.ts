/**
 * Chunk files read back for a build: `<dir>/<collection>/<sourceId>/*.json` (LlamaIndex
 * TextNode files), as the sinks write them and as the reference's extract stage writes them.
 * Everything else is ignored: files beside the collection (`summary.json`), files that are not
 * `.json`, and hidden entries (`.batch-extract`, temporary directories).
 *
 * Sources are read in name order and one at a time, so memory holds one source's chunks; a
 * source's chunks come in document order (`start_char_idx`, then id), the build's fixed order.
 *
 * When to use: `batch-extract build <dir | s3://prefix>` reads with it; {@link check} reads
 * everything once without building, so a corpus with a bad file is refused before anything is
 * written.
 *
 * @since 0.3.0
 */
import { Data, Effect, FileSystem, Path, Result, Stream } from "effect"
import * as ObjectStore from "../engine/ObjectStore.ts"
import { retryTransient } from "../engine/ServiceError.ts"
import * as ServiceError from "../engine/ServiceError.ts"
import * as GraphModel from "./GraphModel.ts"

/** A chunk file could not be listed, read or decoded. */
export class ChunkFileError extends Data.TaggedError("ChunkFileError")<{
  /** The file, directory or object (`s3://…`). */
  readonly location: string
  readonly message: string
  readonly cause?: unknown
}> {}

/** Where the chunk files are: a directory, or a bucket and key prefix. */
export type Location =
  | { readonly _tag: "Directory"; readonly directory: string; readonly collectionId: string }
  | { readonly _tag: "ObjectStore"; readonly bucket: string; readonly prefix: string; readonly collectionId: string }

/** A location from a command-line argument: `s3://bucket/prefix` or a directory. */
export const locationOf = (target: string, collectionId: string): Location => {
  if (!target.startsWith("s3://")) return { _tag: "Directory", directory: target, collectionId }
  const rest = target.slice("s3://".length)
  const slash = rest.indexOf("/")
  return {
    _tag: "ObjectStore",
    bucket: slash < 0 ? rest : rest.slice(0, slash),
    prefix: slash < 0 ? "" : rest.slice(slash + 1).replace(/\/+$/, ""),
    collectionId
  }
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)
const hidden = (name: string) => name.startsWith(".")

/** Decode one file's text; the error names the file. */
export const decode = (location: string, json: string): Result.Result<GraphModel.ChunkInput, ChunkFileError> => {
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch (cause) {
    return Result.fail(new ChunkFileError({ location, message: `${location}: not valid JSON`, cause }))
  }
  return Result.mapError(
    GraphModel.decodeChunk(value),
    (cause) => new ChunkFileError({ location, message: `${location}: ${cause.message}`, cause })
  )
}

const inDocumentOrder = (chunks: Array<GraphModel.ChunkInput>): Array<GraphModel.ChunkInput> =>
  chunks.sort((a, b) =>
    GraphModel.compareOrder(
      { sourceId: "", startCharIdx: a.start_char_idx ?? null, chunkId: a.id_ },
      { sourceId: "", startCharIdx: b.start_char_idx ?? null, chunkId: b.id_ }
    )
  )

const fromDirectory = (
  directory: string,
  collectionId: string
): Stream.Stream<ReadonlyArray<GraphModel.ChunkInput>, ChunkFileError, FileSystem.FileSystem | Path.Path> =>
  Stream.unwrap(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const collection = path.join(directory, collectionId)
    const list = (dir: string) =>
      fs.readDirectory(dir).pipe(
        Effect.map((names) => names.filter((name) => !hidden(name)).sort(byName)),
        Effect.mapError((cause) =>
          new ChunkFileError({ location: dir, message: `cannot list ${dir}: ${cause.message}`, cause })
        )
      )
    const isDirectory = (p: string) =>
      fs.stat(p).pipe(
        Effect.map((info) => info.type === "Directory"),
        Effect.mapError((cause) =>
          new ChunkFileError({ location: p, message: `cannot read ${p}: ${cause.message}`, cause })
        )
      )
    const sources = yield* list(collection)
    return Stream.fromIterable(sources).pipe(
      Stream.mapEffect((name) => Effect.map(isDirectory(path.join(collection, name)), (dir) => [name, dir] as const)),
      Stream.filterMap(([name, dir]) => (dir ? Result.succeed(path.join(collection, name)) : Result.failVoid)),
      Stream.mapEffect((sourceDir) =>
        Effect.gen(function*() {
          const files = (yield* list(sourceDir)).filter((file) => file.endsWith(".json"))
          const chunks = yield* Effect.forEach(files, (file) => {
            const location = path.join(sourceDir, file)
            return fs.readFileString(location).pipe(
              Effect.mapError((cause) =>
                new ChunkFileError({ location, message: `cannot read ${location}: ${cause.message}`, cause })
              ),
              Effect.flatMap((json) => Effect.fromResult(decode(location, json)))
            )
          })
          return inDocumentOrder(chunks)
        })
      )
    )
  }))

const fromObjectStore = (
  bucket: string,
  prefix: string,
  collectionId: string
): Stream.Stream<ReadonlyArray<GraphModel.ChunkInput>, ChunkFileError, ObjectStore.ObjectStore> => {
  const collectionPrefix = `${prefix === "" ? "" : `${prefix}/`}${collectionId}/`
  const sourceOf = (key: string): string | undefined => {
    const rest = key.slice(collectionPrefix.length).split("/")
    return rest.length === 2 && !hidden(rest[0]!) && !hidden(rest[1]!) && rest[1]!.endsWith(".json")
      ? rest[0]
      : undefined
  }
  return Stream.unwrap(Effect.gen(function*() {
    const store = yield* ObjectStore.ObjectStore
    return store.list(bucket, collectionPrefix).pipe(
      Stream.mapError((cause) =>
        new ChunkFileError({
          location: `s3://${bucket}/${collectionPrefix}`,
          message: `cannot list s3://${bucket}/${collectionPrefix}: ${ServiceError.describe(cause)}`,
          cause
        })
      ),
      Stream.filterMap((info) => {
        const source = sourceOf(info.key)
        return source === undefined ? Result.failVoid : Result.succeed([source, info.key] as const)
      }),
      Stream.groupAdjacentBy(([source]) => source),
      Stream.mapEffect(([, entries]) =>
        Effect.forEach(entries, ([, key]) => {
          const ref = { bucket, key }
          const location = ObjectStore.toUri(ref)
          return ObjectStore.getString(ref).pipe(
            retryTransient,
            Effect.mapError((cause) =>
              new ChunkFileError({
                location,
                message: `cannot read ${location}: ${ServiceError.describe(cause)}`,
                cause
              })
            ),
            Effect.flatMap((json) => Effect.fromResult(decode(location, json)))
          )
        }).pipe(Effect.map(inDocumentOrder), Effect.provideService(ObjectStore.ObjectStore, store))
      )
    )
  }))
}

type Sources = Stream.Stream<
  ReadonlyArray<GraphModel.ChunkInput>,
  ChunkFileError,
  FileSystem.FileSystem | Path.Path | ObjectStore.ObjectStore
>

const sourcesOf = (location: Location): Sources =>
  location._tag === "Directory"
    ? fromDirectory(location.directory, location.collectionId)
    : fromObjectStore(location.bucket, location.prefix, location.collectionId)

/**
 * The chunks of a location, source by source (name order), each source's in document order.
 * Fails at the first file that cannot be read or is not a chunk file.
 */
export const read = (
  location: Location
): Stream.Stream<GraphModel.ChunkInput, ChunkFileError, FileSystem.FileSystem | Path.Path | ObjectStore.ObjectStore> =>
  Stream.flattenIterable(sourcesOf(location))

/** What {@link check} found. */
export interface Checked {
  /** Source directories holding chunk files. */
  readonly sources: number
  readonly chunks: number
}

const where = (location: Location) =>
  location._tag === "Directory"
    ? `${location.directory}/${location.collectionId}`
    : `s3://${location.bucket}/${location.prefix === "" ? "" : `${location.prefix}/`}${location.collectionId}`

/**
 * Read every chunk file once, building nothing (one source in memory at a time): the counts,
 * or the first bad file. No chunk file at all is an error too.
 */
export const check = (
  location: Location
): Effect.Effect<Checked, ChunkFileError, FileSystem.FileSystem | Path.Path | ObjectStore.ObjectStore> =>
  Effect.gen(function*() {
    const counts = { sources: 0, chunks: 0 }
    yield* Stream.runForEach(sourcesOf(location), (chunks) =>
      Effect.sync(() => {
        if (chunks.length === 0) return
        counts.sources += 1
        counts.chunks += chunks.length
      }))
    if (counts.chunks === 0) {
      return yield* new ChunkFileError({
        location: where(location),
        message: `no chunk files under ${where(location)}`
      })
    }
    return counts
  })
