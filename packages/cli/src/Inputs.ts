/**
 * The command's inputs: local files and directories, and objects under `s3://bucket/prefix`
 * URIs — listed in a deterministic order, checked before a run, and read as documents.
 *
 * When to use: {@link check} while validating a command line (every problem, nothing
 * written), {@link list} to plan a run over its inputs, {@link read} to read the planned
 * files (all of them, or a share of them) as `Document.ReadResult`s.
 *
 * Details:
 * - A local file is itself; a local directory is every file under it, in the order and with
 *   the selection `Document.fromDirectory` uses (unsupported files included: reading them
 *   reports their skip).
 * - `s3://bucket/key` naming an object is that object. Otherwise it is a prefix, read like a
 *   directory: every object under `key/` (the whole bucket for `s3://bucket` or
 *   `s3://bucket/`; a key ending in `/` is the prefix itself) with a supported extension
 *   (`Document.supportedExtensions`), sorted by key.
 * - Reading gives exactly what reading the directory or prefix whole would give for those
 *   files: a file found in a directory records its path relative to the directory under
 *   `pathMetadataKey` (as `Document.fromDirectory` does), a file given alone its path, an
 *   object its `s3://bucket/key` URI.
 *
 * Gotchas: object-store calls are retried on throttling and unavailability; a listing is
 * collected whole (to be sorted), so a prefix of millions of keys takes memory for their
 * names.
 *
 * @since 0.1.0
 */
import { BatchConfig, Document, ObjectStore, ServiceError } from "@batch-extract/core"
import { Effect, FileSystem, Option, Path, Result, Stream } from "effect"

// -----------------------------------------------------------------------------
// Model
// -----------------------------------------------------------------------------

/** One input file: a local file or an object. */
export interface InputFile {
  /** An absolute local path or an `s3://bucket/key` URI. */
  readonly location: string
  /** Its size in bytes (0 for a local file that could not be stat'ed: reading it reports it). */
  readonly size: number
  /**
   * For a file found under a local directory, its path relative to the directory: what
   * `pathMetadataKey` records (as `Document.fromDirectory` does) and what selects it by
   * extension. Absent for a file given alone and for objects.
   */
  readonly relativePath?: string | undefined
}

/** Where the issues of {@link check} are reported (the command's positional arguments). */
export const issuePath = "paths"

/** Whether an input is an object-store URI (`s3://…`) rather than a local path. */
export const isObjectUri = (s: string): boolean => /^s3:\/\//i.test(s)

/**
 * Parse an `s3://bucket/key` URI (the key may be empty or a prefix), or say why it is not
 * one: the scheme is not lower case `s3://`, the bucket is missing or breaks S3's naming rules.
 */
export const parseObjectUri = (uri: string): Result.Result<ObjectStore.ObjectRef, string> => {
  if (!uri.startsWith("s3://")) return Result.fail("expected s3://bucket/prefix (the scheme in lower case)")
  const ref = ObjectStore.fromUri(uri)
  if (Option.isNone(ref) || ref.value.bucket === "") return Result.fail("no bucket name: expected s3://bucket/prefix")
  const problem = BatchConfig.bucketNameProblem(ref.value.bucket)
  if (problem !== undefined) return Result.fail(`the bucket name "${ref.value.bucket}" ${problem}`)
  return Result.succeed(ref.value)
}

// -----------------------------------------------------------------------------
// Internals
// -----------------------------------------------------------------------------

const byKey = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/** A key's extension (lower case, with the dot), as `path.extname` gives a file's. */
const extensionOfKey = (key: string): string => {
  const name = key.slice(key.lastIndexOf("/") + 1)
  const dot = name.lastIndexOf(".")
  return dot <= 0 ? "" : name.slice(dot).toLowerCase()
}

/** Whether a listed key is a document the readers handle (not a "folder" marker). */
const isDocumentKey = (key: string): boolean =>
  !key.endsWith("/") && Document.supportedExtensions.includes(extensionOfKey(key))

/** The prefix an object URI's key stands for when it names no object (read like a directory). */
const prefixOf = (key: string): string => (key === "" || key.endsWith("/") ? key : `${key}/`)

/** Whether a key may name one object (a prefix ending in `/`, or none, cannot). */
const mayNameObject = (key: string): boolean => key !== "" && !key.endsWith("/")

// -----------------------------------------------------------------------------
// Listing
// -----------------------------------------------------------------------------

const localFiles = (
  input: string
): Stream.Stream<InputFile, Document.DocumentError, FileSystem.FileSystem | Path.Path> =>
  Stream.unwrap(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const location = path.resolve(input)
    const info = yield* fs.stat(location).pipe(
      Effect.mapError((error) =>
        new Document.DocumentError({
          path: input,
          reason: "Unreadable",
          message: `cannot read: ${error.message}`,
          cause: error
        })
      )
    )
    if (info.type !== "Directory") return Stream.succeed<InputFile>({ location, size: Number(info.size) })
    const files = yield* Document.listDirectory(location)
    return Stream.fromIterable(files.map((file): InputFile => ({
      location: file.path,
      size: file.size,
      relativePath: file.name
    })))
  }))

const listingError = (uri: string) => (error: ServiceError.ServiceError) =>
  new Document.DocumentError({
    path: uri,
    reason: "Unreadable",
    message: `cannot list: ${ServiceError.describe(error)}`,
    cause: error
  })

const objects = (uri: string): Stream.Stream<InputFile, Document.DocumentError, ObjectStore.ObjectStore> =>
  Stream.unwrap(Effect.gen(function*() {
    const parsed = parseObjectUri(uri)
    if (Result.isFailure(parsed)) {
      return yield* new Document.DocumentError({ path: uri, reason: "Unreadable", message: parsed.failure })
    }
    const { bucket, key } = parsed.success
    const store = yield* ObjectStore.ObjectStore
    if (mayNameObject(key)) {
      const info = yield* ServiceError.retryTransient(store.head({ bucket, key })).pipe(
        Effect.mapError(listingError(uri))
      )
      if (Option.isSome(info)) {
        return Stream.succeed<InputFile>({ location: ObjectStore.toUri({ bucket, key }), size: info.value.size })
      }
    }
    const listed = yield* ServiceError.retryTransient(Stream.runCollect(store.list(bucket, prefixOf(key)))).pipe(
      Effect.mapError(listingError(uri))
    )
    const files = listed
      .filter((object) => isDocumentKey(object.key))
      .sort((a, b) => byKey(a.key, b.key))
      .map((object): InputFile => ({ location: ObjectStore.toUri({ bucket, key: object.key }), size: object.size }))
    return Stream.fromIterable(files)
  }))

/**
 * The files of the given inputs, in a deterministic order: the inputs in the given order,
 * each one's files as the module doc says (a directory's in `Document.fromDirectory`'s
 * order, a prefix's objects sorted by key). Local paths come out absolute.
 *
 * Fails with a `Document.DocumentError` (its `path` the input as given) when an input cannot
 * be listed: a missing local path, a malformed URI, a missing bucket, a listing refused;
 * {@link check} reports all of those first.
 */
export const list = (
  paths: ReadonlyArray<string>
): Stream.Stream<InputFile, Document.DocumentError, FileSystem.FileSystem | Path.Path | ObjectStore.ObjectStore> =>
  Stream.fromIterable(paths).pipe(
    Stream.flatMap((input): Stream.Stream<
      InputFile,
      Document.DocumentError,
      FileSystem.FileSystem | Path.Path | ObjectStore.ObjectStore
    > => (isObjectUri(input) ? objects(input) : localFiles(input)))
  )

// -----------------------------------------------------------------------------
// Reading
// -----------------------------------------------------------------------------

/** Adjacent files read by one reader, so objects are fetched ahead across a run of them. */
type Run =
  | { readonly _tag: "Objects"; readonly refs: Array<ObjectStore.ObjectRef> }
  | { readonly _tag: "Listed"; readonly files: Array<Document.ListedFile> }
  | { readonly _tag: "Files"; readonly files: Array<string> }
  | { readonly _tag: "Invalid"; readonly skip: Document.Skipped }

const runsOf = (files: ReadonlyArray<InputFile>): Array<Run> => {
  const runs: Array<Run> = []
  for (const file of files) {
    const last = runs[runs.length - 1]
    if (isObjectUri(file.location)) {
      const ref = parseObjectUri(file.location)
      if (Result.isFailure(ref)) {
        runs.push({
          _tag: "Invalid",
          skip: { _tag: "Skipped", path: file.location, reason: "Unreadable", message: ref.failure }
        })
      } else if (last?._tag === "Objects") last.refs.push(ref.success)
      else runs.push({ _tag: "Objects", refs: [ref.success] })
    } else if (file.relativePath !== undefined) {
      const listed = { path: file.location, name: file.relativePath }
      if (last?._tag === "Listed") last.files.push(listed)
      else runs.push({ _tag: "Listed", files: [listed] })
    } else if (last?._tag === "Files") last.files.push(file.location)
    else runs.push({ _tag: "Files", files: [file.location] })
  }
  return runs
}

/**
 * Read input files (from {@link list}) as documents, in the given order: local files with
 * the file readers (`Document.fromListedFiles` for files found in a directory,
 * `Document.fromFiles` for files given alone), objects with `Document.fromObjects` — the
 * same results reading their directory or prefix whole gives for them.
 *
 * Never fails: a file that cannot be read or parsed is a `Skipped` result with its reason.
 */
export const read = (
  files: ReadonlyArray<InputFile>,
  readerOptions: Document.ReaderOptions
): Stream.Stream<Document.ReadResult, never, FileSystem.FileSystem | Path.Path | ObjectStore.ObjectStore> =>
  Stream.fromIterable(runsOf(files)).pipe(
    Stream.flatMap((run): Stream.Stream<
      Document.ReadResult,
      never,
      FileSystem.FileSystem | Path.Path | ObjectStore.ObjectStore
    > => {
      switch (run._tag) {
        case "Objects":
          return Document.fromObjects(run.refs, readerOptions)
        case "Listed":
          return Document.fromListedFiles(run.files, readerOptions)
        case "Files":
          return Document.fromFiles(run.files, readerOptions)
        case "Invalid":
          return Stream.succeed(run.skip)
      }
    })
  )

// -----------------------------------------------------------------------------
// Checking
// -----------------------------------------------------------------------------

const issue = (message: string): BatchConfig.ConfigIssue => ({ path: issuePath, message })

/** Why an object-store call refused an input, as an issue (and whether access was refused). */
const refusal = (uri: string, bucket: string, action: "list" | "read") =>
(
  error: ServiceError.ServiceError
): { readonly issue: BatchConfig.ConfigIssue; readonly refusedAccess: boolean } => {
  switch (error._tag) {
    case "AccessDenied":
      return {
        issue: issue(
          `${uri}: access denied: these AWS credentials may not ${action} it (${ServiceError.describe(error)})`
        ),
        refusedAccess: true
      }
    case "NotFound":
      return {
        issue: issue(`${uri}: the bucket "${bucket}" does not exist (${ServiceError.describe(error)})`),
        refusedAccess: false
      }
    default:
      return {
        issue: issue(`${uri}: cannot ${action} it: ${ServiceError.describe(error)}`),
        refusedAccess: false
      }
  }
}

/** The problems of one `s3://` input: malformed, missing bucket, nothing to read, not readable. */
const checkObjects = (
  uri: string
): Effect.Effect<ReadonlyArray<BatchConfig.ConfigIssue>, never, ObjectStore.ObjectStore> =>
  Effect.gen(function*() {
    const parsed = parseObjectUri(uri)
    if (Result.isFailure(parsed)) return [issue(`${uri}: not a valid object URI: ${parsed.failure}`)]
    const { bucket, key } = parsed.success
    const store = yield* ObjectStore.ObjectStore
    // `HeadObject` needs read access to the object, so a head that succeeds proves it readable.
    const readable = (objectKey: string) =>
      ServiceError.retryTransient(store.head({ bucket, key: objectKey })).pipe(
        Effect.mapError(refusal(uri, bucket, "read"))
      )
    // A head refused may be a prefix's (S3 refuses heads of missing keys without list access):
    // the listing tells.
    let headRefused: BatchConfig.ConfigIssue | undefined
    if (mayNameObject(key)) {
      const named = yield* Effect.result(readable(key))
      if (Result.isSuccess(named) && Option.isSome(named.success)) return []
      if (Result.isFailure(named)) {
        if (named.failure.refusedAccess) headRefused = named.failure.issue
        else return [named.failure.issue]
      }
    }
    // The listing up to the first document, and how many objects came before it.
    const firstDocument = Effect.suspend(() => {
      let listed = 0
      return store.list(bucket, prefixOf(key)).pipe(
        Stream.tap(() =>
          Effect.sync(() => {
            listed++
          })
        ),
        Stream.filter((object) => isDocumentKey(object.key)),
        Stream.runHead,
        Effect.map((document) => ({ document, listed }))
      )
    })
    const found = yield* ServiceError.retryTransient(firstDocument).pipe(
      Effect.mapError(refusal(uri, bucket, "list")),
      Effect.result
    )
    if (Result.isFailure(found)) return [found.failure.issue]
    const { document, listed } = found.success
    if (Option.isNone(document)) {
      if (headRefused !== undefined) return [headRefused]
      const prefixUri = ObjectStore.toUri({ bucket, key: prefixOf(key) })
      return [
        issue(
          listed === 0
            ? `${uri}: no object under ${prefixUri}`
            : `${uri}: no document under ${prefixUri} (${listed} object${listed === 1 ? "" : "s"}, none ending in ` +
              `${Document.supportedExtensions.join(", ")})`
        )
      ]
    }
    const firstReadable = yield* Effect.result(readable(document.value.key))
    return Result.isFailure(firstReadable) ? [firstReadable.failure.issue] : []
  })

/**
 * Every problem with the inputs, without writing anything: a local path that does not
 * exist; an `s3://` URI that is malformed, whose bucket does not exist, under which there is
 * no document, or that these credentials may not list or read (`AccessDenied`). Each issue
 * (at `path: "paths"`) names the input and the cause.
 *
 * Details: a URI naming an object is checked with a head (which needs read access); a prefix
 * with a listing up to its first document, then a head of that document. An empty list of
 * paths is no issue here (the caller says what it needs).
 */
export const check = (
  paths: ReadonlyArray<string>
): Effect.Effect<
  ReadonlyArray<BatchConfig.ConfigIssue>,
  never,
  FileSystem.FileSystem | ObjectStore.ObjectStore
> =>
  Effect.forEach(
    paths,
    (input): Effect.Effect<
      ReadonlyArray<BatchConfig.ConfigIssue>,
      never,
      FileSystem.FileSystem | ObjectStore.ObjectStore
    > =>
      isObjectUri(input) ? checkObjects(input) : FileSystem.FileSystem.use((fs) => fs.exists(input)).pipe(
        Effect.orElseSucceed(() => false),
        Effect.map((exists) => (exists ? [] : [issue(`no such file or directory: ${input}`)]))
      ),
    { concurrency: 4 }
  ).pipe(Effect.map((issues) => issues.flat()))
