/**
 * The command's output on the local emulation (a local S3 on loopback, the live S3 store):
 * the object-store sink under `s3://bucket/prefix` writes the directory sink's layout, byte
 * for byte; `summary.json` goes beside the chunks in both; `check` reports a malformed URI, a
 * missing bucket and credentials that may not write, and leaves nothing behind.
 */
import { S3ObjectStore } from "@batch-extract/aws"
import { LocalBackend } from "@batch-extract/aws/local"
import { Chunker, Document, ExtractedChunk, ObjectStore, Topics } from "@batch-extract/core"
import { NodeServices } from "@effect/platform-node"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, FileSystem, Layer, Path, Redacted, Stream } from "effect"
import * as Outputs from "../src/Outputs.ts"

const bucket = "outputs-results"
/** Credentials that may read the bucket but not write to it. */
const readOnlyKey = "OUTPUTSREADONLY"

const services = Layer.mergeAll(
  NodeServices.layer,
  LocalBackend.layer({
    buckets: [bucket],
    s3: { deniedAccess: [{ accessKeyId: readOnlyKey, bucket, methods: ["PUT", "POST", "DELETE"] }] }
  })
)

/** The live store on the local S3, signing with other credentials. */
const storeWithKey = (accessKeyId: string) =>
  Layer.unwrap(LocalBackend.LocalBackend.use((local) =>
    Effect.succeed(S3ObjectStore.layer({
      client: {
        ...local.clientSettings,
        credentials: { accessKeyId, secretAccessKey: Redacted.make("local-emulation-secret") }
      }
    }))
  ))

const longText = Array.from(
  { length: 30 },
  (_, i) => `Sentence ${i} says that Amazon Neptune keeps graph ${i} in a cluster volume across three zones.`
).join(" ")

/** Two documents' chunks, extracted (one with empty results, as a failed chunk is written). */
const extractedChunks = Effect.gen(function*() {
  const first = yield* Chunker.chunk(Document.make(longText, { metadata: { title: "Neptune" } }), {
    chunkSize: 64,
    chunkOverlap: 20
  })
  const second = yield* Chunker.chunk(Document.make("A short second document."))
  const extracted = yield* Effect.forEach(first, (chunk, i) =>
    ExtractedChunk.make(chunk, {
      propositions: [`Proposition of chunk ${i}`],
      topics: Topics.parse(`topic: T${i}\nentities:\nNeptune|Service\nproposition: Proposition of chunk ${i}`).topics
    }))
  return [...extracted, yield* ExtractedChunk.failed(second[0]!)]
})

/** Every file under a directory: relative path → content. */
const filesUnder = (directory: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const names = yield* fs.readDirectory(directory, { recursive: true })
    const files: Record<string, string> = {}
    for (const name of [...names].sort()) {
      const file = path.join(directory, name)
      if ((yield* fs.stat(file)).type === "File") files[name] = yield* fs.readFileString(file)
    }
    return files
  })

/** Every object under a prefix: key relative to the prefix → content. */
const objectsUnder = (prefix: string) =>
  Effect.gen(function*() {
    const store = yield* ObjectStore.ObjectStore
    const listed = yield* Stream.runCollect(store.list(bucket, prefix))
    const objects: Record<string, string> = {}
    for (const object of listed) {
      objects[object.key.slice(prefix.length)] = yield* ObjectStore.getString({ bucket, key: object.key })
    }
    return objects
  })

layer(services, { timeout: 60_000, excludeTestServices: true })("Outputs", (it) => {
  describe("sinkOf and writeSummary", () => {
    it.effect("write the same chunk files and summary to a directory and under an s3 prefix", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const dir = yield* fs.makeTempDirectoryScoped({ prefix: "outputs-" })
        const out = `s3://${bucket}/runs/first/`
        const chunks = yield* extractedChunks
        assert.isAbove(chunks.length, 3)
        for (const target of [dir, out]) {
          const sink = yield* Outputs.sinkOf(target, "collection-1")
          yield* Effect.forEach(chunks, (chunk) => sink.write(chunk), { discard: true })
          yield* Outputs.writeSummary(target, "{\"documents\": 2}\n")
        }
        const files = yield* filesUnder(dir)
        const objects = yield* objectsUnder("runs/first/")
        // The atomic writes' temporary directory is empty: the directory holds what the prefix holds.
        assert.deepStrictEqual(Object.keys(files).filter((name) => name.startsWith(".batch-extract-tmp")), [])
        assert.deepStrictEqual(objects, files)
        assert.strictEqual(objects["summary.json"], "{\"documents\": 2}\n")
        const chunkFiles = Object.keys(objects).filter((name) => name !== "summary.json")
        assert.strictEqual(chunkFiles.length, chunks.length)
        for (const chunk of chunks) {
          assert.include(chunkFiles, `collection-1/${chunk.chunk.source.id}/${chunk.chunk.id}.json`)
        }
        // Written again (a rewritten summary replaces the old one).
        yield* Outputs.writeSummary(out, "{\"documents\": 3}\n")
        assert.strictEqual(
          yield* ObjectStore.getString({ bucket, key: "runs/first/summary.json" }),
          "{\"documents\": 3}\n"
        )
      }))

    it.effect("write at the bucket's root for s3://bucket, and name their locations", () =>
      Effect.gen(function*() {
        const path = yield* Path.Path
        const store = yield* ObjectStore.ObjectStore
        const chunks = yield* extractedChunks
        const sink = yield* Outputs.sinkOf(`s3://${bucket}`, "root-collection")
        yield* sink.write(chunks[0]!)
        const listed = yield* Stream.runCollect(store.list(bucket, "root-collection/"))
        assert.deepStrictEqual(listed.map((o) => o.key), [
          `root-collection/${chunks[0]!.chunk.source.id}/${chunks[0]!.chunk.id}.json`
        ])
        assert.strictEqual(Outputs.describe(`s3://${bucket}/a/b/`), `s3://${bucket}/a/b`)
        assert.strictEqual(Outputs.describe(`s3://${bucket}`), `s3://${bucket}`)
        assert.strictEqual(Outputs.describe("/data/out"), "/data/out")
        assert.strictEqual(
          yield* Outputs.locationOf(`s3://${bucket}/a/b/`, "summary.json"),
          `s3://${bucket}/a/b/summary.json`
        )
        assert.strictEqual(yield* Outputs.locationOf(`s3://${bucket}`, "c1"), `s3://${bucket}/c1`)
        assert.strictEqual(yield* Outputs.locationOf("/data/out", "c1"), path.join("/data/out", "c1"))
        const malformed = yield* Effect.flip(Outputs.sinkOf("s3://Bad_Bucket/x", "c1"))
        assert.strictEqual(malformed._tag, "SinkError")
        assert.strictEqual(malformed.location, "s3://Bad_Bucket/x")
      }))

    it.effect("writeSummary fails with a SinkError naming the object when the put is refused", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Outputs.writeSummary(`s3://${bucket}/refused`, "{}")).pipe(
          Effect.provide(storeWithKey(readOnlyKey))
        )
        assert.strictEqual(error.location, `s3://${bucket}/refused/summary.json`)
        assert.match(error.message, /^AccessDenied/)
      }))
  })

  describe("check", () => {
    it.effect("reports a malformed URI, a missing bucket, refused writes and a file in the way", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        const dir = yield* fs.makeTempDirectoryScoped({ prefix: "outputs-check-" })
        const file = path.join(dir, "a-file")
        yield* fs.writeFileString(file, "in the way")

        for (const fine of [`s3://${bucket}/checked/prefix`, `s3://${bucket}`, dir, path.join(dir, "not-yet")]) {
          assert.deepStrictEqual(yield* Outputs.check(fine), [], fine)
        }
        // The probe is removed: nothing is left in the bucket.
        const store = yield* ObjectStore.ObjectStore
        assert.deepStrictEqual(yield* Stream.runCollect(store.list(bucket, "checked/")), [])
        assert.isTrue(
          (yield* Stream.runCollect(store.list(bucket, ""))).every((o) => !o.key.endsWith(Outputs.probeName))
        )

        const issues = yield* Effect.forEach(["s3://", "s3://outputs-no-such-bucket/x", file], Outputs.check)
        assert.deepStrictEqual(issues.map((found) => found.length), [1, 1, 1])
        const [malformed, missing, notDirectory] = issues.map((found) => found[0]!)
        assert.deepStrictEqual(
          [malformed!.path, missing!.path, notDirectory!.path],
          [Outputs.issuePath, Outputs.issuePath, Outputs.issuePath]
        )
        assert.match(malformed!.message, /^s3:\/\/: not a valid object URI: no bucket name/)
        assert.match(
          missing!.message,
          /^s3:\/\/outputs-no-such-bucket\/x: the bucket "outputs-no-such-bucket" does not exist \(NotFound/
        )
        assert.strictEqual(notDirectory!.message, `${file}: not a directory`)

        const refused = yield* Outputs.check(`s3://${bucket}/read-only`).pipe(Effect.provide(storeWithKey(readOnlyKey)))
        assert.strictEqual(refused.length, 1)
        assert.match(
          refused[0]!.message,
          new RegExp(
            `^s3://${bucket}/read-only: access denied: these AWS credentials may not write there \\(AccessDenied`
          )
        )
      }))
  })
})
