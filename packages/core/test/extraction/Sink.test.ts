import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, FileSystem, Layer, Path, Stream } from "effect"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as ObjectStore from "../../src/engine/ObjectStore.ts"
import * as Chunker from "../../src/extraction/Chunker.ts"
import * as Document from "../../src/extraction/Document.ts"
import * as ExtractedChunk from "../../src/extraction/ExtractedChunk.ts"
import * as Sink from "../../src/extraction/Sink.ts"
import * as Topics from "../../src/extraction/Topics.ts"
import * as InMemoryObjectStore from "../../src/testing/InMemoryObjectStore.ts"

const fixtureJson = readFileSync(
  fileURLToPath(new URL("../../../../../shared/fixtures/graphrag-toolkit-extracted-chunk.json", import.meta.url)),
  "utf8"
)

const longText = Array.from(
  { length: 40 },
  (_, i) => `Sentence ${i} says that Amazon Neptune keeps graph ${i} in a cluster volume across three zones.`
).join(" ")

/** Two documents' chunks, extracted (the last chunk of the first document failed). */
const extractedChunks = Effect.gen(function*() {
  const first = yield* Chunker.chunk(Document.make(longText, { metadata: { title: "Neptune" } }), {
    chunkSize: 64,
    chunkOverlap: 20
  })
  const second = yield* Chunker.chunk(Document.make("A short second document."))
  const extract = (chunk: Chunker.Chunk, i: number) =>
    i === first.length - 1
      ? ExtractedChunk.failed(chunk)
      : ExtractedChunk.make(chunk, {
        propositions: [`Proposition of chunk ${i}`],
        topics: Topics.parse(`topic: T${i}\nentities:\nNeptune|Service\nproposition: Proposition of chunk ${i}`).topics
      })
  return {
    first: yield* Effect.forEach(first, extract),
    second: yield* Effect.forEach(second, (c) => ExtractedChunk.make(c))
  }
})

const services = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer)

layer(services)("Sink", (it) => {
  describe("directory", () => {
    it.effect("writes <dir>/<collection>/<sourceId>/<chunkId>.json atomically and reads sources back in order", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        const dir = yield* fs.makeTempDirectoryScoped({ prefix: "sink-" })
        const { first, second } = yield* extractedChunks
        assert.isAbove(first.length, 3)
        const options = { directory: dir, collectionId: "20250101-120000" }
        // Written out of order, and one chunk twice: the reader restores document order.
        const sink = yield* Sink.directory(options)
        for (const extracted of [...first].reverse()) yield* sink.write(extracted)
        yield* sink.write(second[0]!)
        yield* sink.write(first[1]!)

        const sourceDir = path.join(dir, options.collectionId, first[0]!.chunk.source.id)
        const files = yield* fs.readDirectory(sourceDir)
        assert.deepStrictEqual([...files].sort(), first.map((e) => `${e.chunk.id}.json`).sort())
        assert.deepStrictEqual(yield* fs.readDirectory(path.join(dir, Sink.temporaryDirectoryName)), [])
        // The collection holds only source directories (the build stage treats each as a document).
        assert.deepStrictEqual(
          [...(yield* fs.readDirectory(path.join(dir, options.collectionId)))].sort(),
          [first[0]!.chunk.source.id, second[0]!.chunk.source.id].sort()
        )

        assert.isTrue(yield* Sink.existsInDirectory(options, first[0]!))
        assert.isFalse(yield* Sink.existsInDirectory({ ...options, collectionId: "other" }, first[0]!))
        const sources = yield* Stream.runCollect(Sink.readDirectory(options))
        const expected = [
          { sourceId: first[0]!.chunk.source.id, chunks: first },
          { sourceId: second[0]!.chunk.source.id, chunks: second }
        ].sort((a, b) => (a.sourceId < b.sourceId ? -1 : 1))
        assert.deepStrictEqual(sources, expected)
        const failed = sources.flatMap((s) => s.chunks).find((c) => c.chunk.id === first[first.length - 1]!.chunk.id)
        assert.deepStrictEqual(failed?.topics, { topics: [] })
      }))

    it.effect("writes Windows-safe names on request; the reader accepts them and the reference's files", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        const dir = yield* fs.makeTempDirectoryScoped({ prefix: "sink-" })
        const { second } = yield* extractedChunks
        const options = { directory: dir, collectionId: "c", fileNaming: "windowsSafe" as const }
        yield* Effect.provide(
          Sink.Sink.use((sink) => sink.write(second[0]!)),
          Sink.layerDirectory(options)
        )
        const safeSource = second[0]!.chunk.source.id.replace("::", "__").replace(/:/g, "_")
        assert.deepStrictEqual(yield* fs.readDirectory(path.join(dir, "c", safeSource)), [
          `${second[0]!.chunk.id.replace("::", "__").replace(/:/g, "_")}.json`
        ])
        // A file the reference wrote, under its own names, and a stray non-JSON file.
        const referenceDir = path.join(dir, "c", "aws::abd5427c:6614")
        yield* fs.makeDirectory(referenceDir, { recursive: true })
        yield* fs.writeFileString(path.join(referenceDir, "aws::abd5427c:6614:848bb4a4.json"), fixtureJson)
        yield* fs.writeFileString(path.join(referenceDir, "notes.txt"), "ignored")
        const sources = yield* Stream.runCollect(Sink.readDirectory(options))
        assert.deepStrictEqual(sources.map((s) => [s.sourceId, s.chunks.map((c) => c.chunk.id)]), [
          ["aws::abd5427c:6614", ["aws::abd5427c:6614:848bb4a4"]],
          [second[0]!.chunk.source.id, [second[0]!.chunk.id]]
        ])
      }))

    it.effect("fails with a SinkError on unsafe ids, a missing collection and a corrupt file", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        const dir = yield* fs.makeTempDirectoryScoped({ prefix: "sink-" })
        const { second } = yield* extractedChunks
        const unsafe = { ...second[0]!, chunk: { ...second[0]!.chunk, id: "aws::../escape" } }
        const error = yield* Sink.writeToDirectory({ directory: dir, collectionId: "c" }, unsafe).pipe(Effect.flip)
        assert.strictEqual(error._tag, "SinkError")
        assert.match(error.message, /path separator/)
        const missing = yield* Stream.runCollect(Sink.readDirectory({ directory: dir, collectionId: "none" })).pipe(
          Effect.flip
        )
        assert.strictEqual(missing.operation, "list")
        yield* fs.makeDirectory(path.join(dir, "c", "src"), { recursive: true })
        yield* fs.writeFileString(path.join(dir, "c", "src", "broken.json"), "{\"id_\":")
        const corrupt = yield* Stream.runCollect(Sink.readDirectory({ directory: dir, collectionId: "c" })).pipe(
          Effect.flip
        )
        assert.strictEqual(corrupt.operation, "read")
        assert.isTrue(corrupt.location.endsWith("broken.json"))
      }))

    it.effect("lists the chunk ids a collection holds from the file names, whichever naming wrote them", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        const dir = yield* fs.makeTempDirectoryScoped({ prefix: "sink-" })
        const { first, second } = yield* extractedChunks
        assert.deepStrictEqual(
          yield* Stream.runCollect(Sink.chunkIdsInDirectory({ directory: dir, collectionId: "c" })),
          []
        )
        const sink = yield* Sink.directory({ directory: dir, collectionId: "c" })
        for (const extracted of first) yield* sink.write(extracted)
        yield* Sink.writeToDirectory({ directory: dir, collectionId: "c", fileNaming: "windowsSafe" }, second[0]!)
        // Neither a stray file beside the sources nor one that is not JSON is a chunk.
        yield* fs.writeFileString(path.join(dir, "c", "stray.json"), "{}")
        yield* fs.writeFileString(path.join(dir, "c", first[0]!.chunk.source.id, "notes.txt"), "ignored")
        const ids = yield* Stream.runCollect(Sink.chunkIdsInDirectory({ directory: dir, collectionId: "c" }))
        assert.deepStrictEqual(
          [...ids].sort(),
          [...first, ...second].map((extracted) => extracted.chunk.id).sort()
        )
        assert.strictEqual(
          Sink.idOfFileName(Sink.fileName(second[0]!.chunk.id, "windowsSafe"), "windowsSafe"),
          second[0]!.chunk.id
        )
        assert.strictEqual(Sink.idOfFileName(Sink.fileName(second[0]!.chunk.id)), second[0]!.chunk.id)
      }))

    it.effect("writes any file atomically: replaced whole, no temporary file left", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        const dir = yield* fs.makeTempDirectoryScoped({ prefix: "sink-" })
        const file = path.join(dir, "out", "summary.json")
        yield* Sink.writeFileAtomically(file, "{\"a\":1}\n")
        yield* Sink.writeFileAtomically(file, "{\"a\":2}\n")
        assert.strictEqual(yield* fs.readFileString(file), "{\"a\":2}\n")
        assert.deepStrictEqual(yield* fs.readDirectory(path.join(dir, "out")), ["summary.json"])
        const elsewhere = path.join(dir, "tmp")
        yield* Sink.writeFileAtomically(path.join(dir, "out", "other.json"), "x", { temporaryDirectory: elsewhere })
        assert.deepStrictEqual(yield* fs.readDirectory(elsewhere), [])
        // A file where its directory should be: a SinkError naming the file.
        const error = yield* Sink.writeFileAtomically(path.join(file, "inside.json"), "x").pipe(Effect.flip)
        assert.strictEqual(error.operation, "write")
        assert.strictEqual(error.location, path.join(file, "inside.json"))
      }))
  })

  describe("object store", () => {
    it.effect("writes the same layout under a prefix and reads sources back in order", () =>
      Effect.gen(function*() {
        const store = yield* InMemoryObjectStore.make({ pageSize: 2 })
        const { first, second } = yield* extractedChunks
        const options = { bucket: "out", prefix: "extracted/", collectionId: "run-1", kmsKeyId: "alias/key" }
        const run = Effect.gen(function*() {
          const sink = yield* Sink.objectStore(options)
          for (const extracted of [...second, ...[...first].reverse()]) yield* sink.write(extracted)
          const objects = yield* store.objects
          const key = `out/extracted/run-1/${first[0]!.chunk.source.id}/${first[0]!.chunk.id}.json`
          assert.isTrue(objects.has(key))
          assert.deepStrictEqual(objects.get(key)!.options, { contentType: "application/json", kmsKeyId: "alias/key" })
          assert.strictEqual(objects.size, first.length + second.length)
          const sources = yield* Stream.runCollect(Sink.readObjectStore(options))
          assert.deepStrictEqual(
            sources,
            [
              { sourceId: first[0]!.chunk.source.id, chunks: first },
              { sourceId: second[0]!.chunk.source.id, chunks: second }
            ].sort((a, b) => (a.sourceId < b.sourceId ? -1 : 1))
          )
          assert.isTrue(yield* Sink.existsInObjectStore(options, first[0]!))
          assert.isFalse(yield* Sink.existsInObjectStore({ ...options, collectionId: "other" }, first[0]!))
        })
        yield* Effect.provideService(run, ObjectStore.ObjectStore, store.service)
      }))
  })
})
