/**
 * The extraction's parts in the small: which chunks it sends (skips, repeats, the checkpoint,
 * admission), what it says of each document, the counts of an extracted chunk, and a chunk
 * whose stages failed or answered in part.
 */
import {
  Chunker,
  Document,
  Extraction,
  ExtractionEvents,
  Ids,
  ModelRuntime,
  ServiceError,
  Topics
} from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import { config, makeEnv, runOnTestClock } from "../support.ts"

const chunking: Chunker.Chunking = { chunkSize: 40, chunkOverlap: 0 }
const text = (n: number, topic: string) =>
  Array.from({ length: n }, (_, i) => `Sentence ${i} of the report says that ${topic} grew in year ${1990 + i}.`)
    .join(" ")

/** The chunks `chunksOf` gives for some inputs, and the extraction events it publishes. */
const chunked = (
  inputs: ReadonlyArray<Extraction.DocumentInput>,
  options: Partial<Extraction.ChunksOptions> = {}
) =>
  Effect.gen(function*() {
    const events: Array<ExtractionEvents.Event> = []
    const chunks = yield* Stream.runCollect(
      Extraction.chunksOf(Stream.fromIterable(inputs), { chunking, extractionBatchSize: 2, ...options })
    ).pipe(
      Effect.provideService(ExtractionEvents.ExtractionEvents, {
        publish: (event) => Effect.sync(() => void events.push(event))
      })
    )
    return { chunks, events }
  })

const reads = (events: ReadonlyArray<ExtractionEvents.Event>) =>
  events.flatMap((e) =>
    e._tag === "DocumentRead" ? [[e.path, e.chunks, e.duplicateChunks, e.skippedChunks, e.sourceId !== ""]] : []
  )
const skips = (events: ReadonlyArray<ExtractionEvents.Event>) =>
  events.flatMap((e) => (e._tag === "DocumentSkipped" ? [[e.path, e.reason]] : []))

/** Extract the documents with the given model runtime on demand; the chunks and the events published. */
const extractWith = (
  documents: ReadonlyArray<Document.Document>,
  runtime: ModelRuntime.ModelRuntime["Service"],
  options: {
    readonly runId: string
    readonly batch: Partial<Parameters<typeof config>[0]>
    /** What the events handler does besides keeping the event. */
    readonly onEvent?: (event: ExtractionEvents.Event) => Effect.Effect<void>
  }
) =>
  Effect.gen(function*() {
    const batch = yield* config(options.batch)
    const extraction = yield* Extraction.decodeConfig({})
    const env = yield* makeEnv()
    const events: Array<ExtractionEvents.Event> = []
    const chunks = yield* runOnTestClock(
      Stream.runCollect(Extraction.extract(Stream.fromIterable(documents), { batch, extraction, runId: options.runId }))
        .pipe(
          Effect.provide(Layer.merge(env.layer, Layer.succeed(ModelRuntime.ModelRuntime, runtime))),
          Effect.provideService(ExtractionEvents.ExtractionEvents, {
            publish: (event) =>
              Effect.andThen(Effect.sync(() => void events.push(event)), options.onEvent?.(event) ?? Effect.void)
          })
        )
    )
    return { chunks, events }
  })

describe("Extraction.chunksOf", () => {
  it.effect("reports a reader's skips and names documents by path, id, or as a document", () =>
    Effect.gen(function*() {
      const document = Document.make(text(6, "trade"))
      const { chunks, events } = yield* chunked([
        { _tag: "Skipped", path: "bad.bin", reason: "Binary", message: "holds NUL bytes" },
        { _tag: "Read", path: "a.txt", document },
        Document.make("  ", { id: "blank-doc" }),
        Document.make("   "),
        Document.make(text(3, "metadata"), { id: "too-much", metadata: { summary: "word ".repeat(60) } })
      ])
      assert.strictEqual(chunks.length, (yield* Chunker.chunk(document, chunking)).length)
      assert.deepStrictEqual(skips(events).map(([path]) => path), ["bad.bin", "blank-doc", "(document)", "too-much"])
      assert.deepStrictEqual(skips(events)[0], ["bad.bin", "holds NUL bytes"])
      assert.deepStrictEqual(skips(events)[1], ["blank-doc", "the document has no text"])
      assert.include(String(skips(events)[3]![1]), "does not fit")
      assert.deepStrictEqual(reads(events), [
        ["a.txt", chunks.length, 0, 0, true],
        ["blank-doc", 0, 0, 0, false],
        ["(document)", 0, 0, 0, false]
      ])
    }))

  it.effect("sends a repeated document once, and a repeated own-id document once, but two own ids both", () =>
    Effect.gen(function*() {
      const body = text(6, "shipping")
      const { chunks, events } = yield* chunked([
        Document.make(body),
        Document.make(body),
        Document.make(body, { id: "aws::own:1" }),
        Document.make(body, { id: "aws::own:1" }),
        Document.make(body, { id: "aws::own:2" })
      ])
      const per = (yield* Chunker.chunk(Document.make(body), chunking)).length
      assert.strictEqual(chunks.length, 3 * per)
      assert.deepStrictEqual(reads(events).map(([, n, duplicates]) => [n, duplicates]), [
        [per, 0],
        [per, per],
        [per, 0],
        [per, per],
        [per, 0]
      ])
    }))

  it.effect("sends a passage repeated within a document once", () =>
    Effect.gen(function*() {
      const passage = text(3, "rail")
      const { chunks, events } = yield* chunked([Document.make(`${passage} ${passage} ${passage}`)], {
        chunking: { chunkSize: 45, chunkOverlap: 0 }
      })
      const [read] = reads(events)
      assert.strictEqual(new Set(chunks.map((c) => c.id)).size, chunks.length)
      assert.strictEqual(Number(read![2]), Number(read![1]) - chunks.length)
      assert.isAbove(Number(read![2]), 0)
    }))

  it.effect("leaves out checkpointed and unadmitted chunks, and counts them as skipped", () =>
    Effect.gen(function*() {
      const document = Document.make(text(8, "farming"))
      const all = yield* Chunker.chunk(document, chunking)
      assert.isAbove(all.length, 2)
      const admitted: Array<number> = []
      const { chunks, events } = yield* chunked([document, Document.make(text(6, "mining"))], {
        skipChunk: (id) => id === all[0]!.id,
        admitChunks: (fresh) =>
          Effect.sync(() => {
            admitted.push(fresh.length)
            return fresh.slice(1)
          })
      })
      assert.strictEqual(admitted[0], all.length - 1)
      assert.deepStrictEqual(chunks.slice(0, all.length - 2).map((c) => c.id), all.slice(2).map((c) => c.id))
      assert.strictEqual(reads(events)[0]![3], 2)
    }))

  it.effect("treats a text read under an id of the caller's (not aws:) as the same text without one", () =>
    Effect.gen(function*() {
      const body = text(6, "textiles")
      const per = (yield* Chunker.chunk(Document.make(body), chunking)).length
      for (
        const inputs of [[Document.make(body, { id: "report.txt" }), Document.make(body)], [
          Document.make(body),
          Document.make(body, { id: "report.txt" })
        ]]
      ) {
        const { chunks, events } = yield* chunked(inputs)
        assert.strictEqual(chunks.length, per)
        // The repeat's chunks are duplicates, not skipped ones.
        assert.deepStrictEqual(reads(events).map(([, n, duplicates, skipped]) => [n, duplicates, skipped]), [
          [per, 0, 0],
          [per, per, 0]
        ])
      }
    }))

  it.effect("drops an own-id document's chunks one by one, never whole, even under an id a text derives", () =>
    Effect.gen(function*() {
      // `derived` is the id the first text gets; a second text is given it as its own id.
      const first = text(6, "forestry")
      const second = text(5, "tourism")
      const derived = Ids.sourceIdOf(Document.make(first))
      const perFirst = (yield* Chunker.chunk(Document.make(first), chunking)).length
      const perSecond = (yield* Chunker.chunk(Document.make(second, { id: derived }), chunking)).length
      for (
        const inputs of [[Document.make(first), Document.make(second, { id: derived })], [
          Document.make(second, { id: derived }),
          Document.make(first)
        ]]
      ) {
        const { chunks, events } = yield* chunked(inputs)
        assert.strictEqual(new Set(chunks.map((c) => c.id)).size, perFirst + perSecond)
        assert.isTrue(reads(events).every(([, , duplicates]) => duplicates === 0))
      }
    }))

  it.effect("sends a text once when it also comes under the id it derives as its own, in either order", () =>
    Effect.gen(function*() {
      // An earlier run's source id given back as the document's own id, beside the same text
      // without one; a third document under that id shares only the first passage.
      const first = text(6, "dairy")
      const derived = Ids.sourceIdOf(Document.make(first))
      const all = yield* Chunker.chunk(Document.make(first), chunking)
      const partial = `${all[0]!.text} ${text(2, "cattle")}`
      const sharing = yield* Chunker.chunk(Document.make(partial, { id: derived }), chunking)
      const shared = sharing.filter((c) => all.some((a) => a.id === c.id)).length
      assert.isAbove(shared, 0)
      assert.isBelow(shared, sharing.length)
      for (
        const inputs of [
          [Document.make(first), Document.make(first, { id: derived }), Document.make(partial, { id: derived })],
          [Document.make(partial, { id: derived }), Document.make(first, { id: derived }), Document.make(first)]
        ]
      ) {
        const { chunks, events } = yield* chunked(inputs)
        const ids = chunks.map((c) => c.id)
        assert.strictEqual(new Set(ids).size, ids.length)
        assert.strictEqual(ids.length, all.length + sharing.length - shared)
        const duplicates = reads(events).reduce((sum, [, , n]) => sum + Number(n), 0)
        assert.strictEqual(duplicates, all.length + sharing.length + all.length - ids.length)
      }
    }))

  it.effect("takes a document that carries a _tag of its own for a document", () =>
    Effect.gen(function*() {
      const article = { _tag: "Article" as const, ...Document.make(text(4, "banking"), { id: "a-1" }) }
      const { chunks, events } = yield* chunked([article])
      assert.isAbove(chunks.length, 0)
      assert.deepStrictEqual(reads(events).map(([path, n]) => [path, n]), [["a-1", chunks.length]])
    }))

  it.effect("reads documents at most a batch ahead of the chunks it gives", () =>
    Effect.gen(function*() {
      let read = 0
      let readBeforeFirst = 0
      const inputs = Stream.fromIterable(Array.from({ length: 30 }, (_, i) => Document.make(text(2, `item ${i}`))))
        .pipe(
          Stream.rechunk(1),
          Stream.tap(() => Effect.sync(() => void read++))
        )
      yield* Extraction.chunksOf(inputs, { chunking, extractionBatchSize: 2 }).pipe(
        // A slow consumer: the first chunk waits while the documents are read ahead.
        Stream.tap(() =>
          readBeforeFirst > 0 ? Effect.void : Effect.andThen(
            Effect.repeat(Effect.yieldNow, { times: 200 }),
            Effect.sync(() => void (readBeforeFirst = read))
          )
        ),
        Stream.runDrain,
        Effect.provideService(ExtractionEvents.ExtractionEvents, { publish: () => Effect.void })
      )
      assert.strictEqual(read, 30)
      assert.isAtMost(readBeforeFirst, 6)
    }))

  it.effect("does not ask admission for a document with nothing new", () =>
    Effect.gen(function*() {
      const document = Document.make(text(4, "fishing"))
      let asked = 0
      yield* chunked([document, document], {
        admitChunks: (fresh) => Effect.sync(() => (asked++, fresh))
      })
      assert.strictEqual(asked, 1)
    }))
})

describe("Extraction in the small", () => {
  it("chunks by sentences with the configured sizes, or not at all", () => {
    assert.deepStrictEqual(
      Extraction.chunkingOf({ chunking: "sentence", chunkSize: 99, chunkOverlap: 9 } as Extraction.ExtractionConfig),
      { chunkSize: 99, chunkOverlap: 9 }
    )
    assert.strictEqual(
      Extraction.chunkingOf({ chunking: "none", chunkSize: 99, chunkOverlap: 9 } as Extraction.ExtractionConfig),
      "none"
    )
  })

  it.effect("counts the entities, statements and facts of every topic of a chunk", () =>
    Effect.gen(function*() {
      const [chunk] = yield* Chunker.chunk(Document.make("Acme makes widgets."))
      const topics = Topics.parse(`topic: A
entities:
Acme|Company
Widget|Product
proposition: Acme makes widgets
Acme|MAKES|Widget
Acme|HAS|plants
topic: B
entities:
Bolt|Product
proposition: Bolts exist
proposition: Bolts are small
Bolt|SIZE|small
`).topics
      const counts = Extraction.countsOf({
        chunk: chunk!,
        propositions: ["a", "b"],
        topics,
        extractTimestamp: 0,
        diagnostics: { propositions: [], topics: [] },
        failures: []
      })
      assert.deepStrictEqual(counts, { propositions: 2, topics: 2, entities: 3, statements: 3, facts: 3 })
    }))

  it.effect("keeps a chunk whose stages failed, with each failure and no results", () =>
    Effect.gen(function*() {
      const { chunks, events } = yield* extractWith([Document.make(text(3, "energy"))], {
        invoke: () => Effect.fail(new ServiceError.AccessDenied({ operation: "ModelRuntime.invoke", message: "no" }))
      }, { runId: "failing", batch: { maxRecordAttempts: 1 } })
      assert.isAbove(chunks.length, 0)
      for (const chunk of chunks) {
        assert.deepStrictEqual(chunk.propositions, [])
        assert.deepStrictEqual(chunk.topics, Topics.empty)
        assert.deepStrictEqual(chunk.failures.map((f) => f.stage), ["propositions", "topics"])
        assert.isTrue(chunk.failures.every((f) => f.reason.startsWith("on-demand call failed: AccessDenied")))
        assert.deepStrictEqual(chunk.diagnostics, { propositions: [], topics: [] })
      }
      const extracted = events.flatMap((e) => (e._tag === "ChunkExtracted" ? [e] : []))
      assert.strictEqual(extracted.length, chunks.length)
      assert.isTrue(extracted.every((e) => e.failures.length === 2 && e.diagnostics === 0 && e.topics === 0))
    }))

  it.effect("extracts each chunk once when a text also comes under the id it derives as its own", () =>
    Effect.gen(function*() {
      const first = text(60, "fishing")
      const derived = Ids.sourceIdOf(Document.make(first))
      const runtime: ModelRuntime.ModelRuntime["Service"] = {
        invoke: () =>
          Effect.succeed({ content: [{ type: "text", text: "Acme grew" }], stop_reason: "end_turn", usage: {} })
      }
      const alone = yield* extractWith([Document.make(first)], runtime, { runId: "derived-alone", batch: {} })
      assert.isAbove(alone.chunks.length, 1)
      for (const ownFirst of [false, true]) {
        const documents = [Document.make(first), Document.make(first, { id: derived })]
        const { chunks } = yield* extractWith(ownFirst ? documents.reverse() : documents, runtime, {
          runId: `derived-as-own-${ownFirst}`,
          batch: {}
        })
        assert.sameMembers(chunks.map((c) => c.chunk.id), alone.chunks.map((c) => c.chunk.id))
        assert.isTrue(chunks.every((c) => c.failures.length === 0))
      }
    }))

  it.effect("counts the diagnostics of both stages of a chunk", () =>
    Effect.gen(function*() {
      // Stage 1 repeats a proposition; stage 2 adds a line the grammar cannot place.
      const { chunks: [chunk], events } = yield* extractWith([Document.make("Acme grew.")], {
        invoke: (request) =>
          Effect.sync(() => {
            const prompt = JSON.stringify(request.body)
            const answer = prompt.includes("<propositions>")
              ? "stray line\ntopic: T\nentities:\nAcme|Company\nproposition: Acme grew"
              : "Title\nAcme grew\nAcme grew"
            return { content: [{ type: "text", text: answer }], stop_reason: "end_turn", usage: {} }
          })
      }, { runId: "diagnosed", batch: {} })
      assert.deepStrictEqual(chunk!.propositions, ["Acme grew"])
      assert.deepStrictEqual(chunk!.diagnostics.propositions.map((d) => d.reason), ["Duplicate"])
      assert.deepStrictEqual(chunk!.diagnostics.topics.map((d) => d.reason), ["UnexpectedLine"])
      const extracted = events.find((e) => e._tag === "ChunkExtracted")
      assert.isTrue(extracted?._tag === "ChunkExtracted" && extracted.diagnostics === 2 && extracted.statements === 1)
    }))

  it.effect("does not hold other chunks back while the handler of one chunk's event is slow", () =>
    Effect.gen(function*() {
      let slow: string | undefined
      const { chunks, events } = yield* extractWith(
        ["aviation", "rail", "shipping", "trucking"].map((topic) => Document.make(text(3, topic))),
        {
          invoke: () =>
            Effect.succeed({ content: [{ type: "text", text: "Acme grew" }], stop_reason: "end_turn", usage: {} })
        },
        {
          runId: "slow-handler",
          batch: { onDemandConcurrency: 4 },
          onEvent: (event) => {
            if (event._tag !== "ChunkExtracted" || slow !== undefined) return Effect.void
            slow = event.chunkId
            return Effect.sleep("1 minute")
          }
        }
      )
      const extracted = events.flatMap((e) => (e._tag === "ChunkExtracted" ? [e.chunkId] : []))
      assert.isAbove(chunks.length, 2)
      assert.strictEqual(extracted[0], slow)
      // The slow chunk comes out last, after the chunks extracted while its handler ran.
      assert.strictEqual(chunks[chunks.length - 1]!.chunk.id, slow)
    }))

  it.effect("uses a stage-1 template given in the settings", () =>
    Effect.gen(function*() {
      const batch = yield* config()
      const extraction = yield* Extraction.decodeConfig({
        propositionsPrompt: { user: "MARKER <text>\n{text}\n</text>" }
      })
      const env = yield* makeEnv()
      const prompts: Array<string> = []
      const recording = Layer.succeed(ModelRuntime.ModelRuntime, {
        invoke: (request) =>
          Effect.andThen(
            Effect.sync(() => void prompts.push(JSON.stringify(request.body))),
            env.runtime.service.invoke(request)
          )
      })
      yield* runOnTestClock(
        Stream.runCollect(Extraction.extract(Stream.make(Document.make("Acme grew.")), {
          batch,
          extraction,
          runId: "templated"
        })).pipe(Effect.provide(Layer.merge(env.layer, recording)))
      )
      assert.isTrue(prompts.some((prompt) => prompt.includes("MARKER")))
    }))
})
