/**
 * The build stage end to end on the simulated backend: graph and vector writes, embeddings in
 * batch and on demand, a second build that embeds nothing, a chunk replaced, bad input.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import * as Build from "../../src/build/Build.ts"
import * as GraphModel from "../../src/build/GraphModel.ts"
import * as GraphStore from "../../src/build/GraphStore.ts"
import * as VectorStore from "../../src/build/VectorStore.ts"
import * as Pricing from "../../src/engine/Pricing.ts"
import * as RunState from "../../src/engine/RunState.ts"
import * as OfflineModel from "../../src/testing/OfflineModel.ts"
import { config, makeEnv, runOnTestClock, storedOutcomes } from "../support.ts"
import { buildGraph, chunk, fixture } from "./support.ts"

const titan = "amazon.titan-embed-text-v2:0"
const cohere = "cohere.embed-english-v3"

const synthetic = [
  chunk(
    "c1",
    "topic: Neptune\nentities:\nNeptune|Service\nReplica|Product\nproposition: Neptune has replicas\nentity-entity relationships:\nNeptune|HAS|Replica\nproposition: Replicas read"
  ),
  chunk(
    "c2",
    "topic: Neptune\nentities:\nNeptune|Service\nWriter|Product\nproposition: Replicas read\nproposition: Neptune has a writer\nentity-entity relationships:\nNeptune|HAS|Writer",
    { start: 100 }
  ),
  chunk("c3", undefined, { start: 200 })
]
const corpus = [fixture, ...synthetic]

/** A test environment with in-memory stores; the build runs with the given embedding model. */
const setup = (model: string, overrides: Partial<Parameters<typeof config>[0]> = {}) =>
  Effect.gen(function*() {
    const env = yield* makeEnv()
    const graph = yield* GraphStore.makeMemory
    const vectors = yield* VectorStore.makeMemory
    const embedding = yield* config({
      model: { modelId: model, maxTokens: 1 },
      ...overrides
    })
    const layer = Layer.mergeAll(
      env.layer,
      Layer.succeed(GraphStore.GraphStore, graph.service),
      Layer.succeed(VectorStore.VectorStore, vectors)
    )
    const run = (chunks: ReadonlyArray<Build.Buildable>, options: Partial<Build.Options> = {}) =>
      runOnTestClock(
        Build.build(Stream.fromIterable(chunks), { embedding, runId: "build", chunksPerWrite: 2, ...options }).pipe(
          Effect.provide(layer)
        )
      )
    return { env, graph, vectors, run }
  })

/** `n` chunks of one statement each. */
const many = (n: number) =>
  Array.from(
    { length: n },
    (_, i) =>
      chunk(`m${i}`, `topic: Topic ${i}\nentities:\nAcme|Company\nproposition: Acme made part ${i}`, {
        start: i,
        text: `Acme made part ${i}.`
      })
  )

const expected = buildGraph(corpus)
const embeddingsOf = (index: string) => expected.embeddings.filter((e) => e.index === index)

describe("Build.build", () => {
  it.effect("writes the graph of the chunks and embeds chunks and statements, on demand below a job's minimum", () =>
    Effect.gen(function*() {
      const { env, graph, run, vectors } = yield* setup(titan)
      const summary = yield* run(corpus)
      assert.deepStrictEqual(yield* graph.service.counts, GraphModel.counts(expected))
      assert.strictEqual(summary.chunks, corpus.length)
      assert.strictEqual(summary.chunksWithoutTopics, 1)
      const texts = embeddingsOf("chunk").length + embeddingsOf("statement").length
      assert.deepStrictEqual(summary.embeddings.written, {
        chunk: embeddingsOf("chunk").length,
        statement: embeddingsOf("statement").length,
        topic: 0
      })
      assert.strictEqual(summary.embeddings.onDemand, texts)
      assert.strictEqual(summary.embeddings.batch, 0)
      assert.isAbove(summary.embeddings.inputTokens, 0)
      // Every token on demand, at Titan V2's on-demand price ($0.00002 per 1,000 input tokens).
      const onDemandCost = Pricing.roundUsd(summary.embeddings.inputTokens * 0.00002 / 1000)
      assert.deepStrictEqual(summary.embeddings.cost, {
        batch: 0,
        onDemand: onDemandCost,
        total: onDemandCost,
        saving: 0
      })
      assert.deepStrictEqual(summary.embeddings.failed, [])
      assert.strictEqual(yield* vectors.count("statement"), embeddingsOf("statement").length)
      assert.deepStrictEqual(yield* vectors.describeIndex("chunk"), { dimensions: 1024, model: titan })
      assert.strictEqual((yield* env.sim.jobs).length, 0)
      // Each row holds the vector of its own text, not another's.
      for (const e of embeddingsOf("statement")) {
        const [best] = yield* vectors.nearest("statement", OfflineModel.embed(e.text, 1024), 1)
        assert.strictEqual(best!.id, e.id)
        assert.closeTo(best!.score, 1, 1e-6)
      }
    }))

  it.effect("a second build over the same chunks embeds nothing and changes no count", () =>
    Effect.gen(function*() {
      const { env, graph, run } = yield* setup(titan)
      yield* run(corpus)
      const counts = yield* graph.service.counts
      const upserts = yield* graph.upserts
      const jobs = (yield* env.sim.jobs).length
      const calls = yield* env.runtime.calls
      // One group: each text is looked up once.
      const again = yield* run(corpus, { runId: "build-2", chunksPerWrite: 10 })
      assert.deepStrictEqual(yield* graph.service.counts, counts)
      assert.strictEqual(again.embeddings.batch + again.embeddings.onDemand, 0)
      assert.strictEqual(again.embeddings.unchanged, embeddingsOf("chunk").length + embeddingsOf("statement").length)
      assert.strictEqual((yield* env.sim.jobs).length, jobs)
      assert.strictEqual(yield* env.runtime.calls, calls)
      // Nothing is written again: every chunk is as it was built.
      assert.strictEqual(again.unchangedChunks, corpus.length)
      assert.deepStrictEqual(again.written, GraphModel.emptyCounts())
      assert.deepStrictEqual(again.removed, { nodes: 0, edges: 0 })
      assert.strictEqual(yield* graph.upserts, upserts)
    }))

  it.effect("writes again a chunk whose graph write was cut short before it was recorded as built", () =>
    Effect.gen(function*() {
      const { graph, run, vectors } = yield* setup(titan)
      yield* run(corpus)
      // As if a build stopped after removing what c1 contributed, before writing it again.
      yield* graph.service.removeChunk(synthetic[0]!.id_)
      assert.notDeepEqual(yield* graph.service.counts, GraphModel.counts(expected))
      const statementRows = yield* vectors.count("statement")
      const again = yield* run(corpus, { runId: "build-2" })
      assert.strictEqual(again.unchangedChunks, corpus.length - 1)
      assert.deepStrictEqual(yield* graph.service.counts, GraphModel.counts(expected))
      // Its texts' rows were kept or embedded again: every statement has its row.
      assert.strictEqual(yield* vectors.count("statement"), statementRows)
      assert.strictEqual(again.embeddings.failed.length, 0)
    }))

  it.effect("a chunk's digest is the same from its file and from the extraction, and changes with its content", () =>
    Effect.sync(() => {
      const input = synthetic[0]!
      // Every object's keys in reverse order, at every depth.
      const reverse = (value: unknown): unknown =>
        Array.isArray(value)
          ? value.map(reverse)
          : value !== null && typeof value === "object"
          ? Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reverse(v)]))
          : value
      const reordered = reverse(input) as GraphModel.ChunkInput
      assert.notStrictEqual(JSON.stringify(reordered), JSON.stringify(input))
      assert.strictEqual(Build.chunkDigestOf(reordered), Build.chunkDigestOf(input))
      assert.notStrictEqual(Build.chunkDigestOf({ ...input, text: `${input.text} ` }), Build.chunkDigestOf(input))
    }))

  it.effect("replaces what a chunk extracted again contributed, and embeds only its new texts", () =>
    Effect.gen(function*() {
      const { graph, run, vectors } = yield* setup(titan)
      yield* run(corpus)
      const c2Again = chunk(
        "c2",
        "topic: Neptune\nentities:\nNeptune|Service\nVolume|Product\nproposition: Neptune stores data in a volume\nentity-entity relationships:\nNeptune|USES|Volume",
        { start: 100 }
      )
      const summary = yield* run([c2Again], { runId: "build-2" })
      const replaced = buildGraph([fixture, synthetic[0]!, c2Again, synthetic[2]!])
      assert.deepStrictEqual(yield* graph.service.counts, GraphModel.counts(replaced))
      assert.isAbove(summary.removed.nodes, 0)
      // The chunk's text is the same: only the new statement is embedded.
      assert.strictEqual(summary.embeddings.unchanged, 1)
      assert.strictEqual(summary.embeddings.written.statement, 1)
      assert.strictEqual(summary.embeddings.written.chunk, 0)
      const added = replaced.embeddings.find((e) => e.text.startsWith("Neptune stores data"))!
      const [best] = yield* vectors.nearest("statement", OfflineModel.embed(added.text, 1024), 1)
      assert.strictEqual(best!.id, added.id)
      // The statement only the old c2 had is gone, from the graph and from its index.
      const writer = expected.nodes.find((n) => n.properties.value === "Neptune has a writer")!.id
      assert.notInclude((yield* graph.nodes).map((n) => n.id), writer)
      assert.strictEqual((yield* vectors.digests("statement", [writer])).size, 0)
      assert.strictEqual(
        yield* vectors.count("statement"),
        replaced.embeddings.filter((e) => e.index === "statement").length
      )
    }))

  it.effect("accumulates texts across chunks into batch jobs", () =>
    Effect.gen(function*() {
      const { env, run, vectors } = yield* setup(titan)
      const seen: Array<Build.Progress> = []
      const summary = yield* run(many(150), {
        chunksPerWrite: 20,
        onProgress: (progress) => Effect.sync(() => void seen.push(progress))
      })
      assert.deepStrictEqual(seen.at(-1), { chunks: 150, vectors: 300 })
      assert.deepStrictEqual([...new Set(seen.map((p) => p.chunks))], [20, 40, 60, 80, 100, 120, 140, 150])
      assert.strictEqual(summary.embeddings.batch, 300)
      assert.strictEqual(summary.embeddings.onDemand, 0)
      // Titan V2 at the batch price ($0.00001 per 1,000 input tokens), half the on-demand price.
      const tokens = summary.embeddings.inputTokens
      assert.isAbove(tokens, 0)
      assert.deepStrictEqual(summary.embeddings.cost, {
        batch: Pricing.roundUsd(tokens * 0.00001 / 1000),
        onDemand: 0,
        total: Pricing.roundUsd(tokens * 0.00001 / 1000),
        saving: Pricing.roundUsd(tokens * 0.00001 / 1000)
      })
      assert.strictEqual((yield* env.sim.jobs).length, 1)
      assert.strictEqual(yield* env.runtime.calls, 0)
      assert.strictEqual(yield* vectors.count("chunk"), 150)
      assert.strictEqual(yield* vectors.count("statement"), 150)
    }))

  it.effect("forgets its answers in the run state once they are written (the vectors' digests say what is current)", () =>
    Effect.gen(function*() {
      const env = yield* makeEnv()
      const state = yield* RunState.makeMemory
      const embedding = yield* config({ model: { modelId: titan, maxTokens: 1 } })
      const layer = Layer.mergeAll(env.layer, GraphStore.layerMemory, VectorStore.layerMemory)
      const summary = yield* runOnTestClock(
        Build.build(Stream.fromIterable(many(150)), { embedding, runId: "kept", chunksPerWrite: 20 }).pipe(
          Effect.provide(layer),
          Effect.provideService(RunState.RunState, state)
        )
      )
      assert.strictEqual(summary.embeddings.batch, 300)
      const contents = yield* state.contents
      assert.strictEqual(storedOutcomes(contents, "kept", Build.stage).size, 0)
      assert.deepStrictEqual(contents.jobs.filter((job) => job.finished), [])
    }))

  it.effect("embeds on demand, 96 texts a call, with a model batch inference does not take", () =>
    Effect.gen(function*() {
      const { env, run, vectors } = yield* setup(cohere)
      const summary = yield* run(many(120), { chunksPerWrite: 50 })
      assert.strictEqual(summary.embeddings.onDemand, 240)
      assert.strictEqual(summary.embeddings.batch, 0)
      assert.strictEqual(yield* env.runtime.calls, Math.ceil(240 / 96))
      assert.strictEqual((yield* env.sim.jobs).length, 0)
      assert.strictEqual(yield* vectors.count("statement"), 120)
    }))

  it.effect("builds the topic index a source at a time, each topic with every statement of its source", () =>
    Effect.gen(function*() {
      const { run, vectors } = yield* setup(titan)
      // chunksPerWrite 1 would split c1 and c2: with the topic index a group is a whole source.
      const summary = yield* run(corpus, { indexes: ["topic"], chunksPerWrite: 1 })
      const topics = embeddingsOf("topic")
      assert.strictEqual(summary.embeddings.written.topic, topics.length)
      assert.deepStrictEqual(summary.embeddings.written, { chunk: 0, statement: 0, topic: topics.length })
      for (const topic of topics) {
        const [best] = yield* vectors.nearest("topic", OfflineModel.embed(topic.text, 1024), 1)
        assert.strictEqual(best!.id, topic.id)
        assert.closeTo(best!.score, 1, 1e-6)
      }
      // The synthetic source's topic holds the statements of c1 and c2.
      assert.isTrue(
        topics.some((t) => t.text.includes("Neptune has replicas") && t.text.includes("Neptune has a writer"))
      )
    }))

  it.effect("refuses a text model, an index it cannot build, and a chunk of the wrong shape", () =>
    Effect.gen(function*() {
      const text = yield* setup("us.anthropic.claude-3-5-haiku-20241022-v1:0")
      const notEmbedding = yield* Effect.flip(text.run(corpus))
      assert.strictEqual(notEmbedding._tag, "InvalidBuildOptions")
      assert.include(notEmbedding.message, "is not an embedding model")

      const { graph, run } = yield* setup(titan)
      const topic = yield* Effect.flip(run(corpus, { indexes: ["entity" as never] }))
      assert.strictEqual(topic._tag, "InvalidBuildOptions")

      const bad = chunk("bad", "topic: X\nproposition: y", { relationships: { "1": [] } })
      const error = yield* Effect.flip(run([synthetic[0]!, bad]))
      assert.strictEqual(error._tag, "InvalidInput")
      assert.include(error.message, bad.id_)
      // The bad chunk's group (both chunks) wrote nothing.
      assert.strictEqual(Object.values((yield* graph.service.counts).nodes).reduce((a, b) => a + b, 0), 0)
    }))

  it.effect("refuses an index built with another model's dimensions before writing anything", () =>
    Effect.gen(function*() {
      const { graph, run, vectors } = yield* setup(titan)
      yield* vectors.createIndex("statement", { dimensions: 256, model: titan })
      const error = yield* Effect.flip(run(corpus))
      assert.strictEqual(error._tag, "DimensionMismatch")
      assert.strictEqual(Object.values((yield* graph.service.counts).nodes).reduce((a, b) => a + b, 0), 0)
    }))
})
