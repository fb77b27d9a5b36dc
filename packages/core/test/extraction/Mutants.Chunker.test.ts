/**
 * The chunker at its edges: every invalid option named with its value, errors that say which
 * document failed, sources without a caller id, metadata as the budget counts it, offsets
 * around unpaired surrogates, chunks the splitter joined across lost text, and splitter failures.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Chunker from "../../src/extraction/Chunker.ts"
import * as Document from "../../src/extraction/Document.ts"

const sentence = (i: number) => `Sentence number ${i} talks about the harbour of Boston in some detail.`

describe("Chunker at its edges", () => {
  it("accepts the smallest valid options and says what is wrong with each invalid one", () => {
    assert.isUndefined(Chunker.optionsProblem("none"))
    assert.isUndefined(Chunker.optionsProblem({ chunkSize: 1, chunkOverlap: 0 }))
    assert.isUndefined(Chunker.optionsProblem({ chunkSize: 2, chunkOverlap: 1 }))
    const problems: ReadonlyArray<readonly [Chunker.ChunkOptions, ReadonlyArray<string>]> = [
      [{ chunkSize: 0, chunkOverlap: 0 }, ["chunkSize must", "0"]],
      [{ chunkSize: -5, chunkOverlap: 0 }, ["chunkSize must", "-5"]],
      [{ chunkSize: 2.5, chunkOverlap: 0 }, ["chunkSize", "2.5"]],
      [{ chunkSize: 10, chunkOverlap: -1 }, ["chunkOverlap", "-1"]],
      [{ chunkSize: 10, chunkOverlap: 0.5 }, ["chunkOverlap", "0.5"]],
      [{ chunkSize: 10, chunkOverlap: 10 }, ["chunkOverlap", "10", "chunkSize"]]
    ]
    for (const [options, mentions] of problems) {
      const problem = Chunker.optionsProblem(options)
      assert.isDefined(problem, JSON.stringify(options))
      for (const mention of mentions) assert.include(problem!, mention, JSON.stringify(options))
    }
  })

  it.effect("names the document whose chunking failed", () =>
    Effect.gen(function*() {
      const document = Document.make("Some text.", { id: "doc-7" })
      const error = yield* Chunker.chunk(document, { chunkSize: 5, chunkOverlap: 5 }).pipe(Effect.flip)
      assert.strictEqual(error.documentId, "doc-7")
      assert.strictEqual(error.sourceId, Chunker.sourceOf(document).id)
      const tooLong = yield* Chunker.chunk(
        Document.make("Some text.", { metadata: { summary: "word ".repeat(40) } }),
        { chunkSize: 20, chunkOverlap: 0 }
      ).pipe(Effect.flip)
      assert.include(tooLong.message, "20")
      assert.isUndefined(tooLong.documentId)
    }))

  it("gives a source without a caller id no document id", () => {
    const source = Chunker.sourceOf(Document.make("Text.", { metadata: { a: 1 } }))
    assert.notProperty(source, "documentId")
    assert.deepStrictEqual(source.metadata, { a: 1 })
    assert.strictEqual(Chunker.sourceOf(Document.make("Text.", { id: "mine" })).documentId, "mine")
  })

  it("prints metadata for the budget as key: value lines, values as Python prints them", () => {
    assert.strictEqual(
      Chunker.metadataForBudget({ title: "T", n: 1, ok: true, none: null }),
      "title: T\nn: 1\nok: True\nnone: None"
    )
    assert.strictEqual(Chunker.metadataForBudget({}), "")
  })

  it("counts tokens, special-token text as one token", () => {
    assert.strictEqual(Chunker.countTokens(""), 0)
    assert.strictEqual(Chunker.countTokens("<|endoftext|>"), 1)
  })

  it.effect("counts an unpaired surrogate as one code point in offsets", () =>
    Effect.gen(function*() {
      const text = ["\ud800 lone high.", "\udc00 lone low.", ...Array.from({ length: 20 }, (_, i) => sentence(i))].join(
        " "
      )
      const chunks = yield* Chunker.chunk(Document.make(text), { chunkSize: 40, chunkOverlap: 0 })
      assert.isAbove(chunks.length, 1)
      for (const chunk of chunks) {
        // Offsets count code points: here every UTF-16 unit is one (nothing is paired).
        assert.strictEqual(chunk.startCharIdx, text.indexOf(chunk.text))
        assert.strictEqual(chunk.endCharIdx, text.indexOf(chunk.text) + chunk.text.length)
      }
    }))

  it.effect("counts a surrogate pair as one code point wherever a chunk starts", () =>
    Effect.gen(function*() {
      const text = ["😀😀 Two emoji.", ...Array.from({ length: 20 }, (_, i) => sentence(i))].join(" ")
      const chunks = yield* Chunker.chunk(Document.make(text), { chunkSize: 40, chunkOverlap: 10 })
      const codePoints = Array.from(text)
      for (const chunk of chunks) {
        assert.strictEqual(codePoints.slice(chunk.startCharIdx!, chunk.endCharIdx!).join(""), chunk.text)
      }
      assert.strictEqual(chunks.at(-1)!.endCharIdx, codePoints.length)
    }))

  it.effect("takes the metadata's tokens off each chunk's budget, unless told not to", () =>
    Effect.gen(function*() {
      const text = Array.from({ length: 20 }, (_, i) => sentence(i)).join(" ")
      const metadata = { summary: "word ".repeat(15).trim() }
      const budget = 60 - Chunker.countTokens(Chunker.metadataForBudget(metadata))
      const bare = yield* Chunker.chunk(Document.make(text), { chunkSize: 60, chunkOverlap: 0 })
      const excluded = yield* Chunker.chunk(Document.make(text, { metadata }), {
        chunkSize: 60,
        chunkOverlap: 0,
        includeMetadata: false
      })
      assert.deepStrictEqual(excluded.map((c) => c.text), bare.map((c) => c.text))
      const included = yield* Chunker.chunk(Document.make(text, { metadata }), { chunkSize: 60, chunkOverlap: 0 })
      assert.isAbove(included.length, bare.length)
      for (const chunk of included) assert.isAtMost(Chunker.countTokens(chunk.text), budget)
    }))

  it.effect("counts every surrogate pair as one code point and every unpaired surrogate as one", () =>
    Effect.gen(function*() {
      const odd = ["\u{10000}", "\u{10FC00}", "\u{103FF}", "\ud800\ue000", "\udc00\udc00"]
      const text = [...odd.map((s, i) => `${s} odd ${i}.`), ...Array.from({ length: 20 }, (_, i) => sentence(i))].join(
        " "
      )
      const chunks = yield* Chunker.chunk(Document.make(text), { chunkSize: 30, chunkOverlap: 0 })
      const codePoints = Array.from(text)
      assert.isAbove(chunks.length, 2)
      for (const chunk of chunks) {
        assert.strictEqual(codePoints.slice(chunk.startCharIdx!, chunk.endCharIdx!).join(""), chunk.text)
      }
    }))

  it.effect("locates repeated passages one after another", () =>
    Effect.gen(function*() {
      const text = Array.from({ length: 40 }, () => "The same sentence comes again.").join(" ")
      const chunks = yield* Chunker.chunk(Document.make(text), { chunkSize: 20, chunkOverlap: 0 })
      assert.isAbove(chunks.length, 3)
      const starts = chunks.map((c) => c.startCharIdx!)
      for (let i = 1; i < starts.length; i++) assert.isAbove(starts[i]!, starts[i - 1]!)
      for (const chunk of chunks) assert.strictEqual(text.slice(chunk.startCharIdx!, chunk.endCharIdx!), chunk.text)
    }))

  it.effect("gives a blank document no chunk, whatever the chunking", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* Chunker.chunk(Document.make(" \n\t "), "none"), [])
    }))

  it.effect("refuses metadata exactly as long as a chunk, and says how to fix it", () =>
    Effect.gen(function*() {
      const metadata = { summary: "word ".repeat(30).trim() }
      const chunkSize = Chunker.countTokens(Chunker.metadataForBudget(metadata))
      const error = yield* Chunker.chunk(Document.make(sentence(1), { metadata }), { chunkSize, chunkOverlap: 0 }).pipe(
        Effect.flip
      )
      assert.include(error.message, `(${chunkSize} tokens) does not fit in a chunk of ${chunkSize} tokens`)
      assert.include(error.message, "includeMetadata: false")
    }))

  it.effect("leaves a chunk joined across text the splitter lost unlocated, and still locates the chunks after it", () =>
    Effect.gen(function*() {
      // The phrase cut drops the second comma, so the first chunk ("one two, three four, …")
      // is not in the text.
      const text = "one two,, three four, five six seven eight nine ten eleven twelve thirteen fourteen"
      const chunks = yield* Chunker.chunk(Document.make(text), { chunkSize: 8, chunkOverlap: 0 })
      assert.strictEqual(chunks.length, 2)
      assert.strictEqual(chunks[0]!.text, "one two, three four, five six")
      assert.isNull(chunks[0]!.startCharIdx)
      assert.isNull(chunks[0]!.endCharIdx)
      const last = chunks[1]!
      assert.strictEqual(last.startCharIdx, text.indexOf(last.text))
      assert.strictEqual(last.endCharIdx, text.length)
    }))

  it.effect("fails with the splitter's reason when a single character has more tokens than a chunk", () =>
    Effect.gen(function*() {
      const document = Document.make("\u{12000}", { id: "cuneiform" })
      const error = yield* Chunker.chunk(document, { chunkSize: 1, chunkOverlap: 0 }).pipe(Effect.flip)
      assert.strictEqual(error._tag, "ChunkingError")
      assert.strictEqual(error.documentId, "cuneiform")
      assert.strictEqual(
        error.message,
        "the splitter failed: a single character has 4 tokens, more than the chunk size (1)"
      )
      assert.instanceOf(error.cause, Error)
    }))
})
