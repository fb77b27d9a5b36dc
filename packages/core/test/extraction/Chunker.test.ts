import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as Chunker from "../../src/extraction/Chunker.ts"
import * as Document from "../../src/extraction/Document.ts"
import * as Ids from "../../src/extraction/Ids.ts"

const sentence = (i: number) =>
  `Sentence ${i} says that Amazon Neptune stores graph number ${i} in a cluster volume across zones.`
const longText = Array.from({ length: 80 }, (_, i) => sentence(i)).join(" ") + "\n\n\n" +
  Array.from({ length: 20 }, (_, i) => sentence(100 + i)).join("  ")

/** Slice by code points, as Python would with the chunk's offsets. */
const slice = (text: string, start: number, end: number) => Array.from(text).slice(start, end).join("")

describe("Chunker", () => {
  it.effect("splits into token-bounded chunks with whole-sentence overlap, in document order", () =>
    Effect.gen(function*() {
      const document = Document.make(longText, { metadata: { title: "Neptune" } })
      const chunks = yield* Chunker.chunk(document)
      assert.isAbove(chunks.length, 5)
      const budget = 256 - Chunker.countTokens("title: Neptune")
      chunks.forEach((chunk, index) => {
        assert.strictEqual(chunk.index, index)
        assert.isAtMost(Chunker.countTokens(chunk.text), budget)
        assert.strictEqual(slice(longText, chunk.startCharIdx!, chunk.endCharIdx!), chunk.text)
        assert.strictEqual(chunk.id, Ids.chunkId(chunk.source.id, chunk.text, { title: "Neptune" }))
        assert.deepStrictEqual(chunk.metadata, { title: "Neptune" })
      })
      for (let i = 1; i < chunks.length; i++) {
        const previous = chunks[i - 1]!
        const current = chunks[i]!
        assert.isAbove(current.startCharIdx!, previous.startCharIdx!)
        // Overlap: the chunk starts inside the previous one, at a sentence, with at most 25 tokens.
        if (current.startCharIdx! < previous.endCharIdx!) {
          const overlap = slice(longText, current.startCharIdx!, previous.endCharIdx!)
          assert.isAtMost(Chunker.countTokens(overlap), 25)
          assert.match(overlap, /^Sentence \d+/)
        }
      }
      // Every sentence is in some chunk.
      for (let i = 0; i < 80; i++) assert.isTrue(chunks.some((c) => c.text.includes(sentence(i))))
      assert.strictEqual(chunks[0]!.source.id, Ids.sourceId(longText, { title: "Neptune" }))
    }))

  it.effect("is deterministic and honours chunk size and overlap", () =>
    Effect.gen(function*() {
      const document = Document.make(longText)
      const a = yield* Chunker.chunk(document, { chunkSize: 64, chunkOverlap: 25 })
      const b = yield* Chunker.chunk(document, { chunkSize: 64, chunkOverlap: 25 })
      assert.deepStrictEqual(a, b)
      for (const c of a) assert.isAtMost(Chunker.countTokens(c.text), 64)
      const noOverlap = yield* Chunker.chunk(document, { chunkSize: 64, chunkOverlap: 0 })
      assert.isBelow(noOverlap.length, a.length)
      for (let i = 1; i < noOverlap.length; i++) {
        assert.isAtLeast(noOverlap[i]!.startCharIdx!, noOverlap[i - 1]!.endCharIdx!)
      }
    }))

  it.effect("chunking none gives one chunk per document", () =>
    Effect.gen(function*() {
      const document = Document.make(longText, { metadata: { url: "https://example.com" } })
      const [only, ...rest] = yield* Chunker.chunk(document, "none")
      assert.strictEqual(rest.length, 0)
      assert.strictEqual(only!.text, longText)
      assert.strictEqual(only!.startCharIdx, 0)
      assert.strictEqual(only!.endCharIdx, Array.from(longText).length)
      assert.strictEqual(only!.id, Ids.chunkId(Ids.sourceId(longText, document.metadata), longText, document.metadata))
    }))

  it.effect("counts offsets in code points and keeps an aws: document id", () =>
    Effect.gen(function*() {
      const text = "😀 Emoji first. " + Array.from({ length: 30 }, (_, i) => sentence(i)).join(" ")
      const chunks = yield* Chunker.chunk(Document.make(text, { id: "aws::given:1" }), {
        chunkSize: 40,
        chunkOverlap: 0
      })
      assert.isAbove(chunks.length, 2)
      for (const c of chunks) {
        assert.strictEqual(slice(text, c.startCharIdx!, c.endCharIdx!), c.text)
        assert.isTrue(c.id.startsWith("aws::given:1:"))
        assert.strictEqual(c.source.documentId, "aws::given:1")
      }
    }))

  it.effect("has no chunks for whitespace, and typed errors for bad options and oversized metadata", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* Chunker.chunk(Document.make("  \n ")), [])
      const bad = yield* Chunker.chunk(Document.make("x"), { chunkSize: 10, chunkOverlap: 10 }).pipe(Effect.flip)
      assert.strictEqual(bad._tag, "ChunkingError")
      const metadata = { summary: "word ".repeat(300) }
      const tooLong = yield* Chunker.chunk(Document.make(longText, { metadata })).pipe(Effect.flip)
      assert.match(tooLong.message, /does not fit/)
      const ignored = yield* Chunker.chunk(Document.make(longText, { metadata }), {
        chunkSize: 256,
        chunkOverlap: 25,
        includeMetadata: false
      })
      assert.isAbove(ignored.length, 1)
    }))

  it.effect("chunks a stream of documents in order", () =>
    Effect.gen(function*() {
      const chunks = yield* Stream.make(Document.make("First document."), Document.make("Second document.")).pipe(
        Chunker.chunks(),
        Stream.runCollect
      )
      assert.deepStrictEqual(chunks.map((c) => c.text), ["First document.", "Second document."])
    }))
})
