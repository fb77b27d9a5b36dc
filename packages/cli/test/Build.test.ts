/**
 * `batch-extract build` and `query`, in this process on the local backend: chunks extracted
 * from a small corpus (by `extract`, in process) are built into the store under the output
 * directory; the graph written is the one `GraphModel.build` makes of the chunk files; a
 * second build embeds nothing and changes nothing; `query` finds a statement by its words with
 * its topic, chunk and source. A bad chunk file is refused (exit 2) with no store created; an
 * index built with other dimensions is refused (exit 2).
 */
import { Build as BuildCore, BuildConfig, GraphModel, GraphStore, VectorStore } from "@batch-extract/core"
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Result } from "effect"
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Build from "../src/commands/Build.ts"
import * as Extract from "../src/commands/Extract.ts"
import * as Query from "../src/commands/Query.ts"
import * as Resume from "../src/commands/Resume.ts"
import * as Stores from "../src/Stores.ts"
import * as World from "./support/world.ts"

const documents: Record<string, string> = {
  "bedrock.txt": "Amazon Bedrock runs batch inference jobs at half the price of on-demand calls.\n\n" +
    "The lexical graph links statements to topics and chunks.",
  "energy.md": "Solar panels convert sunlight into electricity. Wind turbines generate power from moving air.",
  "rivers.txt": "The Danube flows through ten countries before it reaches the Black Sea."
}

/** Extract the corpus into `out` with the local backend, in this process. */
const extract = (corpus: string, out: string) => Extract.run(extractRequest(corpus, out))

const extractRequest = (corpus: string, out: string) => ({
  paths: [corpus],
  out,
  backend: "local",
  runId: "corpus",
  json: false,
  configFile: undefined,
  faultsFile: undefined,
  force: false,
  database: undefined,
  collectionId: "default",
  textField: undefined,
  pathMetadataKey: "file_path",
  flags: {}
} satisfies Parameters<typeof Extract.run>[0])

const request = (target: string, flags: Record<string, unknown> = {}): Build.Request => ({
  target,
  collectionId: "default",
  backend: "local",
  json: false,
  configFile: undefined,
  runId: undefined,
  flags
})

/** The chunk files under `<out>/default`, decoded. */
const chunksOf = (out: string): Array<GraphModel.ChunkInput> =>
  readdirSync(join(out, "default")).flatMap((source) =>
    readdirSync(join(out, "default", source)).filter((f) => f.endsWith(".json")).map((file) =>
      Result.getOrThrow(
        GraphModel.decodeChunk(JSON.parse(readFileSync(join(out, "default", source, file), "utf8")))
      )
    )
  )

/** A corpus extracted once, shared by the tests (each copies it). */
const extracted = Effect.gen(function*() {
  const dir = yield* World.tempDir("build")
  const corpus = join(dir, "corpus")
  mkdirSync(corpus)
  for (const [name, text] of Object.entries(documents)) writeFileSync(join(corpus, name), text)
  const out = join(dir, "out")
  const code = yield* extract(corpus, out)
  assert.strictEqual(code, 0)
  return { dir, out }
})

const copyOf = (out: string, to: string) => {
  cpSync(join(out, "default"), join(to, "default"), { recursive: true })
  return to
}

const live = <A, E>(effect: Effect.Effect<A, E, NodeServices.NodeServices | import("effect").Scope.Scope>) =>
  effect.pipe(Effect.scoped, Effect.provide(NodeServices.layer))

describe("batch-extract build and query", () => {
  it.live(
    "build writes the chunk files' graph; a second build embeds nothing; query finds a statement",
    () =>
      live(Effect.gen(function*() {
        const { out } = yield* extracted
        const chunks = chunksOf(out)
        assert.strictEqual(chunks.length, 3)
        const expected = GraphModel.counts(Result.getOrThrow(GraphModel.build(chunks, { buildTimestamp: 0 })))

        const first = yield* Build.execute({ ...request(out), json: true })
        assert.strictEqual(first.exitCode, 0)
        assert.deepStrictEqual(first.graph, expected)
        assert.deepStrictEqual(first.summary!.written, expected, "one write of every chunk: written = the graph")
        const statements = expected.nodes.__Statement__
        assert.isAbove(statements, 0)
        const e1 = first.summary!.embeddings
        assert.strictEqual(e1.batch + e1.onDemand, chunks.length + statements)
        assert.deepStrictEqual(e1.failed, [])
        assert.deepStrictEqual(e1.written, { chunk: chunks.length, statement: statements, topic: 0 })

        const second = yield* Build.execute(request(out))
        assert.strictEqual(second.exitCode, 0)
        const e2 = second.summary!.embeddings
        assert.strictEqual(e2.batch, 0)
        assert.strictEqual(e2.onDemand, 0)
        assert.strictEqual(e2.unchanged, chunks.length + statements)
        assert.deepStrictEqual(second.graph, expected)
        // Chunks built before from the same content are not written again.
        assert.strictEqual(second.summary!.unchangedChunks, chunks.length)
        assert.deepStrictEqual(second.summary!.written, GraphModel.emptyCounts())

        // The emulator's embeddings hash words: a question sharing a statement's words finds it.
        const query = yield* Query.execute({
          question: "solar panels sunlight electricity",
          out,
          top: 3,
          backend: "local",
          json: true,
          configFile: undefined,
          flags: {}
        })
        assert.strictEqual(query.exitCode, 0)
        const best = query.answers[0]!
        assert.match(best.statement.toLowerCase(), /solar|sunlight|electricity/)
        assert.isDefined(best.topic)
        assert.strictEqual(best.chunks.length, 1)
        const chunk = chunks.find((c) => c.id_ === best.chunks[0]!.chunkId)!
        assert.include(chunk.text, "Solar panels")
        assert.strictEqual(best.chunks[0]!.sourceId, (chunk.relationships["1"] as { node_id: string }).node_id)
      })),
    120_000
  )

  it.live(
    "extract --build builds each chunk as it is written: with room for one chunk between them the run ends, " +
      "the graph is the files' graph, every text has its vector; a resume finishes a build stopped after the extraction",
    () =>
      live(Effect.gen(function*() {
        const dir = yield* World.tempDir("extract-build")
        const corpus = join(dir, "corpus")
        mkdirSync(corpus)
        for (const [name, text] of Object.entries(documents)) writeFileSync(join(corpus, name), text)
        const out = join(dir, "out")
        // A store that cannot be opened is refused before anything is written or recorded.
        const file = join(dir, "not-a-directory")
        writeFileSync(file, "x")
        const refusedOut = join(dir, "refused")
        const refused = yield* Extract.run({
          ...extractRequest(corpus, refusedOut),
          build: true,
          flags: { "graph-store": `pglite://${file}` }
        })
        assert.strictEqual(refused, 2)
        assert.isFalse(existsSync(refusedOut), "nothing under --out")
        assert.strictEqual(readFileSync(file, "utf8"), "x")
        // A build that took chunks only once the extraction ended would leave it waiting for
        // room here forever: the run ends only if both go at once.
        const code = yield* Extract.run({ ...extractRequest(corpus, out), build: true, buildBuffer: 1 }).pipe(
          Effect.timeoutOrElse({
            duration: "90 seconds",
            orElse: () => Effect.die(new Error("the extraction waited for a build that did not take its chunks"))
          })
        )
        assert.strictEqual(code, 0)
        const chunks = chunksOf(out)
        assert.strictEqual(chunks.length, 3)
        const graph = Result.getOrThrow(GraphModel.build(chunks, { buildTimestamp: 0 }))
        const url = Build.defaultStoreOf(out)
        const holds = Effect.gen(function*() {
          const counts = yield* (yield* GraphStore.GraphStore).counts
          const vectors = yield* VectorStore.VectorStore
          const current: Record<string, number> = {}
          for (const index of ["chunk", "statement"] as const) {
            const ids = graph.embeddings.filter((e) => e.index === index).map((e) => e.id)
            const digests = yield* vectors.digests(index, ids)
            current[index] = graph.embeddings.filter((e) =>
              e.index === index &&
              digests.get(e.id) === BuildCore.digestOf(BuildConfig.defaultEmbeddingModel, 1024, e.text)
            ).length
          }
          return { counts, current }
        }).pipe(Effect.provide(Layer.fresh(Stores.storesLayer(url, url))))
        const expected = {
          counts: GraphModel.counts(graph),
          current: {
            chunk: graph.embeddings.filter((e) => e.index === "chunk").length,
            statement: graph.embeddings.filter((e) => e.index === "statement").length
          }
        }
        assert.deepStrictEqual(yield* holds, expected)
        // As if the process stopped once the extraction had ended, the build not yet done: a
        // chunk's graph and the vectors of its texts missing. The run recorded its build, so its
        // resume finishes it (the other chunks, built unchanged, are not written again).
        const [first] = chunks
        yield* Effect.gen(function*() {
          yield* (yield* GraphStore.GraphStore).removeChunk(first!.id_)
          const vectors = yield* VectorStore.VectorStore
          yield* vectors.remove("chunk", [first!.id_])
          const statements = graph.embeddings.filter((e) => e.index === "statement" && e.chunkIds.includes(first!.id_))
          yield* vectors.remove("statement", statements.map((e) => e.id))
        }).pipe(Effect.provide(Layer.fresh(Stores.storesLayer(url, url))))
        assert.notDeepEqual(yield* holds, expected)
        const resumed = yield* Resume.run({ runId: "corpus", location: { out, database: undefined }, json: false })
        assert.strictEqual(resumed, 0)
        assert.deepStrictEqual(yield* holds, expected)
      })),
    120_000
  )

  it.live("a bad chunk file is refused with exit 2 and no store is created", () =>
    live(Effect.gen(function*() {
      const { dir, out } = yield* extracted
      const target = copyOf(out, join(dir, "bad"))
      const source = readdirSync(join(target, "default"))[0]!
      const bad = join(target, "default", source, "broken.json")
      writeFileSync(bad, "{\"id_\": 3")
      const outcome = yield* Build.execute(request(target))
      assert.strictEqual(outcome.exitCode, 2)
      assert.isFalse(existsSync(join(target, ".batch-extract")), "nothing written beside the chunks")
      const missing = yield* Build.execute(request(join(dir, "nowhere")))
      assert.strictEqual(missing.exitCode, 2)
      // A store that cannot be opened (its directory is a file): exit 2, the graph untouched.
      const good = copyOf(out, join(dir, "unopenable"))
      const file = join(dir, "not-a-directory")
      writeFileSync(file, "x")
      const unopenable = yield* Build.execute(request(good, { "graph-store": `pglite://${file}` }))
      assert.strictEqual(unopenable.exitCode, 2)
      assert.isUndefined(unopenable.summary)
      assert.strictEqual(readFileSync(file, "utf8"), "x")
    })), 60_000)

  it.live("an index built with other dimensions is refused with exit 2", () =>
    live(Effect.gen(function*() {
      const { dir, out } = yield* extracted
      const target = copyOf(out, join(dir, "dims"))
      const url = Build.defaultStoreOf(target)
      yield* Effect.gen(function*() {
        const vectors = yield* VectorStore.VectorStore
        yield* vectors.createIndex("statement", { dimensions: 8, model: "amazon.titan-embed-text-v2:0" })
      }).pipe(Effect.provide(Layer.fresh(Stores.storesLayer(url, url))))
      const outcome = yield* Build.execute(request(target))
      assert.strictEqual(outcome.exitCode, 2)
      assert.isUndefined(outcome.summary)
    })), 60_000)
})
