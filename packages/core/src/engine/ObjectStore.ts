/**
 * The object-store port (Amazon S3 in production): where batch input files are staged and
 * where Bedrock writes job outputs.
 *
 * Bodies move as `Stream`s of bytes in both directions, so a multi-gigabyte JSONL file is
 * never held whole in memory. Listing is a paginated `Stream`.
 *
 * Live Layer: `@batch-extract/aws` (S3 with multipart upload). For tests:
 * `@batch-extract/core/testing` (`InMemoryObjectStore`).
 *
 * @since 0.1.0
 */
import { Context, Effect, Option, Stream } from "effect"
import { splitUtf8Lines } from "../internal/lines.ts"
import type { ServiceError } from "./ServiceError.ts"

/** A bucket and a key. */
export interface ObjectRef {
  readonly bucket: string
  readonly key: string
}

/** What a listing or a head returns about an object. */
export interface ObjectInfo {
  readonly key: string
  readonly size: number
  readonly lastModified?: Date | undefined
}

/** Options for an upload. */
export interface PutOptions {
  readonly contentType?: string | undefined
  /** SSE-KMS: the KMS key (id, ARN or alias) to encrypt the object with. */
  readonly kmsKeyId?: string | undefined
}

/** What an upload returns. */
export interface PutResult {
  /** Bytes written. */
  readonly size: number
}

/**
 * The object-store service.
 *
 * Gotchas:
 * - `put` consumes the body stream once; a failed upload is not retried by the port
 *   (the caller owns retries so they do not multiply).
 * - `head` returns `Option.none()` for a missing object instead of failing.
 */
export class ObjectStore extends Context.Service<ObjectStore, {
  /** Upload an object from a stream of bytes (multipart for large bodies). */
  readonly put: <E>(
    ref: ObjectRef,
    body: Stream.Stream<Uint8Array, E>,
    options?: PutOptions
  ) => Effect.Effect<PutResult, ServiceError | E>
  /** Download an object as a stream of bytes. Fails with `NotFound` when it is missing. */
  readonly get: (ref: ObjectRef) => Stream.Stream<Uint8Array, ServiceError>
  /** List the objects under a prefix, following pagination. */
  readonly list: (bucket: string, prefix: string) => Stream.Stream<ObjectInfo, ServiceError>
  /** Describe one object, or `none` when it does not exist. */
  readonly head: (ref: ObjectRef) => Effect.Effect<Option.Option<ObjectInfo>, ServiceError>
  /** Delete many objects (missing ones are ignored). */
  readonly deleteMany: (bucket: string, keys: ReadonlyArray<string>) => Effect.Effect<void, ServiceError>
}>()("@batch-extract/core/ObjectStore") {}

const encoder = new TextEncoder()

/** Upload a UTF-8 string. */
export const putString = Effect.fnUntraced(function*(ref: ObjectRef, text: string, options?: PutOptions) {
  const store = yield* ObjectStore
  return yield* store.put(ref, Stream.make(encoder.encode(text)), options)
})

/** Download an object and decode it as UTF-8. */
export const getString = (ref: ObjectRef): Effect.Effect<string, ServiceError, ObjectStore> =>
  ObjectStore.use((store) => store.get(ref).pipe(Stream.decodeText(), Stream.mkString))

/**
 * Download an object as a stream of UTF-8 lines (without their line breaks: "\n", "\r\n" or
 * "\r"). Each piece of the body is decoded and split natively, so reading a large output file
 * costs about what reading it whole and splitting it would.
 */
export const getLines = (ref: ObjectRef): Stream.Stream<string, ServiceError, ObjectStore> =>
  Stream.unwrap(ObjectStore.use((store) => Effect.succeed(splitUtf8Lines(store.get(ref)))))

/** Download an object as a string if it exists. */
export const getStringOption = (
  ref: ObjectRef
): Effect.Effect<Option.Option<string>, ServiceError, ObjectStore> =>
  Effect.gen(function*() {
    const store = yield* ObjectStore
    const info = yield* store.head(ref)
    if (Option.isNone(info)) return Option.none()
    return Option.some(yield* getString(ref))
  })

/** `s3://bucket/key` for a reference. */
export const toUri = (ref: ObjectRef): string => `s3://${ref.bucket}/${ref.key}`

/** Parse an `s3://bucket/key` URI. */
export const fromUri = (uri: string): Option.Option<ObjectRef> => {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri)
  return match === null ? Option.none() : Option.some({ bucket: match[1]!, key: match[2] ?? "" })
}
