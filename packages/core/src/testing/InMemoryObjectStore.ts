/**
 * An in-memory `ObjectStore` for tests: objects live in a map, bodies are streamed in and
 * out like the real thing, and every upload remembers its options (so a test can check that
 * the KMS key was applied).
 *
 * When to use: unit tests of the engine and of your own pipelines. `faults` injects S3
 * errors (`Unavailable`) on a fraction of calls to check that callers retry.
 *
 * @since 0.1.0
 */
import { Effect, Layer, Option, Random, Ref, Stream } from "effect"
import { type ObjectRef, ObjectStore, type PutOptions } from "../engine/ObjectStore.ts"
import * as ServiceError from "../engine/ServiceError.ts"

/** One stored object. */
export interface StoredObject {
  readonly bytes: Uint8Array
  readonly options: PutOptions
}

/** Options of the in-memory store. */
export interface Options {
  /** Fraction (0..1) of calls that fail with `Unavailable`. */
  readonly errorRate?: number | undefined
  /** Page size of listings (to exercise pagination). */
  readonly pageSize?: number | undefined
}

/** The store plus inspection helpers for assertions. */
export interface InMemoryObjectStore {
  readonly service: ObjectStore["Service"]
  /** The same store without injected faults (what a remote service reading it would see). */
  readonly unfaulted: ObjectStore["Service"]
  /** Every object, keyed by `bucket/key`. */
  readonly objects: Effect.Effect<ReadonlyMap<string, StoredObject>>
  /** Read one object as text, if present. */
  readonly read: (ref: ObjectRef) => Effect.Effect<Option.Option<string>>
  /** Write one object directly (bypassing faults). */
  readonly write: (ref: ObjectRef, text: string, options?: PutOptions) => Effect.Effect<void>
  /** How many calls failed on purpose. */
  readonly injectedFaults: Effect.Effect<number>
}

const pathOf = (ref: ObjectRef) => `${ref.bucket}/${ref.key}`
const encoder = new TextEncoder()
const decoder = new TextDecoder()

const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  const total = chunks.reduce((n, chunk) => n + chunk.length, 0)
  const out = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}

/** Build an in-memory store. */
export const make = (options: Options = {}): Effect.Effect<InMemoryObjectStore> =>
  Effect.gen(function*() {
    const store = yield* Ref.make(new Map<string, StoredObject>())
    const faults = yield* Ref.make(0)
    const pageSize = options.pageSize ?? 1000

    const build = (errorRate: number): ObjectStore["Service"] => {
      const maybeFail = (operation: string) =>
        errorRate <= 0 ? Effect.void : Effect.flatMap(Random.next, (roll) =>
          roll < errorRate
            ? Ref.update(faults, (n) => n + 1).pipe(
              Effect.andThen(Effect.fail(
                new ServiceError.Unavailable({
                  operation: `ObjectStore.${operation}`,
                  message: "injected fault: service unavailable",
                  exceptionName: "ServiceUnavailable"
                })
              ))
            )
            : Effect.void)

      const notFound = (operation: string, ref: ObjectRef) =>
        new ServiceError.NotFound({
          operation: `ObjectStore.${operation}`,
          message: `no object at s3://${pathOf(ref)}`,
          exceptionName: "NoSuchKey"
        })

      const service: ObjectStore["Service"] = {
        put: (ref, body, putOptions) =>
          Effect.gen(function*() {
            yield* maybeFail("put")
            const chunks = yield* Stream.runCollect(body)
            const bytes = concat(chunks)
            yield* Ref.update(store, (map) => new Map(map).set(pathOf(ref), { bytes, options: putOptions ?? {} }))
            return { size: bytes.length }
          }),
        get: (ref) =>
          Stream.unwrap(
            Effect.gen(function*() {
              yield* maybeFail("get")
              const found = (yield* Ref.get(store)).get(pathOf(ref))
              if (found === undefined) return yield* Effect.fail(notFound("get", ref))
              // Serve in slices, as a network body would arrive.
              const slices: Array<Uint8Array> = []
              for (let offset = 0; offset < found.bytes.length; offset += 65_536) {
                slices.push(found.bytes.subarray(offset, offset + 65_536))
              }
              return Stream.fromIterable(slices)
            })
          ),
        list: (bucket, prefix) =>
          Stream.unwrap(
            Effect.gen(function*() {
              yield* maybeFail("list")
              const map = yield* Ref.get(store)
              const infos = [...map.entries()]
                .filter(([path]) => path.startsWith(`${bucket}/${prefix}`))
                .map(([path, object]) => ({ key: path.slice(bucket.length + 1), size: object.bytes.length }))
                .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
              const pages: Array<Array<{ key: string; size: number }>> = []
              for (let i = 0; i < infos.length; i += pageSize) pages.push(infos.slice(i, i + pageSize))
              return Stream.fromIterable(pages).pipe(Stream.flatMap(Stream.fromIterable))
            })
          ),
        head: (ref) =>
          Effect.gen(function*() {
            yield* maybeFail("head")
            const found = (yield* Ref.get(store)).get(pathOf(ref))
            return found === undefined ? Option.none() : Option.some({ key: ref.key, size: found.bytes.length })
          }),
        deleteMany: (bucket, keys) =>
          Effect.gen(function*() {
            yield* maybeFail("deleteMany")
            yield* Ref.update(store, (map) => {
              const next = new Map(map)
              for (const key of keys) next.delete(`${bucket}/${key}`)
              return next
            })
          })
      }

      return service
    }

    return {
      service: build(options.errorRate ?? 0),
      unfaulted: build(0),
      objects: Ref.get(store),
      read: (ref) =>
        Effect.map(Ref.get(store), (map) =>
          Option.map(Option.fromNullishOr(map.get(pathOf(ref))), (o) => decoder.decode(o.bytes))),
      write: (ref, text, putOptions) =>
        Ref.update(store, (map) =>
          new Map(map).set(pathOf(ref), { bytes: encoder.encode(text), options: putOptions ?? {} })),
      injectedFaults: Ref.get(faults)
    }
  })

/** A Layer with a fresh in-memory store (use {@link make} when the test must inspect it). */
export const layer = (options: Options = {}): Layer.Layer<ObjectStore> =>
  Layer.effect(ObjectStore, Effect.map(make(options), (store) => store.service))
