/**
 * The command's inputs on the local emulation (a local S3 on loopback, the live S3 store):
 * objects under an `s3://` prefix read as the same documents as the same files in a
 * directory; malformed, unsupported and unreadable objects are skips with their reason;
 * listings come in a deterministic order; `check` reports a missing path, a malformed URI, a
 * missing bucket, an empty prefix and credentials that may not read, and writes nothing.
 */
import { S3ObjectStore } from "@batch-extract/aws"
import { LocalBackend } from "@batch-extract/aws/local"
import { Document, ObjectStore, ServiceError } from "@batch-extract/core"
import { NodeServices } from "@effect/platform-node"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, FileSystem, Layer, Path, Redacted, Result, Stream } from "effect"
import * as Inputs from "../src/Inputs.ts"

const bucket = "inputs-docs"
const lockedBucket = "inputs-locked"
/** Credentials the local S3 refuses on the docs bucket (a policy that does not grant them). */
const deniedKey = "INPUTSDENIED"

const services = Layer.mergeAll(
  NodeServices.layer,
  LocalBackend.layer({
    buckets: [bucket, lockedBucket],
    s3: {
      deniedAccess: [{ accessKeyId: deniedKey, bucket }, {
        accessKeyId: deniedKey,
        bucket: lockedBucket,
        methods: ["HEAD"]
      }]
    }
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

const encoder = new TextEncoder()

/** A corpus covering every format, CRLF and BOM, a sub-directory and a few bad files. */
const corpus: Record<string, string | Uint8Array> = {
  "a.txt": "\uFEFFPlain text\r\nwith CRLF.\r\n",
  "b.md": "# Title\n\nMarkdown body.",
  "c.json": JSON.stringify({ id: "doc-c", title: "C", text: "Text of C." }),
  "d.json": JSON.stringify([{ id: 7, body: "First." }, { body: "Second.", tags: ["x", 1] }]),
  "e.jsonl": "\uFEFF{\"text\":\"Line one.\",\"n\":1}\r\n\r\n{\"content\":\"Line three.\"}\r\nnot json\r\n",
  "sub/f.txt": "Nested.",
  "sub/deeper/g.markdown": "Deeper.",
  "x-bad.json": "{ \"text\": ",
  "x-empty.txt": "   \n",
  "x-binary.txt": new Uint8Array([104, 105, 0, 1]),
  "x-latin1.md": new Uint8Array([0x63, 0x61, 0x66, 0xe9]),
  "x-table.csv": "a,b\n1,2\n"
}

const bytesOf = (content: string | Uint8Array) => (typeof content === "string" ? encoder.encode(content) : content)

/** Write the files under a new temporary directory. */
const writeTree = (files: Record<string, string | Uint8Array>) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "inputs-" })
    for (const [name, content] of Object.entries(files)) {
      const file = path.join(dir, name)
      yield* fs.makeDirectory(path.dirname(file), { recursive: true })
      yield* fs.writeFile(file, bytesOf(content))
    }
    return dir
  })

/** Upload the files under a prefix, in the given order. */
const upload = (prefix: string, files: Record<string, string | Uint8Array>, bucketName = bucket) =>
  ObjectStore.ObjectStore.use((store) =>
    Effect.forEach(
      Object.entries(files),
      ([name, content]) => store.put({ bucket: bucketName, key: `${prefix}${name}` }, Stream.make(bytesOf(content))),
      { discard: true }
    )
  )

const readAll = (paths: ReadonlyArray<string>, options: Document.ReaderOptions) =>
  Effect.flatMap(Stream.runCollect(Inputs.list(paths)), (files) => Stream.runCollect(Inputs.read(files, options)))

const documentsOf = (results: ReadonlyArray<Document.ReadResult>) =>
  results.flatMap((result) => (result._tag === "Read" ? [result] : []))

const skipsOf = (results: ReadonlyArray<Document.ReadResult>) =>
  results.flatMap((result) => (result._tag === "Skipped" ? [result] : []))

const withoutKey = (metadata: Document.Metadata, key: string) =>
  Object.fromEntries(Object.entries(metadata).filter(([name]) => name !== key))

layer(services, { timeout: 60_000, excludeTestServices: true })("Inputs", (it) => {
  describe("read", () => {
    it.effect("reads the same documents from a directory and from the same files under an s3 prefix", () =>
      Effect.gen(function*() {
        const path = yield* Path.Path
        const dir = yield* writeTree(corpus)
        yield* upload("same/corpus/", corpus)
        const options: Document.ReaderOptions = { pathMetadataKey: "file_path" }

        const fromDirectory = yield* readAll([dir], options)
        // The inputs read a directory exactly as `Document.fromDirectory` does.
        assert.deepStrictEqual(fromDirectory, yield* Stream.runCollect(Document.fromDirectory(dir, options)))

        const fromPrefix = yield* readAll([`s3://${bucket}/same/corpus`], options)
        const local = documentsOf(fromDirectory)
        const objects = documentsOf(fromPrefix)
        assert.strictEqual(objects.length, 9)
        assert.deepStrictEqual(
          objects.map((r) => ({
            id: r.document.id,
            text: r.document.text,
            metadata: withoutKey(r.document.metadata, "file_path"),
            item: r.item
          })),
          local.map((r) => ({
            id: r.document.id,
            text: r.document.text,
            metadata: withoutKey(r.document.metadata, "file_path"),
            item: r.item
          }))
        )
        // BOM dropped, CRLF kept in text as the file reader keeps it; ids from the id field.
        assert.strictEqual(objects[0]!.document.text, "Plain text\r\nwith CRLF.\r\n")
        assert.deepStrictEqual(objects.map((r) => r.document.id).filter((id) => id !== undefined), ["doc-c", "7"])
        // The path (and path metadata) of an object is its URI; of a directory's file, its relative path.
        for (const [index, result] of objects.entries()) {
          assert.match(result.path, new RegExp(`^s3://${bucket}/same/corpus/`))
          assert.strictEqual(result.document.metadata.file_path, result.path)
          const relative = result.path.slice(`s3://${bucket}/same/corpus/`.length)
          assert.strictEqual(local[index]!.document.metadata.file_path, relative)
          assert.strictEqual(local[index]!.path, path.join(dir, relative))
        }
        // The same skips, for the same reasons — but the prefix lists documents only: no csv.
        const reasons = (results: ReadonlyArray<Document.ReadResult>, base: string) =>
          skipsOf(results).map((s) => [s.path.slice(base.length), s.reason, s.item])
        assert.deepStrictEqual(reasons(fromPrefix, `s3://${bucket}/same/corpus/`), [
          ["e.jsonl", "InvalidJson", 4],
          ["x-bad.json", "InvalidJson", undefined],
          ["x-binary.txt", "Binary", undefined],
          ["x-empty.txt", "Empty", undefined],
          ["x-latin1.md", "NotUtf8", undefined]
        ])
        assert.deepStrictEqual(reasons(fromDirectory, `${dir}/`), [
          ...reasons(fromPrefix, `s3://${bucket}/same/corpus/`),
          ["x-table.csv", "Unsupported", undefined]
        ])
      }))

    it.effect("reads a share of the listed files as reading them whole does, whatever the mix", () =>
      Effect.gen(function*() {
        const dir = yield* writeTree(corpus)
        yield* upload("share/", corpus)
        const path = yield* Path.Path
        const inputs = [dir, `s3://${bucket}/share/`, path.join(dir, "c.json")]
        const files = yield* Stream.runCollect(Inputs.list(inputs))
        const options: Document.ReaderOptions = { pathMetadataKey: "file_path", textField: ["text", "body"] }
        const whole = yield* Stream.runCollect(Inputs.read(files, options))
        // Reading the files in three shares gives the same results, in the same order.
        const shares = [files.slice(0, 5), files.slice(5, 17), files.slice(17)]
        const parts = yield* Effect.forEach(shares, (share) => Stream.runCollect(Inputs.read(share, options)))
        assert.deepStrictEqual(parts.flat(), whole)
        // A file given alone records its path as given (absolute), as `Document.fromFiles` does.
        const last = whole[whole.length - 1]!
        assert.strictEqual(last._tag, "Read")
        assert.strictEqual(last._tag === "Read" ? last.document.metadata.file_path : "", path.join(dir, "c.json"))
      }))

    it.effect("reports unsupported, malformed, missing and forbidden objects as skips with their reason", () =>
      Effect.gen(function*() {
        yield* upload("skips/", {
          "table.csv": "a,b\n",
          "bad.json": "[1, 2]",
          "notext.json": JSON.stringify({ title: "no text" }),
          "binary.jsonl": new Uint8Array([123, 0, 125, 10]),
          "lines.jsonl": "{\"text\":\"ok\"}\n{broken\n\n",
          "empty.jsonl": "\n\n"
        })
        const ref = (key: string) => ({ bucket, key: `skips/${key}` })
        const refs = ["table.csv", "bad.json", "notext.json", "binary.jsonl", "lines.jsonl", "empty.jsonl", "gone.txt"]
          .map(ref)
        const results = yield* Stream.runCollect(Document.fromObjects(refs))
        assert.deepStrictEqual(
          results.map((r) => [r.path, r._tag === "Read" ? "Read" : r.reason, r.item]),
          [
            [`s3://${bucket}/skips/table.csv`, "Unsupported", undefined],
            [`s3://${bucket}/skips/bad.json`, "InvalidJson", 0],
            [`s3://${bucket}/skips/bad.json`, "InvalidJson", 1],
            [`s3://${bucket}/skips/notext.json`, "NoText", undefined],
            [`s3://${bucket}/skips/binary.jsonl`, "Binary", undefined],
            [`s3://${bucket}/skips/lines.jsonl`, "Read", 1],
            [`s3://${bucket}/skips/lines.jsonl`, "InvalidJson", 2],
            [`s3://${bucket}/skips/empty.jsonl`, "Empty", undefined],
            [`s3://${bucket}/skips/gone.txt`, "Unreadable", undefined]
          ]
        )
        const messages = skipsOf(results).map((s) => s.message)
        assert.match(messages[0]!, /^extension not read \(reading \.txt, \.md/)
        assert.strictEqual(messages[4], "the object holds NUL bytes: not a text file")
        assert.strictEqual(messages[6], "the object holds no records")
        assert.match(messages[7]!, /^cannot read the object: NotFound in ObjectStore\.get/)

        // Credentials that may not read the bucket: every object is an `Unreadable` skip, never a crash.
        const denied = yield* Stream.runCollect(Document.fromObjects([ref("bad.json"), ref("lines.jsonl")])).pipe(
          Effect.provide(storeWithKey(deniedKey))
        )
        assert.deepStrictEqual(denied.map((r) => r._tag === "Skipped" ? r.reason : r._tag), [
          "Unreadable",
          "Unreadable"
        ])
        for (const skip of skipsOf(denied)) assert.match(skip.message, /^cannot read the object: AccessDenied/)
      }))

    it.effect("retries throttled reads, and resumes a JSONL object cut short where it stopped", () =>
      Effect.gen(function*() {
        const local = yield* LocalBackend.LocalBackend
        const live = yield* ObjectStore.ObjectStore
        const lines = ["{\"text\":\"First line.\"}", "{\"text\":\"Second line.\"}", "{\"text\":\"Third.\"}"]
        yield* upload("flaky/", { "doc.txt": "A document.", "lines.jsonl": lines.join("\n") + "\n" })
        const refs = [{ bucket, key: "flaky/doc.txt" }, { bucket, key: "flaky/lines.jsonl" }]
        const texts = (results: ReadonlyArray<Document.ReadResult>) =>
          results.map((r) => (r._tag === "Read" ? r.document.text : `${r.reason}: ${r.message}`))
        const expected = ["A document.", "First line.", "Second line.", "Third."]

        // The local S3 answers the first two GETs with 503 SlowDown.
        const slowDown = { code: "SlowDown", status: 503, method: "GET" }
        yield* local.s3.failNext([slowDown, slowDown])
        assert.deepStrictEqual(texts(yield* Stream.runCollect(Document.fromObjects(refs))), expected)

        // A download that breaks after a few bytes: the retry drops the bytes already read.
        let gets = 0
        const flaky = ObjectStore.ObjectStore.of({
          ...live,
          get: (ref) => {
            gets++
            if (gets > 1 || !ref.key.endsWith(".jsonl")) return live.get(ref)
            return Stream.concat(
              live.get(ref).pipe(
                Stream.runCollect,
                Effect.map((chunks) => chunks[0]!.subarray(0, 30)),
                Stream.fromEffect
              ),
              Stream.fail(new ServiceError.Unavailable({ operation: "ObjectStore.get", message: "connection reset" }))
            )
          }
        })
        const resumed = yield* Stream.runCollect(Document.fromObjects(refs.slice(1))).pipe(
          Effect.provideService(ObjectStore.ObjectStore, flaky)
        )
        assert.deepStrictEqual(texts(resumed), expected.slice(1))
        assert.strictEqual(gets, 2)
      }))
  })

  describe("list", () => {
    it.effect("lists local and s3 inputs in a deterministic order, a prefix like a directory", () =>
      Effect.gen(function*() {
        const files: Record<string, string> = {
          "b.txt": "b",
          "a/z.md": "z",
          "a.txt": "a",
          "C.txt": "C",
          "readme": "no extension",
          "x.csv": "x",
          "a/y.JSONL": "{\"text\":\"y\"}"
        }
        const dir = yield* writeTree(files)
        yield* upload("order/p/", files)
        yield* upload("order/", { "p/": "", "p2/sibling.txt": "not under p/", "p.txt": "the prefix's namesake" })
        const listed = (paths: ReadonlyArray<string>) => Stream.runCollect(Inputs.list(paths))

        const local = yield* listed([dir])
        assert.deepStrictEqual(local.map((f) => f.relativePath), [
          "C.txt",
          "a.txt",
          "a/y.JSONL",
          "a/z.md",
          "b.txt",
          "readme",
          "x.csv"
        ])
        const objects = yield* listed([`s3://${bucket}/order/p`])
        // The objects under `p/` (not `p2/`, not `p.txt`) with a supported extension, sorted by key.
        assert.deepStrictEqual(
          objects.map((f) => f.location),
          ["C.txt", "a.txt", "a/y.JSONL", "a/z.md", "b.txt"].map((name) => `s3://${bucket}/order/p/${name}`)
        )
        assert.deepStrictEqual(objects.map((f) => f.size), [1, 1, 12, 1, 1])
        assert.isTrue(objects.every((f) => f.relativePath === undefined))
        // The same order every time, with or without the trailing slash.
        assert.deepStrictEqual(yield* listed([`s3://${bucket}/order/p/`]), objects)
        // A URI naming an object is that object; inputs come in the order given.
        const mixed = yield* listed([`s3://${bucket}/order/p.txt`, dir, `s3://${bucket}/order/p/a`])
        assert.deepStrictEqual(mixed.map((f) => f.location), [
          `s3://${bucket}/order/p.txt`,
          ...local.map((f) => f.location),
          `s3://${bucket}/order/p/a/y.JSONL`,
          `s3://${bucket}/order/p/a/z.md`
        ])
      }))

    it.effect("fails with a DocumentError naming an input it cannot list", () =>
      Effect.gen(function*() {
        const missingBucket = yield* Effect.flip(Stream.runCollect(Inputs.list(["s3://inputs-no-such-bucket/x"])))
        assert.strictEqual(missingBucket.path, "s3://inputs-no-such-bucket/x")
        assert.match(missingBucket.message, /NotFound/)
        const missingPath = yield* Effect.flip(Stream.runCollect(Inputs.list(["/no/such/inputs/dir"])))
        assert.strictEqual(missingPath.path, "/no/such/inputs/dir")
      }))
  })

  describe("check", () => {
    it.effect("reports a missing path, malformed URIs, a missing bucket, an empty prefix and denied access", () =>
      Effect.gen(function*() {
        const dir = yield* writeTree({ "doc.txt": "a document" })
        yield* upload("check/", { "docs/one.txt": "one", "other/data.csv": "a,b" })
        yield* upload("check/", { "doc.txt": "locked" }, lockedBucket)
        const store = yield* ObjectStore.ObjectStore
        const before = yield* Stream.runCollect(store.list(bucket, "check/"))

        const fine = [dir, `s3://${bucket}/check/docs`, `s3://${bucket}/check/docs/one.txt`, `s3://${bucket}/check`]
        assert.deepStrictEqual(yield* Inputs.check(fine), [])

        const issues = yield* Inputs.check([
          "/no/such/inputs/path",
          "s3://",
          "S3://inputs-docs/check",
          "s3://Bad_Bucket/docs",
          "s3://inputs-no-such-bucket/docs",
          `s3://${bucket}/check/nothing-here`,
          `s3://${bucket}/check/other`
        ])
        assert.isTrue(issues.every((issue) => issue.path === "paths"))
        const messages = issues.map((issue) => issue.message)
        assert.strictEqual(messages.length, 7)
        assert.strictEqual(messages[0], "no such file or directory: /no/such/inputs/path")
        assert.match(messages[1]!, /^s3:\/\/: not a valid object URI: no bucket name/)
        assert.match(messages[2]!, /^S3:\/\/inputs-docs\/check: not a valid object URI: .*lower case/)
        assert.match(messages[3]!, /^s3:\/\/Bad_Bucket\/docs: not a valid object URI: the bucket name "Bad_Bucket"/)
        assert.match(
          messages[4]!,
          /^s3:\/\/inputs-no-such-bucket\/docs: the bucket "inputs-no-such-bucket" does not exist \(NotFound/
        )
        assert.strictEqual(
          messages[5],
          `s3://${bucket}/check/nothing-here: no object under s3://${bucket}/check/nothing-here/`
        )
        assert.match(messages[6]!, new RegExp(`^s3://${bucket}/check/other: no document under .*\\(1 object,`))

        // Credentials that may not list the bucket; credentials that may list it but not read its
        // objects (the local S3 refuses them heads, which need read access).
        const denied = yield* Inputs.check([
          `s3://${bucket}/check/docs`,
          `s3://${bucket}/check/docs/one.txt`,
          `s3://${lockedBucket}/check/`,
          `s3://${lockedBucket}/check/doc.txt`
        ]).pipe(Effect.provide(storeWithKey(deniedKey)))
        assert.deepStrictEqual(denied.map((issue) => issue.message.replace(/ \(AccessDenied.*$/, "")), [
          `s3://${bucket}/check/docs: access denied: these AWS credentials may not list it`,
          `s3://${bucket}/check/docs/one.txt: access denied: these AWS credentials may not list it`,
          `s3://${lockedBucket}/check/: access denied: these AWS credentials may not read it`,
          `s3://${lockedBucket}/check/doc.txt: access denied: these AWS credentials may not read it`
        ])

        // Nothing was written.
        assert.deepStrictEqual(yield* Stream.runCollect(store.list(bucket, "check/")), before)
      }))
  })

  it.effect("parses object URIs and tells them from local paths", () =>
    Effect.sync(() => {
      assert.isTrue(Inputs.isObjectUri("s3://bucket/key"))
      assert.isTrue(Inputs.isObjectUri("S3://bucket"))
      assert.isFalse(Inputs.isObjectUri("./s3/bucket"))
      assert.deepStrictEqual(
        Inputs.parseObjectUri("s3://my-bucket/a/b.txt"),
        Result.succeed({ bucket: "my-bucket", key: "a/b.txt" })
      )
      assert.deepStrictEqual(Inputs.parseObjectUri("s3://my-bucket"), Result.succeed({ bucket: "my-bucket", key: "" }))
      assert.isTrue(Result.isFailure(Inputs.parseObjectUri("s3:///key")))
    }))
})
