import { HeadObjectCommand } from "@aws-sdk/client-s3"
import { ObjectStore } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Data, Effect, Layer, Option, Redacted, Stream } from "effect"
import { createHash } from "node:crypto"
import * as AwsClients from "../src/AwsClients.ts"
import * as LocalS3 from "../src/LocalS3.ts"
import * as S3ObjectStore from "../src/S3ObjectStore.ts"

const bucket = "store-bucket"
const credentials = { accessKeyId: "local", secretAccessKey: Redacted.make("local") }
const kmsKey = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

const settings = (s3: LocalS3.LocalS3Shape): AwsClients.ClientSettings => ({
  region: "us-east-1",
  endpoints: { s3: s3.endpoint },
  credentials
})

/** A local S3 and the live store on it. */
const storeLayer = (options: Omit<S3ObjectStore.Options, "client"> = {}, s3Options: LocalS3.Options = {}) =>
  Layer.unwrap(LocalS3.LocalS3.use((s3) => Effect.succeed(S3ObjectStore.layer({ ...options, client: settings(s3) }))))
    .pipe(Layer.provideMerge(LocalS3.layer({ buckets: [bucket], ...s3Options })))

const ref = (key: string): ObjectStore.ObjectRef => ({ bucket, key })

/** `size` bytes of a repeating pattern, in 64 KiB chunks. */
const bytes = (size: number) =>
  Stream.range(0, Math.ceil(size / 65_536) - 1).pipe(
    Stream.map((i) => {
      const length = Math.min(65_536, size - i * 65_536)
      const chunk = new Uint8Array(length)
      for (let j = 0; j < length; j++) chunk[j] = (i * 31 + j) % 251
      return chunk
    })
  )

const sha256 = <E, R>(stream: Stream.Stream<Uint8Array, E, R>) =>
  Stream.runFold(stream, () => createHash("sha256"), (hash, chunk) => hash.update(chunk)).pipe(
    Effect.map((hash) => hash.digest("hex"))
  )

class BodyBroke extends Data.TaggedError("BodyBroke")<{}> {}

describe("S3ObjectStore", () => {
  it.live("puts, gets, heads, lists (paginated) and deletes", () =>
    Effect.gen(function*() {
      const store = yield* ObjectStore.ObjectStore
      for (const i of [1, 2, 3, 4, 5]) yield* ObjectStore.putString(ref(`list/item-${i}.txt`), `item ${i}`)
      yield* ObjectStore.putString(ref("other/x.txt"), "x")
      assert.strictEqual(yield* ObjectStore.getString(ref("list/item-3.txt")), "item 3")
      const listed = yield* Stream.runCollect(store.list(bucket, "list/"))
      assert.deepStrictEqual(listed.map((o) => o.key), [1, 2, 3, 4, 5].map((i) => `list/item-${i}.txt`))
      assert.isTrue(listed.every((o) => o.size === 6 && o.lastModified instanceof Date))
      const head = yield* store.head(ref("list/item-1.txt"))
      assert.strictEqual(Option.getOrThrow(head).size, 6)
      assert.isTrue(Option.isNone(yield* store.head(ref("list/missing.txt"))))
      yield* store.deleteMany(bucket, ["list/item-1.txt", "list/item-2.txt", "list/never-existed.txt"])
      assert.strictEqual((yield* Stream.runCollect(store.list(bucket, "list/"))).length, 3)
    }).pipe(Effect.provide(storeLayer({ pageSize: 2 }))))

  it.live("uploads more than 11 MiB as a multipart upload from a stream, and streams it back intact", () =>
    Effect.gen(function*() {
      const store = yield* ObjectStore.ObjectStore
      const s3 = yield* LocalS3.LocalS3
      const size = 12 * 1024 * 1024 + 12_345
      const result = yield* store.put(ref("big/input.jsonl"), bytes(size), { contentType: "application/jsonl" })
      assert.strictEqual(result.size, size)
      assert.strictEqual(Option.getOrThrow(yield* store.head(ref("big/input.jsonl"))).size, size)
      assert.strictEqual(yield* sha256(store.get(ref("big/input.jsonl"))), yield* sha256(bytes(size)))
      // CreateMultipartUpload and CompleteMultipartUpload are POSTs; parts are PUTs.
      const requests = yield* s3.requests
      assert.isAtLeast(requests.POST ?? 0, 2)
      assert.isAtLeast(requests.PUT ?? 0, 2)
    }).pipe(Effect.provide(storeLayer({ partSize: 5 * 1024 * 1024 }))))

  it.live("a failing body fails the put with the body's own error and leaves no object", () =>
    Effect.gen(function*() {
      const store = yield* ObjectStore.ObjectStore
      const body = Stream.concat(bytes(6 * 1024 * 1024), Stream.fail(new BodyBroke()))
      const error = yield* Effect.flip(store.put(ref("broken.bin"), body))
      assert.strictEqual(error._tag, "BodyBroke")
      assert.isTrue(Option.isNone(yield* store.head(ref("broken.bin"))))
    }).pipe(Effect.provide(storeLayer({ partSize: 5 * 1024 * 1024 }))))

  it.live("encrypts uploads with SSE-KMS: the configured key by default, the put's own key when given", () =>
    Effect.gen(function*() {
      const store = yield* ObjectStore.ObjectStore
      const s3 = yield* LocalS3.LocalS3
      yield* ObjectStore.putString(ref("kms/default.txt"), "a")
      yield* ObjectStore.putString(ref("kms/own.txt"), "b", { kmsKeyId: "alias/other" })
      yield* store.put(ref("kms/multipart.bin"), bytes(6 * 1024 * 1024))
      assert.deepStrictEqual(Option.getOrThrow(yield* s3.encryptionOf(bucket, "kms/default.txt")), {
        algorithm: "aws:kms",
        kmsKeyId: kmsKey
      })
      assert.strictEqual(Option.getOrThrow(yield* s3.encryptionOf(bucket, "kms/own.txt")).kmsKeyId, "alias/other")
      assert.strictEqual(Option.getOrThrow(yield* s3.encryptionOf(bucket, "kms/multipart.bin")).kmsKeyId, kmsKey)
      // S3 reports it back on HeadObject, as AWS does.
      const client = yield* AwsClients.s3Client(settings(s3))
      const head = yield* Effect.promise(() =>
        client.send(new HeadObjectCommand({ Bucket: bucket, Key: "kms/default.txt" }))
      )
      assert.strictEqual(head.ServerSideEncryption, "aws:kms")
      assert.strictEqual(head.SSEKMSKeyId, kmsKey)
    }).pipe(Effect.provide(storeLayer({ kmsKeyId: kmsKey, partSize: 5 * 1024 * 1024 }))))

  it.live("sends ExpectedBucketOwner: the right owner passes, another is AccessDenied", () =>
    Effect.gen(function*() {
      const s3 = yield* LocalS3.LocalS3
      const owned = yield* S3ObjectStore.make({ client: settings(s3), bucketOwner: "111122223333" })
      const foreign = yield* S3ObjectStore.make({ client: settings(s3), bucketOwner: "999988887777" })
      yield* owned.put(ref("owner.txt"), Stream.make(new TextEncoder().encode("mine")))
      const error = yield* Effect.flip(foreign.put(ref("owner.txt"), Stream.make(new TextEncoder().encode("x"))))
      assert.strictEqual(error._tag, "AccessDenied")
      assert.strictEqual(error.exceptionName, "AccessDenied")
      assert.isDefined(error.requestId)
      const denied = yield* Effect.flip(Stream.runDrain(foreign.get(ref("owner.txt"))))
      assert.strictEqual(denied._tag, "AccessDenied")
    }).pipe(Effect.provide(LocalS3.layer({ buckets: [bucket], accountId: "111122223333" }))))

  it.live("maps S3 errors: NoSuchKey, NoSuchBucket, SlowDown, InternalError, connection refused", () =>
    Effect.gen(function*() {
      const store = yield* ObjectStore.ObjectStore
      const s3 = yield* LocalS3.LocalS3
      const noKey = yield* Effect.flip(ObjectStore.getString(ref("nope.txt")))
      assert.strictEqual(noKey._tag, "NotFound")
      assert.strictEqual(noKey.exceptionName, "NoSuchKey")
      assert.strictEqual(noKey.operation, "ObjectStore.get")
      const noBucket = yield* Effect.flip(Stream.runCollect(store.list("no-such-bucket", "")))
      assert.strictEqual(noBucket._tag, "NotFound")
      assert.strictEqual(noBucket.exceptionName, "NoSuchBucket")
      yield* s3.failNext([{ code: "SlowDown", status: 503 }, { code: "InternalError", status: 500 }])
      const slowDown = yield* Effect.flip(ObjectStore.putString(ref("a.txt"), "a"))
      assert.strictEqual(slowDown._tag, "Throttled")
      assert.strictEqual(slowDown.exceptionName, "SlowDown")
      const internal = yield* Effect.flip(ObjectStore.putString(ref("a.txt"), "a"))
      assert.strictEqual(internal._tag, "Unavailable")
      // Nothing listens on a closed local port: a network error, retryable.
      const closedPort = yield* Effect.scoped(Effect.gen(function*() {
        const other = yield* LocalS3.make({})
        return other.endpoint
      }))
      const offline = yield* S3ObjectStore.make({ client: { ...settings(s3), endpoints: { s3: closedPort } } })
      const refused = yield* Effect.flip(offline.head(ref("a.txt")))
      assert.strictEqual(refused._tag, "Unavailable")
      assert.isTrue(refused.retryable)
    }).pipe(Effect.provide(storeLayer())))

  it.live("stopping a download early releases it", () =>
    Effect.gen(function*() {
      const store = yield* ObjectStore.ObjectStore
      yield* store.put(ref("stream.bin"), bytes(3 * 1024 * 1024))
      const first = yield* Stream.runHead(store.get(ref("stream.bin")))
      assert.isTrue(Option.isSome(first))
      // The connection is usable again right away.
      assert.strictEqual(Option.getOrThrow(yield* store.head(ref("stream.bin"))).size, 3 * 1024 * 1024)
    }).pipe(Effect.provide(storeLayer())))
})
