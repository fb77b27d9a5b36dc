/**
 * Sinks at their edges: which ids cannot be path segments (and which part of the path said
 * so), document order with missing offsets, keys with and without a prefix, what a reader
 * leaves out, and the errors of a store that refuses.
 */
import { ObjectStore, ServiceError } from "@batch-extract/core"
import { InMemoryObjectStore } from "@batch-extract/core/testing"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, FileSystem, Layer, Path, PlatformError, Random, Result, Stream } from "effect"
import * as Chunker from "../../src/extraction/Chunker.ts"
import * as Document from "../../src/extraction/Document.ts"
import * as ExtractedChunk from "../../src/extraction/ExtractedChunk.ts"
import * as Sink from "../../src/extraction/Sink.ts"
import * as TextNode from "../../src/extraction/TextNode.ts"

const extracted = Effect.gen(function*() {
  const [chunk] = yield* Chunker.chunk(Document.make("Acme makes widgets in Boston."))
  return yield* ExtractedChunk.make(chunk!, { propositions: ["Acme makes widgets"] })
})

const withIds = (value: ExtractedChunk.ExtractedChunk, sourceId: string, chunkId: string) => ({
  ...value,
  chunk: { ...value.chunk, id: chunkId, source: { ...value.chunk.source, id: sourceId } }
})

const node = (id: string, start: number | null, end: number | null): TextNode.TextNode => ({
  id_: id,
  metadata: {},
  relationships: {},
  text: id,
  start_char_idx: start,
  end_char_idx: end
})

describe("Sink at its edges", () => {
  it("refuses ids that are empty, relative segments, or hold a separator or NUL", () => {
    for (const name of ["", ".", ".."]) assert.include(Sink.nameProblem(name)!, "relative path segment", name)
    for (const name of ["a/b", "a\\b", "a\u0000b"]) assert.include(Sink.nameProblem(name)!, "path separator", name)
    for (const name of ["...", "aws::a:b", ".hidden"]) assert.isUndefined(Sink.nameProblem(name), name)
  })

  it.effect("names the part of the path whose id cannot be used", () =>
    Effect.gen(function*() {
      const value = yield* extracted
      const problem = (collectionId: string, sourceId: string, chunkId: string) => {
        const result = Sink.relativePath(collectionId, withIds(value, sourceId, chunkId))
        return Result.isFailure(result) ? result.failure : "fine"
      }
      assert.strictEqual(problem("c", "aws::s", "aws::s:1"), "fine")
      assert.match(problem("..", "aws::s", "aws::s:1"), /^the collection id "\.\." /)
      assert.match(problem("c", "a/b", "aws::s:1"), /^the source id "a\/b" /)
      assert.match(problem("c", "aws::s", "x\\y"), /^the chunk id "x\\\\y\.json" /)
      assert.deepStrictEqual(
        Sink.relativePath("c", withIds(value, "aws::s", "aws::s:1"), "windowsSafe"),
        Result.succeed(["c", "aws__s", "aws__s_1.json"])
      )
    }))

  it("orders a source's nodes by start, then end, then id, with unknown offsets last", () => {
    const ordered = Sink.documentOrder([
      node("e", null, null),
      node("d", 5, null),
      node("c", 5, 9),
      node("b", 5, 7),
      node("a2", 0, 4),
      node("a1", 0, 4),
      node("z", null, 3)
    ])
    assert.deepStrictEqual(ordered.map((n) => n.id_), ["a1", "a2", "b", "c", "d", "z", "e"])
  })

  it("orders nodes that start together by end, and keeps nodes that tie on everything in the order given", () => {
    const ids = (nodes: ReadonlyArray<TextNode.TextNode>) => Sink.documentOrder(nodes).map((n) => n.id_)
    assert.deepStrictEqual(ids([node("y", 0, 4), node("x", 0, 9)]), ["y", "x"])
    assert.deepStrictEqual(ids([node("a", 0, 4), node("b", 0, 4)]), ["a", "b"])
    const twins = [{ ...node("a", 0, 4), text: "first" }, { ...node("a", 0, 4), text: "second" }]
    assert.deepStrictEqual(Sink.documentOrder(twins).map((n) => n.text), ["first", "second"])
  })

  it.effect("keys objects under a prefix of several segments, trimming only its trailing slashes", () =>
    Effect.gen(function*() {
      const value = withIds(yield* extracted, "aws::s", "aws::s:1")
      assert.deepStrictEqual(
        Sink.objectKey({ prefix: "a//b/", collectionId: "c" }, value),
        Result.succeed("a//b/c/aws::s/aws::s:1.json")
      )
    }))

  it.effect("says which object it could not fetch, and the service's reason", () =>
    Effect.gen(function*() {
      const memory = yield* InMemoryObjectStore.make()
      yield* memory.write({ bucket: "out", key: "c/aws::s/aws::s:1.json" }, "{}")
      const refusing = ObjectStore.ObjectStore.of({
        ...memory.service,
        get: () => Stream.fail(new ServiceError.AccessDenied({ operation: "ObjectStore.get", message: "not yours" }))
      })
      const error = yield* Stream.runCollect(Sink.readObjectStore({ bucket: "out", collectionId: "c" })).pipe(
        Effect.provideService(ObjectStore.ObjectStore, refusing),
        Effect.flip
      )
      assert.deepStrictEqual([error.operation, error.location], ["read", "s3://out/c/aws::s/aws::s:1.json"])
      assert.include(error.message, "not yours")
    }))

  it.effect("keys objects under the prefix without doubled slashes, or under the collection alone", () =>
    Effect.gen(function*() {
      const value = withIds(yield* extracted, "aws::s", "aws::s:1")
      assert.deepStrictEqual(
        Sink.objectKey({ prefix: "out//", collectionId: "c" }, value),
        Result.succeed("out/c/aws::s/aws::s:1.json")
      )
      assert.deepStrictEqual(
        Sink.objectKey({ prefix: "", collectionId: "c" }, value),
        Result.succeed("c/aws::s/aws::s:1.json")
      )
      assert.deepStrictEqual(
        Sink.objectKey({ prefix: "/", collectionId: "c" }, value),
        Result.succeed("c/aws::s/aws::s:1.json")
      )
      assert.deepStrictEqual(Sink.objectKey({ collectionId: "c" }, value), Result.succeed("c/aws::s/aws::s:1.json"))
      assert.isTrue(Result.isFailure(Sink.objectKey({ collectionId: "" }, value)))
    }))

  it.effect("reads back only the chunk files of a collection, one source at a time", () =>
    Effect.gen(function*() {
      const store = yield* InMemoryObjectStore.make()
      const value = yield* extracted
      const options = { bucket: "out", prefix: "p", collectionId: "c" }
      const program = Effect.gen(function*() {
        yield* Sink.writeToObjectStore(options, withIds(value, "aws::s1", "aws::s1:a"))
        yield* Sink.writeToObjectStore(options, withIds(value, "aws::s2", "aws::s2:a"))
        yield* store.write({ bucket: "out", key: "p/c/summary.json" }, "{}")
        yield* store.write({ bucket: "out", key: "p/c/aws::s1/notes.txt" }, "x")
        yield* store.write({ bucket: "out", key: "p/c/aws::s1/deeper/x.json" }, "{}")
        yield* store.write({ bucket: "out", key: "p/c2/aws::s3/aws::s3:a.json" }, "{}")
        const sources = yield* Stream.runCollect(Sink.readObjectStore(options))
        assert.deepStrictEqual(sources.map((s) => [s.sourceId, s.chunks.map((c) => c.chunk.id)]), [
          ["aws::s1", ["aws::s1:a"]],
          ["aws::s2", ["aws::s2:a"]]
        ])
      })
      yield* Effect.provideService(program, ObjectStore.ObjectStore, store.service)
    }))

  it.effect("says which object could not be read, and why", () =>
    Effect.gen(function*() {
      const store = yield* InMemoryObjectStore.make()
      yield* store.write({ bucket: "out", key: "c/aws::s/aws::s:1.json" }, "{\"id_\":")
      const corrupt = yield* Stream.runCollect(Sink.readObjectStore({ bucket: "out", collectionId: "c" })).pipe(
        Effect.provideService(ObjectStore.ObjectStore, store.service),
        Effect.flip
      )
      assert.strictEqual(corrupt.operation, "read")
      assert.strictEqual(corrupt.location, "s3://out/c/aws::s/aws::s:1.json")
      assert.include(corrupt.message, "JSON")
    }))

  it.effect("reports a store that refuses, with the operation, the location and the service's reason", () =>
    Effect.gen(function*() {
      const value = withIds(yield* extracted, "aws::s", "aws::s:1")
      const denied = (operation: string) =>
        new ServiceError.AccessDenied({ operation: `ObjectStore.${operation}`, message: "not yours" })
      const refusing = ObjectStore.ObjectStore.of({
        ...(yield* InMemoryObjectStore.make()).service,
        put: () => Effect.fail(denied("put")),
        head: () => Effect.fail(denied("head")),
        list: () => Stream.fail(denied("list"))
      })
      const provide = Effect.provideService(ObjectStore.ObjectStore, refusing)
      const options = { bucket: "out", collectionId: "c" }
      const write = yield* provide(Sink.writeToObjectStore(options, value)).pipe(Effect.flip)
      assert.deepStrictEqual([write.operation, write.location], ["write", "s3://out/c/aws::s/aws::s:1.json"])
      assert.include(write.message, "not yours")
      const exists = yield* provide(Sink.existsInObjectStore(options, value)).pipe(Effect.flip)
      assert.deepStrictEqual([exists.operation, exists.location], ["read", "s3://out/c/aws::s/aws::s:1.json"])
      const list = yield* provide(Stream.runCollect(Sink.readObjectStore(options))).pipe(Effect.flip)
      assert.deepStrictEqual([list.operation, list.location], ["list", "s3://out/c/"])
      assert.include(list.message, "not yours")
      const unsafe = yield* provide(Sink.existsInObjectStore({ bucket: "out", collectionId: ".." }, value)).pipe(
        Effect.flip
      )
      assert.deepStrictEqual([unsafe.operation, unsafe.location], ["read", "s3://out"])
      const unsafeWrite = yield* provide(Sink.writeToObjectStore({ bucket: "out", collectionId: ".." }, value)).pipe(
        Effect.flip
      )
      assert.deepStrictEqual([unsafeWrite.operation, unsafeWrite.location], ["write", "s3://out"])
    }))
})

layer(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer))("Sink on a file system that refuses", (it) => {
  const scratch = Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "sink-edges-" })
    return { fs, path, dir }
  })

  it.effect("says which step of an atomic write failed, and leaves no temporary file behind", () =>
    Effect.gen(function*() {
      const { dir, fs, path } = yield* scratch
      yield* fs.writeFileString(path.join(dir, "plain"), "a file, not a directory")
      const noDirectory = yield* Sink.writeFileAtomically(path.join(dir, "plain", "out.json"), "x").pipe(Effect.flip)
      assert.strictEqual(noDirectory.message, "cannot create the file's directory")
      const noTemporary = yield* Sink.writeFileAtomically(path.join(dir, "out.json"), "x", {
        temporaryDirectory: path.join(dir, "plain", "tmp")
      }).pipe(Effect.flip)
      assert.strictEqual(noTemporary.message, "cannot create the temporary directory")
      // The target is a directory: the rename fails, and the temporary file is removed.
      yield* fs.makeDirectory(path.join(dir, "target", "inside"), { recursive: true })
      const temporary = path.join(dir, "tmp")
      const noRename = yield* Sink.writeFileAtomically(path.join(dir, "target"), "x", { temporaryDirectory: temporary })
        .pipe(Effect.flip)
      assert.deepStrictEqual([noRename.operation, noRename.message, noRename.location], [
        "write",
        "cannot write the file",
        path.join(dir, "target")
      ])
      assert.deepStrictEqual(yield* fs.readDirectory(temporary), [])
    }))

  it.effect("refuses to write or check a chunk whose ids cannot be path segments, naming the directory", () =>
    Effect.gen(function*() {
      const { dir } = yield* scratch
      const unsafe = withIds(yield* extracted, "aws::s", "x/y")
      const write = yield* Sink.writeToDirectory({ directory: dir, collectionId: "c" }, unsafe).pipe(Effect.flip)
      assert.deepStrictEqual([write.operation, write.location], ["write", dir])
      const check = yield* Sink.existsInDirectory({ directory: dir, collectionId: "c" }, unsafe).pipe(Effect.flip)
      assert.deepStrictEqual([check.operation, check.location], ["read", dir])
      assert.include(check.message, "chunk id")
    }))

  it.effect("reads back sources in sorted order whatever the directory's order, and only directories", () =>
    Effect.gen(function*() {
      const { dir, fs, path } = yield* scratch
      const value = yield* extracted
      const sources = Array.from({ length: 12 }, (_, i) => `aws::${(i * 7919).toString(36)}x${i}`)
      const sink = yield* Sink.directory({ directory: dir, collectionId: "c" })
      for (const source of sources) yield* sink.write(withIds(value, source, `${source}:1`))
      yield* fs.writeFileString(path.join(dir, "c", "summary.json"), "{}")
      // A source directory with no chunk file yet.
      yield* fs.makeDirectory(path.join(dir, "c", "aws::empty"))
      const read = yield* Stream.runCollect(Sink.readDirectory({ directory: dir, collectionId: "c" }))
      assert.deepStrictEqual(read.map((s) => s.sourceId), [...sources, "aws::empty"].sort())
      assert.deepStrictEqual(read.find((s) => s.sourceId === "aws::empty")!.chunks, [])
    }))

  it.effect("says which file it could not read, and why", () =>
    Effect.gen(function*() {
      const { dir, fs, path } = yield* scratch
      const value = withIds(yield* extracted, "aws::s", "aws::s:1")
      // A chunk file whose node has no source relationship.
      const node = { ...TextNode.fromExtracted(value), relationships: {} }
      yield* fs.makeDirectory(path.join(dir, "c", "aws::s"), { recursive: true })
      const file = path.join(dir, "c", "aws::s", "aws::s:1.json")
      yield* fs.writeFileString(file, TextNode.toJson(node))
      const noSource = yield* Stream.runCollect(Sink.readDirectory({ directory: dir, collectionId: "c" })).pipe(
        Effect.flip
      )
      assert.deepStrictEqual([noSource.operation, noSource.location], ["read", file])
      assert.include(noSource.message, "source relationship")
      // A ".json" entry that is a directory.
      yield* fs.remove(file)
      yield* fs.makeDirectory(file)
      const unreadable = yield* Stream.runCollect(Sink.readDirectory({ directory: dir, collectionId: "c" })).pipe(
        Effect.flip
      )
      assert.deepStrictEqual([unreadable.operation, unreadable.location], ["read", file])
      assert.match(unreadable.message, /^cannot read: /)
    }))

  it.effect("says which entry of a collection it could not list or stat", () =>
    Effect.gen(function*() {
      const { dir, fs, path } = yield* scratch
      // The collection is a file.
      yield* fs.writeFileString(path.join(dir, "c"), "not a directory")
      const ids = yield* Stream.runCollect(Sink.chunkIdsInDirectory({ directory: dir, collectionId: "c" })).pipe(
        Effect.flip
      )
      assert.deepStrictEqual([ids.operation, ids.location], ["list", path.join(dir, "c")])
      assert.match(ids.message, /^cannot list: /)
      const read = yield* Stream.runCollect(Sink.readDirectory({ directory: dir, collectionId: "c" })).pipe(Effect.flip)
      assert.deepStrictEqual([read.operation, read.location], ["list", path.join(dir, "c")])
      assert.match(read.message, /^cannot list: /)
      // A source entry that is a dangling link.
      yield* fs.makeDirectory(path.join(dir, "d"))
      yield* fs.symlink(path.join(dir, "nowhere"), path.join(dir, "d", "aws::gone"))
      const stat = yield* Stream.runCollect(Sink.readDirectory({ directory: dir, collectionId: "d" })).pipe(Effect.flip)
      assert.deepStrictEqual([stat.operation, stat.location], ["list", path.join(dir, "d", "aws::gone")])
      assert.match(stat.message, /^cannot stat: /)
    }))

  it("reads a file name back as the id it was written from, underscores and all", () => {
    assert.strictEqual(Sink.idOfFileName("aws::own_id:1"), "aws::own_id:1")
    assert.strictEqual(Sink.idOfFileName("aws__a_1", "windowsSafe"), "aws::a:1")
    assert.strictEqual(Sink.fileName("aws::a:1"), "aws::a:1")
  })

  it.effect("reads back sources in sorted order even from a file system that lists them in reverse", () =>
    Effect.gen(function*() {
      const { dir, fs, path } = yield* scratch
      const reversing = FileSystem.FileSystem.of({
        ...fs,
        readDirectory: (p, options) => Effect.map(fs.readDirectory(p, options), (names) => [...names].reverse())
      })
      const names = ["aws::b", "aws::a", "aws::c"]
      for (const name of names) yield* fs.makeDirectory(path.join(dir, "c", name), { recursive: true })
      const read = yield* Stream.runCollect(Sink.readDirectory({ directory: dir, collectionId: "c" })).pipe(
        Effect.provideService(FileSystem.FileSystem, reversing)
      )
      assert.deepStrictEqual(read.map((s) => s.sourceId), ["aws::a", "aws::b", "aws::c"])
    }))

  it.effect("says which chunk file it could not check, and why", () =>
    Effect.gen(function*() {
      const { dir, fs, path } = yield* scratch
      const value = withIds(yield* extracted, "aws::s", "aws::s:1")
      const broken = FileSystem.FileSystem.of({
        ...fs,
        exists: (p) =>
          Effect.fail(PlatformError.systemError({
            _tag: "PermissionDenied",
            module: "FileSystem",
            method: "exists",
            description: "no entry",
            pathOrDescriptor: p
          }))
      })
      const error = yield* Sink.existsInDirectory({ directory: dir, collectionId: "c" }, value).pipe(
        Effect.provideService(FileSystem.FileSystem, broken),
        Effect.flip
      )
      assert.deepStrictEqual([error.operation, error.location], [
        "read",
        path.join(dir, "c", "aws::s", "aws::s:1.json")
      ])
      assert.match(error.message, /^cannot check: .*no entry/)
      assert.isTrue(PlatformError.isPlatformError(error.cause))
    }))

  it.effect("names a temporary file after its target with an alphanumeric suffix", () =>
    Effect.gen(function*() {
      const { dir, fs, path } = yield* scratch
      const written: Array<string> = []
      const recording = FileSystem.FileSystem.of({
        ...fs,
        writeFileString: (p, text, options) => {
          written.push(path.basename(p))
          return fs.writeFileString(p, text, options)
        }
      })
      // This seed draws a negative number first.
      yield* Sink.writeFileAtomically(path.join(dir, "out.json"), "x").pipe(
        Effect.provideService(FileSystem.FileSystem, recording),
        Random.withSeed("example")
      )
      assert.strictEqual(written.length, 1)
      assert.match(written[0]!, /^out\.json\.[0-9a-z]+\.tmp$/)
      assert.strictEqual(yield* fs.readFileString(path.join(dir, "out.json")), "x")
    }))
})
