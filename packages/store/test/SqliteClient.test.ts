/**
 * The `node:sqlite` driver, tested as a driver: statements and helpers, transactions and
 * savepoints, errors, file persistence, read-only files, concurrency, integers, `Migrator`,
 * and `effect/cluster`'s SQL storage running a workflow to completion.
 */
import { assert, describe, it } from "@effect/vitest"
import { Config, Deferred, Effect, Exit, Fiber, Layer, Schema, Scope, Stream } from "effect"
import { ClusterWorkflowEngine, SingleRunner } from "effect/cluster"
import { Digest } from "effect/crypto"
import { Reactivity } from "effect/reactivity"
import { Migrator, SqlClient, SqlError } from "effect/sql"
import { Activity, Workflow } from "effect/workflow"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as SqliteClient from "../src/SqliteClient.ts"

/** A temporary directory, removed with the test's scope. */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "batch-extract-store-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const open = (options: SqliteClient.SqliteClientConfig) =>
  SqliteClient.make(options).pipe(Effect.provide(Reactivity.layer))

const memory = (options: Partial<SqliteClient.SqliteClientConfig> = {}) => open({ filename: ":memory:", ...options })

const withPeople = (sql: SqlClient.SqlClient) =>
  sql`CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, age INTEGER)`

describe("SqliteClient", () => {
  it.live("runs statements with parameters, sql.in, sql.insert, sql.update and updateValues", () =>
    Effect.gen(function*() {
      const sql = yield* memory()
      assert.deepStrictEqual(yield* withPeople(sql), [])

      const inserted = yield* sql<{ id: number; name: string }>`INSERT INTO people ${
        sql.insert([{ name: "ada", age: 36 }, { name: "alan", age: 41 }, { name: "grace", age: 85 }])
      } RETURNING id, name`
      assert.deepStrictEqual(inserted.map((row) => ({ ...row })), [
        { id: 1, name: "ada" },
        { id: 2, name: "alan" },
        { id: 3, name: "grace" }
      ])

      const minimumAge = 40
      const older = yield* sql<{ name: string }>`SELECT name FROM people WHERE age > ${minimumAge} ORDER BY id`
      assert.deepStrictEqual(older.map((row) => row.name), ["alan", "grace"])

      const chosen = yield* sql<{ name: string }>`SELECT name FROM people WHERE ${sql.in("id", [1, 3])} ORDER BY id`
      assert.deepStrictEqual(chosen.map((row) => row.name), ["ada", "grace"])
      const none = yield* sql`SELECT name FROM people WHERE id IN ${sql.in([])}`
      assert.deepStrictEqual(none, [])

      yield* sql`UPDATE people SET ${sql.update({ name: "ada lovelace", age: 37 })} WHERE id = ${1}`
      yield* sql`UPDATE people SET age = data.age FROM ${
        sql.updateValues([{ id: 2, age: 42 }, { id: 3, age: 86 }], "data")
      } WHERE people.id = data.id`
      const everyone = yield* sql<{ name: string; age: number }>`SELECT name, age FROM people ORDER BY id`
      assert.deepStrictEqual(everyone.map((row) => [row.name, row.age]), [["ada lovelace", 37], ["alan", 42], [
        "grace",
        86
      ]])

      assert.strictEqual(sql.onDialectOrElse({ sqlite: () => "sqlite", orElse: () => "other" }), "sqlite")
    }))

  it.live("returns raw results, value arrays and unprepared results", () =>
    Effect.gen(function*() {
      const sql = yield* memory()
      assert.deepStrictEqual(yield* withPeople(sql).raw, { changes: 0, lastInsertRowid: 0 })
      assert.deepStrictEqual(yield* sql`INSERT INTO people (name, age) VALUES (${"ada"}, ${36})`.raw, {
        changes: 1,
        lastInsertRowid: 1
      })
      assert.deepStrictEqual(yield* sql`SELECT id, name FROM people`.values, [[1, "ada"]])
      assert.deepStrictEqual(yield* sql`SELECT id, name FROM people`.valuesUnprepared, [[1, "ada"]])
      // The cached statement goes back to returning objects after `values`.
      const rows = yield* sql<{ id: number; name: string }>`SELECT id, name FROM people`
      assert.deepStrictEqual(rows.map((row) => ({ ...row })), [{ id: 1, name: "ada" }])
      const unprepared = yield* sql<{ name: string }>`SELECT name FROM people`.unprepared
      assert.deepStrictEqual(unprepared.map((row) => row.name), ["ada"])
    }))

  it.live("binds booleans, undefined, dates, bigints and bytes as SQLite values", () =>
    Effect.gen(function*() {
      const sql = yield* memory()
      const [row] = yield* sql<
        { t: number; f: number; u: null; d: string; b: number; bytes: Uint8Array }
      >`SELECT ${true} AS t, ${false} AS f, ${undefined} AS u, ${new Date(0)} AS d, ${12n} AS b, ${new Uint8Array([
        1,
        2
      ])} AS bytes`
      assert.deepStrictEqual(
        { ...row },
        { t: 1, f: 0, u: null, d: "1970-01-01T00:00:00.000Z", b: 12, bytes: new Uint8Array([1, 2]) }
      )

      // A plain object would be taken for named parameters by node:sqlite: refused instead.
      const error = yield* Effect.flip(sql`SELECT ${{ a: 1 } as unknown as string} AS x`)
      assert.isTrue(SqlError.isSqlError(error))
      assert.match(error.message, /Cannot bind parameter 1/)
    }))

  it.live("streams rows in chunks", () =>
    Effect.gen(function*() {
      const sql = yield* memory({ streamChunkSize: 100 })
      yield* sql`CREATE TABLE numbers (n INTEGER PRIMARY KEY)`
      yield* sql`WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 250)
        INSERT INTO numbers SELECT n FROM s`
      const stream = sql<{ n: number }>`SELECT n FROM numbers ORDER BY n`.stream
      const chunkSizes = yield* stream.pipe(Stream.chunks, Stream.map((chunk) => chunk.length), Stream.runCollect)
      assert.deepStrictEqual(Array.from(chunkSizes), [100, 100, 50])
      const numbers = yield* Stream.runCollect(stream)
      assert.deepStrictEqual(Array.from(numbers, (row) => row.n), Array.from({ length: 250 }, (_, i) => i + 1))

      // Taking a prefix closes the cursor and gives the connection back.
      const firstThree = yield* Stream.runCollect(Stream.take(stream, 3))
      assert.deepStrictEqual(Array.from(firstThree, (row) => row.n), [1, 2, 3])
      assert.deepStrictEqual(yield* sql`SELECT count(*) AS c FROM numbers`, [{ c: 250 }])

      const failing = yield* Effect.flip(Stream.runCollect(sql`SELECT * FROM missing`.stream))
      assert.strictEqual(failing._tag, "SqlError")
    }))

  it.live("commits and rolls back transactions, and nests them as savepoints", () =>
    Effect.gen(function*() {
      const sql = yield* memory()
      yield* withPeople(sql)
      const names = Effect.map(sql<{ name: string }>`SELECT name FROM people ORDER BY id`, (rows) =>
        rows.map((row) => row.name))

      yield* sql.withTransaction(Effect.all([
        sql`INSERT INTO people (name) VALUES (${"ada"})`,
        sql`INSERT INTO people (name) VALUES (${"alan"})`
      ]))
      assert.deepStrictEqual(yield* names, ["ada", "alan"])

      const failed = yield* sql`INSERT INTO people (name) VALUES (${"grace"})`.pipe(
        Effect.andThen(Effect.fail("boom" as const)),
        sql.withTransaction,
        Effect.flip
      )
      assert.strictEqual(failed, "boom")
      assert.deepStrictEqual(yield* names, ["ada", "alan"])

      // The inner savepoint rolls back, the outer transaction keeps its own write.
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO people (name) VALUES (${"edsger"})`
        const inner = yield* sql`INSERT INTO people (name) VALUES (${"niklaus"})`.pipe(
          Effect.andThen(Effect.fail("inner" as const)),
          sql.withTransaction,
          Effect.flip
        )
        assert.strictEqual(inner, "inner")
        yield* sql.withTransaction(sql`INSERT INTO people (name) VALUES (${"barbara"})`)
      }))
      assert.deepStrictEqual(yield* names, ["ada", "alan", "edsger", "barbara"])

      // A failing statement inside a transaction rolls back everything before it.
      const conflict = yield* sql.withTransaction(Effect.all([
        sql`INSERT INTO people (name) VALUES (${"donald"})`,
        sql`INSERT INTO people (name) VALUES (${"ada"})`
      ])).pipe(Effect.flip)
      assert.strictEqual(conflict.reason._tag, "UniqueViolation")
      assert.deepStrictEqual(yield* names, ["ada", "alan", "edsger", "barbara"])
    }))

  it.live("rolls back an interrupted transaction and frees the connection", () =>
    Effect.gen(function*() {
      const sql = yield* memory()
      yield* withPeople(sql)
      const inserted = yield* Deferred.make<void>()
      const fiber = yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO people (name) VALUES (${"ada"})`
        yield* Deferred.succeed(inserted, undefined)
        return yield* Effect.never
      })).pipe(Effect.forkChild)
      yield* Deferred.await(inserted)
      yield* Fiber.interrupt(fiber)

      assert.deepStrictEqual(yield* sql`SELECT count(*) AS c FROM people`, [{ c: 0 }])
      yield* sql.withTransaction(sql`INSERT INTO people (name) VALUES (${"alan"})`)
      assert.deepStrictEqual(yield* sql`SELECT name FROM people`, [{ name: "alan" }])
    }))

  it.live("fails a bad statement with a SqlError that keeps SQLite's error", () =>
    Effect.gen(function*() {
      const sql = yield* memory()
      yield* withPeople(sql)

      const syntax = yield* Effect.flip(sql`SELEKT 1`)
      assert.isTrue(SqlError.isSqlError(syntax))
      assert.strictEqual(syntax.reason.operation, "prepare")
      assert.instanceOf(syntax.reason.cause, Error)
      assert.match((syntax.reason.cause as Error).message, /syntax error/)
      assert.match(syntax.message, /syntax error/)

      const missing = yield* Effect.flip(sql`SELECT * FROM nowhere`)
      assert.match(missing.message, /no such table: nowhere/)

      yield* sql`INSERT INTO people (name) VALUES (${"ada"})`
      const unique = yield* Effect.flip(sql`INSERT INTO people (name) VALUES (${"ada"})`)
      assert.strictEqual(unique.reason._tag, "UniqueViolation")
      assert.strictEqual(unique.reason.operation, "execute")

      const notNull = yield* Effect.flip(sql`INSERT INTO people (name) VALUES (${null})`)
      assert.strictEqual(notNull.reason._tag, "ConstraintError")

      const unopenable = yield* Effect.flip(open({ filename: "/nonexistent-dir/state.db" }))
      assert.strictEqual(unopenable.reason._tag, "ConnectionError")
    }))

  it.live("keeps a file database across two layers, in WAL mode with a busy timeout", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = join(dir, "state.db")

      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* withPeople(sql)
        yield* sql`INSERT INTO people ${sql.insert({ name: "ada", age: 36 })}`
        assert.deepStrictEqual(yield* sql`PRAGMA journal_mode`, [{ journal_mode: "wal" }])
        assert.deepStrictEqual(yield* sql`PRAGMA busy_timeout`, [{ timeout: 5000 }])
      }).pipe(Effect.provide(SqliteClient.layer({ filename })))

      const rows = yield* Effect.gen(function*() {
        const sql = yield* SqliteClient.SqliteClient
        assert.deepStrictEqual(yield* sql`PRAGMA busy_timeout`, [{ timeout: 250 }])
        return yield* sql<{ name: string; age: number }>`SELECT name, age FROM people`
      }).pipe(Effect.provide(SqliteClient.layer({ filename, busyTimeout: "250 millis" })))
      assert.deepStrictEqual(rows.map((row) => ({ ...row })), [{ name: "ada", age: 36 }])
    }))

  it.live("closes the database when its scope closes", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const sql = yield* Scope.provide(memory(), scope)
      assert.deepStrictEqual(yield* sql`SELECT 1 AS one`, [{ one: 1 }])
      yield* Scope.close(scope, Exit.void)
      const closed = yield* Effect.flip(sql`SELECT 2 AS two`)
      assert.isTrue(SqlError.isSqlError(closed))
      assert.match(closed.message, /not open/)
    }))

  it.live("rejects writes on a read-only file and still reads in transactions", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = join(dir, "state.db")
      const writer = yield* open({ filename })
      yield* withPeople(writer)
      yield* writer`INSERT INTO people (name) VALUES (${"ada"})`

      const reader = yield* open({ filename, readonly: true })
      const rows = yield* reader.withTransaction(reader<{ name: string }>`SELECT name FROM people`)
      assert.deepStrictEqual(rows.map((row) => row.name), ["ada"])
      const refused = yield* Effect.flip(reader`INSERT INTO people (name) VALUES (${"alan"})`)
      assert.isTrue(SqlError.isSqlError(refused))
      assert.match(refused.message, /readonly database/)
      assert.deepStrictEqual(yield* writer`SELECT count(*) AS c FROM people`, [{ c: 1 }])

      const noFile = yield* Effect.flip(open({ filename: join(dir, "missing.db"), readonly: true }))
      assert.strictEqual(noFile.reason._tag, "ConnectionError")
    }))

  it.live("stays correct with many fibers on one connection", () =>
    Effect.gen(function*() {
      const sql = yield* memory()
      yield* sql`CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)`
      yield* sql`CREATE TABLE events (id INTEGER PRIMARY KEY, fiber INTEGER NOT NULL)`
      yield* sql`INSERT INTO counter (id, value) VALUES (1, 0)`

      // Read-modify-write in a transaction that yields between its statements: without
      // serialisation increments would be lost.
      yield* Effect.forEach(
        Array.from({ length: 200 }, (_, i) => i),
        (fiber) =>
          sql.withTransaction(Effect.gen(function*() {
            const [row] = yield* sql<{ value: number }>`SELECT value FROM counter WHERE id = 1`
            yield* Effect.yieldNow
            yield* sql`UPDATE counter SET value = ${row!.value + 1} WHERE id = 1`
            yield* sql`INSERT INTO events (fiber) VALUES (${fiber})`
          })),
        { concurrency: "unbounded", discard: true }
      )
      // Plain statements from many fibers alongside.
      const counts = yield* Effect.forEach(
        Array.from({ length: 100 }, (_, i) => i),
        () => Effect.map(sql<{ c: number }>`SELECT count(*) AS c FROM events`, (rows) => rows[0]!.c),
        { concurrency: "unbounded" }
      )
      assert.isTrue(counts.every((count) => count === 200))
      assert.deepStrictEqual(yield* sql`SELECT value FROM counter`, [{ value: 200 }])
    }))

  it.live("reads integers past 2^53 as bigints under SafeIntegers and refuses to round them otherwise", () =>
    Effect.gen(function*() {
      const sql = yield* memory()
      yield* sql`CREATE TABLE ids (id INTEGER NOT NULL)`
      const large = 2n ** 60n + 1n
      yield* sql`INSERT INTO ids (id) VALUES (${large})`

      const rows = yield* sql<{ id: bigint }>`SELECT id FROM ids`.pipe(
        Effect.provideService(SqlClient.SafeIntegers, true)
      )
      assert.strictEqual(rows[0]!.id, large)
      const values = yield* sql`SELECT id FROM ids`.values.pipe(Effect.provideService(SqlClient.SafeIntegers, true))
      assert.deepStrictEqual(values, [[large]])

      const unsafe = yield* Effect.flip(sql`SELECT id FROM ids`)
      assert.isTrue(SqlError.isSqlError(unsafe))
      assert.match(unsafe.message, /too large/)
      // Small integers stay numbers by default.
      assert.deepStrictEqual(yield* sql`SELECT 42 AS n`, [{ n: 42 }])
    }))

  it.live("renames columns both ways with transforms", () =>
    Effect.gen(function*() {
      const sql = yield* memory({
        transformQueryNames: (name) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`),
        transformResultNames: (name) => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())
      })
      yield* sql`CREATE TABLE jobs (job_id TEXT PRIMARY KEY, record_count INTEGER)`
      yield* sql`INSERT INTO jobs ${sql.insert({ jobId: "j-1", recordCount: 100 })}`
      const rows = yield* sql`SELECT * FROM jobs`
      assert.deepStrictEqual(rows.map((row) => ({ ...row })), [{ jobId: "j-1", recordCount: 100 }])
      const raw = yield* sql.withoutTransforms()`SELECT * FROM jobs`
      assert.deepStrictEqual(raw.map((row) => ({ ...row })), [{ job_id: "j-1", record_count: 100 }])
    }))

  it.live("backs the database up to a file", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const sql = yield* open({ filename: join(dir, "state.db") })
      yield* withPeople(sql)
      yield* sql`INSERT INTO people (name) VALUES (${"ada"})`
      const pages = yield* sql.backup(join(dir, "copy.db"))
      assert.isTrue(pages > 0)
      const copy = yield* open({ filename: join(dir, "copy.db"), readonly: true })
      assert.deepStrictEqual(yield* copy`SELECT name FROM people`, [{ name: "ada" }])
    }))

  it.live("runs Migrator migrations once", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = join(dir, "state.db")
      let runs = 0
      const migrate = Migrator.make({})({
        loader: Migrator.fromRecord({
          "1_create_jobs": Effect.gen(function*() {
            runs++
            const sql = yield* SqlClient.SqlClient
            yield* sql`CREATE TABLE jobs (id TEXT PRIMARY KEY, status TEXT NOT NULL)`
          }),
          "2_add_arn": Effect.gen(function*() {
            runs++
            const sql = yield* SqlClient.SqlClient
            yield* sql`ALTER TABLE jobs ADD COLUMN arn TEXT`
          })
        })
      })

      const first = yield* migrate.pipe(Effect.provide(SqliteClient.layer({ filename })))
      assert.deepStrictEqual(first, [[1, "create_jobs"], [2, "add_arn"]])
      const second = yield* migrate.pipe(Effect.provide(SqliteClient.layer({ filename })))
      assert.deepStrictEqual(second, [])
      assert.strictEqual(runs, 2)

      const sql = yield* open({ filename })
      const columns = yield* sql<{ name: string }>`SELECT name FROM pragma_table_info('jobs') ORDER BY cid`
      assert.deepStrictEqual(columns.map((column) => column.name), ["id", "status", "arn"])
    }))

  it.live("provides both services from layerConfig", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = join(dir, "state.db")
      const same = yield* Effect.gen(function*() {
        const sqlite = yield* SqliteClient.SqliteClient
        const sql = yield* SqlClient.SqlClient
        assert.strictEqual(sqlite.config.filename, filename)
        assert.strictEqual(sql.driver, "sqlite-node")
        return sqlite === sql
      }).pipe(Effect.provide(SqliteClient.layerConfig({ filename: Config.succeed(filename) })))
      assert.isTrue(same)
    }))
})

// A workflow with one activity, on effect/cluster's SQL message and runner storage.

const Greet = Workflow.make("Greet", {
  payload: { name: Schema.String },
  success: Schema.String,
  idempotencyKey: ({ name }) => name
})

describe("SqliteClient as effect/cluster storage", () => {
  it.live(
    "runs a workflow with an activity to completion, and replays its result after a restart",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const filename = join(dir, "cluster.db")
        let activityRuns = 0

        const GreetLive = Greet.toLayer(({ name }) =>
          Activity.make({
            name: "Compose",
            success: Schema.String,
            execute: Effect.sync(() => {
              activityRuns++
              return `hello ${name}`
            })
          })
        )
        const runner = GreetLive.pipe(
          Layer.provideMerge(ClusterWorkflowEngine.layer),
          Layer.provideMerge(SingleRunner.layer({ runnerStorage: "sql" })),
          Layer.provide(SqliteClient.layer({ filename })),
          Layer.provide(Digest.layerWebCrypto)
        )

        const first = yield* Greet.execute({ name: "ada" }).pipe(Effect.provide(runner))
        assert.strictEqual(first, "hello ada")
        assert.strictEqual(activityRuns, 1)

        // A new runner on the same file: the finished execution's result comes from storage.
        const second = yield* Greet.execute({ name: "ada" }).pipe(Effect.provide(runner))
        assert.strictEqual(second, "hello ada")
        assert.strictEqual(activityRuns, 1)

        const sql = yield* open({ filename, readonly: true })
        const tables = yield* sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
        const names = tables.map((table) => table.name)
        assert.includeMembers(names, ["cluster_messages", "cluster_replies"])
        const [replies] = yield* sql<{ c: number }>`SELECT count(*) AS c FROM cluster_replies`
        assert.isTrue(replies!.c > 0)
      })
  )
})
