/**
 * The command's output (`--out`): a local directory or an `s3://bucket/prefix`, in the same
 * layout — chunks at `<out>/<collectionId>/<sourceId>/<chunkId>.json` (what graphrag-toolkit's
 * build stage reads: `FileBasedDocs` or `S3BasedDocs`) and the run's `summary.json` at
 * `<out>/summary.json`.
 *
 * When to use: {@link check} while validating a command line, {@link sinkOf} for the run's
 * sink, {@link writeSummary} at its end, {@link describe} and {@link locationOf} in messages.
 *
 * Details: anything that is not an `s3://` URI is a local directory. In the object store the
 * prefix is a key prefix (trailing slashes ignored; `s3://bucket` writes at the bucket's
 * root); uploads carry the object store's configured KMS key and bucket owner.
 *
 * Gotchas: {@link check} writes (and removes) one small object, `<prefix>/.batch-extract-write-check`,
 * as only a write proves that these credentials may write there (and that the KMS key may be
 * used); if the credentials may write but not delete, that object stays.
 *
 * @since 0.1.0
 */
import { type BatchConfig, ObjectStore, ServiceError, Sink } from "@batch-extract/core"
import { Effect, FileSystem, Path, Result } from "effect"
import * as Inputs from "./Inputs.ts"

/** Where the issues of {@link check} are reported (the command's flag). */
export const issuePath = "out"

/** The key of the object {@link check} writes and removes under an `s3://` output. */
export const probeName = ".batch-extract-write-check"

/** Where output goes: a local directory, or a bucket and key prefix. */
type Target =
  | { readonly _tag: "Directory"; readonly directory: string }
  | { readonly _tag: "Objects"; readonly bucket: string; readonly prefix: string }

const targetOf = (out: string): Result.Result<Target, string> => {
  if (!Inputs.isObjectUri(out)) return Result.succeed({ _tag: "Directory", directory: out })
  return Result.map(
    Inputs.parseObjectUri(out),
    (ref): Target => ({ _tag: "Objects", bucket: ref.bucket, prefix: ref.key.replace(/\/+$/, "") })
  )
}

const keyOf = (prefix: string, segments: ReadonlyArray<string>): string =>
  prefix === "" ? segments.join("/") : `${prefix}/${segments.join("/")}`

/**
 * The output for messages: the directory as given, or `s3://bucket/prefix` (without a
 * trailing slash). A malformed URI is returned as it is.
 */
export const describe = (out: string): string => {
  const target = targetOf(out)
  if (Result.isFailure(target)) return out
  return target.success._tag === "Directory"
    ? target.success.directory
    : `s3://${target.success.bucket}${target.success.prefix === "" ? "" : `/${target.success.prefix}`}`
}

/**
 * A location under the output, for messages and reports: `path.join(out, …segments)` for a
 * directory, `s3://bucket/prefix/…segments` for the object store (e.g. `locationOf(out,
 * "summary.json")`, `locationOf(out, collectionId)`).
 */
export const locationOf = (out: string, ...segments: ReadonlyArray<string>): Effect.Effect<string, never, Path.Path> =>
  Effect.gen(function*() {
    const target = targetOf(out)
    if (Result.isFailure(target)) return [out, ...segments].join("/")
    if (target.success._tag === "Directory") {
      const path = yield* Path.Path
      return path.join(target.success.directory, ...segments)
    }
    return ObjectStore.toUri({ bucket: target.success.bucket, key: keyOf(target.success.prefix, segments) })
  })

/** Options of {@link sinkOf}. */
export interface SinkOptions {
  readonly fileNaming?: Sink.FileNaming | undefined
  /** SSE-KMS key of the chunk objects (default: the object store's). */
  readonly kmsKeyId?: string | undefined
}

/**
 * The sink of a run's chunks: `Sink.directory` under a directory, `Sink.objectStore` under
 * an `s3://bucket/prefix` — the same layout, `<out>/<collectionId>/<sourceId>/<chunkId>.json`.
 *
 * Fails with a `Sink.SinkError` only for a malformed `s3://` URI ({@link check} reports it
 * first).
 */
export const sinkOf = (
  out: string,
  collectionId: string,
  options: SinkOptions = {}
): Effect.Effect<Sink.Sink["Service"], Sink.SinkError, FileSystem.FileSystem | Path.Path | ObjectStore.ObjectStore> =>
  Effect.gen(function*() {
    const target = targetOf(out)
    if (Result.isFailure(target)) {
      return yield* new Sink.SinkError({ operation: "write", location: out, message: target.failure })
    }
    return target.success._tag === "Directory"
      ? yield* Sink.directory({ directory: target.success.directory, collectionId, fileNaming: options.fileNaming })
      : yield* Sink.objectStore({
        bucket: target.success.bucket,
        prefix: target.success.prefix,
        collectionId,
        fileNaming: options.fileNaming,
        kmsKeyId: options.kmsKeyId
      })
  })

/**
 * Write the run's `summary.json`: atomically in a directory (`Sink.writeFileAtomically`: a
 * reader sees the old file or the new one), as the object `<prefix>/summary.json` (one put,
 * which S3 makes visible whole; retried on transient errors).
 */
export const writeSummary = (
  out: string,
  text: string
): Effect.Effect<void, Sink.SinkError, FileSystem.FileSystem | Path.Path | ObjectStore.ObjectStore> =>
  Effect.gen(function*() {
    const target = targetOf(out)
    if (Result.isFailure(target)) {
      return yield* new Sink.SinkError({ operation: "write", location: out, message: target.failure })
    }
    if (target.success._tag === "Directory") {
      const path = yield* Path.Path
      return yield* Sink.writeFileAtomically(path.join(target.success.directory, "summary.json"), text)
    }
    const ref = { bucket: target.success.bucket, key: keyOf(target.success.prefix, ["summary.json"]) }
    yield* ServiceError.retryTransient(ObjectStore.putString(ref, text, { contentType: "application/json" })).pipe(
      Effect.mapError((cause) =>
        new Sink.SinkError({
          operation: "write",
          location: ObjectStore.toUri(ref),
          message: ServiceError.describe(cause),
          cause
        })
      )
    )
  })

const issue = (message: string): BatchConfig.ConfigIssue => ({ path: issuePath, message })

/** Whether these credentials may write under an `s3://` output: a small put, then its delete. */
const checkObjects = (
  out: string,
  bucket: string,
  prefix: string
): Effect.Effect<ReadonlyArray<BatchConfig.ConfigIssue>, never, ObjectStore.ObjectStore> =>
  Effect.gen(function*() {
    const store = yield* ObjectStore.ObjectStore
    const probe = keyOf(prefix, [probeName])
    const written = yield* ServiceError.retryTransient(
      ObjectStore.putString({ bucket, key: probe }, "batch-extract checks it may write here\n", {
        contentType: "text/plain"
      })
    ).pipe(Effect.result)
    if (Result.isFailure(written)) {
      const error = written.failure
      switch (error._tag) {
        case "NotFound":
          return [issue(`${out}: the bucket "${bucket}" does not exist (${ServiceError.describe(error)})`)]
        case "AccessDenied":
          return [
            issue(`${out}: access denied: these AWS credentials may not write there (${ServiceError.describe(error)})`)
          ]
        default:
          return [issue(`${out}: cannot write there: ${ServiceError.describe(error)}`)]
      }
    }
    // Writing is what the run needs; a delete refused leaves the small probe behind, no more.
    yield* store.deleteMany(bucket, [probe]).pipe(
      Effect.catch((error) =>
        Effect.logWarning(
          `could not remove ${ObjectStore.toUri({ bucket, key: probe })}: ${ServiceError.describe(error)}`
        )
      )
    )
    return []
  })

/**
 * Every problem with the output: a malformed `s3://` URI, a bucket that does not exist or
 * that these credentials may not write to (`AccessDenied`: a put refused, for want of
 * `s3:PutObject` or of the KMS key); a local path that exists but is not a directory. Each
 * issue (at `path: "out"`) names the output and the cause.
 *
 * Gotchas: for an `s3://` output this writes and removes one small object (see the module
 * doc); a missing local directory is no problem (it is created).
 */
export const check = (
  out: string
): Effect.Effect<ReadonlyArray<BatchConfig.ConfigIssue>, never, FileSystem.FileSystem | ObjectStore.ObjectStore> =>
  Effect.gen(function*() {
    const target = targetOf(out)
    if (Result.isFailure(target)) return [issue(`${out}: not a valid object URI: ${target.failure}`)]
    if (target.success._tag === "Objects") return yield* checkObjects(out, target.success.bucket, target.success.prefix)
    const fs = yield* FileSystem.FileSystem
    const info = yield* Effect.result(fs.stat(target.success.directory))
    return Result.isSuccess(info) && info.success.type !== "Directory" ? [issue(`${out}: not a directory`)] : []
  })
