/**
 * End to end on the simulated service (TestClock): documents through both stages into the
 * directory sink, with faults on; every file has the reference's shape; the directory reads
 * back with each source's chunks together and in document order.
 */
import { Chunker, Document, Extraction, ExtractionSummary, Sink } from "@batch-extract/core"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Layer, Path, Stream } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { config, makeEnv, runOnTestClock } from "../support.ts"

const fixture = JSON.parse(readFileSync(
  fileURLToPath(new URL("../../../../../shared/fixtures/graphrag-toolkit-extracted-chunk.json", import.meta.url)),
  "utf8"
)) as Record<string, any>

const names = ["Alice Smith", "Robert Jones", "Maria Garcia", "Wei Chen", "Fatima Khan", "John Adams"]
const places = ["Boston", "Chicago", "Denver", "Atlanta", "Seattle", "Portland", "Austin", "Richmond"]

/** A document long enough for several chunks. */
const longDocument = (i: number): Document.Document =>
  Document.make(
    Array.from({ length: 18 + (i % 7) }, (_, s) => {
      const who = names[(i + s) % names.length]!
      const where = places[(i * 5 + s) % places.length]!
      return `${who} travelled to ${where} in ${1900 + ((i * 7 + s) % 120)}. ` +
        `The Harbor Commission of ${where} approved plan ${i}-${s} at 10:30 that day.`
    }).join(" "),
    { metadata: { title: `Report ${i}`, url: `https://example.org/reports/${i}` } }
  )

const keysOf = (o: unknown) => Object.keys(o as object).sort()

const Files = Layer.merge(NodeFileSystem.layer, NodePath.layer)

describe("extract into the directory sink", () => {
  it.effect(
    "extracts 1,000 documents through both stages with faults on; every file has the fixture's shape",
    () =>
      Effect.gen(function*() {
        const started = performance.now()
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        const directory = yield* fs.makeTempDirectoryScoped({ prefix: "batch-extract-e2e-" })
        const batch = yield* config({ maxBatchSize: 2_000 })
        const extraction = yield* Extraction.decodeConfig({})
        const env = yield* makeEnv({
          sim: {
            faults: {
              throttleRate: 0.3,
              jobStatuses: ["Failed", "PartiallyCompleted", "Completed", "Expired"],
              recordErrorRate: 0.02,
              recordMissingRate: 0.02,
              malformedRate: 0.01,
              truncatedRate: 0.01
            },
            quotas: { maxConcurrentJobs: 3 },
            seed: 9
          },
          runtime: { throttleRate: 0.1 },
          store: { errorRate: 0.02 }
        })
        const documents = Array.from({ length: 1_000 }, (_, i) => longDocument(i))
        const sink = yield* Sink.directory({ directory, collectionId: "collection" })
        const [, summary] = yield* runOnTestClock(
          ExtractionSummary.collect(
            Extraction.extract(Stream.fromIterable(documents), { batch, extraction, runId: "e2e" }).pipe(
              Stream.mapEffect((extracted) => sink.write(extracted), { concurrency: 8 }),
              Stream.runDrain
            )
          ).pipe(Effect.provide(env.layer))
        )

        // Every chunk was written, one file each, and nothing went missing.
        const collection = path.join(directory, "collection")
        const sources = readdirSync(collection)
        assert.strictEqual(sources.length, 1_000)
        const files = sources.flatMap((source) =>
          readdirSync(path.join(collection, source)).map((f) => path.join(collection, source, f))
        )
        assert.strictEqual(files.length, summary.extraction.chunks)
        assert.isAbove(files.length, 2_500)
        assert.strictEqual(summary.extraction.extractedChunks, files.length)
        assert.strictEqual(summary.records.succeeded + summary.records.failed, files.length * 2)

        // The reference's shape: same keys at every level.
        const topicKeys = keysOf(fixture.metadata["aws::graph::topics"].topics[0])
        const statementKeys = keysOf(fixture.metadata["aws::graph::topics"].topics[0].statements[0])
        const entityKeys = keysOf(fixture.metadata["aws::graph::topics"].topics[0].entities[0])
        let facts = 0
        for (const file of files) {
          const node = JSON.parse(readFileSync(file, "utf8")) as Record<string, any>
          assert.deepStrictEqual(keysOf(node), keysOf(fixture))
          assert.deepStrictEqual(keysOf(node.relationships["1"]), keysOf(fixture.relationships["1"]))
          assert.strictEqual(node.class_name, "TextNode")
          assert.isArray(node.metadata["aws::graph::propositions"])
          assert.isNumber(node.metadata["__aws__versioning__extract_timestamp__"])
          for (const topic of node.metadata["aws::graph::topics"].topics) {
            assert.deepStrictEqual(keysOf(topic), topicKeys)
            for (const entity of topic.entities) assert.deepStrictEqual(keysOf(entity), entityKeys)
            for (const statement of topic.statements) {
              assert.deepStrictEqual(keysOf(statement), statementKeys)
              facts += statement.facts.length
            }
          }
        }
        assert.isAbove(facts, 0)
        assert.isAbove(summary.batchShare, 0.9)
        console.log(
          `1,000 documents → ${files.length} chunk files; ${summary.jobs.total} jobs ${
            JSON.stringify(summary.jobs.byStatus)
          }; ` +
            `${summary.records.batch} batch + ${summary.records.onDemand} on demand records, ${summary.records.failed} failed; ` +
            `${summary.extraction.facts} facts; real time ${Math.round(performance.now() - started)} ms`
        )

        // Read back: each source's chunks together, in document order.
        const read = yield* Stream.runCollect(Sink.readDirectory({ directory, collectionId: "collection" }))
        assert.strictEqual(read.length, 1_000)
        const bySource = new Map(read.map((source) => [source.sourceId, source.chunks.map((c) => c.chunk.id)]))
        for (const document of documents.slice(0, 200)) {
          const expected = (yield* Chunker.chunk(document)).map((c) => c.id)
          assert.deepStrictEqual(bySource.get(Chunker.sourceOf(document).id), expected)
        }
      }).pipe(Effect.provide(Files), Effect.scoped),
    180_000
  )
})
