/**
 * The embedded store (PGlite with Apache AGE and pgvector): the ports' contracts
 * (`StoreContract` of `@batch-extract/core/testing`, the cases the in-memory stores pass too),
 * then what only a real store has: openCypher reads, SQL-level refusals, the deferred HNSW
 * index, persistence, the directory lock, failures at open.
 *
 * Opening PGlite takes seconds, so one in-memory database serves the graph contract (the graph
 * is emptied through the port before each case, and checked empty) and this store's own graph
 * and vector tests (each on indexes of its own). Vector indexes cannot be dropped through the
 * port, so each vector contract case opens a database of its own.
 */
import { GraphModel, GraphStore, VectorStore } from "@batch-extract/core"
import { StoreContract } from "@batch-extract/core/testing"
import { assert, describe, it, layer } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { hostname, tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as EmbeddedGraph from "../src/EmbeddedGraph.ts"
import { buildGraph, chunk, fixture } from "./support/graphs.ts"

type Store = EmbeddedGraph.EmbeddedGraph["Service"]

// -----------------------------------------------------------------------------
// Snapshots: what a store holds, comparable across stores
// -----------------------------------------------------------------------------

const stableJson = (value: object): string =>
  JSON.stringify(Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))))

const chunksText = (chunkIds: Iterable<string>) => `[${[...chunkIds].sort().join(",")}]`

interface Snapshot {
  readonly nodes: ReadonlyArray<string>
  readonly edges: ReadonlyArray<string>
}

/** Elements as lines: ids, properties, endpoints, contributors. */
const snapshotOf = (graph: Pick<GraphModel.Graph, "nodes" | "edges">): Snapshot => ({
  nodes: graph.nodes.map((n) => `${n.label} ${n.id} ${stableJson(n.properties)} ${chunksText(n.chunkIds)}`).sort(),
  edges: graph.edges.map((e) =>
    `${e.label} ${e.id} ${e.from.label}:${e.from.id} -> ${e.to.label}:${e.to.id} ${e.value ?? "-"} ${
      chunksText(e.chunkIds)
    }`
  ).sort()
})

const memorySnapshot = (memory: GraphStore.MemoryGraphStore) =>
  Effect.map(Effect.all({ nodes: memory.nodes, edges: memory.edges }), snapshotOf)

const idKey = (label: string) => GraphModel.idKeys[label as GraphModel.NodeLabel]

/** A vertex's label and properties as read by SQL: its ref and its other properties. */
const vertex = (label: string, properties: string): { ref: GraphModel.NodeRef; rest: Record<string, unknown> } => {
  const { [idKey(label)]: id, ...rest } = JSON.parse(properties) as Record<string, unknown>
  return { ref: { label: label as GraphModel.NodeLabel, id: String(id) }, rest }
}

/**
 * The store's graph read back with SQL from AGE's tables and the ledger; also checks that no
 * edge dangles and no ledger row names a missing element.
 */
const embeddedContents = (store: Store) =>
  Effect.gen(function*() {
    const g = `"${store.graphName}"`
    const ledger = yield* store.query<{ kind: string; label: string; element_id: string; chunk_id: string }>(
      "SELECT kind, label, element_id, chunk_id FROM public.graph_contributions WHERE graph = $1",
      [store.graphName]
    )
    const contributors = new Map<string, Array<string>>()
    for (const row of ledger) {
      const key = `${row.kind} ${row.label} ${row.element_id}`
      contributors.set(key, [...(contributors.get(key) ?? []), row.chunk_id])
    }
    const vertices = yield* store.query<{ label: string; properties: string }>(
      `SELECT l.name::text AS label, v.properties::text AS properties
       FROM ${g}._ag_label_vertex v JOIN ag_catalog.ag_label l ON l.relation = v.tableoid::regclass`
    )
    const edges = yield* store.query<{
      label: string
      properties: string
      from_label: string
      from_properties: string
      to_label: string
      to_properties: string
    }>(
      `SELECT l.name::text AS label, e.properties::text AS properties,
         la.name::text AS from_label, a.properties::text AS from_properties,
         lb.name::text AS to_label, b.properties::text AS to_properties
       FROM ${g}._ag_label_edge e
       JOIN ag_catalog.ag_label l ON l.relation = e.tableoid::regclass
       JOIN ${g}._ag_label_vertex a ON a.id = e.start_id
       JOIN ag_catalog.ag_label la ON la.relation = a.tableoid::regclass
       JOIN ${g}._ag_label_vertex b ON b.id = e.end_id
       JOIN ag_catalog.ag_label lb ON lb.relation = b.tableoid::regclass`
    )
    const edgeRows = yield* store.query<{ count: number }>(`SELECT count(*)::int AS count FROM ${g}._ag_label_edge`)
    assert.strictEqual(edges.length, edgeRows[0]!.count, "every edge has both endpoints")
    const seen = new Set<string>()
    const nodes = vertices.map((row): GraphModel.GraphNode => {
      const { ref, rest } = vertex(row.label, row.properties)
      const key = `node ${ref.label} ${ref.id}`
      seen.add(key)
      return { ...ref, properties: rest as GraphModel.Properties, chunkIds: contributors.get(key) ?? [] }
    })
    const edgeElements = edges.map((row): GraphModel.GraphEdge => {
      const { [EmbeddedGraph.edgeIdKey]: id, value, ...others } = JSON.parse(row.properties) as Record<string, unknown>
      assert.deepStrictEqual(others, {}, "an edge carries its id and value only")
      const key = `edge ${row.label} ${String(id)}`
      seen.add(key)
      return {
        id: String(id),
        label: row.label as GraphModel.EdgeLabel,
        from: vertex(row.from_label, row.from_properties).ref,
        to: vertex(row.to_label, row.to_properties).ref,
        value: value === undefined ? undefined : String(value),
        chunkIds: contributors.get(key) ?? []
      }
    })
    for (const key of contributors.keys()) assert.isTrue(seen.has(key), `the ledger names a missing element: ${key}`)
    return { nodes, edges: edgeElements }
  })

const embeddedSnapshot = (store: Store) => Effect.map(embeddedContents(store), snapshotOf)

/** Runs a program on the memory store and on the embedded one; fails unless both hold the same graph after. */
const onBoth = <A, E>(
  memory: GraphStore.MemoryGraphStore,
  store: Store,
  program: Effect.Effect<A, E, GraphStore.GraphStore>
) =>
  Effect.gen(function*() {
    const expected = yield* Effect.provideService(program, GraphStore.GraphStore, memory.service)
    const actual = yield* Effect.provideService(program, GraphStore.GraphStore, store.graph)
    assert.deepStrictEqual(yield* embeddedSnapshot(store), yield* memorySnapshot(memory))
    assert.deepStrictEqual(yield* store.graph.counts, yield* memory.service.counts)
    return { expected, actual }
  })

const sameRemoval = (removal: { expected: GraphStore.Removed; actual: GraphStore.Removed }) => {
  const sorted = (removed: GraphStore.Removed) => ({
    nodes: removed.nodes,
    edges: removed.edges,
    deletedNodes: removed.deletedNodes.map((n) => `${n.label} ${n.id}`).sort()
  })
  assert.deepStrictEqual(sorted(removal.actual), sorted(removal.expected))
}

/**
 * The shared database's graph store for one contract case, emptied first through the port (every
 * chunk the ledger or the built-chunk record names is removed) and checked empty, with its
 * elements read back by SQL for the cases that check them.
 */
const emptiedGraph: Layer.Layer<
  GraphStore.GraphStore | StoreContract.GraphContents,
  GraphStore.GraphStoreError,
  EmbeddedGraph.EmbeddedGraph
> = Layer.effectContext(Effect.gen(function*() {
  const store = yield* EmbeddedGraph.EmbeddedGraph
  const chunks = yield* store.query<{ chunk_id: string }>(
    `SELECT chunk_id FROM public.graph_contributions WHERE graph = $1
     UNION SELECT chunk_id FROM public.graph_built_chunks WHERE graph = $1`,
    [store.graphName]
  )
  for (const { chunk_id } of chunks) yield* store.graph.removeChunk(chunk_id)
  assert.deepStrictEqual(yield* store.graph.counts, GraphModel.emptyCounts(), "elements no chunk contributed are left")
  assert.deepStrictEqual(yield* store.query("SELECT * FROM public.graph_contributions"), [])
  assert.deepStrictEqual(yield* store.query("SELECT * FROM public.graph_built_chunks"), [])
  return Context.make(GraphStore.GraphStore, store.graph).pipe(
    Context.add(StoreContract.GraphContents, { read: embeddedContents(store) })
  )
}))

// -----------------------------------------------------------------------------
// Chunks
// -----------------------------------------------------------------------------

const c1 = chunk(
  "c1",
  "topic: Neptune\nentities:\nNeptune|Service\nReplica|Product\nproposition: Neptune has replicas\nentity-entity relationships:\nNeptune|HAS|Replica\nproposition: Replicas read"
)

/** The fixture's counts, BUILD.md §8. */
const fixtureCounts: GraphModel.Counts = {
  nodes: {
    __Source__: 1,
    __Chunk__: 1,
    __Topic__: 1,
    __Statement__: 26,
    __Fact__: 38,
    __Entity__: 11,
    __SYS_Class__: 4
  },
  edges: {
    __EXTRACTED_FROM__: 1,
    __PARENT__: 0,
    __CHILD__: 0,
    __PREVIOUS__: 25,
    __NEXT__: 0,
    __MENTIONED_IN__: 27,
    __BELONGS_TO__: 26,
    __SUPPORTS__: 43,
    __SUBJECT__: 21,
    __OBJECT__: 11,
    __RELATION__: 11,
    __SYS_RELATION__: 7
  }
}

// -----------------------------------------------------------------------------
// Vectors
// -----------------------------------------------------------------------------

const row = (id: string, vector: ReadonlyArray<number>, text = id): VectorStore.VectorRow => ({
  id,
  vector,
  digest: `d-${text}`,
  metadata: { text }
})

/** Deterministic pseudo-random vectors. */
const randomVectors = (count: number, dimensions: number, seed = 42): Array<Array<number>> => {
  let state = seed
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state / 4294967296 - 0.5
  }
  return Array.from({ length: count }, () => Array.from({ length: dimensions }, next))
}

/** The HNSW indexes of a vector index's table (`vec_<name>_hnsw` when it is not deferred). */
const hnswIndexes = (store: Store, name: string) =>
  Effect.map(
    store.query<{ indexname: string }>(
      "SELECT indexname::text AS indexname FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE '%USING hnsw%'",
      [`vec_${name}`]
    ),
    (rows) => rows.map((row) => row.indexname)
  )

/** The store answers `nearest` as the in-memory store, on these queries and `k`s (ids and scores). */
const sameNearest = (
  store: VectorStore.VectorStore["Service"],
  memory: VectorStore.VectorStore["Service"],
  name: string,
  cases: ReadonlyArray<readonly [ReadonlyArray<number>, number]>
) =>
  Effect.forEach(cases, ([query, k]) =>
    Effect.gen(function*() {
      const expected = yield* memory.nearest(name, query, k)
      const actual = yield* store.nearest(name, query, k)
      assert.deepStrictEqual(actual.map((m) => m.id), expected.map((m) => m.id))
      actual.forEach((m, i) => assert.closeTo(m.score, expected[i]!.score, 1e-6))
    }), { discard: true })

// -----------------------------------------------------------------------------
// Tests on one database in memory
// -----------------------------------------------------------------------------

layer(EmbeddedGraph.layer({ dataDir: EmbeddedGraph.inMemory }), { timeout: 60_000 })(
  "EmbeddedGraph (in memory)",
  (it) => {
    describe("GraphStore, what only this store has", () => {
      it.effect("writes the fixture with BUILD.md §8's counts, readable with openCypher", () =>
        Effect.gen(function*() {
          const store = yield* EmbeddedGraph.EmbeddedGraph
          const memory = yield* GraphStore.makeMemory
          const graph = buildGraph([fixture])
          yield* onBoth(memory, store, GraphStore.write(graph, { batchSize: 25 }))
          assert.deepStrictEqual(yield* store.graph.counts, fixtureCounts)

          const [mentions] = yield* store.cypher(
            "MATCH (s:__Statement__)-[:__MENTIONED_IN__]->(c:__Chunk__) RETURN count(*)"
          )
          assert.deepStrictEqual(mentions, { "count(*)": 26 })
          const chunks = yield* store.cypher(
            "MATCH (c:__Chunk__ {chunkId: $id})-[:__EXTRACTED_FROM__]->(s:__Source__) RETURN c.value AS text, s",
            { id: fixture.id_ }
          )
          assert.strictEqual(chunks.length, 1)
          assert.strictEqual(chunks[0]!.text, fixture.text)
          const source = chunks[0]!.s as { label: string; properties: Record<string, unknown> }
          assert.strictEqual(source.label, "__Source__")
          assert.strictEqual(source.properties.pub_date, "2025-02-12T00:00:00")

          // Reads only: a write through cypher() would bypass the ledger.
          const refused = yield* Effect.flip(store.cypher("CREATE (n:__Chunk__ {chunkId: 'x'}) RETURN n"))
          assert.strictEqual(refused.operation, "EmbeddedGraph.cypher")
          assert.strictEqual((yield* store.graph.counts).nodes.__Chunk__, 1)

          const removed = yield* onBoth(memory, store, GraphStore.GraphStore.use((s) => s.removeChunk(fixture.id_)))
          sameRemoval(removed)
          assert.deepStrictEqual(yield* store.graph.counts, GraphModel.emptyCounts())
        }))

      it.effect("fails a batch whole: nothing of it is written", () =>
        Effect.gen(function*() {
          const store = yield* EmbeddedGraph.EmbeddedGraph
          const nul = yield* Effect.flip(store.graph.upsertNodes([
            { label: "__Topic__", id: "t1", properties: { value: "fine" }, chunkIds: ["x"] },
            {
              label: "__Chunk__",
              id: "c1",
              properties: { value: "NUL \u0000 is not text in PostgreSQL" },
              chunkIds: ["x"]
            }
          ]))
          assert.strictEqual(nul.operation, "GraphStore.upsertNodes")
          assert.isFalse(nul.retryable)
          const unknown = yield* Effect.flip(store.graph.upsertNodes([
            { label: "Person" as GraphModel.NodeLabel, id: "p", properties: {}, chunkIds: ["x"] }
          ]))
          assert.include(unknown.message, "unknown node label \"Person\"")
          assert.deepStrictEqual(yield* store.graph.counts, GraphModel.emptyCounts())
          assert.deepStrictEqual(yield* store.query("SELECT * FROM public.graph_contributions"), [])
        }))

      it.effect("reads openCypher results: vertices, edges, paths, lists, maps and named columns", () =>
        Effect.gen(function*() {
          const store = yield* EmbeddedGraph.EmbeddedGraph
          const graph = buildGraph([c1])
          yield* GraphStore.write(graph).pipe(Effect.provideService(GraphStore.GraphStore, store.graph))
          const rows = yield* store.cypher(
            `MATCH p = (s:__Statement__)-[r:__BELONGS_TO__]->(t:__Topic__)
           WHERE s.value = $value
           RETURN DISTINCT t.value AS topic, r, p, [1, 2.5, 'x'] AS list, {a: {b: [true, null]}} AS map, s.value
           ORDER BY topic LIMIT 5`,
            { value: "Replicas read" }
          )
          assert.strictEqual(rows.length, 1)
          const found = rows[0]!
          assert.deepStrictEqual(Object.keys(found), ["topic", "r", "p", "list", "map", "s.value"])
          assert.strictEqual(found.topic, "Neptune")
          assert.strictEqual((found.r as { label: string }).label, "__BELONGS_TO__")
          assert.strictEqual((found.p as ReadonlyArray<unknown>).length, 3)
          assert.deepStrictEqual(found.list, [1, 2.5, "x"])
          assert.deepStrictEqual(found.map, { a: { b: [true, null] } })
          assert.strictEqual(found["s.value"], "Replicas read")
          const star = yield* store.cypher("MATCH (t:__Topic__) RETURN *", {}, { columns: ["t"] })
          assert.strictEqual(star.length, 1)
          assert.strictEqual(
            (yield* Effect.flip(store.cypher("MATCH (t:__Topic__) RETURN *"))).operation,
            "EmbeddedGraph.cypher"
          )
          yield* store.graph.removeChunk(c1.id_)
          assert.deepStrictEqual(yield* store.graph.counts, GraphModel.emptyCounts())
        }))
    })

    describe("VectorStore, what only this store has", () => {
      it.effect("refuses an invalid index name and NaN; searches an index wider than HNSW allows exhaustively", () =>
        Effect.gen(function*() {
          const store = yield* VectorStore.VectorStore
          const badName = yield* Effect.flip(store.createIndex("Bad-Name", { dimensions: 3, model: "m" }))
          assert.strictEqual(badName._tag, "VectorStoreError")
          assert.strictEqual((yield* Effect.flip(store.count("Bad-Name")))._tag, "IndexNotFound")
          yield* store.createIndex("refused", { dimensions: 2, model: "m" })
          const nan = yield* Effect.flip(store.upsert("refused", [row("a", [1, Number.NaN])]))
          assert.strictEqual(nan._tag, "VectorStoreError")
          assert.strictEqual(yield* store.count("refused"), 0)
          // Wider than HNSW allows: created without the index, searched exhaustively.
          yield* store.createIndex("wide", { dimensions: 2048, model: "m" })
          yield* store.upsert("wide", [row("x", Array.from({ length: 2048 }, (_, i) => i % 2))])
          assert.deepStrictEqual(
            (yield* store.nearest("wide", Array.from({ length: 2048 }, () => 1), 1)).map((m) => m.id),
            ["x"]
          )
        }))

      it.effect("answers as the in-memory store on random vectors, also for k above HNSW's default 40", () =>
        Effect.gen(function*() {
          const store = yield* VectorStore.VectorStore
          const memory = yield* VectorStore.makeMemory
          const vectors = randomVectors(120, 16)
          const rows = vectors.map((v, i) => row(`r${String(i).padStart(3, "0")}`, v))
          for (const s of [store, memory]) {
            yield* s.createIndex("random", { dimensions: 16, model: "m" })
            yield* s.upsert("random", rows)
          }
          const cases = [[randomVectors(1, 16, 7)[0]!, 5], [vectors[3]!, 60], [
            randomVectors(1, 16, 9)[0]!,
            200
          ]] as const
          // Searched exactly (the HNSW index deferred by the write), then through the HNSW index.
          yield* sameNearest(store, memory, "random", cases)
          yield* store.finishWrites("random")
          yield* sameNearest(store, memory, "random", cases)
        }))

      it.effect("defers the HNSW index during large writes, searching exactly, until finishWrites", () =>
        Effect.gen(function*() {
          const store = yield* VectorStore.VectorStore
          const embedded = yield* EmbeddedGraph.EmbeddedGraph
          const memory = yield* VectorStore.makeMemory
          const vectors = randomVectors(170, 16, 11)
          const rows = vectors.map((v, i) => row(`d${String(i).padStart(3, "0")}`, v))
          const cases = [[randomVectors(1, 16, 5)[0]!, 7], [vectors[10]!, 50], [
            randomVectors(1, 16, 6)[0]!,
            300
          ]] as const
          const upsertBoth = (batch: ReadonlyArray<VectorStore.VectorRow>) =>
            Effect.forEach([store, memory], (s) => s.upsert("deferred", batch), { discard: true })
          for (const s of [store, memory]) yield* s.createIndex("deferred", { dimensions: 16, model: "m" })
          assert.deepStrictEqual(yield* hnswIndexes(embedded, "deferred"), ["vec_deferred_hnsw"])

          // The first batch finds the table empty: the HNSW index goes, the next batches write without it.
          for (let i = 0; i < 120; i += 30) {
            yield* upsertBoth(rows.slice(i, i + 30))
            assert.deepStrictEqual(yield* hnswIndexes(embedded, "deferred"), [])
            yield* sameNearest(store, memory, "deferred", cases)
          }
          yield* store.finishWrites("deferred")
          assert.deepStrictEqual(yield* hnswIndexes(embedded, "deferred"), ["vec_deferred_hnsw"])
          yield* sameNearest(store, memory, "deferred", cases)
          // Idempotent.
          yield* store.finishWrites("deferred")
          assert.deepStrictEqual(yield* hnswIndexes(embedded, "deferred"), ["vec_deferred_hnsw"])
          yield* sameNearest(store, memory, "deferred", cases)

          // A batch of 10 into 120 rows (at least 4× the batch) goes into the HNSW index...
          yield* upsertBoth(rows.slice(120, 130))
          assert.deepStrictEqual(yield* hnswIndexes(embedded, "deferred"), ["vec_deferred_hnsw"])
          yield* sameNearest(store, memory, "deferred", cases)
          // ... a batch of 40 into 130 rows (fewer than 4× the batch) defers it again.
          yield* upsertBoth(rows.slice(130, 170))
          assert.deepStrictEqual(yield* hnswIndexes(embedded, "deferred"), [])
          yield* sameNearest(store, memory, "deferred", cases)
          // Removing rows while it is deferred is fine too.
          yield* Effect.forEach([store, memory], (s) => s.remove("deferred", ["d000", "d150"]), { discard: true })
          yield* store.finishWrites("deferred")
          assert.deepStrictEqual(yield* hnswIndexes(embedded, "deferred"), ["vec_deferred_hnsw"])
          yield* sameNearest(store, memory, "deferred", cases)
          assert.strictEqual(yield* store.count("deferred"), 168)

          // A refused batch changes nothing: no rows, the HNSW index kept.
          yield* store.createIndex("kept", { dimensions: 2, model: "m" })
          assert.strictEqual(
            (yield* Effect.flip(store.upsert("kept", [row("a", [1, 0, 0])])))._tag,
            "DimensionMismatch"
          )
          assert.deepStrictEqual(yield* hnswIndexes(embedded, "kept"), ["vec_kept_hnsw"])

          // An index wider than HNSW allows has nothing to build; a missing index is named.
          yield* store.createIndex("wider", { dimensions: 2048, model: "m" })
          yield* store.finishWrites("wider")
          assert.deepStrictEqual(yield* hnswIndexes(embedded, "wider"), [])
          assert.strictEqual((yield* Effect.flip(store.finishWrites("topic")))._tag, "IndexNotFound")
        }))
    })

    // Last: the cases leave the graph as they end (each empties it first).
    describe("GraphStore: the store contract (the graph emptied before each case)", () => {
      for (const c of StoreContract.graphStoreCases) {
        it.effect(c.name, () => c.run.pipe(Effect.provide(Layer.fresh(emptiedGraph))))
      }
    })
  }
)

// -----------------------------------------------------------------------------
// The VectorStore contract, a database per case
// -----------------------------------------------------------------------------

describe("EmbeddedGraph (in memory): the VectorStore contract (a database per case)", () => {
  for (const c of StoreContract.vectorStoreCases) {
    it.effect(
      c.name,
      () => c.run.pipe(Effect.provide(Layer.fresh(EmbeddedGraph.layer({ dataDir: EmbeddedGraph.inMemory })))),
      60_000
    )
  }
})

// -----------------------------------------------------------------------------
// On disk: persistence, the lock, failures at open
// -----------------------------------------------------------------------------

/** A temporary directory, removed with the test's scope. */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "batch-extract-embedded-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** Open the store in a scope of its own; returns it and how to close it. */
const openScoped = (options: EmbeddedGraph.Options) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const store = yield* EmbeddedGraph.make(options).pipe(
      Scope.provide(scope),
      Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause)))
    )
    return { store, close: Scope.close(scope, Exit.void) }
  })

const holder = fileURLToPath(new URL("./support/holdEmbeddedGraph.ts", import.meta.url))

/** Another process holding the store open, until killed. */
const holdInAnotherProcess = (dataDir: string) =>
  Effect.acquireRelease(
    Effect.callback<ChildProcess, Error>((resume) => {
      const child = spawn(process.execPath, ["--conditions=@batch-extract/source", holder, dataDir], {
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      child.stdout!.on("data", (data: Buffer) => {
        output += data.toString()
        if (output.includes("open ")) resume(Effect.succeed(child))
      })
      child.stderr!.on("data", (data: Buffer) => {
        output += data.toString()
      })
      child.on("exit", (code) => resume(Effect.fail(new Error(`the holder exited (${code}): ${output}`))))
    }),
    (child) =>
      Effect.callback<void>((resume) => {
        if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
        child.on("exit", () => resume(Effect.void))
        child.kill("SIGKILL")
      })
  )

const openFailure = (options: EmbeddedGraph.Options) => Effect.flip(Effect.scoped(EmbeddedGraph.make(options)))

describe("EmbeddedGraph (on disk)", () => {
  it.live("keeps the graph and the vectors across a close and a reopen; one opener at a time", () =>
    Effect.gen(function*() {
      const dataDir = join(yield* tempDir, "store")
      const lockFile = join(dataDir, EmbeddedGraph.lockFileName)
      const graph = buildGraph([fixture, c1])
      const first = yield* openScoped({ dataDir })
      yield* GraphStore.write(graph, { batchSize: 100 }).pipe(
        Effect.provideService(GraphStore.GraphStore, first.store.graph)
      )
      yield* first.store.vectors.createIndex("chunk", { dimensions: 3, model: "m" })
      yield* first.store.vectors.upsert("chunk", [row("a", [1, 0, 0]), row("b", [0, 1, 0])])
      assert.deepStrictEqual(JSON.parse(readFileSync(lockFile, "utf8")), { pid: process.pid, host: hostname() })

      // A second open in this process fails while the first is open.
      const again = yield* openFailure({ dataDir })
      assert.strictEqual(again.operation, "EmbeddedGraph.open")
      assert.include(again.message, `is already open in this process (pid ${process.pid})`)
      yield* first.close
      assert.isFalse(existsSync(lockFile))

      const second = yield* openScoped({ dataDir })
      assert.deepStrictEqual(yield* second.store.graph.counts, GraphModel.counts(graph))
      assert.deepStrictEqual(yield* second.store.vectors.describeIndex("chunk"), { dimensions: 3, model: "m" })
      assert.strictEqual(yield* second.store.vectors.count("chunk"), 2)
      assert.deepStrictEqual((yield* second.store.vectors.nearest("chunk", [0, 1, 0], 1)).map((m) => m.id), ["b"])
      // Labels and indexes survive too: a write after the reopen upserts into them.
      yield* GraphStore.write(graph).pipe(Effect.provideService(GraphStore.GraphStore, second.store.graph))
      assert.deepStrictEqual(yield* second.store.graph.counts, GraphModel.counts(graph))
      yield* second.close
    }))

  it.live("searches exactly after a reopen with the HNSW index deferred; the next finishWrites builds it", () =>
    Effect.gen(function*() {
      const dataDir = join(yield* tempDir, "store")
      const memory = yield* VectorStore.makeMemory
      const vectors = randomVectors(90, 8, 21)
      const rows = vectors.map((v, i) => row(`v${String(i).padStart(2, "0")}`, v))
      const cases = [[randomVectors(1, 8, 3)[0]!, 5], [vectors[40]!, 90]] as const
      yield* memory.createIndex("chunk", { dimensions: 8, model: "m" })
      yield* memory.upsert("chunk", rows)

      // A build that stops between its writes and finishWrites (as a crash would).
      const first = yield* openScoped({ dataDir })
      yield* first.store.vectors.createIndex("chunk", { dimensions: 8, model: "m" })
      yield* first.store.vectors.upsert("chunk", rows.slice(0, 60))
      yield* first.store.vectors.upsert("chunk", rows.slice(60))
      assert.deepStrictEqual(yield* hnswIndexes(first.store, "chunk"), [])
      yield* first.close

      const second = yield* openScoped({ dataDir })
      assert.deepStrictEqual(yield* hnswIndexes(second.store, "chunk"), [])
      yield* sameNearest(second.store.vectors, memory, "chunk", cases)
      // Writes after the reopen go in without it too.
      yield* second.store.vectors.upsert("chunk", [rows[0]!])
      assert.deepStrictEqual(yield* hnswIndexes(second.store, "chunk"), [])
      yield* second.store.vectors.finishWrites("chunk")
      assert.deepStrictEqual(yield* hnswIndexes(second.store, "chunk"), ["vec_chunk_hnsw"])
      yield* sameNearest(second.store.vectors, memory, "chunk", cases)
      yield* second.close

      // Built for good: a reopen finds it, and finishWrites has nothing left to do.
      const third = yield* openScoped({ dataDir })
      assert.deepStrictEqual(yield* hnswIndexes(third.store, "chunk"), ["vec_chunk_hnsw"])
      yield* third.store.vectors.finishWrites("chunk")
      yield* sameNearest(third.store.vectors, memory, "chunk", cases)
      yield* third.close
    }))

  it.live("keeps the built-chunk record across a close and a reopen, in batches of any size", () =>
    Effect.gen(function*() {
      const dataDir = join(yield* tempDir, "store")
      // More rows than PostgreSQL's 65,535 bind parameters would allow one per value.
      const chunks = Array.from({ length: 40_000 }, (_, i) => ({ chunkId: `chunk-${i}`, digest: `digest-${i}` }))
      const ids = chunks.map((chunk) => chunk.chunkId)
      const first = yield* openScoped({ dataDir })
      yield* first.store.graph.recordBuilt(chunks)
      yield* first.store.graph.recordBuilt([{ chunkId: "chunk-7", digest: "again" }])
      yield* first.store.graph.removeChunk("chunk-8")
      yield* first.close

      const second = yield* openScoped({ dataDir })
      const found = yield* second.store.graph.builtDigests([...ids, "never"])
      assert.strictEqual(found.size, chunks.length - 1)
      assert.strictEqual(found.get("chunk-0"), "digest-0")
      assert.strictEqual(found.get("chunk-7"), "again")
      assert.isFalse(found.has("chunk-8"))
      assert.strictEqual(found.get("chunk-39999"), "digest-39999")
      assert.deepStrictEqual(yield* second.store.graph.builtDigests([]), new Map())
      // The record is beside the graph, not in it.
      assert.deepStrictEqual(yield* second.store.graph.counts, GraphModel.emptyCounts())
      yield* second.close
    }))

  it.live("refuses a store another process has open, and takes over the lock once that process is gone", () =>
    Effect.gen(function*() {
      const dataDir = join(yield* tempDir, "store")
      const lockFile = join(dataDir, EmbeddedGraph.lockFileName)
      const scope = yield* Scope.make()
      const child = yield* holdInAnotherProcess(dataDir).pipe(Scope.provide(scope))
      const refused = yield* openFailure({ dataDir })
      assert.strictEqual(refused.operation, "EmbeddedGraph.open")
      assert.include(refused.message, `is open in another process (pid ${child.pid});`, refused.message)
      yield* Scope.close(scope, Exit.void) // SIGKILL: the lock file stays behind
      assert.deepStrictEqual(JSON.parse(readFileSync(lockFile, "utf8")).pid, child.pid)

      const reopened = yield* openScoped({ dataDir })
      assert.deepStrictEqual(JSON.parse(readFileSync(lockFile, "utf8")).pid, process.pid)
      yield* reopened.close
      assert.isFalse(existsSync(lockFile))

      // A lock naming a dead process in this host is stale, whatever its pid.
      const dead = spawnSync(process.execPath, ["-e", ""]).pid
      writeFileSync(lockFile, JSON.stringify({ pid: dead, host: hostname() }))
      yield* (yield* openScoped({ dataDir })).close
      assert.isFalse(existsSync(lockFile))
    }))

  it.live("fails at open with a typed error naming the directory", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = join(dir, "a-file")
      writeFileSync(file, "not a directory")
      const onFile = yield* openFailure({ dataDir: file })
      assert.strictEqual(onFile._tag, "GraphStoreError")
      assert.strictEqual(onFile.operation, "EmbeddedGraph.open")
      assert.isFalse(onFile.retryable)
      assert.include(onFile.message, file)
      assert.include(onFile.message, "is a file")

      const under = yield* openFailure({ dataDir: join(file, "store") })
      assert.include(under.message, join(file, "store"))

      const notAStore = join(dir, "documents")
      mkdirSync(notAStore)
      writeFileSync(join(notAStore, "notes.txt"), "mine")
      const refused = yield* openFailure({ dataDir: notAStore })
      assert.include(refused.message, notAStore)
      assert.include(refused.message, "holds no database")
      assert.deepStrictEqual(readFileSync(join(notAStore, "notes.txt"), "utf8"), "mine")

      const damaged = join(dir, "damaged")
      mkdirSync(damaged)
      writeFileSync(join(damaged, "PG_VERSION"), "garbage\n")
      writeFileSync(join(damaged, "postgresql.conf"), "")
      const broken = yield* openFailure({ dataDir: damaged })
      assert.include(broken.message, `cannot open the embedded store ${damaged}`)
      assert.isFalse(existsSync(join(damaged, EmbeddedGraph.lockFileName)), "the lock is released")

      const badName = yield* openFailure({ dataDir: join(dir, "new"), graphName: "kg" })
      assert.include(badName.message, "invalid graph name \"kg\"")
    }))

  it.effect("parses pglite:// URLs", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* EmbeddedGraph.parseStoreUrl("pglite://out/graph"), "out/graph")
      assert.strictEqual(yield* EmbeddedGraph.parseStoreUrl("pglite:///var/lib/graph"), "/var/lib/graph")
      assert.strictEqual(yield* EmbeddedGraph.parseStoreUrl("pglite:memory"), EmbeddedGraph.inMemory)
      const other = yield* Effect.flip(EmbeddedGraph.parseStoreUrl("neo4j://localhost:7687"))
      assert.strictEqual(other._tag, "InvalidStoreUrl")
      assert.include(other.message, "expected pglite://<dir>")
      assert.include((yield* Effect.flip(EmbeddedGraph.parseStoreUrl("pglite://"))).message, "names no directory")
    }))
})
