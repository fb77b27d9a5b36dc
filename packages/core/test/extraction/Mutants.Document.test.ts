/**
 * The readers beyond a plain directory walk: objects of the object store (the same formats
 * and skips as files, transient failures retried, a cut-off download resumed), listed files,
 * and the messages and descriptions of skips.
 */
import { ObjectStore, ServiceError } from "@batch-extract/core"
import { InMemoryObjectStore } from "@batch-extract/core/testing"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, FileSystem, Layer, Path, PlatformError, Stream } from "effect"
import * as Document from "../../src/extraction/Document.ts"
import { capturingLogs, runOnTestClock, tempTree as tree } from "../support.ts"

const encoder = new TextEncoder()
const bucket = "inputs"

/** An in-memory store holding the given objects (key → content). */
const storeWith = (objects: Record<string, string | Uint8Array>) =>
  Effect.gen(function*() {
    const store = yield* InMemoryObjectStore.make()
    for (const [key, content] of Object.entries(objects)) {
      yield* store.service.put(
        { bucket, key },
        Stream.make(typeof content === "string" ? encoder.encode(content) : content)
      )
    }
    return store
  })

const refs = (...keys: ReadonlyArray<string>) => keys.map((key) => ({ bucket, key }))

const messageOf = (result: Document.ReadResult) => (result._tag === "Skipped" ? result.message : "")

const outcome = (result: Document.ReadResult) =>
  result._tag === "Read"
    ? [result.path, "Read", result.item, result.document.text]
    : [result.path, result.reason, result.item, result.message]

layer(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer))("Document readers", (it) => {
  describe("fromObjects", () => {
    it.effect("reads objects as files are read, named by their s3:// URI, with the object's skips", () =>
      Effect.gen(function*() {
        const store = yield* storeWith({
          "a.TXT": "Plain text.",
          "b.json": JSON.stringify([{ text: "First." }, 3]),
          "c.jsonl": "{\"body\":\"Line.\"}\n\n{bad\n",
          "d.md": "",
          "e.markdown": "  \n",
          "f.txt": new Uint8Array([0x41, 0x00]),
          "g.txt": new Uint8Array([0x63, 0xe9]),
          "h.jsonl": "\n\n",
          "dir.v2/noext": "x",
          ".hidden": "x",
          "i.csv": "a,b"
        })
        const results = yield* Stream.runCollect(
          Document.fromObjects(
            refs(
              "a.TXT",
              "b.json",
              "c.jsonl",
              "d.md",
              "e.markdown",
              "f.txt",
              "g.txt",
              "h.jsonl",
              "dir.v2/noext",
              ".hidden",
              "i.csv",
              "missing.txt"
            ),
            { pathMetadataKey: "uri", concurrency: 3 }
          )
        ).pipe(Effect.provideService(ObjectStore.ObjectStore, store.service))
        const uri = (key: string) => `s3://${bucket}/${key}`
        const extensions = ".txt, .md, .markdown, .json, .jsonl"
        assert.deepStrictEqual(results.map(outcome), [
          [uri("a.TXT"), "Read", undefined, "Plain text."],
          [uri("b.json"), "Read", 0, "First."],
          [uri("b.json"), "InvalidJson", 1, "expected a JSON object"],
          [uri("c.jsonl"), "Read", 1, "Line."],
          [uri("c.jsonl"), "InvalidJson", 3, messageOf(results[4]!)],
          [uri("d.md"), "Empty", undefined, "the object is empty"],
          [uri("e.markdown"), "Empty", undefined, "the object holds only whitespace"],
          [uri("f.txt"), "Binary", undefined, "the object holds NUL bytes: not a text file"],
          [uri("g.txt"), "NotUtf8", undefined, "the object is not valid UTF-8"],
          [uri("h.jsonl"), "Empty", undefined, "the object holds no records"],
          [uri("dir.v2/noext"), "Unsupported", undefined, `extension not read (reading ${extensions})`],
          [uri(".hidden"), "Unsupported", undefined, `extension not read (reading ${extensions})`],
          [uri("i.csv"), "Unsupported", undefined, `extension not read (reading ${extensions})`],
          [uri("missing.txt"), "Unreadable", undefined, messageOf(results[13]!)]
        ])
        assert.match(messageOf(results[4]!), /^line 3 is not valid JSON: /)
        assert.match(messageOf(results[13]!), /^cannot read the object: NotFound/)
        const first = results[0]!
        assert.deepStrictEqual(first._tag === "Read" && first.document.metadata, { uri: uri("a.TXT") })
      }))

    it.effect("reads only the extensions asked for, even with no concurrency asked", () =>
      Effect.gen(function*() {
        const store = yield* storeWith({ "a.txt": "A.", "b.md": "B." })
        const results = yield* Stream.runCollect(
          Document.fromObjects(refs("a.txt", "b.md"), { extensions: [".md"], concurrency: 0 })
        ).pipe(Effect.provideService(ObjectStore.ObjectStore, store.service))
        assert.deepStrictEqual(results.map((r) => [r._tag, r._tag === "Skipped" ? r.message : r.document.text]), [
          ["Skipped", "extension not read (reading .md)"],
          ["Read", "B."]
        ])
      }))

    it.effect("retries a throttled read and resumes a line stream cut short where it stopped", () =>
      Effect.gen(function*() {
        const lines = ["{\"text\":\"First line.\"}", "{\"text\":\"Second line.\"}", "{\"text\":\"Third.\"}"]
        const store = yield* storeWith({ "doc.txt": "A document.", "lines.jsonl": lines.join("\n") + "\n" })
        const live = store.service
        const gets = new Map<string, number>()
        const flaky = ObjectStore.ObjectStore.of({
          ...live,
          // Lazy, as a real store's download: each run of the stream is a new request.
          get: (ref) =>
            Stream.suspend(() => {
              const n = (gets.get(ref.key) ?? 0) + 1
              gets.set(ref.key, n)
              if (n > 1) return live.get(ref)
              if (ref.key === "doc.txt") {
                return Stream.fail(new ServiceError.Throttled({ operation: "ObjectStore.get", message: "slow down" }))
              }
              // The first download of the lines breaks after 30 bytes.
              return Stream.concat(
                live.get(ref).pipe(
                  Stream.runCollect,
                  Effect.map((chunks) => chunks[0]!.subarray(0, 30)),
                  Stream.fromEffect
                ),
                Stream.fail(new ServiceError.Unavailable({ operation: "ObjectStore.get", message: "connection reset" }))
              )
            })
        })
        const results = yield* runOnTestClock(
          Stream.runCollect(Document.fromObjects(refs("doc.txt", "lines.jsonl"))).pipe(
            Effect.provideService(ObjectStore.ObjectStore, flaky)
          )
        )
        assert.deepStrictEqual(results.map((r) => (r._tag === "Read" ? r.document.text : r.message)), [
          "A document.",
          "First line.",
          "Second line.",
          "Third."
        ])
        assert.deepStrictEqual([...gets.entries()].sort(), [["doc.txt", 2], ["lines.jsonl", 2]])
      }))

    it.effect("reports an object that keeps failing as unreadable, with the service's reason", () =>
      Effect.gen(function*() {
        const denied = ObjectStore.ObjectStore.of({
          ...(yield* InMemoryObjectStore.make()).service,
          get: () => Stream.fail(new ServiceError.AccessDenied({ operation: "ObjectStore.get", message: "no access" }))
        })
        const results = yield* Stream.runCollect(Document.fromObjects(refs("a.txt", "b.jsonl"))).pipe(
          Effect.provideService(ObjectStore.ObjectStore, denied)
        )
        assert.deepStrictEqual(results.map((r) => r._tag === "Skipped" && r.reason), ["Unreadable", "Unreadable"])
        for (const result of results) {
          assert.isTrue(result._tag === "Skipped" && result.message.startsWith("cannot read the object: "))
          assert.isTrue(result._tag === "Skipped" && result.message.includes("no access"))
        }
      }))
  })

  describe("listDirectory and fromListedFiles", () => {
    it.effect("lists every file with its size, sorted, sub-directories walked unless told not to", () =>
      Effect.gen(function*() {
        const dir = yield* tree({ "b.txt": "bb", "a.csv": "a", "sub/c.md": "ccc" })
        const listed = yield* Document.listDirectory(dir)
        assert.deepStrictEqual(listed.map((f) => [f.name, f.size]), [["a.csv", 1], ["b.txt", 2], ["sub/c.md", 3]])
        const path = yield* Path.Path
        assert.strictEqual(listed[0]!.path, path.join(dir, "a.csv"))
        const flat = yield* Document.listDirectory(dir, { recursive: false })
        assert.deepStrictEqual(flat.map((f) => f.name), ["a.csv", "b.txt"])
        const missing = yield* Document.listDirectory(path.join(dir, "nope")).pipe(Effect.flip)
        assert.strictEqual(missing.reason, "Unreadable")
      }))

    it.effect("reads listed files as the directory reader does: names as path metadata, other extensions skipped", () =>
      Effect.gen(function*() {
        const dir = yield* tree({ "a.txt": "A.", "b.csv": "b", "sub/c.md": "C." })
        const path = yield* Path.Path
        const files = [
          { path: path.join(dir, "sub/c.md"), name: "sub/c.md" },
          { path: path.join(dir, "b.csv"), name: "b.csv" },
          { path: path.join(dir, "sub"), name: "sub" },
          { path: path.join(dir, "gone.txt"), name: "gone.txt" },
          { path: path.join(dir, "a.txt"), name: "a.txt" }
        ]
        const results = yield* Stream.runCollect(Document.fromListedFiles(files, { pathMetadataKey: "file" }))
        assert.deepStrictEqual(
          results.map((r) => [r.path.slice(dir.length + 1), r._tag === "Read" ? r.document.metadata : r.reason]),
          [
            ["sub/c.md", { file: "sub/c.md" }],
            ["b.csv", "Unsupported"],
            ["gone.txt", "Unreadable"],
            ["a.txt", { file: "a.txt" }]
          ]
        )
        assert.isTrue(results[2]!._tag === "Skipped" && results[2]!.message.startsWith("cannot read the file: "))
      }))

    it.effect("names files in the messages of their skips", () =>
      Effect.gen(function*() {
        const dir = yield* tree({ "a.txt": "", "b.txt": " \n", "c.jsonl": "\n" })
        const results = yield* Stream.runCollect(Document.fromDirectory(dir))
        assert.deepStrictEqual(results.map((r) => r._tag === "Skipped" && r.message), [
          "the file is empty",
          "the file holds only whitespace",
          "the file holds no records"
        ])
      }))
  })

  describe("skips", () => {
    it("describes a skip on one line, with its place in the file when it has one", () => {
      assert.strictEqual(
        Document.describeSkip({ _tag: "Skipped", path: "a.jsonl", reason: "InvalidJson", message: "bad", item: 3 }),
        "a.jsonl [3]: InvalidJson: bad"
      )
      assert.strictEqual(
        Document.describeSkip({ _tag: "Skipped", path: "b.txt", reason: "Empty", message: "the file is empty" }),
        "b.txt: Empty: the file is empty"
      )
    })

    it.effect("a strict reader's error carries the skip's place in the file", () =>
      Effect.gen(function*() {
        const dir = yield* tree({ "a.jsonl": "{\"text\":\"ok\"}\n{\"title\":\"no text\"}\n" })
        const error = yield* Stream.runCollect(Document.strict(Document.fromDirectory(dir))).pipe(Effect.flip)
        assert.strictEqual(error.reason, "NoText")
        assert.strictEqual(error.item, 2)
        assert.include(error.message, "\"text\"")
      }))

    it.effect("a JSON object whose text field is blank is empty, and the message names the field", () =>
      Effect.gen(function*() {
        const dir = yield* tree({ "a.json": JSON.stringify({ body: "  ", text: 3 }) })
        const [result] = yield* Stream.runCollect(Document.fromDirectory(dir))
        assert.deepStrictEqual(result?._tag === "Skipped" && [result.reason, result.message], [
          "Empty",
          "the \"body\" field is empty"
        ])
      }))
  })

  describe("parsing", () => {
    it.effect("keeps nested JSON values as metadata, and no id or item where there is none", () =>
      Effect.gen(function*() {
        const dir = yield* tree({
          "a.json": JSON.stringify({ text: "A.", id: true, meta: { list: [1, null, false, { k: "v" }] }, none: null }),
          "b.txt": "B."
        })
        const results = yield* Stream.runCollect(Document.fromDirectory(dir))
        const [a, b] = results
        assert.deepStrictEqual(a?._tag === "Read" && a.document, {
          text: "A.",
          metadata: { id: true, meta: { list: [1, null, false, { k: "v" }] }, none: null }
        })
        assert.notProperty(a!, "item")
        assert.notProperty(b!, "item")
        assert.notProperty(Document.make("x"), "id")
      }))

    it.effect("tries the text fields in the order given", () =>
      Effect.gen(function*() {
        const dir = yield* tree({ "a.jsonl": JSON.stringify({ body: "Body.", summary: "Summary." }) + "\n" })
        const [result] = yield* Stream.runCollect(
          Document.fromDirectory(dir, { textField: ["missing", "summary", "body"] })
        )
        assert.strictEqual(result?._tag === "Read" && result.document.text, "Summary.")
      }))

    it.effect("says which fields it looked for, and what is wrong with a JSON file", () =>
      Effect.gen(function*() {
        const dir = yield* tree({
          "a.json": JSON.stringify({ title: "no text" }),
          "b.json": "[]",
          "c.json": "\"just a string\"",
          "d.json": "{",
          "e.jsonl": "{\"text\": \"ok\"}\n\"x\"\n"
        })
        const results = yield* Stream.runCollect(Document.fromDirectory(dir))
        assert.deepStrictEqual(results.map((r) => (r._tag === "Skipped" ? r.message : "read")), [
          "no string field \"text\" or \"body\" or \"content\"",
          "the JSON array is empty",
          "expected a JSON object or an array of objects",
          results[3]!._tag === "Skipped" ? results[3]!.message : "",
          "read",
          "expected a JSON object"
        ])
        assert.match(results[3]!._tag === "Skipped" ? results[3]!.message : "", /^the file is not valid JSON: .+/)
      }))

    it.effect("numbers JSONL lines from the first, a leading blank one counted, and names a line that is not UTF-8", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        const dir = yield* tree({ "a.jsonl": "\n{\"text\":\"second line\"}\n" })
        yield* fs.writeFile(
          path.join(dir, "b.jsonl"),
          new Uint8Array([...encoder.encode("{\"text\":\"fine\"}\n{\"text\":\""), 0xff, 0x22, 0x7d, 0x0a])
        )
        const results = yield* Stream.runCollect(Document.fromDirectory(dir))
        assert.deepStrictEqual(results.map((r) => [r.item, r._tag === "Skipped" ? r.message : "read"]), [
          [2, "read"],
          [1, "read"],
          [2, "line 2 is not valid UTF-8"]
        ])
      }))

    it.effect("reads long JSONL lines across pieces, and probes only the first 64 KiB for NUL bytes", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        const long = (i: number) => JSON.stringify({ text: `Line ${i} ${"x".repeat(30_000)}` })
        const lines = Array.from({ length: 4 }, (_, i) => long(i))
        const dir = yield* tree({ "a.jsonl": lines.join("\n") + "\n" })
        // Past the first 64 KiB, a NUL byte spoils its line only.
        yield* fs.writeFile(
          path.join(dir, "b.jsonl"),
          new Uint8Array([...encoder.encode(lines.join("\n") + "\n{\"text\":\"a"), 0x00, ...encoder.encode("b\"}\n")])
        )
        const results = yield* Stream.runCollect(Document.fromDirectory(dir))
        assert.deepStrictEqual(
          results.map((
            r
          ) => [r.path.slice(dir.length + 1), r.item, r._tag === "Read" ? r.document.text.length : r.reason]),
          [
            ["a.jsonl", 1, 30_007],
            ["a.jsonl", 2, 30_007],
            ["a.jsonl", 3, 30_007],
            ["a.jsonl", 4, 30_007],
            ["b.jsonl", 1, 30_007],
            ["b.jsonl", 2, 30_007],
            ["b.jsonl", 3, 30_007],
            ["b.jsonl", 4, 30_007],
            ["b.jsonl", 5, "InvalidJson"]
          ]
        )
      }))

    it.effect("probes the first 64 KiB of an object for NUL bytes, whatever the pieces it arrives in", () =>
      Effect.gen(function*() {
        const store = yield* InMemoryObjectStore.make()
        // One long line; a NUL byte 64 bytes past the first 64 KiB, in a piece that straddles it.
        const bytes = new Uint8Array([...encoder.encode(JSON.stringify({ text: "x".repeat(70_000) })), 0x0a])
        bytes[65_536 + 64] = 0x00
        yield* store.write({ bucket, key: "a.jsonl" }, "placeholder")
        const inPieces = ObjectStore.ObjectStore.of({
          ...store.service,
          get: () =>
            Stream.fromIterable(
              Array.from({ length: Math.ceil(bytes.length / 1_000) }, (_, i) =>
                bytes.subarray(i * 1_000, (i + 1) * 1_000))
            )
        })
        const results = yield* Stream.runCollect(Document.fromObjects(refs("a.jsonl"))).pipe(
          Effect.provideService(ObjectStore.ObjectStore, inPieces)
        )
        // Not a binary object: the NUL byte spoils the line's JSON, and that is all.
        assert.deepStrictEqual(results.map((r) => [r._tag, r._tag === "Skipped" && r.reason, r.item]), [
          ["Skipped", "InvalidJson", 1]
        ])
      }))

    it.effect("reports a listed file of an extension no reader handles, and a missing one with the reason", () =>
      Effect.gen(function*() {
        const dir = yield* tree({ "a.csv": "a,b" })
        const path = yield* Path.Path
        const results = yield* Stream.runCollect(
          Document.fromFiles([path.join(dir, "a.csv"), path.join(dir, "gone.txt")])
        )
        assert.deepStrictEqual(results.map((r) => r._tag === "Skipped" && r.reason), ["Unsupported", "Unreadable"])
        assert.strictEqual(
          results[0]!._tag === "Skipped" && results[0]!.message,
          "unsupported extension (readers handle .txt, .md, .markdown, .json, .jsonl)"
        )
        assert.match(results[1]!._tag === "Skipped" ? results[1]!.message : "", /^cannot read the file: .+/)
      }))

    it.effect("reads a directory in sorted order whatever order the file system lists it in", () =>
      Effect.gen(function*() {
        const names = Array.from({ length: 24 }, (_, i) => `${((i * 7_919) % 97).toString(36)}-${i}.txt`)
        const dir = yield* tree(Object.fromEntries(names.map((name) => [name, `Text of ${name}.`])))
        const results = yield* Stream.runCollect(Document.fromDirectory(dir))
        assert.deepStrictEqual(results.map((r) => r.path.slice(dir.length + 1)), [...names].sort())
        const listed = yield* Document.listDirectory(dir)
        assert.deepStrictEqual(listed.map((f) => f.name), [...names].sort())
      }))

    it.effect("says why a directory could not be read", () =>
      Effect.gen(function*() {
        const dir = yield* tree({ "file.txt": "x" })
        const path = yield* Path.Path
        const missing = yield* Stream.runCollect(Document.fromDirectory(path.join(dir, "missing"))).pipe(Effect.flip)
        assert.match(missing.message, /^cannot read the directory: .+/)
        const notDirectory = yield* Stream.runCollect(Document.fromDirectory(path.join(dir, "file.txt"))).pipe(
          Effect.flip
        )
        assert.strictEqual(notDirectory.message, "not a directory")
      }))
  })

  describe("edge cases", () => {
    it.effect("gives a skip with no place in the file no item field, and skips a JSON null as not an object", () =>
      Effect.gen(function*() {
        const dir = yield* tree({ "a.txt": "", "b.json": "[null, {\"text\":\"B.\"}]", "c.jsonl": "null\n" })
        const results = yield* Stream.runCollect(Document.fromDirectory(dir))
        assert.deepStrictEqual(results.map((r) => [r.path.slice(dir.length + 1), r.item, messageOf(r)]), [
          ["a.txt", undefined, "the file is empty"],
          ["b.json", 0, "expected a JSON object"],
          ["b.json", 1, ""],
          ["c.jsonl", 1, "expected a JSON object"]
        ])
        assert.notProperty(results[0]!, "item")
      }))

    it.effect("keeps a __proto__ key of JSON metadata as an ordinary key at any depth, never as a prototype", () =>
      Effect.gen(function*() {
        const json = "{\"text\":\"A.\",\"__proto__\":{\"x\":1},\"meta\":{\"__proto__\":{\"y\":2},\"k\":\"v\"}}"
        const dir = yield* tree({ "a.json": json })
        const [result] = yield* Stream.runCollect(Document.fromDirectory(dir))
        const metadata = result?._tag === "Read" ? result.document.metadata : {}
        assert.deepStrictEqual(Object.keys(metadata), ["__proto__", "meta"])
        assert.deepStrictEqual(Object.keys(metadata["meta"] as object), ["__proto__", "k"])
        assert.strictEqual(Object.getPrototypeOf(metadata), Object.prototype)
        assert.strictEqual(Object.getPrototypeOf(metadata["meta"]), Object.prototype)
        assert.strictEqual(
          JSON.stringify(metadata),
          "{\"__proto__\":{\"x\":1},\"meta\":{\"__proto__\":{\"y\":2},\"k\":\"v\"}}"
        )
      }))

    it.effect("describes a read failure that is not an Error by its text, or as an unknown error", () =>
      Effect.gen(function*() {
        const failing = FileSystem.makeNoop({
          readFile: (file) =>
            Effect.fail(
              (file === "a.txt" ? "disk on fire" : { code: 5 }) as unknown as PlatformError.PlatformError
            )
        })
        const results = yield* Stream.runCollect(Document.fromFiles(["a.txt", "b.json"])).pipe(
          Effect.provideService(FileSystem.FileSystem, failing)
        )
        assert.deepStrictEqual(results.map(outcome), [
          ["a.txt", "Unreadable", undefined, "cannot read the file: disk on fire"],
          ["b.json", "Unreadable", undefined, "cannot read the file: unknown error"]
        ])
      }))

    it.effect("sorts a directory's entries itself, and says why a directory that cannot be listed was not", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const dir = yield* tree({ "a.txt": "A.", "b.txt": "B.", "c.txt": "C." })
        const reversed = FileSystem.FileSystem.of({
          ...fs,
          readDirectory: (path, options) => Effect.map(fs.readDirectory(path, options), (names) => [...names].reverse())
        })
        const listed = yield* Document.listDirectory(dir).pipe(Effect.provideService(FileSystem.FileSystem, reversed))
        assert.deepStrictEqual(listed.map((f) => f.name), ["a.txt", "b.txt", "c.txt"])
        const denied = PlatformError.systemError({
          _tag: "PermissionDenied",
          module: "FileSystem",
          method: "readDirectory",
          pathOrDescriptor: dir
        })
        const unlistable = FileSystem.FileSystem.of({ ...fs, readDirectory: () => Effect.fail(denied) })
        const error = yield* Stream.runCollect(Document.fromDirectory(dir)).pipe(
          Effect.provideService(FileSystem.FileSystem, unlistable),
          Effect.flip
        )
        assert.deepStrictEqual([error.path, error.reason, error.message], [
          dir,
          "Unreadable",
          `cannot list the directory: ${denied.message}`
        ])
      }))

    it.effect("joins an object that arrives in pieces before reading it whole", () =>
      Effect.gen(function*() {
        const store = yield* InMemoryObjectStore.make()
        const pieces = (text: string) => {
          const bytes = encoder.encode(text)
          return Stream.fromIterable([bytes.subarray(0, 3), bytes.subarray(3, 10), bytes.subarray(10)])
        }
        const inPieces = ObjectStore.ObjectStore.of({
          ...store.service,
          get: (ref) =>
            pieces(ref.key.endsWith(".json") ? JSON.stringify([{ text: "First object." }]) : "A plain text object.")
        })
        const results = yield* Stream.runCollect(Document.fromObjects(refs("a.txt", "b.json"))).pipe(
          Effect.provideService(ObjectStore.ObjectStore, inPieces)
        )
        assert.deepStrictEqual(results.map(outcome), [
          [`s3://${bucket}/a.txt`, "Read", undefined, "A plain text object."],
          [`s3://${bucket}/b.json`, "Read", 0, "First object."]
        ])
      }))

    it.effect("lists a file that cannot be stat'ed, with size 0, and reading it reports it unreadable", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        const dir = yield* tree({ "a.txt": "A." })
        yield* fs.symlink(path.join(dir, "nowhere.txt"), path.join(dir, "b.txt"))
        const listed = yield* Document.listDirectory(dir)
        assert.deepStrictEqual(listed.map((f) => [f.path, f.name, f.size]), [
          [path.join(dir, "a.txt"), "a.txt", 2],
          [path.join(dir, "b.txt"), "b.txt", 0]
        ])
        const results = yield* Stream.runCollect(Document.fromListedFiles(listed))
        assert.deepStrictEqual(results.map((r) => r._tag === "Skipped" ? r.reason : r._tag), ["Read", "Unreadable"])
      }))
    it.effect("skips a JSONL input with a NUL byte in its first bytes as binary, naming it a file or an object", () =>
      Effect.gen(function*() {
        const bytes = new Uint8Array([...encoder.encode("{\"text\":\"A.\"}\n"), 0x00, 0x0a])
        const dir = yield* tree({ "a.jsonl": bytes })
        const store = yield* storeWith({ "b.jsonl": bytes })
        const fromFile = yield* Stream.runCollect(Document.fromDirectory(dir))
        const fromObject = yield* Stream.runCollect(Document.fromObjects(refs("b.jsonl"))).pipe(
          Effect.provideService(ObjectStore.ObjectStore, store.service)
        )
        assert.deepStrictEqual([...fromFile, ...fromObject].map((r) => outcome(r).slice(1)), [
          ["Binary", undefined, "the file holds NUL bytes: not a text file"],
          ["Binary", undefined, "the object holds NUL bytes: not a text file"]
        ])
      }))

    it.effect("resumes a cut-off line stream whose new download arrives in small pieces", () =>
      Effect.gen(function*() {
        const lines = ["{\"text\":\"First line.\"}", "{\"text\":\"Second line.\"}", "{\"text\":\"Third.\"}"]
        const bytes = encoder.encode(lines.join("\n") + "\n")
        const store = yield* storeWith({ "lines.jsonl": bytes })
        let gets = 0
        const cutThenPieces = ObjectStore.ObjectStore.of({
          ...store.service,
          get: () =>
            Stream.suspend(() =>
              ++gets === 1
                ? Stream.concat(
                  Stream.make(bytes.subarray(0, 30)),
                  Stream.fail(new ServiceError.Unavailable({ operation: "ObjectStore.get", message: "reset" }))
                )
                : Stream.fromIterable(
                  Array.from({ length: Math.ceil(bytes.length / 7) }, (_, i) => bytes.subarray(i * 7, (i + 1) * 7))
                )
            )
        })
        const results = yield* runOnTestClock(
          Stream.runCollect(Document.fromObjects(refs("lines.jsonl"))).pipe(
            Effect.provideService(ObjectStore.ObjectStore, cutThenPieces)
          )
        )
        assert.deepStrictEqual(results.map(outcome).map((o) => o.slice(1)), [
          ["Read", 1, "First line."],
          ["Read", 2, "Second line."],
          ["Read", 3, "Third."]
        ])
        assert.strictEqual(gets, 2)
      }))

    it.effect("logs each skip it drops as a warning, and nothing for the documents it keeps", () =>
      Effect.gen(function*() {
        const path = yield* Path.Path
        const dir = yield* tree({ "a.txt": "A.", "b.txt": "", "c.jsonl": "{\"text\":\"C.\"}\n{\"title\":\"x\"}\n" })
        const { capture, logs } = yield* capturingLogs
        const kept = yield* capture(Stream.runCollect(Document.documents(Document.fromDirectory(dir))))
        assert.deepStrictEqual(kept.map((d) => d.text), ["A.", "C."])
        assert.deepStrictEqual(logs, [
          { level: "Warn", message: `skipped ${path.join(dir, "b.txt")}: Empty: the file is empty` },
          {
            level: "Warn",
            message: `skipped ${path.join(dir, "c.jsonl")} [2]: NoText: no string field "text" or "body" or "content"`
          }
        ])
      }))

    it.effect("takes an object's extension from the last segment of its key, a leading dot not starting one, as a file's", () =>
      Effect.gen(function*() {
        const contents = {
          ".md": "Dot.",
          "sub/.txt": "Dot.",
          "noext": "None.",
          "dir.txt/noext": "None.",
          "a.TXT": "A."
        }
        const names = Object.keys(contents)
        const options = { extensions: ["", ".txt", ".md"] }
        const store = yield* storeWith(contents)
        const objects = yield* Stream.runCollect(Document.fromObjects(refs(...names), options)).pipe(
          Effect.provideService(ObjectStore.ObjectStore, store.service)
        )
        const dir = yield* tree(contents)
        const path = yield* Path.Path
        const files = yield* Stream.runCollect(
          Document.fromListedFiles(names.map((name) => ({ path: path.join(dir, name), name })), options)
        )
        // An extension asked for that no reader handles is the readers' own skip.
        const unsupported = "unsupported extension (readers handle .txt, .md, .markdown, .json, .jsonl)"
        const expected = [
          ["Unsupported", unsupported],
          ["Unsupported", unsupported],
          ["Unsupported", unsupported],
          ["Unsupported", unsupported],
          ["Read", "A."]
        ]
        const brief = (
          r: Document.ReadResult
        ) => (r._tag === "Read" ? ["Read", r.document.text] : [r.reason, r.message])
        assert.deepStrictEqual(objects.map(brief), expected)
        assert.deepStrictEqual(files.map(brief), expected)
      }))

    it.effect("stats the files of a directory it lists up to 16 at a time", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const dir = yield* tree(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}.txt`, "x"])))
        let inFlight = 0
        let most = 0
        const counting = FileSystem.FileSystem.of({
          ...fs,
          stat: (path) =>
            Effect.gen(function*() {
              inFlight++
              most = Math.max(most, inFlight)
              for (let i = 0; i < 5; i++) yield* Effect.yieldNow
              return yield* fs.stat(path)
            }).pipe(Effect.ensuring(Effect.sync(() => void inFlight--)))
        })
        const listed = yield* Document.listDirectory(dir).pipe(Effect.provideService(FileSystem.FileSystem, counting))
        assert.strictEqual(listed.length, 20)
        assert.strictEqual(most, 16)
      }))

    it.effect("downloads up to `concurrency` whole objects at once, 8 by default and at least one", () =>
      Effect.gen(function*() {
        const keys = Array.from({ length: 12 }, (_, i) => `o${i}.txt`)
        const store = yield* storeWith(Object.fromEntries(keys.map((key) => [key, `Text ${key}.`])))
        const mostAtOnce = (options: Document.ObjectReaderOptions) =>
          Effect.gen(function*() {
            let inFlight = 0
            let most = 0
            const slow = ObjectStore.ObjectStore.of({
              ...store.service,
              get: (ref) =>
                Stream.unwrap(Effect.gen(function*() {
                  inFlight++
                  most = Math.max(most, inFlight)
                  yield* Effect.sleep("1 second")
                  return store.service.get(ref)
                })).pipe(Stream.ensuring(Effect.sync(() => void inFlight--)))
            })
            const results = yield* runOnTestClock(
              Stream.runCollect(Document.fromObjects(refs(...keys), options)).pipe(
                Effect.provideService(ObjectStore.ObjectStore, slow)
              )
            )
            assert.deepStrictEqual(
              results.map((r) => r._tag === "Read" && r.document.text),
              keys.map((k) => `Text ${k}.`)
            )
            return most
          })
        assert.strictEqual(yield* mostAtOnce({}), 8)
        assert.strictEqual(yield* mostAtOnce({ concurrency: 3 }), 3)
        assert.strictEqual(yield* mostAtOnce({ concurrency: 0 }), 1)
      }))
  })
})
