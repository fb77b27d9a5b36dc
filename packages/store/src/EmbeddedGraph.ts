/**
 * The embedded graph and vector store: one PGlite database (PostgreSQL compiled to WebAssembly,
 * in this process) holding the lexical graph in Apache AGE and the vector indexes in pgvector.
 * It implements `@batch-extract/core`'s `GraphStore` and `VectorStore` ports, and reads back
 * with openCypher ({@link EmbeddedGraph} `cypher`).
 *
 * **When to use**
 *
 * A build and its queries on one machine with nothing to set up: the store is a directory
 * (`pglite://<dir>`, {@link parseStoreUrl}). Use {@link layer} to provide both ports from one
 * database, or {@link make} for the store itself in a scope.
 *
 * **Details**
 *
 * - Graph writes go into AGE's label tables by SQL, not openCypher (AGE's `MERGE` of an edge is
 *   broken in this 32-bit build, and Cypher writes are about 20× slower): a vertex is a row
 *   `(id graphid, properties agtype)` of `"<graph>"."<Label>"` whose properties hold its id key
 *   (`chunkId`, `entityId`, …, `GraphModel.idKeys`) and its properties; an edge is a row
 *   `(id, start_id, end_id, properties)` of `"<graph>"."<TYPE>"` whose properties hold `edgeId`
 *   (its `GraphEdge.id`, {@link edgeIdKey}) and `value` when it has one. Each label is created
 *   with a unique index on its id property, so one element can never be written twice (BUILD.md
 *   §9.11). Each port call is one transaction, with multi-row statements (one per label).
 * - Which chunks contributed each element is kept beside the graph, one row per element and
 *   chunk, in `public.graph_contributions(graph, kind, label, element_id, chunk_id)`; the graph
 *   carries only the reference's properties (and `edgeId`). `removeChunk` deletes the chunk's rows
 *   there, then the elements left with none: edges first, then nodes with every edge attached to
 *   them (AGE's `DETACH DELETE` would leave those edges dangling).
 * - Which chunks were built, and from what digest, is the side table
 *   `public.graph_built_chunks(graph, chunk_id, digest)` (`recordBuilt` upserts it, `builtDigests`
 *   reads it, `removeChunk` deletes the chunk's row in the same transaction as its elements).
 * - A vector index `name` is the table `public."vec_<name>"(id, digest, metadata, embedding)`,
 *   listed in `public.vector_indexes(name, dimensions, model)`, with an HNSW index for cosine
 *   distance, `vec_<name>_hnsw` (up to 2000 dimensions; wider indexes are searched exhaustively).
 * - The HNSW index is deferred during large writes: inserting a 1,024-dimension row into it costs
 *   about 10× a plain insert, and building it once at the end about 2× (`bench/vectorWrites.ts`).
 *   An `upsert` into a table holding fewer rows than 4× its batch drops the HNSW index (in the
 *   same transaction as its rows; a first build's first batch finds the table empty), later
 *   upserts write without it, and `finishWrites` builds it again (`CREATE INDEX IF NOT EXISTS`,
 *   with `maintenance_work_mem` at 256 MB). While it is missing, `nearest` scans the table and
 *   is exact. A store opened with an HNSW index missing (a run of writes that never reached
 *   `finishWrites`) treats it as deferred: the next `finishWrites` builds it.
 *
 * **Gotchas**
 *
 * - One opener per directory: a lock file ({@link lockFileName}, holding the process id) refuses
 *   a second open, in this process or another, until the first is released; a lock left by a
 *   process that is gone is taken over. PGlite itself would let two processes open the directory
 *   and lose writes.
 * - Opening takes seconds (a new directory runs `initdb`: 5 to 9 s; a reopen 1 to 2 s) and the
 *   database lives in this process's memory (300 to 600 MB).
 * - Look nodes up by id with `WHERE n.chunkId = $id` (the unique index); a pattern
 *   `(n:__Chunk__ {chunkId: $id})` scans the label's table (there is no GIN index: it would make
 *   writes about 3× slower).
 * - `nearest` uses the HNSW index: approximate on large indexes, exact on small ones; ties are
 *   broken by id as the port says. Between a large `upsert` and `finishWrites` it scans the
 *   table instead (exact, slower: about 90 ms for 7,631 rows of 1,024 dimensions, against 16 ms). It
 *   never builds the index itself: a search would wait for the build (a minute for such a table).
 * - Call `finishWrites` after writing an index's rows, or its searches stay exhaustive.
 * - PGlite runs in this process: while a query runs, nothing else does (timers, progress
 *   drawing). Every query or transaction the store runs is followed by a yield to other fibers
 *   (`runQuery`), so callers need not yield themselves between calls; one large statement
 *   still holds the event loop for as long as it runs.
 *
 * @since 0.4.0
 */
import { GraphModel, GraphStore, VectorStore } from "@batch-extract/core"
import type { PGlite, Transaction } from "@electric-sql/pglite"
import { Array as Arr, Context, Data, Effect, Layer } from "effect"
import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs"
import { hostname } from "node:os"
import { join, resolve } from "node:path"
import { parseAgtype, returnColumns } from "./internal/agtype.ts"
import * as DirectoryLock from "./internal/directoryLock.ts"

// -----------------------------------------------------------------------------
// Options, URL
// -----------------------------------------------------------------------------

/**
 * Where the store lives.
 *
 * @since 0.4.0
 */
export interface Options {
  /** The database directory (created when missing), or {@link inMemory} for a throwaway database. */
  readonly dataDir: string
  /**
   * The AGE graph's name: at least 3 characters, letters, digits and `_`, not starting with a
   * digit. Default {@link defaultGraphName}.
   */
  readonly graphName?: string | undefined
}

/**
 * The `dataDir` of a database in memory, gone when the store is released (tests).
 *
 * @since 0.4.0
 */
export const inMemory = "memory://"

/**
 * The graph's name when none is given.
 *
 * @since 0.4.0
 */
export const defaultGraphName = "lexical_graph"

/**
 * The edge property holding a `GraphEdge.id` (edges are upserted and removed by it).
 *
 * @since 0.4.0
 */
export const edgeIdKey = "edgeId"

/**
 * The lock file's name inside the data directory.
 *
 * @since 0.4.0
 */
export const lockFileName = "batch-extract.lock"

/**
 * A store URL that is not `pglite://<dir>` (or `pglite:memory`).
 *
 * @since 0.4.0
 */
export class InvalidStoreUrl extends Data.TaggedError("InvalidStoreUrl")<{
  readonly url: string
  readonly message: string
}> {}

/**
 * The data directory of a store URL: `pglite://<dir>` (the rest of the URL is the path as
 * written, relative or absolute: `pglite://out/graph`, `pglite:///var/graph`), or `pglite:memory`
 * for a database in memory ({@link inMemory}).
 *
 * @since 0.4.0
 */
export const parseStoreUrl = (url: string): Effect.Effect<string, InvalidStoreUrl> =>
  Effect.suspend(() => {
    if (url === "pglite:memory") return Effect.succeed(inMemory)
    const prefix = "pglite://"
    if (url.startsWith(prefix) && url.length > prefix.length) return Effect.succeed(url.slice(prefix.length))
    return Effect.fail(
      new InvalidStoreUrl({
        url,
        message: url.startsWith(prefix)
          ? `the store URL ${url} names no directory (expected pglite://<dir>)`
          : `unsupported store URL ${url}: expected pglite://<dir> (an embedded PGlite store in a directory)`
      })
    )
  })

// -----------------------------------------------------------------------------
// The service
// -----------------------------------------------------------------------------

/**
 * An open embedded store: the two ports on one database, and read-only queries.
 *
 * @since 0.4.0
 */
export class EmbeddedGraph extends Context.Service<EmbeddedGraph, {
  /** The resolved data directory ({@link inMemory} for a database in memory). */
  readonly dataDir: string
  readonly graphName: string
  /** The graph-store port on this database. */
  readonly graph: GraphStore.GraphStore["Service"]
  /** The vector-store port on this database. */
  readonly vectors: VectorStore.VectorStore["Service"]
  /**
   * Run a read-only openCypher query; each row maps the `RETURN` items (their aliases, or their
   * text) to values: maps, lists, scalars, vertices `{id, label, properties}`, edges
   * `{id, label, start_id, end_id, properties}`. Parameters are `$name`s of `params`. Name the
   * columns when the query ends in `RETURN *`.
   *
   * Gotcha: a query that writes fails (the transaction is read-only): write through the ports,
   * which keep the contributor ledger.
   */
  readonly cypher: (
    query: string,
    params?: { readonly [name: string]: unknown },
    options?: { readonly columns?: ReadonlyArray<string> | undefined }
  ) => Effect.Effect<ReadonlyArray<Record<string, unknown>>, GraphStore.GraphStoreError>
  /** Run a read-only SQL query (diagnostics, tests): `agtype` columns arrive as text. */
  readonly query: <A = Record<string, unknown>>(
    sql: string,
    params?: ReadonlyArray<unknown>
  ) => Effect.Effect<ReadonlyArray<A>, GraphStore.GraphStoreError>
}>()("@batch-extract/store/EmbeddedGraph") {}

// -----------------------------------------------------------------------------
// Errors
// -----------------------------------------------------------------------------

/** A driver error's message with its SQLSTATE and detail. */
const describeCause = (cause: unknown): string => {
  if (cause instanceof Error) {
    const error = cause as Error & { readonly code?: unknown; readonly detail?: unknown }
    const code = typeof error.code === "string" ? ` [SQLSTATE ${error.code}]` : ""
    const detail = typeof error.detail === "string" && error.detail !== "" ? ` (${error.detail})` : ""
    return `${error.message || error.name}${code}${detail}`
  }
  return String(cause)
}

/** Serialization failures, deadlocks, lock timeouts, cancels: another attempt may succeed. */
const retryableStates = new Set(["40001", "40P01", "55P03", "57014"])

const isRetryable = (cause: unknown): boolean => {
  const code = (cause as { readonly code?: unknown } | null)?.code
  return typeof code === "string" && retryableStates.has(code)
}

const graphError = (operation: string) => (cause: unknown): GraphStore.GraphStoreError =>
  cause instanceof GraphStore.GraphStoreError ? cause : new GraphStore.GraphStoreError({
    operation,
    message: `${operation} failed: ${describeCause(cause)}`,
    retryable: isRetryable(cause),
    cause
  })

const vectorError = (operation: string) => (cause: unknown): VectorStore.VectorStoreError =>
  new VectorStore.VectorStoreError({
    operation,
    message: `${operation} failed: ${describeCause(cause)}`,
    retryable: isRetryable(cause),
    cause
  })

const openFailure = (dataDir: string, message: string, cause?: unknown) =>
  new GraphStore.GraphStoreError({
    operation: "EmbeddedGraph.open",
    message: `cannot open the embedded store ${dataDir}: ${message}`,
    retryable: false,
    ...(cause === undefined ? {} : { cause })
  })

// -----------------------------------------------------------------------------
// Running queries
// -----------------------------------------------------------------------------

/**
 * Run one query or transaction of the database, then yield to other fibers (whether it
 * succeeded or not): PGlite computes in this thread, so the fibers that waited meanwhile
 * (progress drawing, polling timers) get their turn before the next query. Every query of the
 * store goes through here.
 */
const runQuery = <A, E>(f: () => Promise<A>, onError: (cause: unknown) => E): Effect.Effect<A, E> =>
  Effect.tryPromise({ try: f, catch: onError }).pipe(Effect.ensuring(Effect.yieldNow))

// -----------------------------------------------------------------------------
// SQL text
// -----------------------------------------------------------------------------

/** A name as an SQL identifier (names are validated before they get here). */
const ident = (name: string): string => `"${name.replace(/"/g, "\"\"")}"`

/** A text as an SQL string literal. */
const literal = (text: string): string => `'${text.replace(/'/g, "''")}'`

/** The agtype value of one property of an agtype map column (what the unique indexes are on). */
const propertyOf = (column: string, key: string): string =>
  `ag_catalog.agtype_access_operator(VARIADIC ARRAY[${column}, ${literal(JSON.stringify(key))}::ag_catalog.agtype])`

/** agtype → jsonb (agtype's text is JSON once no vertex/edge is inside). */
const asJsonb = (column: string): string => `${column}::text::jsonb`

const graphNamePattern = /^[A-Za-z_][A-Za-z0-9_]{2,62}$/

const nodeLabelSet: ReadonlySet<string> = new Set(GraphModel.nodeLabels)
const edgeLabelSet: ReadonlySet<string> = new Set(GraphModel.edgeLabels)

const idKeyOf = (label: string): string => GraphModel.idKeys[label as GraphModel.NodeLabel]

// -----------------------------------------------------------------------------
// Opening
// -----------------------------------------------------------------------------

/** A directory PGlite can use: missing, empty, or a store already (it would `initdb` into any other). */
const checkDirectory = (dataDir: string) =>
  Effect.try({
    try: () => {
      if (!existsSync(dataDir)) return
      if (!statSync(dataDir).isDirectory()) {
        throw openFailure(dataDir, "the path is a file, not a directory")
      }
      const entries = readdirSync(dataDir).filter((name) => name !== lockFileName)
      if (entries.length > 0 && !entries.includes("PG_VERSION")) {
        throw openFailure(
          dataDir,
          `the directory is not empty and holds no database (no PG_VERSION; found ${entries.slice(0, 3).join(", ")}${
            entries.length > 3 ? ", …" : ""
          }): give an empty or new directory`
        )
      }
    },
    catch: (cause) =>
      cause instanceof GraphStore.GraphStoreError ? cause : openFailure(dataDir, describeCause(cause), cause)
  })

const lock = (dataDir: string) => {
  const file = join(dataDir, lockFileName)
  return Effect.acquireRelease(
    Effect.try({
      try: () => {
        mkdirSync(dataDir, { recursive: true })
        const attempt = DirectoryLock.acquire(file)
        if (attempt._tag === "Held") {
          const { holder } = attempt
          throw new GraphStore.GraphStoreError({
            operation: "EmbeddedGraph.open",
            message: attempt.thisProcess
              ? `the embedded store ${dataDir} is already open in this process (pid ${holder.pid}); share one instance`
              : `the embedded store ${dataDir} is open in another process (pid ${holder.pid}${
                holder.host === hostname() ? "" : ` on ${holder.host}`
              }); wait for it to end or stop it (a lock left by a process that is gone is taken over)`,
            retryable: false
          })
        }
        return file
      },
      catch: (cause) =>
        cause instanceof GraphStore.GraphStoreError ? cause : openFailure(dataDir, describeCause(cause), cause)
    }),
    (file) => Effect.sync(() => DirectoryLock.release(file))
  )
}

const openDatabase = (dataDir: string) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      // Loaded on the first open: importing this package (the run state's drivers) never loads PGlite.
      try: async () => {
        const [{ PGlite }, { age }, { vector }] = await Promise.all([
          import("@electric-sql/pglite"),
          import("@electric-sql/pglite-age"),
          import("@electric-sql/pglite-pgvector")
        ])
        return PGlite.create({ dataDir, extensions: { age, vector } })
      },
      catch: (cause) =>
        openFailure(
          dataDir,
          `${describeCause(cause)} (not a PGlite database of this version, or damaged)`,
          cause
        )
    }),
    (db) => Effect.ignore(Effect.tryPromise(() => db.close()))
  )

interface Setup {
  readonly graphOid: number
  readonly labels: ReadonlyArray<string>
  readonly indexes: ReadonlyArray<{ readonly name: string; readonly dimensions: number; readonly model: string }>
  /** The names of the HNSW indexes of vector tables that exist (`vec_<name>_hnsw`). */
  readonly hnswIndexes: ReadonlyArray<string>
}

const setUp = async (db: PGlite, graphName: string): Promise<Setup> => {
  await db.exec("CREATE EXTENSION IF NOT EXISTS age; CREATE EXTENSION IF NOT EXISTS vector;")
  // Needed on every open (CREATE EXTENSION loads it only the first time); `public` first, so
  // unqualified tables are not created in ag_catalog.
  await db.exec("LOAD 'age'; SET search_path = public, ag_catalog;")
  return db.transaction(async (tx) => {
    const graphOid = async () =>
      (await tx.query<{ oid: number }>("SELECT graphid::int8 AS oid FROM ag_catalog.ag_graph WHERE name = $1", [
        graphName
      ])).rows[0]?.oid
    if ((await graphOid()) === undefined) await tx.query("SELECT ag_catalog.create_graph($1)", [graphName])
    const oid = await graphOid()
    if (oid === undefined) throw new Error(`the graph ${graphName} was not created`)
    await tx.exec(`
      CREATE TABLE IF NOT EXISTS public.graph_contributions (
        graph text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('node', 'edge')),
        label text NOT NULL,
        element_id text NOT NULL,
        chunk_id text NOT NULL,
        PRIMARY KEY (graph, element_id, kind, label, chunk_id)
      );
      CREATE INDEX IF NOT EXISTS graph_contributions_by_chunk ON public.graph_contributions (graph, chunk_id);
      CREATE TABLE IF NOT EXISTS public.graph_built_chunks (
        graph text NOT NULL,
        chunk_id text NOT NULL,
        digest text NOT NULL,
        PRIMARY KEY (graph, chunk_id)
      );
      CREATE TABLE IF NOT EXISTS public.vector_indexes (
        name text PRIMARY KEY,
        dimensions integer NOT NULL CHECK (dimensions > 0),
        model text NOT NULL
      );
    `)
    const labels = await tx.query<{ name: string }>(
      "SELECT name::text AS name FROM ag_catalog.ag_label WHERE graph = $1",
      [oid]
    )
    const indexes = await tx.query<{ name: string; dimensions: number; model: string }>(
      "SELECT name, dimensions, model FROM public.vector_indexes"
    )
    const hnsw = await tx.query<{ indexname: string }>(
      "SELECT indexname::text AS indexname FROM pg_catalog.pg_indexes WHERE schemaname = 'public'"
    )
    return {
      graphOid: oid,
      labels: labels.rows.map((row) => row.name),
      indexes: indexes.rows,
      hnswIndexes: hnsw.rows.map((row) => row.indexname)
    }
  })
}

/**
 * Open (or create) the store in `options.dataDir`: take the directory's lock, open the database,
 * load AGE and pgvector, create the graph and the side tables when missing. Closed, and the lock
 * released, when the scope closes.
 *
 * Fails with `GraphStoreError` (operation `"EmbeddedGraph.open"`, not retryable) naming the
 * directory when it is a file, not empty and not a store, damaged, unwritable, or open elsewhere.
 *
 * @since 0.4.0
 */
export const make = Effect.fn("EmbeddedGraph.make")(function*(options: Options) {
  const graphName = options.graphName ?? defaultGraphName
  const inMemoryStore = options.dataDir === inMemory
  const dataDir = inMemoryStore ? inMemory : resolve(options.dataDir)
  if (!graphNamePattern.test(graphName)) {
    return yield* openFailure(
      dataDir,
      `invalid graph name "${graphName}": at least 3 characters, letters, digits and _, not starting with a digit`
    )
  }
  if (!inMemoryStore) {
    yield* checkDirectory(dataDir)
    yield* lock(dataDir)
  }
  const db = yield* openDatabase(dataDir)
  const setup = yield* runQuery(
    () => setUp(db, graphName),
    (cause) => openFailure(dataDir, describeCause(cause), cause)
  )
  const readOnly = <A>(operation: string, sql: string, params: ReadonlyArray<unknown>) =>
    runQuery(
      () =>
        db.transaction(async (tx) => {
          await tx.exec("SET TRANSACTION READ ONLY")
          const result = await tx.query<A>(sql, [...params])
          await tx.rollback()
          return result.rows
        }),
      graphError(operation)
    )
  return EmbeddedGraph.of({
    dataDir,
    graphName,
    graph: makeGraphStore(db, graphName, setup),
    vectors: makeVectorStore(db, setup),
    cypher: (query, params = {}, options = {}) =>
      Effect.suspend(() => {
        const operation = "EmbeddedGraph.cypher"
        const columns = options.columns ?? returnColumns(query)
        if (columns === undefined || columns.length === 0) {
          return Effect.fail(
            new GraphStore.GraphStoreError({
              operation,
              message: "cannot tell the query's columns (no RETURN, or RETURN *): pass options.columns",
              retryable: false
            })
          )
        }
        let tag = "$cypher$"
        for (let n = 0; query.includes(tag); n++) tag = `$cypher${n}$`
        const sql = `SELECT * FROM ag_catalog.cypher(${literal(graphName)}, ${tag}${query}${tag}, $1) AS (${
          columns.map((_, i) => `c${i} ag_catalog.agtype`).join(", ")
        })`
        return Effect.map(
          readOnly<Record<string, unknown>>(operation, sql, [JSON.stringify(params)]),
          (rows) =>
            rows.map((row) => {
              const out: Record<string, unknown> = {}
              columns.forEach((name, i) => {
                out[name] = parseAgtype(row[`c${i}`])
              })
              return out
            })
        )
      }),
    query: <A = Record<string, unknown>>(sql: string, params: ReadonlyArray<unknown> = []) =>
      readOnly<A>("EmbeddedGraph.query", sql, params)
  })
})

/**
 * The store as a Layer providing `GraphStore`, `VectorStore` and {@link EmbeddedGraph}, all on
 * one database opened when the Layer is built and closed when it is released.
 *
 * @since 0.4.0
 */
export const layer = (
  options: Options
): Layer.Layer<EmbeddedGraph | GraphStore.GraphStore | VectorStore.VectorStore, GraphStore.GraphStoreError> =>
  Layer.effectContext(Effect.map(make(options), (store) =>
    Context.make(EmbeddedGraph, store).pipe(
      Context.add(GraphStore.GraphStore, store.graph),
      Context.add(VectorStore.VectorStore, store.vectors)
    )))

// -----------------------------------------------------------------------------
// Graph store
// -----------------------------------------------------------------------------

type Kind = "node" | "edge"

/** Rows of the contributor ledger, as columns (for `unnest`). */
class Ledger {
  readonly kinds: Array<Kind> = []
  readonly labels: Array<string> = []
  readonly ids: Array<string> = []
  readonly chunks: Array<string> = []
  add(kind: Kind, label: string, id: string, chunkIds: ReadonlyArray<string>) {
    for (const chunk of chunkIds) {
      this.kinds.push(kind)
      this.labels.push(label)
      this.ids.push(id)
      this.chunks.push(chunk)
    }
  }
}

/** Positional parameters of one statement, numbered as they are added. */
class Params {
  readonly values: Array<unknown> = []
  add(value: unknown): string {
    this.values.push(value)
    return `$${this.values.length}`
  }
}

/** Statements run as one: data-modifying CTEs `w0`, `w1`, … then the main statement. */
const withStatements = (statements: ReadonlyArray<string>, main: string): string =>
  statements.length === 0
    ? main
    : `WITH ${statements.map((statement, i) => `w${i} AS (\n${statement}\n)`).join(",\n")}\n${main}`

/** A node of a batch, its duplicates in the batch merged. */
type MergedNode = Pick<GraphModel.GraphNode, "label" | "id" | "properties" | "chunkIds">

const makeGraphStore = (db: PGlite, graphName: string, setup: Setup): GraphStore.GraphStore["Service"] => {
  const graph = ident(graphName)
  const table = (label: string) => `${graph}.${ident(label)}`
  /** Labels known to exist (AGE never drops one here); added to after a commit. */
  const known = new Set(setup.labels)

  // The unique index on the id property also serves openCypher lookups `WHERE n.chunkId = $id`
  // (AGE compiles them to this expression). No GIN index on the properties: it would serve
  // `{chunkId: $id}` patterns but makes vertex writes about 3× slower.
  const labelDdl = (label: string, kind: Kind): string =>
    `CREATE UNIQUE INDEX ${ident(`${label}_id_unique`)} ON ${table(label)} (${
      propertyOf("properties", kind === "node" ? idKeyOf(label) : edgeIdKey)
    })`

  /** Create the labels not there yet (with their indexes); returns those created. */
  const ensureLabels = async (
    tx: Transaction,
    wanted: ReadonlyMap<string, Kind>
  ): Promise<Array<string>> => {
    const missing = [...wanted.keys()].filter((label) => !known.has(label))
    if (missing.length === 0) return []
    const existing = new Set(
      (await tx.query<{ name: string }>(
        "SELECT name::text AS name FROM ag_catalog.ag_label WHERE graph = $1 AND name::text = ANY($2::text[])",
        [setup.graphOid, missing]
      )).rows.map((row) => row.name)
    )
    for (const label of missing) {
      if (existing.has(label)) continue
      const kind = wanted.get(label)!
      await tx.query(`SELECT ag_catalog.${kind === "node" ? "create_vlabel" : "create_elabel"}($1, $2)`, [
        graphName,
        label
      ])
      await tx.exec(labelDdl(label, kind))
    }
    return missing
  }

  /** One transaction; labels it created become known once it commits. */
  const transact = <A>(
    operation: string,
    body: (tx: Transaction, ensure: (wanted: ReadonlyMap<string, Kind>) => Promise<void>) => Promise<A>
  ) =>
    runQuery(async () => {
      const created: Array<string> = []
      const result = await db.transaction((tx) =>
        body(tx, async (wanted) => {
          created.push(...await ensureLabels(tx, wanted))
        })
      )
      for (const label of created) known.add(label)
      return result
    }, graphError(operation))

  const invalid = (operation: string, message: string) =>
    Effect.fail(new GraphStore.GraphStoreError({ operation, message, retryable: false }))

  const ledgerInsert = (params: Params, ledger: Ledger) =>
    `INSERT INTO public.graph_contributions (graph, kind, label, element_id, chunk_id)
      SELECT ${params.add(graphName)}, * FROM unnest(${params.add(ledger.kinds)}::text[], ${
      params.add(ledger.labels)
    }::text[], ${params.add(ledger.ids)}::text[], ${params.add(ledger.chunks)}::text[])
      ON CONFLICT DO NOTHING`

  // Per key overwrite: the stored map concatenated with the new one; an unchanged node is not
  // rewritten (a second write of a graph updates nothing).
  const nodeUpsert = (params: Params, label: string, nodes: ReadonlyArray<MergedNode>) => {
    const key = idKeyOf(label)
    const target = table(label)
    return `INSERT INTO ${target} (properties)
      SELECT (r.properties || jsonb_build_object(${literal(key)}, r.id))::text::ag_catalog.agtype
      FROM unnest(${params.add(nodes.map((node) => node.id))}::text[], ${
      params.add(nodes.map((node) => JSON.stringify(node.properties)))
    }::text[]::jsonb[]) AS r(id, properties)
      ON CONFLICT ((${propertyOf("properties", key)}))
      DO UPDATE SET properties = (${asJsonb(`${target}.properties`)} || ${
      asJsonb("EXCLUDED.properties")
    })::text::ag_catalog.agtype
      WHERE NOT (${asJsonb(`${target}.properties`)} @> ${asJsonb("EXCLUDED.properties")})`
  }

  // An endpoint created bare (id only) when missing, returning what it created.
  const bareInsert = (params: Params, label: string, ids: ReadonlyArray<string>) => {
    const key = idKeyOf(label)
    return `INSERT INTO ${table(label)} (properties)
      SELECT jsonb_build_object(${literal(key)}, id)::text::ag_catalog.agtype
      FROM unnest(${params.add(ids)}::text[]) AS id
      ON CONFLICT ((${propertyOf("properties", key)})) DO NOTHING
      RETURNING ${literal(label)}::text AS label, ${asJsonb("properties")} ->> ${literal(key)} AS id`
  }

  // Endpoints looked up row by row through their unique index (PGlite never runs ANALYZE, so a
  // join could be planned as scans of whole label tables, once per batch).
  const edgeInsert = (params: Params, edges: ReadonlyArray<GraphModel.GraphEdge>) => {
    const { label, from, to } = { label: edges[0]!.label, from: edges[0]!.from.label, to: edges[0]!.to.label }
    return `INSERT INTO ${table(label)} (start_id, end_id, properties)
      SELECT start_id, end_id, properties FROM (
        SELECT
          (SELECT a.id FROM ${table(from)} a
           WHERE ${propertyOf("a.properties", idKeyOf(from))} = r.from_id::ag_catalog.agtype) AS start_id,
          (SELECT b.id FROM ${table(to)} b
           WHERE ${propertyOf("b.properties", idKeyOf(to))} = r.to_id::ag_catalog.agtype) AS end_id,
          r.properties::ag_catalog.agtype AS properties
        FROM unnest(${params.add(edges.map((edge) => JSON.stringify(edge.from.id)))}::text[], ${
      params.add(edges.map((edge) => JSON.stringify(edge.to.id)))
    }::text[], ${
      params.add(edges.map((edge) =>
        JSON.stringify(
          edge.value === undefined ? { [edgeIdKey]: edge.id } : { [edgeIdKey]: edge.id, value: edge.value }
        )
      ))
    }::text[]) AS r(from_id, to_id, properties)
        OFFSET 0
      ) e
      WHERE start_id IS NOT NULL AND end_id IS NOT NULL
      ON CONFLICT ((${propertyOf("properties", edgeIdKey)})) DO NOTHING`
  }

  // Orphan edges, one array of ids per label, in one statement.
  const deleteEdgesSql = (labels: ReadonlyArray<string>) =>
    `WITH ${
      labels.map((label, i) =>
        `d${i} AS (
        DELETE FROM ${table(label)}
        WHERE ${propertyOf("properties", edgeIdKey)} = ANY($${i + 1}::text[]::ag_catalog.agtype[])
        RETURNING 1
      )`
      ).join(",\n      ")
    }
      SELECT (${labels.map((_, i) => `(SELECT count(*) FROM d${i})`).join(" + ")})::int AS edges`

  // Orphan nodes (one array of ids per label) with every edge attached to them, and those edges'
  // ledger rows. AGE's DETACH DELETE would leave the edges behind.
  const deleteNodesSql = (labels: ReadonlyArray<string>) =>
    `WITH doomed AS MATERIALIZED (
        ${
      labels.map((label, i) =>
        `SELECT v.id, ${literal(label)} AS label, ${asJsonb("v.properties")} ->> ${
          literal(idKeyOf(label))
        } AS element_id
        FROM ${table(label)} v
        WHERE ${propertyOf("v.properties", idKeyOf(label))} = ANY($${i + 2}::text[]::ag_catalog.agtype[])`
      ).join("\n        UNION ALL\n        ")
    }
      ),
      detached AS (
        DELETE FROM ${graph}._ag_label_edge e
        WHERE e.start_id = ANY(ARRAY(SELECT id FROM doomed)) OR e.end_id = ANY(ARRAY(SELECT id FROM doomed))
        RETURNING ${asJsonb("e.properties")} ->> ${literal(edgeIdKey)} AS edge_id
      ),
      forgotten AS (
        DELETE FROM public.graph_contributions c
        WHERE c.graph = $1 AND c.kind = 'edge' AND c.element_id = ANY(ARRAY(SELECT edge_id FROM detached))
      ),
      removed AS (
        DELETE FROM ${graph}._ag_label_vertex v WHERE v.id = ANY(ARRAY(SELECT id FROM doomed))
      )
      SELECT (SELECT count(*) FROM detached)::int AS edges,
        ARRAY(SELECT label FROM doomed) AS labels, ARRAY(SELECT element_id FROM doomed) AS ids`

  // One statement per call: an upsert per label (data-modifying CTEs), then the ledger rows.
  const upsertNodes = (nodes: ReadonlyArray<GraphModel.GraphNode>) =>
    Effect.suspend(() => {
      const operation = "GraphStore.upsertNodes"
      if (nodes.length === 0) return Effect.void
      const merged = new Map<string, MergedNode>()
      for (const node of nodes) {
        if (!nodeLabelSet.has(node.label)) return invalid(operation, `unknown node label "${node.label}"`)
        const key = `${node.label}\u0000${node.id}`
        const existing = merged.get(key)
        merged.set(
          key,
          existing === undefined ? node : {
            ...existing,
            properties: { ...existing.properties, ...node.properties },
            chunkIds: GraphModel.uniteChunkIds(existing.chunkIds, node.chunkIds)
          }
        )
      }
      // `Arr.groupBy`'s records keep insertion order here: no label or group key looks like an integer.
      const byLabel = Object.entries(Arr.groupBy(merged.values(), (node) => node.label))
      const ledger = new Ledger()
      for (const node of merged.values()) ledger.add("node", node.label, node.id, node.chunkIds)
      return transact(operation, async (tx, ensure) => {
        await ensure(new Map(byLabel.map(([label]) => [label, "node"])))
        const params = new Params()
        const upserts = byLabel.map(([label, group]) => nodeUpsert(params, label, group))
        await tx.query(withStatements(upserts, ledgerInsert(params, ledger)), params.values)
      })
    })

  // Two statements per call: the missing endpoints (and their ledger rows), then the edges of
  // every label and endpoint labels (data-modifying CTEs) with their ledger rows. The edges need
  // a statement of their own: a statement does not see what its other parts insert.
  const upsertEdges = (edges: ReadonlyArray<GraphModel.GraphEdge>) =>
    Effect.suspend(() => {
      const operation = "GraphStore.upsertEdges"
      if (edges.length === 0) return Effect.void
      const merged = new Map<string, GraphModel.GraphEdge>()
      // Each missing endpoint is created with the chunks of the first edge that names it.
      const endpoints = new Map<string, { label: string; id: string; chunkIds: ReadonlyArray<string> }>()
      for (const edge of edges) {
        if (!edgeLabelSet.has(edge.label)) return invalid(operation, `unknown edge label "${edge.label}"`)
        for (const end of [edge.from, edge.to]) {
          if (!nodeLabelSet.has(end.label)) return invalid(operation, `unknown node label "${end.label}"`)
          const key = `${end.label}\u0000${end.id}`
          if (!endpoints.has(key)) endpoints.set(key, { label: end.label, id: end.id, chunkIds: edge.chunkIds })
        }
        const existing = merged.get(edge.id)
        merged.set(
          edge.id,
          existing === undefined
            ? edge
            : { ...existing, chunkIds: GraphModel.uniteChunkIds(existing.chunkIds, edge.chunkIds) }
        )
      }
      const wanted = new Map<string, Kind>()
      for (const end of endpoints.values()) wanted.set(end.label, "node")
      for (const edge of merged.values()) wanted.set(edge.label, "edge")
      const endpointLedger = new Ledger()
      for (const end of endpoints.values()) endpointLedger.add("node", end.label, end.id, end.chunkIds)
      const edgeLedger = new Ledger()
      for (const edge of merged.values()) edgeLedger.add("edge", edge.label, edge.id, edge.chunkIds)
      return transact(operation, async (tx, ensure) => {
        await ensure(wanted)
        const bare = new Params()
        const inserts = Object.entries(Arr.groupBy(endpoints.values(), (end) => end.label)).map(([label, group]) =>
          bareInsert(bare, label, group.map((end) => end.id))
        )
        // Ledger rows only for the endpoints this statement created.
        await tx.query(
          withStatements(
            inserts,
            `INSERT INTO public.graph_contributions (graph, kind, label, element_id, chunk_id)
            SELECT ${bare.add(graphName)}, 'node', c.label, c.id, l.chunk_id
            FROM (${inserts.map((_, i) => `SELECT label, id FROM w${i}`).join(" UNION ALL ")}) c
            JOIN unnest(${bare.add(endpointLedger.labels)}::text[], ${bare.add(endpointLedger.ids)}::text[], ${
              bare.add(endpointLedger.chunks)
            }::text[]) AS l(label, id, chunk_id) ON l.label = c.label AND l.id = c.id
            ON CONFLICT DO NOTHING`
          ),
          bare.values
        )
        const params = new Params()
        const groups = Arr.groupBy(merged.values(), (edge) =>
          `${edge.label}\u0000${edge.from.label}\u0000${edge.to.label}`)
        const upserts = Object.values(groups).map((group) =>
          edgeInsert(params, group)
        )
        await tx.query(withStatements(upserts, ledgerInsert(params, edgeLedger)), params.values)
      })
    })

  const removeChunk = (chunkId: string) =>
    transact("GraphStore.removeChunk", async (tx) => {
      // The chunk's built digest is forgotten in the same statement (a CTE runs unreferenced).
      const orphans = await tx.query<{ kind: Kind; label: string; element_id: string }>(
        `WITH forgotten AS (
           DELETE FROM public.graph_built_chunks WHERE graph = $1 AND chunk_id = $2
         ),
         gone AS (
           DELETE FROM public.graph_contributions WHERE graph = $1 AND chunk_id = $2
           RETURNING kind, label, element_id
         )
         SELECT g.kind, g.label, g.element_id FROM gone g
         WHERE NOT EXISTS (
           SELECT 1 FROM public.graph_contributions c
           WHERE c.graph = $1 AND c.element_id = g.element_id AND c.kind = g.kind AND c.label = g.label
             AND c.chunk_id <> $2
         )`,
        [graphName, chunkId]
      )
      let edges = 0
      const deletedNodes: Array<GraphModel.NodeRef> = []
      // Edges first, so the node delete below counts only edges other chunks contributed.
      const orphanEdges = Object.entries(Arr.groupBy(
        orphans.rows.filter((row) => row.kind === "edge" && known.has(row.label) && edgeLabelSet.has(row.label)),
        (row) => row.label
      ))
      if (orphanEdges.length > 0) {
        const result = await tx.query<{ edges: number }>(
          deleteEdgesSql(orphanEdges.map(([label]) => label)),
          orphanEdges.map(([, rows]) => rows.map((row) => JSON.stringify(row.element_id)))
        )
        edges += result.rows[0]?.edges ?? 0
      }
      const orphanNodes = Object.entries(Arr.groupBy(
        orphans.rows.filter((row) => row.kind === "node" && known.has(row.label) && nodeLabelSet.has(row.label)),
        (row) => row.label
      ))
      if (orphanNodes.length > 0) {
        const result = await tx.query<{ edges: number; labels: Array<string>; ids: Array<string> }>(
          deleteNodesSql(orphanNodes.map(([label]) => label)),
          [graphName, ...orphanNodes.map(([, rows]) => rows.map((row) => JSON.stringify(row.element_id)))]
        )
        const deleted = result.rows[0]
        edges += deleted?.edges ?? 0
        deleted?.ids.forEach((id, i) => deletedNodes.push({ label: deleted.labels[i] as GraphModel.NodeLabel, id }))
      }
      return { nodes: deletedNodes.length, edges, deletedNodes }
    })

  const counts = transact("GraphStore.counts", async (tx) => {
    const result = GraphModel.emptyCounts()
    const rows = await tx.query<{ kind: Kind; label: string; count: number }>(
      `SELECT 'node' AS kind, l.name::text AS label, t.count FROM (
         SELECT tableoid, count(*)::int AS count FROM ${graph}._ag_label_vertex GROUP BY tableoid
       ) t JOIN ag_catalog.ag_label l ON l.relation = t.tableoid::regclass
       UNION ALL
       SELECT 'edge', l.name::text, t.count FROM (
         SELECT tableoid, count(*)::int AS count FROM ${graph}._ag_label_edge GROUP BY tableoid
       ) t JOIN ag_catalog.ag_label l ON l.relation = t.tableoid::regclass`
    )
    for (const row of rows.rows) {
      if (row.kind === "node" && nodeLabelSet.has(row.label)) {
        result.nodes[row.label as GraphModel.NodeLabel] = row.count
      }
      if (row.kind === "edge" && edgeLabelSet.has(row.label)) {
        result.edges[row.label as GraphModel.EdgeLabel] = row.count
      }
    }
    return result as GraphModel.Counts
  })

  const builtDigests = (chunkIds: ReadonlyArray<string>) =>
    Effect.suspend(() => {
      if (chunkIds.length === 0) return Effect.succeed(new Map<string, string>())
      return Effect.map(
        runQuery(
          () =>
            db.query<{ chunk_id: string; digest: string }>(
              `SELECT chunk_id, digest FROM public.graph_built_chunks WHERE graph = $1 AND chunk_id = ANY($2::text[])`,
              [graphName, [...chunkIds]]
            ),
          graphError("GraphStore.builtDigests")
        ),
        (result) => inOrderAsked(chunkIds, result.rows.map((row) => [row.chunk_id, row.digest]))
      )
    })

  // One statement whatever the batch's size (two arrays); a chunk listed twice keeps its last
  // digest (ON CONFLICT DO UPDATE refuses a row twice in one statement).
  const recordBuilt = (chunks: ReadonlyArray<{ readonly chunkId: string; readonly digest: string }>) =>
    Effect.suspend(() => {
      if (chunks.length === 0) return Effect.void
      const last = new Map(chunks.map((chunk) => [chunk.chunkId, chunk.digest]))
      return runQuery(
        () =>
          db.query(
            `INSERT INTO public.graph_built_chunks (graph, chunk_id, digest)
             SELECT $1, * FROM unnest($2::text[], $3::text[])
             ON CONFLICT (graph, chunk_id) DO UPDATE SET digest = EXCLUDED.digest`,
            [graphName, [...last.keys()], [...last.values()]]
          ),
        graphError("GraphStore.recordBuilt")
      ).pipe(Effect.asVoid)
    })

  return GraphStore.GraphStore.of({ upsertNodes, upsertEdges, removeChunk, builtDigests, recordBuilt, counts })
}

// -----------------------------------------------------------------------------
// Vector store
// -----------------------------------------------------------------------------

/** Index names become table names: lower-case letters, digits and `_`, starting with a letter. */
const indexNamePattern = /^[a-z][a-z0-9_]{0,49}$/

/** Digests by id, in the order the ids were asked (those without one left out). */
const inOrderAsked = (
  ids: ReadonlyArray<string>,
  rows: ReadonlyArray<readonly [string, string]>
): Map<string, string> => {
  const byId = new Map(rows)
  const found = new Map<string, string>()
  for (const id of ids) {
    const digest = byId.get(id)
    if (digest !== undefined) found.set(id, digest)
  }
  return found
}

/** pgvector's limits: columns of at most 16,000 dimensions, HNSW indexes of at most 2,000. */
const maxDimensions = 16_000
const maxIndexedDimensions = 2_000

/** The largest `ef_search` pgvector accepts. */
const maxEfSearch = 1_000

/**
 * An upsert into a table holding fewer rows than this many times its batch drops the HNSW index
 * (until `finishWrites`). Measured on 1,024 dimensions (`bench/vectorWrites.ts`): a row costs
 * about 35 ms to insert into the HNSW index, 3.5 ms without it, and building the index at the end
 * about 7 ms a row of the whole table; deferring pays once the rows written reach about 30 % of the
 * rows already there, which one batch alone does below about 3.5× its size. So a build into a new
 * or small index defers (its first batch finds the table empty), and a few changed rows of a
 * large index go straight into its HNSW index.
 */
const deferBelowBatches = 4

/**
 * `maintenance_work_mem` for building an HNSW index: once the graph outgrows it, the build runs
 * about 2× slower. PostgreSQL's 64 MB default holds 7,631 rows of 1,024 dimensions (52 s at 64 or
 * 256 MB), not 20,000 (286 s at 64 MB, 136 s at 256 MB).
 */
const indexBuildMemory = "256MB"

const vectorText = (values: ReadonlyArray<number>): string => JSON.stringify(values)

const makeVectorStore = (db: PGlite, setup: Setup): VectorStore.VectorStore["Service"] => {
  /** The registry, in memory: this process is the only opener (the lock), so it stays true. */
  const specs = new Map<string, VectorStore.IndexSpec>(
    setup.indexes.map((row) => [row.name, { dimensions: row.dimensions, model: row.model }])
  )
  const tableOf = (name: string) => `public.${ident(`vec_${name}`)}`
  const hnswOf = (name: string) => ident(`vec_${name}_hnsw`)
  const createHnsw = (name: string) =>
    `CREATE INDEX IF NOT EXISTS ${hnswOf(name)} ON ${tableOf(name)} USING hnsw (embedding vector_cosine_ops)`
  /**
   * The indexes whose HNSW index is deferred (dropped by an upsert, or missing at open: a run of
   * writes that never reached `finishWrites`): searched exactly until `finishWrites` builds it.
   */
  const hnswPresent = new Set(setup.hnswIndexes)
  const deferred = new Set(
    setup.indexes
      .filter((row) => row.dimensions <= maxIndexedDimensions && !hnswPresent.has(`vec_${row.name}_hnsw`))
      .map((row) => row.name)
  )

  const specOf = (operation: string, name: string): Effect.Effect<VectorStore.IndexSpec, VectorStore.IndexNotFound> => {
    const spec = specs.get(name)
    return spec === undefined
      ? Effect.fail(
        new VectorStore.IndexNotFound({
          operation,
          index: name,
          message: indexNamePattern.test(name)
            ? `vector index "${name}" does not exist`
            : `vector index "${name}" does not exist (not a valid index name: [a-z][a-z0-9_]*)`
        })
      )
      : Effect.succeed(spec)
  }

  const checkVector = (
    operation: string,
    name: string,
    spec: VectorStore.IndexSpec,
    values: ReadonlyArray<number>
  ): Effect.Effect<void, VectorStore.DimensionMismatch | VectorStore.VectorStoreError> => {
    if (values.length !== spec.dimensions) {
      return Effect.fail(
        new VectorStore.DimensionMismatch({
          operation,
          index: name,
          expected: spec.dimensions,
          actual: values.length,
          message: `vector of ${values.length} dimensions for index "${name}" of ${spec.dimensions}`
        })
      )
    }
    return values.every(Number.isFinite) ? Effect.void : Effect.fail(
      new VectorStore.VectorStoreError({
        operation,
        message: `a vector for index "${name}" holds NaN or an infinity (pgvector stores finite numbers only)`,
        retryable: false
      })
    )
  }

  const run = <A>(operation: string, f: () => Promise<A>) => runQuery(f, vectorError(operation))

  /** Like `run`, with pgvector's dimension error as `DimensionMismatch` (the lengths are checked first anyway). */
  const runWithVector = <A>(operation: string, name: string, spec: VectorStore.IndexSpec, f: () => Promise<A>) =>
    runQuery(
      f,
      (cause): VectorStore.DimensionMismatch | VectorStore.VectorStoreError => {
        const error = cause as { readonly code?: unknown; readonly message?: unknown }
        const found = typeof error.message === "string"
          ? /expected (\d+) dimensions, not (\d+)|different vector dimensions (\d+) and (\d+)/.exec(error.message)
          : null
        if (error.code === "22000" && found !== null) {
          const actual = Number(found[2] ?? found[4])
          return new VectorStore.DimensionMismatch({
            operation,
            index: name,
            expected: spec.dimensions,
            actual,
            message: `vector of ${actual} dimensions for index "${name}" of ${spec.dimensions}`
          })
        }
        return vectorError(operation)(cause)
      }
    )

  const createIndex = (name: string, spec: VectorStore.IndexSpec) =>
    Effect.suspend((): Effect.Effect<
      void,
      VectorStore.DimensionMismatch | VectorStore.ModelMismatch | VectorStore.VectorStoreError
    > => {
      const operation = "VectorStore.createIndex"
      const { dimensions, model } = spec
      if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > maxDimensions) {
        return Effect.fail(
          new VectorStore.VectorStoreError({
            operation,
            message: `dimensions must be a positive integer of at most ${maxDimensions}, got ${dimensions}`,
            retryable: false
          })
        )
      }
      if (!indexNamePattern.test(name)) {
        return Effect.fail(
          new VectorStore.VectorStoreError({
            operation,
            message: `invalid vector index name "${name}": lower-case letters, digits and _, starting with a letter, ` +
              "at most 50 characters",
            retryable: false
          })
        )
      }
      const check = (existing: VectorStore.IndexSpec) =>
        VectorStore.checkSpec(operation, name, existing, { dimensions, model })
      const cached = specs.get(name)
      if (cached !== undefined) return check(cached)
      const target = tableOf(name)
      return run(operation, () =>
        db.transaction(async (tx): Promise<VectorStore.IndexSpec> => {
          const inserted = await tx.query(
            `INSERT INTO public.vector_indexes (name, dimensions, model) VALUES ($1, $2, $3)
               ON CONFLICT (name) DO NOTHING RETURNING name`,
            [name, dimensions, model]
          )
          if (inserted.rows.length === 0) {
            const row = await tx.query<VectorStore.IndexSpec>(
              "SELECT dimensions, model FROM public.vector_indexes WHERE name = $1",
              [name]
            )
            return row.rows[0]!
          }
          await tx.exec(`
              CREATE TABLE ${target} (
                id text PRIMARY KEY,
                digest text NOT NULL,
                metadata jsonb NOT NULL,
                embedding vector(${dimensions}) NOT NULL
              );
              CREATE INDEX ${ident(`vec_${name}_zero`)} ON ${target} (id) WHERE vector_norm(embedding) = 0;
            `)
          if (dimensions <= maxIndexedDimensions) await tx.exec(createHnsw(name))
          return { dimensions, model }
        })).pipe(
          Effect.flatMap((existing) => {
            specs.set(name, existing)
            return check(existing)
          })
        )
    })

  const describeIndex = (name: string) => Effect.sync(() => specs.get(name))

  const digests = (name: string, ids: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const operation = "VectorStore.digests"
      yield* specOf(operation, name)
      if (ids.length === 0) return new Map<string, string>()
      const rows = yield* run(operation, () =>
        db.query<{ id: string; digest: string }>(
          `SELECT id, digest FROM ${tableOf(name)} WHERE id = ANY($1::text[])`,
          [[...ids]]
        ))
      return inOrderAsked(ids, rows.rows.map((row) => [row.id, row.digest]))
    })

  const upsert = (name: string, rows: ReadonlyArray<VectorStore.VectorRow>) =>
    Effect.gen(function*() {
      const operation = "VectorStore.upsert"
      const spec = yield* specOf(operation, name)
      // Every vector checked before anything is written: a bad one fails the whole batch.
      for (const row of rows) yield* checkVector(operation, name, spec, row.vector)
      if (rows.length === 0) return
      const last = new Map(rows.map((row) => [row.id, row]))
      const batch = [...last.values()]
      const target = tableOf(name)
      // Whether this batch may defer the HNSW index: it has one, and it is not deferred yet.
      const mayDefer = spec.dimensions <= maxIndexedDimensions && !deferred.has(name)
      const dropped = yield* runWithVector(operation, name, spec, () =>
        db.transaction(async (tx) => {
          let drop = false
          if (mayDefer) {
            // Counts at most the rows that matter: a bounded scan, whatever the table's size.
            const threshold = deferBelowBatches * batch.length
            const held = await tx.query<{ count: number }>(
              `SELECT count(*)::int AS count FROM (SELECT 1 FROM ${target} LIMIT $1) AS held`,
              [threshold]
            )
            drop = (held.rows[0]?.count ?? 0) < threshold
            if (drop) await tx.exec(`DROP INDEX IF EXISTS public.${hnswOf(name)}`)
          }
          await tx.query(
            `INSERT INTO ${target} (id, digest, metadata, embedding)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[]::jsonb[], $4::text[]::vector[])
             ON CONFLICT (id) DO UPDATE
             SET digest = EXCLUDED.digest, metadata = EXCLUDED.metadata, embedding = EXCLUDED.embedding`,
            [
              batch.map((row) => row.id),
              batch.map((row) => row.digest),
              batch.map((row) => JSON.stringify(row.metadata)),
              batch.map((row) => vectorText(row.vector))
            ]
          )
          return drop
        }))
      // Only once committed: a failed batch leaves the HNSW index as it was (the drop rolled back).
      if (dropped) deferred.add(name)
    })

  const finishWrites = (name: string) =>
    Effect.gen(function*() {
      const operation = "VectorStore.finishWrites"
      const spec = yield* specOf(operation, name)
      if (spec.dimensions > maxIndexedDimensions) return
      // Whatever `deferred` says (an upsert running beside a finishWrites may leave it stale):
      // builds the HNSW index when it is missing, a no-op when it exists (IF NOT EXISTS).
      yield* run(operation, () =>
        db.transaction(async (tx) => {
          await tx.exec(`SET LOCAL maintenance_work_mem = ${literal(indexBuildMemory)}; ${createHnsw(name)}`)
        }))
      deferred.delete(name)
    })

  const remove = (name: string, ids: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const operation = "VectorStore.remove"
      yield* specOf(operation, name)
      if (ids.length === 0) return
      yield* run(operation, () => db.query(`DELETE FROM ${tableOf(name)} WHERE id = ANY($1::text[])`, [[...ids]]))
    })

  const nearest = (name: string, query: ReadonlyArray<number>, k: number) =>
    Effect.gen(function*() {
      const operation = "VectorStore.nearest"
      const spec = yield* specOf(operation, name)
      yield* checkVector(operation, name, spec, query)
      const limit = k === Infinity ? null : Math.max(0, Math.floor(k)) || 0
      if (limit === 0) return []
      const target = tableOf(name)
      type Row = { id: string; metadata: VectorStore.Match["metadata"]; distance?: number }
      const matches = (rows: ReadonlyArray<Row>, score: (row: Row) => number) =>
        rows.map((row): VectorStore.Match => ({ id: row.id, score: score(row), metadata: row.metadata }))
      // A zero vector has no direction: every similarity is 0, so the order is by id alone.
      if (query.every((x) => x === 0)) {
        const rows = yield* run(operation, () =>
          db.query<Row>(`SELECT id, metadata FROM ${target} ORDER BY id COLLATE "C" LIMIT $1`, [limit]))
        return matches(rows.rows, () =>
          0)
      }
      const found = yield* runWithVector(operation, name, spec, () =>
        db.transaction(async (tx) => {
          // Enough candidates for `k`, and an index scan that goes on until it has them.
          const efSearch = Math.min(maxEfSearch, Math.max(40, limit ?? maxEfSearch))
          await tx.exec(`SET LOCAL hnsw.ef_search = ${efSearch}; SET LOCAL hnsw.iterative_scan = strict_order;`)
          const ranked = await tx.query<Row>(
            `SELECT id, metadata, embedding <=> $1::vector AS distance FROM ${target}
             ORDER BY embedding <=> $1::vector, id COLLATE "C" LIMIT $2`,
            [vectorText(query), limit]
          )
          // Zero vectors are not in the HNSW index (no direction): their similarity is 0.
          const zero = await tx.query<Row>(
            `SELECT id, metadata FROM ${target} WHERE vector_norm(embedding) = 0 ORDER BY id COLLATE "C" LIMIT $1`,
            [limit]
          )
          return { ranked: ranked.rows, zero: zero.rows }
        }))
      const all = [
        ...matches(found.ranked.filter((row) => Number.isFinite(row.distance)), (row) => 1 - row.distance!),
        ...matches(found.zero, () => 0)
      ].sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      return limit === null ? all : all.slice(0, limit)
    })

  const count = (name: string) =>
    Effect.gen(function*() {
      const operation = "VectorStore.count"
      yield* specOf(operation, name)
      const rows = yield* run(operation, () =>
        db.query<{ count: number }>(`SELECT count(*)::int AS count FROM ${tableOf(name)}`))
      return rows.rows[0]?.count ?? 0
    })

  return VectorStore.VectorStore.of({
    createIndex,
    describeIndex,
    digests,
    upsert,
    remove,
    nearest,
    count,
    finishWrites
  })
}
