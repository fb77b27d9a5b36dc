/**
 * Micro-benchmark of the embedded store's graph writes: nodes and edges per second written
 * through the `GraphStore` port into PGlite (AGE label tables, unique indexes, GIN indexes, the
 * contributor ledger, one transaction per call), against a floor: the same rows, in the same
 * batches, written with plain batched `INSERT`s into two plain tables of the same database
 * (primary keys only, the chunk ids as a `text[]` column).
 *
 * The graph is `GraphModel.build` of synthetic chunks (topics, propositions, entity
 * relationships drawn from a shared pool of entities, so chunks share entities as a corpus
 * does). Measured: the first write, a second write of the same graph (idempotent: nothing
 * changes), `counts`, and removing every chunk (`removeChunk`), then the floor.
 *
 * The database lives in a scratch directory (in `/dev/shm` when it has room, else the temporary
 * directory; `--dir` to choose, `--memory` for `memory://`), removed at the end.
 *
 * Usage (from the repository root):
 *   node --conditions=@batch-extract/source packages/store/bench/embeddedGraph.ts \
 *     [--chunks 400] [--batch 500] [--dir D] [--memory] [--json]
 */
import { GraphModel, GraphStore, Topics } from "@batch-extract/core"
import { Effect, Result } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { parseArgs } from "node:util"
import * as EmbeddedGraph from "../src/EmbeddedGraph.ts"

const { values } = parseArgs({
  options: {
    chunks: { type: "string", default: "400" },
    batch: { type: "string", default: "500" },
    dir: { type: "string" },
    memory: { type: "boolean", default: false },
    json: { type: "boolean", default: false }
  }
})
const chunkCount = Number(values.chunks)
const batchSize = Number(values.batch)

const progress = (line: string) => process.stderr.write(`${line}\n`)

// -----------------------------------------------------------------------------
// The graph
// -----------------------------------------------------------------------------

let seed = 42
const random = (n: number) => {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0
  return Math.floor((seed / 4294967296) * n)
}
const classes = ["Service", "Product", "Location", "Software", "Person", "Organization"]
const entityPool = Array.from({ length: 1500 }, (_, i) => `Entity ${i}|${classes[i % classes.length]}`)
const predicates = ["HAS", "USES", "PART OF", "RUNS ON", "REPLACES"]
const words = "graph store chunk vector index query write batch model entity topic source".split(" ")
const sentence = (n: number) => Array.from({ length: n }, () => words[random(words.length)]).join(" ")

const sourceId = "aws::bench0001:abcd"

/** A chunk of the model's output: 2 topics of 6 propositions, each with 2 relationships. */
const syntheticChunk = (index: number): GraphModel.ChunkInput => {
  const lines: Array<string> = []
  for (let t = 0; t < 2; t++) {
    const entities = Array.from({ length: 6 }, () => entityPool[random(entityPool.length)]!)
    lines.push(`topic: Topic ${random(200)}`, "entities:", ...entities)
    for (let p = 0; p < 6; p++) {
      lines.push(`proposition: Proposition ${index}.${t}.${p} about ${sentence(8)}`, "entity-entity relationships:")
      for (let r = 0; r < 2; r++) {
        const [subject] = entities[random(entities.length)]!.split("|")
        const [object] = entities[random(entities.length)]!.split("|")
        lines.push(`${subject}|${predicates[random(predicates.length)]}|${object}`)
      }
    }
  }
  return Result.getOrThrow(GraphModel.decodeChunk({
    id_: `${sourceId}:chunk-${index}`,
    metadata: { [Topics.metadataKey]: Topics.parse(lines.join("\n")).topics },
    relationships: {
      "1": { node_id: sourceId, metadata: { title: "Bench", pub_date: "2025-02-12" } },
      ...(index + 1 < chunkCount ? { "3": { node_id: `${sourceId}:chunk-${index + 1}`, metadata: {} } } : {})
    },
    text: sentence(150),
    start_char_idx: index * 1000
  }))
}

const chunks = Array.from({ length: chunkCount }, (_, i) => syntheticChunk(i))
const graph = Result.getOrThrow(GraphModel.build(chunks, { buildTimestamp: 1_760_000_000_000 }))

// -----------------------------------------------------------------------------
// Measuring
// -----------------------------------------------------------------------------

const scratch = (): string => {
  if (values.dir !== undefined) return fs.mkdtempSync(path.join(values.dir, "embedded-graph-bench-"))
  try {
    const shm = fs.statfsSync("/dev/shm")
    if (shm.bavail * shm.bsize > 4 * 1024 ** 3) return fs.mkdtempSync("/dev/shm/embedded-graph-bench-")
  } catch {
    // No /dev/shm: the temporary directory.
  }
  return fs.mkdtempSync(path.join(os.tmpdir(), "embedded-graph-bench-"))
}

const seconds = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = performance.now()
    const result = yield* effect
    return [result, (performance.now() - start) / 1000] as const
  })

const slices = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

const rate = (count: number, s: number) => Math.round(count / s)

const directory = values.memory ? undefined : scratch()
const dataDir = directory === undefined ? EmbeddedGraph.inMemory : path.join(directory, "store")

const program = Effect.gen(function*() {
  const nodes = graph.nodes.length
  const edges = graph.edges.length
  progress(`graph: ${chunkCount} chunks, ${nodes} nodes, ${edges} edges; batches of ${batchSize}; ${dataDir}`)
  const [store, openSeconds] = yield* seconds(EmbeddedGraph.make({ dataDir }))
  const port = Effect.provideService(GraphStore.GraphStore, store.graph)

  const [, nodeSeconds] = yield* seconds(
    Effect.forEach(slices(graph.nodes, batchSize), (batch) => store.graph.upsertNodes(batch), { discard: true })
  )
  const [, edgeSeconds] = yield* seconds(
    Effect.forEach(slices(graph.edges, batchSize), (batch) => store.graph.upsertEdges(batch), { discard: true })
  )
  progress(`port: nodes ${nodeSeconds.toFixed(1)} s, edges ${edgeSeconds.toFixed(1)} s`)
  const [, againSeconds] = yield* seconds(port(GraphStore.write(graph, { batchSize })))
  const [counts, countSeconds] = yield* seconds(store.graph.counts)
  const total = (record: Record<string, number>) => Object.values(record).reduce((a, b) => a + b, 0)
  if (total(counts.nodes) !== nodes || total(counts.edges) !== edges) {
    return yield* Effect.die(new Error(`counts differ: ${JSON.stringify(counts)}`))
  }
  const [, cypherSeconds] = yield* seconds(
    store.cypher("MATCH (s:__Statement__)-[:__MENTIONED_IN__]->(c:__Chunk__) RETURN count(*) AS n")
  )

  // The floor: the same rows, the same batches, plain tables.
  const sql = (text: string, params: ReadonlyArray<unknown> = []) => Effect.promise(() => db.query(text, [...params]))
  const db = yield* Effect.acquireRelease(
    Effect.promise(async () => {
      const { PGlite } = await import("@electric-sql/pglite")
      return PGlite.create({ dataDir: directory === undefined ? "memory://" : path.join(directory, "floor") })
    }),
    (db) => Effect.promise(() => db.close())
  )
  yield* sql(
    "CREATE TABLE floor_nodes (label text, id text, properties jsonb, chunk_ids text[], PRIMARY KEY (label, id))"
  )
  yield* sql(
    "CREATE TABLE floor_edges (id text PRIMARY KEY, label text, from_label text, from_id text, to_label text, " +
      "to_id text, properties jsonb, chunk_ids text[])"
  )
  const [, floorNodeSeconds] = yield* seconds(
    Effect.forEach(slices(graph.nodes, batchSize), (batch) =>
      Effect.promise(() =>
        db.transaction((tx) =>
          tx.query(
            `INSERT INTO floor_nodes SELECT label, id, properties, ARRAY(SELECT jsonb_array_elements_text(chunks))
           FROM unnest($1::text[], $2::text[], $3::text[]::jsonb[], $4::text[]::jsonb[]) AS r(label, id, properties, chunks)`,
            [
              batch.map((n) => n.label),
              batch.map((n) => n.id),
              batch.map((n) => JSON.stringify(n.properties)),
              batch.map((n) => JSON.stringify(n.chunkIds))
            ]
          )
        )
      ), { discard: true })
  )
  const [, floorEdgeSeconds] = yield* seconds(
    Effect.forEach(slices(graph.edges, batchSize), (batch) =>
      Effect.promise(() =>
        db.transaction((tx) =>
          tx.query(
            `INSERT INTO floor_edges SELECT id, label, from_label, from_id, to_label, to_id, properties,
             ARRAY(SELECT jsonb_array_elements_text(chunks))
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]::jsonb[],
             $8::text[]::jsonb[]) AS r(id, label, from_label, from_id, to_label, to_id, properties, chunks)`,
            [
              batch.map((e) => e.id),
              batch.map((e) => e.label),
              batch.map((e) => e.from.label),
              batch.map((e) => e.from.id),
              batch.map((e) => e.to.label),
              batch.map((e) => e.to.id),
              batch.map((e) => JSON.stringify(e.value === undefined ? {} : { value: e.value })),
              batch.map((e) => JSON.stringify(e.chunkIds))
            ]
          )
        )
      ), { discard: true })
  )
  progress(`floor: nodes ${floorNodeSeconds.toFixed(1)} s, edges ${floorEdgeSeconds.toFixed(1)} s`)

  const [, removeSeconds] = yield* seconds(
    Effect.forEach(chunks, (chunk) => store.graph.removeChunk(chunk.id_), { discard: true })
  )
  const emptied = yield* store.graph.counts
  if (total(emptied.nodes) + total(emptied.edges) !== 0) {
    return yield* Effect.die(new Error(`not empty after removing every chunk: ${JSON.stringify(emptied)}`))
  }

  return {
    dataDir: directory === undefined ? "memory://" : directory,
    chunks: chunkCount,
    nodes,
    edges,
    batchSize,
    openSeconds: Number(openSeconds.toFixed(2)),
    port: {
      nodesPerSecond: rate(nodes, nodeSeconds),
      edgesPerSecond: rate(edges, edgeSeconds),
      elementsPerSecond: rate(nodes + edges, nodeSeconds + edgeSeconds),
      rewriteElementsPerSecond: rate(nodes + edges, againSeconds),
      countsSeconds: Number(countSeconds.toFixed(3)),
      cypherMentionsSeconds: Number(cypherSeconds.toFixed(3)),
      removeChunksPerSecond: rate(chunkCount, removeSeconds)
    },
    floor: {
      nodesPerSecond: rate(nodes, floorNodeSeconds),
      edgesPerSecond: rate(edges, floorEdgeSeconds),
      elementsPerSecond: rate(nodes + edges, floorNodeSeconds + floorEdgeSeconds)
    },
    /** Port time over floor time (1 = as fast as plain inserts). */
    ratio: {
      nodes: Number((nodeSeconds / floorNodeSeconds).toFixed(2)),
      edges: Number((edgeSeconds / floorEdgeSeconds).toFixed(2)),
      all: Number(((nodeSeconds + edgeSeconds) / (floorNodeSeconds + floorEdgeSeconds)).toFixed(2))
    },
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024)
  }
})

const figures = await Effect.runPromise(Effect.scoped(program)).finally(() => {
  if (directory !== undefined) fs.rmSync(directory, { recursive: true, force: true })
})

if (values.json) {
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`)
} else {
  const f = figures
  const lines = [
    `Embedded graph store (PGlite + AGE), ${f.chunks} chunks: ${f.nodes} nodes, ${f.edges} edges, batches of ${f.batchSize}`,
    `  open:                 ${f.openSeconds} s (${f.dataDir})`,
    `  port, first write:    ${f.port.nodesPerSecond} nodes/s, ${f.port.edgesPerSecond} edges/s (${f.port.elementsPerSecond} elements/s)`,
    `  floor (plain INSERT): ${f.floor.nodesPerSecond} nodes/s, ${f.floor.edgesPerSecond} edges/s (${f.floor.elementsPerSecond} elements/s)`,
    `  port / floor time:    nodes ${f.ratio.nodes}×, edges ${f.ratio.edges}×, all ${f.ratio.all}×`,
    `  port, second write:   ${f.port.rewriteElementsPerSecond} elements/s (nothing changes)`,
    `  counts:               ${f.port.countsSeconds} s; openCypher MENTIONED_IN count: ${f.port.cypherMentionsSeconds} s`,
    `  removeChunk:          ${f.port.removeChunksPerSecond} chunks/s (all ${f.chunks}, to empty)`,
    `  peak RSS:             ${f.peakRssMiB} MiB`
  ]
  process.stdout.write(`${lines.join("\n")}\n`)
}
