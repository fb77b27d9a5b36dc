/**
 * A disk-backed `ObjectStore` for the benchmarks: objects are files under a root directory
 * (`<root>/<bucket>/<key>`), bodies stream in and out in pieces and are never held whole.
 *
 * File calls are synchronous on purpose: the virtual-time benchmarks run on `TestClock`, which
 * only waits for fibers that are running, not for pending I/O callbacks. Synchronous calls keep
 * every job's virtual timings exact.
 */
import { ObjectStore, ServiceError } from "@batch-extract/core"
import { Effect, Option, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"

/** Bytes per read when an object is downloaded. */
const readPieceBytes = 1 << 20

const notFound = (operation: string, ref: ObjectStore.ObjectRef) =>
  new ServiceError.NotFound({
    operation: `ObjectStore.${operation}`,
    message: `no object at s3://${ref.bucket}/${ref.key}`,
    exceptionName: "NoSuchKey"
  })

const isMissing = (error: unknown) => (error as { code?: string } | undefined)?.code === "ENOENT"

/** A store rooted at `root` (created when missing). */
export const make = (root: string): ObjectStore.ObjectStore["Service"] => {
  fs.mkdirSync(root, { recursive: true })
  const fileOf = (ref: ObjectStore.ObjectRef) => path.join(root, ref.bucket, ref.key)
  let uploads = 0
  const directories = new Set<string>()

  const walk = (directory: string, found: Array<string>) => {
    let entries: Array<fs.Dirent>
    try {
      entries = fs.readdirSync(directory, { withFileTypes: true })
    } catch (error) {
      if (isMissing(error)) return
      throw error
    }
    for (const entry of entries) {
      const full = path.join(directory, entry.name)
      if (entry.isDirectory()) walk(full, found)
      else if (!entry.name.endsWith(".part")) found.push(full)
    }
  }

  return ObjectStore.ObjectStore.of({
    put: (ref, body) =>
      Effect.gen(function*() {
        const target = fileOf(ref)
        const directory = path.dirname(target)
        if (!directories.has(directory)) {
          fs.mkdirSync(directory, { recursive: true })
          directories.add(directory)
        }
        const partial = `${target}.${++uploads}.part`
        const fd = fs.openSync(partial, "w")
        let size = 0
        yield* Stream.runForEach(body, (piece) =>
          Effect.sync(() => {
            let offset = 0
            while (offset < piece.length) offset += fs.writeSync(fd, piece, offset, piece.length - offset)
            size += piece.length
          })).pipe(Effect.ensuring(Effect.sync(() => fs.closeSync(fd))))
        fs.renameSync(partial, target)
        return { size }
      }),
    get: (ref) =>
      Stream.unwrap(
        Effect.gen(function*() {
          const fd = yield* Effect.acquireRelease(
            Effect.try({
              try: () => fs.openSync(fileOf(ref), "r"),
              catch: () => notFound("get", ref)
            }),
            (fd) => Effect.sync(() => fs.closeSync(fd))
          )
          let done = false
          return Stream.fromIterable<Uint8Array>({
            [Symbol.iterator]: () => ({
              next: (): IteratorResult<Uint8Array> => {
                if (done) return { done: true, value: undefined }
                const buffer = Buffer.allocUnsafe(readPieceBytes)
                const read = fs.readSync(fd, buffer, 0, readPieceBytes, null)
                if (read === 0) {
                  done = true
                  return { done: true, value: undefined }
                }
                return { done: false, value: buffer.subarray(0, read) }
              }
            })
          })
        })
      ).pipe(Stream.scoped),
    list: (bucket, prefix) =>
      Stream.suspend(() => {
        const files: Array<string> = []
        walk(path.join(root, bucket), files)
        const base = path.join(root, bucket) + path.sep
        const infos = files
          .map((file) => ({ key: file.slice(base.length).split(path.sep).join("/"), size: fs.statSync(file).size }))
          .filter((info) => info.key.startsWith(prefix))
          .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
        return Stream.fromIterable(infos)
      }),
    head: (ref) =>
      Effect.sync(() => {
        try {
          return Option.some({ key: ref.key, size: fs.statSync(fileOf(ref)).size })
        } catch (error) {
          if (isMissing(error)) return Option.none()
          throw error
        }
      }),
    deleteMany: (bucket, keys) =>
      Effect.sync(() => {
        for (const key of keys) fs.rmSync(fileOf({ bucket, key }), { force: true })
      })
  })
}
