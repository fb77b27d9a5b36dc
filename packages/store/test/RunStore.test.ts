/**
 * The run state in SQL (`@batch-extract/core`'s `RunStore`), one suite run against both
 * databases it supports: SQLite (our `node:sqlite` driver, a file in a temporary directory)
 * and PostgreSQL (`@effect/sql-pg` on a throwaway cluster, one for the whole file). Each test
 * works on a fresh database (on PostgreSQL, a fresh schema: as empty to the store, and faster).
 */
import type { BatchRecord } from "@batch-extract/core"
import { RunState, RunStore } from "@batch-extract/core"
import { assert, describe, it, layer, type Vitest } from "@effect/vitest"
import { Context, Effect, Layer, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer, type Server } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Postgres from "../src/Postgres.ts"
import * as SqliteClient from "../src/SqliteClient.ts"
import { requirePostgres, startPostgres } from "../src/testing/PostgresCluster.ts"

type Db = Layer.Layer<SqlClient.SqlClient, unknown>

/** The database under test: fresh databases, and further connections to one. */
class Backend extends Context.Service<Backend, {
  readonly name: "sqlite" | "postgres"
  /** A fresh, empty database: its URL or file, and a client Layer on it. */
  readonly fresh: Effect.Effect<{ readonly where: string; readonly layer: Db }, unknown>
  /** Another client on the same database (another process, for PostgreSQL). */
  readonly connect: (where: string) => Db
}>()("Backend") {}

const sqliteBackend = Layer.effect(
  Backend,
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "batch-extract-runstore-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    )
    let n = 0
    const connect = (where: string): Db => SqliteClient.layer({ filename: where })
    return Backend.of({
      name: "sqlite",
      fresh: Effect.sync(() => {
        const where = join(dir, `state-${++n}.db`)
        return { where, layer: connect(where) }
      }),
      connect
    })
  })
)

const postgresBackend = (binaries: NonNullable<ReturnType<typeof requirePostgres>>) =>
  Layer.effect(
    Backend,
    Effect.gen(function*() {
      const cluster = yield* startPostgres(binaries).pipe(Effect.orDie)
      let n = 0
      const connect = (where: string): Db => Postgres.layer(where)
      return Backend.of({
        name: "postgres",
        fresh: Effect.suspend(() =>
          Effect.map(cluster.createSchema(`state_${++n}`), (where) => ({ where, layer: connect(where) }))
        ),
        connect
      })
    })
  )

/** Run `body` on a fresh database, migrated unless `migrated` is false. */
const onFresh = <A, E>(
  body: Effect.Effect<A, E, SqlClient.SqlClient | Backend>,
  migrated = true
) =>
  Effect.gen(function*() {
    const backend = yield* Backend
    const db = yield* backend.fresh
    return yield* (migrated ? Effect.andThen(RunStore.migrate, body) : body).pipe(Effect.provide(db.layer))
  })

/** Like `onFresh`, with the database's location (to open more clients on it). */
const onFreshAt = <A, E>(body: (where: string) => Effect.Effect<A, E, SqlClient.SqlClient | Backend>) =>
  Effect.gen(function*() {
    const backend = yield* Backend
    const db = yield* backend.fresh
    return yield* body(db.where).pipe(Effect.provide(db.layer))
  })

const tables = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql.onDialectOrElse({
    sqlite: () => sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`,
    orElse: () =>
      sql<{ name: string }>`SELECT table_name AS name FROM information_schema.tables
        WHERE table_schema = current_schema() ORDER BY table_name`
  })
  return rows.map((row) => String(row.name))
})

const ourTables = [
  "be_chunks",
  "be_classifications",
  "be_documents",
  "be_extracted",
  "be_inputs",
  "be_jobs",
  "be_meta",
  "be_outcomes",
  "be_runs",
  "be_slots"
]

const succeeded = (recordId: string, stage: string, tokens: { input: number; output: number }, extra: {
  readonly via?: "batch" | "onDemand"
  readonly partialReason?: string
} = {}): BatchRecord.Succeeded => ({
  _tag: "Succeeded",
  recordId,
  stage,
  modelOutput: { raw: "not kept" },
  output: {
    text: `answer of ${recordId}`,
    stopReason: "end_turn",
    truncated: extra.partialReason !== undefined,
    usage: { inputTokens: tokens.input, outputTokens: tokens.output }
  },
  via: extra.via ?? "batch",
  attempts: 1,
  ...(extra.partialReason === undefined ? {} : { partialReason: extra.partialReason })
})

const failed = (recordId: string, stage: string, reason: string, attempts = 2): BatchRecord.Failed => ({
  _tag: "Failed",
  recordId,
  stage,
  reason,
  attempts
})

const intent = (stage: string, label: string, recordIds: ReadonlyArray<string>): RunState.JobIntent => ({
  stage,
  label,
  attempt: 1,
  jobName: `job-${stage}-${label}`,
  clientRequestToken: `token-${stage}-${label}`,
  bucket: "bucket",
  inputKey: `in/${stage}/${label}.jsonl`,
  contentHash: `hash-${label}`,
  recordIds
})

const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(5, "0")}`)

const chunkStates = (runId: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ chunk_id: string; state: string; stage: string | null; job_name: string | null }>`
      SELECT chunk_id, state, stage, job_name FROM be_chunks WHERE run_id = ${runId} ORDER BY chunk_id`
    return Object.fromEntries(
      rows.map((row) => [row.chunk_id, `${row.state}:${row.stage ?? ""}:${row.job_name ?? ""}`])
    )
  })

const written = (
  chunkId: string,
  sourceId: string,
  failures: ReadonlyArray<{ stage: string; reason: string }> = [],
  n = 1
): RunStore.WrittenChunk => ({
  chunkId,
  sourceId,
  failures,
  counts: { propositions: n, topics: 2 * n, entities: 3 * n, statements: 4 * n, facts: 5 * n, diagnostics: 0 }
})

const suite = (it: Vitest.MethodsNonLive<Backend>) => {
  it.effect("migrates an empty database, and again (idempotent)", () =>
    onFresh(
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* tables, [])
        yield* RunStore.migrate
        assert.deepStrictEqual(yield* tables, ourTables)
        yield* RunStore.createRun("r1", { a: 1 }, 1)
        yield* RunStore.migrate
        assert.deepStrictEqual(yield* tables, ourTables)
        const sql = yield* SqlClient.SqlClient
        const meta = yield* sql<{ key: string; value: string }>`SELECT key, value FROM be_meta ORDER BY key`
        assert.deepStrictEqual(meta.map((row) => [row.key, row.value]), [
          ["schema", RunStore.schemaName],
          ["version", String(RunStore.schemaVersion)]
        ])
        assert.strictEqual((yield* RunStore.listRuns).length, 1)
      }),
      false
    ))

  it.effect("migrates safely from several fibers and connections at once", () =>
    onFreshAt((where) =>
      Effect.gen(function*() {
        const backend = yield* Backend
        // Several fibers on one client…
        yield* Effect.all(Array.from({ length: 6 }, () => RunStore.migrate), { concurrency: "unbounded" })
        assert.deepStrictEqual(yield* tables, ourTables)
        if (backend.name === "postgres") {
          // …and several clients (as several processes would) on a fresh database.
          const other = yield* backend.fresh
          yield* Effect.all(
            Array.from({ length: 8 }, () => RunStore.migrate.pipe(Effect.provide(backend.connect(other.where)))),
            { concurrency: "unbounded" }
          )
          assert.deepStrictEqual(yield* tables.pipe(Effect.provide(other.layer)), ourTables)
        }
        assert.isString(where)
      })
    ))

  it.effect("a PostgreSQL database that does not exist fails the Layer with PostgresUnreachable", () =>
    Effect.gen(function*() {
      const backend = yield* Backend
      if (backend.name !== "postgres") return
      const { where } = yield* backend.fresh
      const missing = where.replace(/\/[^/]+$/, "/no_such_database")
      assert.include(missing, "/no_such_database")
      const error = yield* Effect.flip(Effect.scoped(Layer.build(Postgres.layer(missing))))
      assert.strictEqual(error._tag, "PostgresUnreachable")
      assert.include(error.message, "no_such_database")
    }))

  it.effect("refuses a database with a foreign table", () =>
    onFresh(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)`
        const error = yield* Effect.flip(RunStore.migrate)
        assert.strictEqual(error._tag, "ForeignStore")
        assert.include(error.message, "people")
        assert.deepStrictEqual(yield* tables, ["people"])
      }),
      false
    ))

  it.effect("refuses a run state of another schema version, or another schema", () =>
    onFresh(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`UPDATE be_meta SET value = '99' WHERE key = 'version'`
      const error = yield* Effect.flip(RunStore.migrate)
      assert.strictEqual(error._tag, "ForeignStore")
      assert.include(error.message, "99")
      yield* sql`UPDATE be_meta SET value = ${String(RunStore.schemaVersion)} WHERE key = 'version'`
      yield* RunStore.migrate
      yield* sql`UPDATE be_meta SET value = 'someone-else' WHERE key = 'schema'`
      const other = yield* Effect.flip(RunStore.migrate)
      assert.strictEqual(other._tag, "ForeignStore")
      assert.include(other.message, "someone-else")
    })))

  it.effect("records, finds, lists, finishes and removes runs", () =>
    onFresh(Effect.gen(function*() {
      const t0 = 1_760_000_000_000 // epoch ms: beyond 32-bit integers
      yield* RunStore.createRun("run-b", { model: "m", n: 2 }, t0 + 10)
      yield* RunStore.createRun("run-a", { model: "m", n: 1 }, t0)
      yield* RunStore.createRun("run-c", { model: "m", n: 3 }, t0 + 20)
      yield* RunStore.createRun("run-a", { model: "other" }, t0 + 99) // already there: kept as it was

      assert.isUndefined(yield* RunStore.findRun("nope"))
      const unknown = yield* Effect.flip(RunStore.getRun("nope", "the test store"))
      assert.strictEqual(unknown._tag, "UnknownRun")
      assert.include(unknown.message, "nope")

      const a = yield* RunStore.getRun("run-a", "the test store")
      assert.deepStrictEqual(a, {
        runId: "run-a",
        settings: { model: "m", n: 1 },
        phase: "running",
        startedAt: t0,
        finishedAt: undefined,
        exitCode: undefined,
        result: undefined
      })
      assert.deepStrictEqual((yield* RunStore.listRuns).map((run) => run.runId), ["run-a", "run-b", "run-c"])

      yield* RunStore.finishRun("run-a", 0, { records: 3 }, t0 + 100)
      yield* RunStore.finishRun("run-b", 2, { records: 0 }, t0 + 300)
      const finished = yield* RunStore.getRun("run-a", "the test store")
      assert.strictEqual(finished.phase, "finished")
      assert.strictEqual(finished.finishedAt, t0 + 100)
      assert.strictEqual(finished.exitCode, 0)
      assert.deepStrictEqual(finished.result, { records: 3 })
      const listed = yield* RunStore.listRuns
      assert.deepStrictEqual(listed[1], {
        runId: "run-b",
        phase: "finished",
        startedAt: t0 + 10,
        finishedAt: t0 + 300,
        exitCode: 2
      })
      assert.strictEqual(typeof listed[0]!.startedAt, "number")

      // run-a's manifest, jobs and outcomes go with it; what it extracted stays extracted.
      yield* RunStore.recordDocument("run-a", { path: "a.txt", sourceId: "s1", state: "read", chunks: 1 })
      yield* RunStore.recordChunks("run-a", [{ chunkId: "c1", sourceId: "s1" }])
      const store = yield* RunStore.makeState
      yield* store.jobIntent("run-a", intent("extract", "1", ["c1"]))
      yield* store.recordOutcomes("run-a", "extract", [succeeded("c1", "extract", { input: 1, output: 1 })])
      yield* RunStore.recordWritten("run-a", "out", [written("c1", "s1")])
      yield* RunStore.recordChunks("run-c", [{ chunkId: "c1", sourceId: "s1" }])

      assert.deepStrictEqual(yield* RunStore.removeFinishedBefore(t0 + 200), [{ runId: "run-a", parts: 0 }])
      assert.isUndefined(yield* RunStore.findRun("run-a"))
      assert.deepStrictEqual((yield* RunStore.listRuns).map((run) => run.runId), ["run-b", "run-c"])
      assert.deepStrictEqual(yield* chunkStates("run-a"), {})
      assert.deepStrictEqual(yield* chunkStates("run-c"), { c1: "pending::" })
      assert.strictEqual((yield* store.outcomes("run-a", "extract", ["c1"])).size, 0)
      assert.deepStrictEqual(yield* RunStore.jobsOf("run-a"), [])
      assert.deepStrictEqual([...(yield* RunStore.extractedAmong("out", ["c1"]))], ["c1"])
      assert.deepStrictEqual(yield* RunStore.removeFinishedBefore(t0 + 200), [])
    })))

  it.effect("records a run's inferred entity classifications once (the first record wins), removed with the run", () =>
    onFresh(Effect.gen(function*() {
      const t0 = 1_760_000_000_000
      const inference = (classifications: ReadonlyArray<string>) => ({
        classifications,
        inferred: classifications.slice(0, 1),
        fellBack: false,
        sampledChunkIds: ["c1", "c2"],
        calls: 2,
        tokens: { input: 1200, output: 40 },
        warnings: [],
        notes: ["the sample size (5) is above the run's 2 chunks: every round sampled every chunk"]
      })
      yield* RunStore.createRun("run-a", { model: "m" }, t0)
      assert.isUndefined(yield* RunStore.classificationsOf("run-a"))
      yield* RunStore.recordClassifications("run-a", inference(["Legislation", "Person"]), t0 + 1)
      // A second record (an activity that ran again after a crash) does not replace the first.
      yield* RunStore.recordClassifications("run-a", inference(["Country"]), t0 + 2)
      assert.deepStrictEqual(yield* RunStore.classificationsOf("run-a"), inference(["Legislation", "Person"]))
      assert.isUndefined(yield* RunStore.classificationsOf("run-b"))
      yield* RunStore.finishRun("run-a", 0, {}, t0 + 100)
      assert.deepStrictEqual(yield* RunStore.removeFinishedBefore(t0 + 200), [{ runId: "run-a", parts: 0 }])
      assert.isUndefined(yield* RunStore.classificationsOf("run-a"))
    })))

  it.effect("records a job's intent (idempotently), its creation and its status", () =>
    onFresh(Effect.gen(function*() {
      const store = yield* RunStore.makeState
      yield* RunStore.recordChunks("r", ids("c", 3).map((chunkId) => ({ chunkId, sourceId: "s" })))
      yield* RunStore.recordChunks("r", [{ chunkId: "c00000", sourceId: "s" }]) // already there
      assert.deepStrictEqual(yield* chunkStates("r"), {
        c00000: "pending::",
        c00001: "pending::",
        c00002: "pending::"
      })

      const job = intent("extract", "1", ["c00000", "c00001"])
      yield* store.jobIntent("r", job)
      yield* store.jobIntent("r", job)
      assert.deepStrictEqual(yield* chunkStates("r"), {
        c00000: "staged:extract:job-extract-1",
        c00001: "staged:extract:job-extract-1",
        c00002: "pending::"
      })
      const open = yield* store.openJobs("r", "extract")
      assert.deepStrictEqual(open, [{
        stage: "extract",
        label: "1",
        attempt: 1,
        jobName: "job-extract-1",
        clientRequestToken: "token-extract-1",
        bucket: "bucket",
        inputKey: "in/extract/1.jsonl",
        contentHash: "hash-1",
        records: 2,
        jobArn: undefined,
        status: undefined,
        finished: false
      }])

      yield* store.jobCreated("r", "job-extract-1", "arn:job/1")
      assert.deepStrictEqual(yield* chunkStates("r"), {
        c00000: "in_job:extract:job-extract-1",
        c00001: "in_job:extract:job-extract-1",
        c00002: "pending::"
      })
      yield* store.jobStatus("r", "job-extract-1", "InProgress")
      const [created] = yield* store.openJobs("r", "extract")
      assert.strictEqual(created?.jobArn, "arn:job/1")
      assert.strictEqual(created?.status, "InProgress")

      yield* store.recordOutcomes("r", "extract", [
        succeeded("c00000", "extract", { input: 10, output: 5 }),
        failed("c00001", "extract", "throttled")
      ], { jobName: "job-extract-1", status: "PartiallyCompleted" })
      assert.deepStrictEqual(yield* store.openJobs("r", "extract"), [])
      yield* store.jobStatus("r", "job-extract-1", "InProgress") // a late poll: the job has ended
      const [ended] = yield* RunStore.jobsOf("r")
      assert.strictEqual(ended?.status, "PartiallyCompleted")
      assert.isTrue(ended?.finished)
      const counts = yield* RunStore.manifestCounts("r")
      assert.deepStrictEqual(counts.chunks, { pending: 1, staged: 0, in_job: 2, extracted: 0, failed: 0, total: 3 })
    })))

  it.effect("looks up outcomes in batches; an answer written out is no longer kept", () =>
    onFresh(Effect.gen(function*() {
      const store = yield* RunStore.makeState
      const records = ids("r", 1234)
      const outcomes = records.map((id, i) =>
        i % 10 === 3
          ? failed(id, "extract", `reason ${i}`)
          : succeeded(id, "extract", { input: i, output: 2 * i }, {
            via: i % 2 === 0 ? "batch" : "onDemand",
            ...(i === 7 ? { partialReason: "cut off twice" } : {})
          })
      )
      yield* store.recordOutcomes("run", "extract", outcomes)
      // Same ids in another stage and another run: not mixed up.
      yield* store.recordOutcomes("run", "resolve", [failed("r00000", "resolve", "other stage")])
      yield* store.recordOutcomes("other", "extract", [failed("r00000", "extract", "other run")])

      const found = yield* store.outcomes("run", "extract", [...records, ...ids("missing", 300)])
      assert.strictEqual(found.size, 1234)
      assert.deepStrictEqual(found.get("r00003"), failed("r00003", "extract", "reason 3"))
      assert.deepStrictEqual(found.get("r00007"), {
        _tag: "Succeeded",
        recordId: "r00007",
        stage: "extract",
        output: succeeded("r00007", "extract", { input: 7, output: 14 }, { partialReason: "x" }).output,
        via: "onDemand",
        attempts: 1,
        partialReason: "cut off twice"
      })
      const last = found.get("r01232")
      assert.strictEqual(last?._tag, "Succeeded")
      assert.deepStrictEqual(last?._tag === "Succeeded" ? last.output.usage : undefined, {
        inputTokens: 1232,
        outputTokens: 2464
      })
      const first = found.get("r00000")
      assert.isUndefined(first?._tag === "Succeeded" ? first.modelOutput : "not a Succeeded outcome")

      // A later outcome of a record replaces the earlier one.
      yield* store.recordOutcomes("run", "extract", [succeeded("r00003", "extract", { input: 1, output: 1 })])
      assert.strictEqual((yield* store.outcomes("run", "extract", ["r00003"])).get("r00003")?._tag, "Succeeded")

      yield* RunStore.recordWritten("run", "out", [written("r00000", "s"), written("r00012", "s")])
      const after = yield* store.outcomes("run", "extract", ["r00000", "r00012", "r00001", "r00023"])
      assert.deepStrictEqual([...after.keys()].sort(), ["r00001", "r00023"]) // a Failed outcome stays
      assert.strictEqual((yield* store.outcomes("run", "resolve", ["r00000"])).get("r00000")?._tag, "Failed")
      assert.strictEqual((yield* store.outcomes("other", "extract", ["r00000"])).size, 1)
      assert.deepStrictEqual(yield* store.outcomes("run", "extract", []), new Map())
    })))

  it.effect("lists open jobs in intent order and the last job number, retries included", () =>
    onFresh(Effect.gen(function*() {
      const store = yield* RunStore.makeState
      assert.strictEqual(yield* store.lastJobNumber("r", "extract"), 0)
      for (const label of ["10", "3r2", "1", "3", "2"]) {
        yield* store.jobIntent("r", intent("extract", label, []))
      }
      yield* store.jobIntent("r", intent("resolve", "7", []))
      yield* store.recordOutcomes("r", "extract", [], { jobName: "job-extract-2", status: "Completed" })
      assert.deepStrictEqual((yield* store.openJobs("r", "extract")).map((job) => job.label), ["1", "3", "3r2", "10"])
      assert.strictEqual(yield* store.lastJobNumber("r", "extract"), 10)
      assert.strictEqual(yield* store.lastJobNumber("r", "resolve"), 7)
      assert.strictEqual(yield* store.lastJobNumber("other", "extract"), 0)
      assert.deepStrictEqual(
        (yield* RunStore.jobsOf("r")).map((job) => `${job.stage}/${job.label}`),
        ["extract/1", "extract/2", "extract/3", "extract/3r2", "extract/10", "resolve/7"]
      )
    })))

  it.effect("job slots: never more than a model's limit, over several connections at once; a job's slot is its own", () =>
    onFreshAt((where) =>
      Effect.gen(function*() {
        const backend = yield* Backend
        yield* RunStore.migrate
        const claim = (jobName: string, model = "m1", limit = 2) => ({ runId: "r", jobName, model, limit })
        // Twelve jobs race for 2 slots, from as many clients as the database allows at once.
        const clients = backend.name === "postgres" ? 6 : 1
        const taken = yield* Effect.forEach(
          Array.from({ length: 12 }, (_, i) => i),
          (i) => RunStore.takeSlot(claim(`job-${i}`), i).pipe(Effect.provide(backend.connect(where))),
          { concurrency: clients }
        )
        assert.strictEqual(taken.filter(Boolean).length, 2)
        const holders = taken.flatMap((held, i) => (held ? [`job-${i}`] : []))
        // A job that holds its slot takes it again (another process following it); others wait.
        assert.isTrue(yield* RunStore.takeSlot(claim(holders[0]!), 99))
        assert.isFalse(yield* RunStore.takeSlot(claim("job-late"), 99))
        // Another model has its own quota; a larger limit lets more in.
        assert.isTrue(yield* RunStore.takeSlot(claim("other-1", "m2", 1), 99))
        assert.isFalse(yield* RunStore.takeSlot(claim("other-2", "m2", 1), 99))
        assert.isTrue(yield* RunStore.takeSlot(claim("job-late", "m1", 3), 99))
        assert.deepStrictEqual([...(yield* RunStore.slotsInUse)].sort(), [["m1", 3], ["m2", 1]])
        // Given back: one by job, then every slot of a run.
        yield* RunStore.releaseSlot(holders[0]!)
        assert.isTrue(yield* RunStore.takeSlot(claim("job-next", "m1", 3), 100))
        yield* RunStore.releaseSlotsOf("r")
        assert.strictEqual((yield* RunStore.slotsInUse).size, 0)
      })
    ))

  it.effect("parts: inputs split in order by bytes and read back per part; a chunk is the first part's that admits it", () =>
    onFresh(Effect.gen(function*() {
      const inputs = [
        { location: "/in/a.txt", size: 40, relativePath: "a.txt" },
        { location: "/in/b.txt", size: 40, relativePath: "b.txt" },
        { location: "/in/c.txt", size: 150 },
        { location: "s3://bucket/d.txt", size: 10 }
      ]
      assert.deepStrictEqual(yield* RunStore.recordParts("r", Stream.fromIterable(inputs), 100), {
        parts: 3,
        files: 4,
        bytes: 240
      })
      // Recorded again (an interrupted attempt): replaced, not added.
      yield* RunStore.recordParts("r", Stream.fromIterable(inputs), 100)
      assert.strictEqual(yield* RunStore.partCount("r"), 3)
      assert.deepStrictEqual(yield* RunStore.inputsOf("r", 0), inputs.slice(0, 2))
      assert.deepStrictEqual(yield* RunStore.inputsOf("r", 1), inputs.slice(2, 3))
      assert.deepStrictEqual(yield* RunStore.inputsOf("r", 2), inputs.slice(3))
      assert.strictEqual(yield* RunStore.partCount("none"), 0)

      const chunk = (id: string) => ({ chunkId: id, sourceId: "s" })
      assert.deepStrictEqual([...(yield* RunStore.admitChunks("r", 0, [chunk("c1"), chunk("c2")]))].sort(), [
        "c1",
        "c2"
      ])
      // The same chunk in another part's document stays the first part's; a part admitting its
      // own chunks again (after a crash) gets them back.
      assert.deepStrictEqual([...(yield* RunStore.admitChunks("r", 1, [chunk("c2"), chunk("c3")]))], ["c3"])
      assert.deepStrictEqual([...(yield* RunStore.admitChunks("r", 0, [chunk("c1"), chunk("c2")]))].sort(), [
        "c1",
        "c2"
      ])

      // Each part numbers and re-attaches its own jobs.
      const store = yield* RunStore.makeState
      yield* store.jobIntent("r", intent("extract", "1", []))
      yield* store.jobIntent("r", intent("extract", "p1.1", []))
      yield* store.jobIntent("r", intent("extract", "p1.2r2", []))
      assert.deepStrictEqual((yield* store.openJobs("r", "extract")).map((job) => job.label), ["1"])
      assert.deepStrictEqual((yield* store.openJobs("r", "extract", 1)).map((job) => job.label), ["p1.1", "p1.2r2"])
      assert.strictEqual(yield* store.lastJobNumber("r", "extract", 1), 2)
      assert.strictEqual(yield* store.lastJobNumber("r", "extract", 2), 0)
    })))

  it.effect("records written chunks: extracted or failed, done per output, forgotten on demand", () =>
    onFresh(Effect.gen(function*() {
      const chunks = ids("c", 700)
      yield* RunStore.recordChunks("r", chunks.map((chunkId) => ({ chunkId, sourceId: "s" })))
      yield* RunStore.recordWritten(
        "r",
        "out/a",
        chunks.map((chunkId, i) =>
          i % 100 === 5
            ? written(chunkId, "s", [{ stage: "extract", reason: "bad json" }, { stage: "resolve", reason: "timeout" }])
            : written(chunkId, "s")
        )
      )
      const sql = yield* SqlClient.SqlClient
      const [failedRow] = yield* sql<{ state: string; reason: string | null }>`SELECT state, reason FROM be_chunks
        WHERE run_id = 'r' AND chunk_id = 'c00005'`
      assert.deepStrictEqual({ ...failedRow }, { state: "failed", reason: "extract: bad json; resolve: timeout" })

      const done = yield* RunStore.extractedAmong("out/a", [...chunks, "c99999"])
      assert.strictEqual(done.size, 693)
      assert.isFalse(done.has("c00005"))
      assert.isTrue(done.has("c00699"))
      assert.strictEqual((yield* RunStore.extractedAmong("out/b", chunks)).size, 0)

      // A later run writes a chunk that failed before: it is now done too.
      yield* RunStore.recordWritten("r2", "out/a", [written("c00005", "s")])
      assert.isTrue((yield* RunStore.extractedAmong("out/a", ["c00005"])).has("c00005"))

      const counts = yield* RunStore.manifestCounts("r")
      assert.deepStrictEqual(counts.chunks, { pending: 0, staged: 0, in_job: 0, extracted: 693, failed: 7, total: 700 })
      assert.deepStrictEqual(counts.written, {
        propositions: 700,
        topics: 1400,
        entities: 2100,
        statements: 2800,
        facts: 3500,
        diagnostics: 0
      })

      yield* RunStore.forgetExtracted("out/a")
      assert.strictEqual((yield* RunStore.extractedAmong("out/a", chunks)).size, 0)
    })))

  it.effect("totals stages, streams failures page by page, counts the manifest", () =>
    onFresh(Effect.gen(function*() {
      const store = yield* RunStore.makeState
      const big = 3_000_000_000 // tokens beyond 32-bit integers
      yield* store.jobIntent("r", intent("extract", "1", []))
      yield* store.jobIntent("r", intent("extract", "2", []))
      yield* store.jobIntent("r", intent("resolve", "1", []))
      yield* store.jobIntent("r", intent("resolve", "2", []))
      yield* store.recordOutcomes("r", "extract", [
        succeeded("a", "extract", { input: big, output: 7 }),
        succeeded("b", "extract", { input: big, output: 8 }, { via: "onDemand" }),
        succeeded("c", "extract", { input: 1, output: 1 }),
        ...ids("f", 5).map((id) => failed(id, "extract", `no ${id}`))
      ], { jobName: "job-extract-1", status: "Completed" })
      yield* store.recordOutcomes("r", "extract", [], { jobName: "job-extract-2", status: "Failed" })
      yield* store.recordOutcomes("r", "resolve", [
        succeeded("a", "resolve", { input: 100, output: 50 }),
        ...ids("g", 4).map((id) => failed(id, "resolve", `no ${id}`))
      ], { jobName: "job-resolve-1", status: "Completed" })
      yield* store.recordOutcomes("other", "extract", [failed("z", "extract", "other run")])

      const totals = yield* RunStore.stageTotals("r")
      const extract = totals.get("extract")
      assert.deepStrictEqual(extract, {
        records: { succeeded: 3, failed: 5, batch: 2, onDemand: 1 },
        jobs: { total: 2, byStatus: { Completed: 1, Failed: 1 } },
        tokens: { input: 2 * big + 1, output: 16 }
      })
      assert.strictEqual(typeof extract?.tokens.input, "number")
      assert.strictEqual(typeof extract?.records.succeeded, "number")
      assert.deepStrictEqual(totals.get("resolve"), {
        records: { succeeded: 1, failed: 4, batch: 1, onDemand: 0 },
        jobs: { total: 1, byStatus: { Completed: 1 } },
        tokens: { input: 100, output: 50 }
      })
      assert.deepStrictEqual(RunStore.sumStages(totals), {
        records: { succeeded: 4, failed: 9, batch: 3, onDemand: 1 },
        jobs: { total: 3, byStatus: { Completed: 2, Failed: 1 } },
        tokens: { input: 2 * big + 101, output: 66 }
      })
      assert.strictEqual((yield* RunStore.stageTotals("nobody")).size, 0)

      const expected = [
        ...ids("f", 5).map((id) => ({ recordId: id, stage: "extract", reason: `no ${id}` })),
        ...ids("g", 4).map((id) => ({ recordId: id, stage: "resolve", reason: `no ${id}` }))
      ]
      for (const pageSize of [2, 3, 9, 1000]) {
        assert.deepStrictEqual(yield* Stream.runCollect(RunStore.failures("r", pageSize)), expected)
      }
      assert.deepStrictEqual(yield* Stream.runCollect(RunStore.failures("nobody", 2)), [])

      // The manifest: documents read and skipped, chunks, and failed chunks by document.
      yield* RunStore.recordDocument("r", {
        path: "docs/a.txt",
        sourceId: "sa",
        state: "read",
        chunks: 3,
        duplicateChunks: 1,
        doneChunks: 2
      })
      yield* RunStore.recordDocument("r", { path: "docs/b.txt", sourceId: "sb", state: "read", chunks: 2 })
      yield* RunStore.recordDocument("r", { path: "docs/c.bin", state: "skipped", reason: "not text" })
      yield* RunStore.recordDocument("r", { path: "docs/d.bin", state: "read" })
      yield* RunStore.recordDocument("r", { path: "docs/d.bin", state: "skipped", reason: "empty" }) // replaces
      yield* RunStore.recordChunks("r", [
        { chunkId: "a1", sourceId: "sa" },
        { chunkId: "a2", sourceId: "sa" },
        { chunkId: "b1", sourceId: "sb" },
        { chunkId: "b2", sourceId: "sb" },
        { chunkId: "x1", sourceId: "sx" }
      ])
      yield* RunStore.recordWritten("r", "out", [
        written("a1", "sa"),
        written("a2", "sa", [{ stage: "extract", reason: "bad json" }]),
        written("b2", "sb", [{ stage: "resolve", reason: "timeout" }]),
        written("x1", "sx", [{ stage: "extract", reason: "empty" }])
      ])
      const counts = yield* RunStore.manifestCounts("r")
      assert.deepStrictEqual(counts, {
        documents: { read: 2, skipped: 2 },
        chunks: { pending: 1, staged: 0, in_job: 0, extracted: 1, failed: 3, total: 5 },
        duplicateChunks: 1,
        doneBefore: 2,
        written: { propositions: 4, topics: 8, entities: 12, statements: 16, facts: 20, diagnostics: 0 }
      })
      assert.deepStrictEqual(yield* RunStore.skippedDocuments("r"), [
        { path: "docs/c.bin", reason: "not text" },
        { path: "docs/d.bin", reason: "empty" }
      ])
      assert.deepStrictEqual(yield* RunStore.failedChunksByDocument("r"), [
        { sourceId: "sa", path: "docs/a.txt", chunks: [{ chunkId: "a2", reason: "extract: bad json" }] },
        { sourceId: "sb", path: "docs/b.txt", chunks: [{ chunkId: "b2", reason: "resolve: timeout" }] },
        { sourceId: "sx", path: undefined, chunks: [{ chunkId: "x1", reason: "extract: empty" }] }
      ])
      assert.deepStrictEqual((yield* RunStore.failedChunksByDocument("r", 1)).length, 1)
    })))
}

layer(sqliteBackend, { excludeTestServices: true })("RunStore on SQLite", suite)

const binaries = requirePostgres()
describe.skipIf(binaries === undefined)("RunStore on PostgreSQL", () => {
  if (binaries !== undefined) {
    layer(postgresBackend(binaries), { excludeTestServices: true, timeout: "90 seconds" })(suite)
  }
})

describe("Postgres.layer", () => {
  it.live("fails with PostgresUnreachable when nothing listens or nothing answers, without the password", () =>
    Effect.gen(function*() {
      const started = Date.now()
      const error = yield* Effect.flip(
        Effect.scoped(Layer.build(Postgres.layer("postgres://postgres:secret@127.0.0.1:1/none", {
          connectTimeout: "2 seconds"
        })))
      )
      assert.strictEqual(error._tag, "PostgresUnreachable")
      assert.include(error.message, "127.0.0.1:1")
      assert.notInclude(error.message, "secret")
      assert.notInclude(error.url, "secret")
      assert.isBelow(Date.now() - started, 4000)
      // A server that accepts connections and never answers: the timeout ends the wait.
      const silent = yield* Effect.acquireRelease(
        Effect.callback<Server>((resume) => {
          const server = createServer(() => {})
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.sync(() => server.close())
      )
      const address = silent.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      const waited = Date.now()
      const timedOut = yield* Effect.flip(
        Effect.scoped(
          Layer.build(Postgres.layer(`postgres://postgres@127.0.0.1:${port}/x`, { connectTimeout: "1 second" }))
        )
      )
      assert.strictEqual(timedOut._tag, "PostgresUnreachable")
      assert.isBelow(Date.now() - waited, 3000)

      const invalid = yield* Effect.flip(Effect.scoped(Layer.build(Postgres.layer("mysql://x@y/z"))))
      assert.strictEqual(invalid._tag, "PostgresUnreachable")
      assert.include(invalid.message, "not a PostgreSQL URL")
    }))
})
