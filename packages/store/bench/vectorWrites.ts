/**
 * Benchmark of the embedded store's vector writes: rows per second written through the
 * `VectorStore` port (`createIndex`, then `upsert` in batches, as a build writes them, then
 * `finishWrites`), with normalised pseudo-random vectors.
 *
 * Modes:
 * - `port` (default): the store as it is: the first batch finds the table empty and drops the
 *   HNSW index, the rows go in without it, `finishWrites` builds it once. Also times `nearest`
 *   before `finishWrites` (a scan of the table, exact) and after (HNSW), and how many of the
 *   exact top 10 the HNSW search finds.
 * - `indexed`: the rows inserted with the HNSW index kept throughout (what the store did before
 *   it deferred the index): the store's table, indexes and `INSERT` statement, run directly on a
 *   PGlite database of their own, batch by batch.
 *
 * The database lives in a scratch directory of the temporary directory (`--dir` to choose another
 * parent, e.g. /dev/shm), removed at the end.
 *
 * Usage (from the repository root):
 *   node --conditions=@batch-extract/source packages/store/bench/vectorWrites.ts \
 *     [--mode port|indexed] [--rows 7631] [--dims 1024] [--batch 100] [--dir D]
 *
 * Measured (7,631 rows of 1,024 dimensions, batches of 100, on disk, 2 cores): `indexed` 235 to
 * 257 s (30 to 33 rows/s); `port` 67 s (upserts 24 s at 318 rows/s, `finishWrites` 43 s), 3.5×
 * faster; `nearest` 92 ms exact before `finishWrites`, 16 ms with HNSW. Building the index by hand
 * at the end gave 52 s at `maintenance_work_mem` 64 MB (the default) and 52 s at 256 MB; at
 * 20,000 rows, 286 s at 64 MB and 136 s at 256 MB (the store builds with 256 MB). On these
 * random vectors HNSW finds only about a quarter of the exact top 10 (nearly equidistant points,
 * its worst case; real embeddings cluster).
 */
import type { VectorStore } from "@batch-extract/core"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { parseArgs } from "node:util"
import * as EmbeddedGraph from "../src/EmbeddedGraph.ts"

const { values } = parseArgs({
  options: {
    mode: { type: "string", default: "port" },
    rows: { type: "string", default: "7631" },
    dims: { type: "string", default: "1024" },
    batch: { type: "string", default: "100" },
    dir: { type: "string" }
  }
})
const mode = values.mode
if (mode !== "port" && mode !== "indexed") throw new Error(`--mode port|indexed, not ${mode}`)
const rowCount = Number(values.rows)
const dims = Number(values.dims)
const batchSize = Number(values.batch)
const progress = (line: string) => process.stderr.write(`${line}\n`)

// -----------------------------------------------------------------------------
// The rows
// -----------------------------------------------------------------------------

let seed = 42
const next = () => {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0
  return seed / 4294967296 - 0.5
}
const unitVector = (): Array<number> => {
  const v = Array.from({ length: dims }, next)
  const norm = Math.sqrt(v.reduce((sum, x) => sum + x * x, 0))
  return v.map((x) => x / norm)
}
const rows: Array<VectorStore.VectorRow> = Array.from({ length: rowCount }, (_, i) => ({
  id: `chunk-${String(i).padStart(6, "0")}`,
  vector: unitVector(),
  digest: `digest-${i}`,
  metadata: { value: `text ${i}`, chunkId: `c${i}` }
}))
const queries = Array.from({ length: 5 }, unitVector)

const batches: Array<ReadonlyArray<VectorStore.VectorRow>> = []
for (let i = 0; i < rows.length; i += batchSize) batches.push(rows.slice(i, i + batchSize))

// -----------------------------------------------------------------------------
// Measuring
// -----------------------------------------------------------------------------

const directory = fs.mkdtempSync(path.join(values.dir ?? os.tmpdir(), "vector-writes-bench-"))
const dataDir = path.join(directory, "store")

const seconds = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = performance.now()
    const result = yield* effect
    return [result, (performance.now() - start) / 1000] as const
  })

/** Each batch in turn, with the rate of every tenth of the rows on stderr. */
const writeAll = (write: (batch: ReadonlyArray<VectorStore.VectorRow>) => Effect.Effect<void, unknown>) =>
  seconds(Effect.gen(function*() {
    const step = Math.max(1, Math.round(batches.length / 10))
    let lap = performance.now()
    for (let b = 0; b < batches.length; b++) {
      yield* write(batches[b]!)
      if ((b + 1) % step === 0) {
        const now = performance.now()
        progress(
          `  ${Math.min(rows.length, (b + 1) * batchSize)} rows: ${
            Math.round((step * batchSize) / ((now - lap) / 1000))
          } rows/s`
        )
        lap = now
      }
    }
  }))

const hnswIndexes = (store: EmbeddedGraph.EmbeddedGraph["Service"]) =>
  Effect.map(
    store.query<{ indexname: string }>(
      "SELECT indexname::text AS indexname FROM pg_indexes WHERE tablename = 'vec_chunk' AND indexname LIKE '%hnsw'"
    ),
    (found) => found.length
  )

/** The mean time of `nearest` (k = 10) over the queries, and its answers. */
const searchAll = (store: EmbeddedGraph.EmbeddedGraph["Service"]) =>
  Effect.gen(function*() {
    const [answers, total] = yield* seconds(
      Effect.forEach(queries, (query) => store.vectors.nearest("chunk", query, 10))
    )
    return {
      answers: answers.map((matches) => matches.map((m) => m.id)),
      milliseconds: (total * 1000) / queries.length
    }
  })

const program = Effect.gen(function*() {
  progress(`${mode}: ${rowCount} rows of ${dims} dimensions, batches of ${batchSize}; ${dataDir}`)
  if (mode === "indexed") {
    const db = yield* Effect.acquireRelease(
      Effect.promise(async () => {
        const [{ PGlite }, { vector }] = await Promise.all([
          import("@electric-sql/pglite"),
          import("@electric-sql/pglite-pgvector")
        ])
        return PGlite.create({ dataDir: path.join(directory, "indexed"), extensions: { vector } })
      }),
      (db) => Effect.promise(() => db.close())
    )
    // The table as `createIndex` makes it, HNSW index included.
    yield* Effect.promise(() =>
      db.exec(`
        CREATE EXTENSION vector;
        CREATE TABLE vec_chunk (id text PRIMARY KEY, digest text NOT NULL, metadata jsonb NOT NULL,
          embedding vector(${dims}) NOT NULL);
        CREATE INDEX vec_chunk_zero ON vec_chunk (id) WHERE vector_norm(embedding) = 0;
        CREATE INDEX vec_chunk_hnsw ON vec_chunk USING hnsw (embedding vector_cosine_ops);
      `)
    )
    const [, writeSeconds] = yield* writeAll((batch) =>
      Effect.promise(() =>
        db.query(
          `INSERT INTO vec_chunk (id, digest, metadata, embedding)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[]::jsonb[], $4::text[]::vector[])
           ON CONFLICT (id) DO UPDATE
           SET digest = EXCLUDED.digest, metadata = EXCLUDED.metadata, embedding = EXCLUDED.embedding`,
          [
            batch.map((row) => row.id),
            batch.map((row) => row.digest),
            batch.map((row) => JSON.stringify(row.metadata)),
            batch.map((row) => JSON.stringify(row.vector))
          ]
        )
      )
    )
    return [
      `indexed (HNSW kept): ${rowCount} rows in ${writeSeconds.toFixed(1)} s (${
        Math.round(rowCount / writeSeconds)
      } rows/s)`
    ]
  }

  const store = yield* EmbeddedGraph.make({ dataDir })
  yield* store.vectors.createIndex("chunk", { dimensions: dims, model: "m" })
  const [, writeSeconds] = yield* writeAll((batch) => store.vectors.upsert("chunk", batch))
  const hnswWhileWriting = yield* hnswIndexes(store)
  const exact = yield* searchAll(store)
  const [, finishSeconds] = yield* seconds(store.vectors.finishWrites("chunk"))
  const hnswAfter = yield* hnswIndexes(store)
  const [, againSeconds] = yield* seconds(store.vectors.finishWrites("chunk"))
  const approximate = yield* searchAll(store)
  const found = approximate.answers.reduce(
    (sum, ids, q) => sum + ids.filter((id) => exact.answers[q]!.includes(id)).length,
    0
  )
  const total = writeSeconds + finishSeconds
  return [
    `port: ${rowCount} rows, upserts ${writeSeconds.toFixed(1)} s (${Math.round(rowCount / writeSeconds)} rows/s), ` +
    `finishWrites ${finishSeconds.toFixed(1)} s (again: ${(againSeconds * 1000).toFixed(0)} ms), ` +
    `total ${total.toFixed(1)} s (${Math.round(rowCount / total)} rows/s)`,
    `  HNSW indexes: ${hnswWhileWriting} after the upserts, ${hnswAfter} after finishWrites`,
    `  nearest (k = 10): ${exact.milliseconds.toFixed(0)} ms exact (before finishWrites), ` +
    `${approximate.milliseconds.toFixed(0)} ms with HNSW; HNSW found ${found} of the exact ${exact.answers.length * 10}`
  ]
})

const lines = await Effect.runPromise(Effect.scoped(program)).finally(() =>
  fs.rmSync(directory, { recursive: true, force: true })
)
process.stdout.write(`${lines.join("\n")}\n`)
