/**
 * An Effect `SqlClient` over Node's built-in `node:sqlite` (`DatabaseSync`).
 *
 * No published Effect SQLite driver loads with effect 4.1 (the `@effect/sql-sqlite-*` 4.x
 * betas import `effect/unstable/*`), so this module is the project's own, modelled on the
 * Effect team's `@effect/sql-sqlite-node` and built from `effect/sql`'s building blocks. It
 * is the embedded default for run state: `effect/sql` statements, `Migrator`, and
 * `effect/cluster`'s `SqlMessageStorage` / `SqlRunnerStorage` all run on it.
 *
 * **Details**
 *
 * - One connection, shared through a semaphore: `node:sqlite` is synchronous, so a statement
 *   runs start to finish on the event loop while it holds the connection.
 * - Writable file databases use WAL and wait `busyTimeout` (5 s) for a lock. Transactions
 *   start with `BEGIN IMMEDIATE` (plain `BEGIN` when read-only), nest as savepoints, and are
 *   released after each nested level.
 * - Prepared statements are cached (200 statements, 10 minutes idle by default).
 * - `updateValues` is supported (a `VALUES` list named by a common table expression).
 * - Errors are `SqlError`s classified from SQLite's result code, with the original error as
 *   their cause.
 *
 * **Gotchas**
 *
 * - One process per database file: a second writer sees `database is locked` once the busy
 *   timeout runs out. Other processes should open the file with `readonly: true`.
 * - Busy waits block the Node.js event loop (`node:sqlite` is synchronous).
 * - Node prints an `ExperimentalWarning` when `node:sqlite` is first loaded (Node 22); this
 *   module leaves process warnings alone.
 *
 * @since 0.1.0
 */
import { Cache, Cause, Channel, Config, Context, Duration, Effect, Layer, Scope, Semaphore, Stream } from "effect"
import type * as Arr from "effect/Array"
import { Reactivity } from "effect/reactivity"
import { SqlClient, type SqlConnection, SqlError, Statement } from "effect/sql"
import { backup as backupDatabase, DatabaseSync } from "node:sqlite"
import type { SQLInputValue, StatementSync } from "node:sqlite"

/**
 * Type identifier of `SqliteClient` values.
 *
 * @since 0.1.0
 */
export const TypeId: TypeId = "~@batch-extract/store/SqliteClient"

/**
 * Type identifier of `SqliteClient` values.
 *
 * @since 0.1.0
 */
export type TypeId = "~@batch-extract/store/SqliteClient"

/**
 * A `SqlClient` over one `node:sqlite` database, with the options it was opened with and an
 * online backup.
 *
 * **When to use**
 *
 * Yield `SqlClient.SqlClient` in code that works on any SQL database; yield `SqliteClient`
 * only for what is SQLite's own (`backup`, `config`).
 *
 * @since 0.1.0
 */
export interface SqliteClient extends SqlClient.SqlClient {
  readonly [TypeId]: TypeId
  /** The options the database was opened with. */
  readonly config: SqliteClientConfig
  /**
   * Copies the open database to `destination` (overwritten if it exists) with SQLite's
   * online backup and returns the number of pages copied.
   *
   * **Gotchas**
   *
   * It holds the connection until the copy is done, so other statements wait; calling it
   * inside `withTransaction` on the same client deadlocks.
   */
  readonly backup: (destination: string) => Effect.Effect<number, SqlError.SqlError>
}

/**
 * The `SqliteClient` service. `layer` and `layerConfig` provide it together with
 * `SqlClient.SqlClient` (the same client).
 *
 * @since 0.1.0
 */
export const SqliteClient = Context.Service<SqliteClient>("@batch-extract/store/SqliteClient")

/**
 * Options of a `node:sqlite` database.
 *
 * @since 0.1.0
 */
export interface SqliteClientConfig {
  /** Path of the database file; `":memory:"` for a private in-memory database. */
  readonly filename: string
  /**
   * Open the file read-only: writes fail with a `SqlError`, the journal mode is left as the
   * writer set it, and transactions start with a plain `BEGIN`. The file must exist.
   */
  readonly readonly?: boolean | undefined
  /** Keep SQLite's rollback journal instead of switching a writable file to WAL. */
  readonly disableWAL?: boolean | undefined
  /**
   * How long a statement waits for a lock held by another connection before it fails with
   * a retryable `LockTimeoutError`. Defaults to 5 seconds; `Duration.infinity` is clamped
   * to SQLite's maximum. The wait blocks the event loop.
   */
  readonly busyTimeout?: Duration.Input | undefined
  /** Prepared statements kept, least recently used evicted first. Defaults to 200. */
  readonly prepareCacheSize?: number | undefined
  /** How long an unused prepared statement stays cached. Defaults to 10 minutes. */
  readonly prepareCacheTTL?: Duration.Input | undefined
  /** Rows per chunk of `stream`. Defaults to 128. */
  readonly streamChunkSize?: number | undefined
  /** Extra attributes on every statement's span. */
  readonly spanAttributes?: Record<string, unknown> | undefined
  /** Renames result columns (e.g. `snake_case` to `camelCase`). */
  readonly transformResultNames?: ((str: string) => string) | undefined
  /** Renames identifiers in queries (e.g. `camelCase` to `snake_case`). */
  readonly transformQueryNames?: ((str: string) => string) | undefined
}

/**
 * Opens the database and builds the client, closing the database when the scope closes.
 *
 * **When to use**
 *
 * Use in tests or code that manages the scope itself; applications provide `layer` or
 * `layerConfig` instead.
 *
 * **Details**
 *
 * Integers outside JavaScript's safe range make a read fail with a `SqlError` rather than
 * lose precision; provide `SqlClient.SafeIntegers` (`true`) around a query to read every
 * integer as a `bigint` (as `effect/cluster`'s SQL storage does). `bigint` parameters are
 * always accepted. Parameters are bound as SQLite values: booleans as `1`/`0`, `undefined`
 * as `NULL`, `Date`s as ISO-8601 text; any other object fails the statement with a
 * `SqlError` (`node:sqlite` would otherwise take it for named parameters and bind the rest
 * out of place).
 *
 * **Gotchas**
 *
 * The single connection is held for a whole `stream` and a whole transaction: a query on
 * the same client outside the transaction (for example from a forked fiber that does not
 * inherit it, or while consuming a stream) waits for it and can deadlock.
 *
 * @since 0.1.0
 */
export const make: (
  options: SqliteClientConfig
) => Effect.Effect<SqliteClient, SqlError.SqlError, Scope.Scope | Reactivity.Reactivity> = Effect.fn(
  "SqliteClient.make"
)(function*(options: SqliteClientConfig) {
  const readonly = options.readonly ?? false
  const db = yield* Effect.acquireRelease(
    Effect.try({
      try: () => new DatabaseSync(options.filename, { readOnly: readonly }),
      catch: (cause) => toSqlError(cause, `Failed to open SQLite database ${options.filename}`, "open")
    }),
    (db) =>
      Effect.sync(() => {
        if (db.isOpen) db.close()
      })
  )

  yield* configure(db, `PRAGMA busy_timeout = ${busyTimeoutMillis(options.busyTimeout)}`)
  // The journal mode is stored in the file: a read-only connection keeps the writer's, and
  // an in-memory database answers "memory" whatever is asked.
  if (!readonly && options.disableWAL !== true) {
    yield* configure(db, "PRAGMA journal_mode = WAL")
  }

  const connection = yield* makeConnection(db, options)
  const semaphore = yield* Semaphore.make(1)
  const acquirers = SqlClient.makeSqliteAcquirers({
    connection: Effect.succeed(connection),
    semaphore,
    isTransaction: () => db.isTransaction
  })

  const client = yield* SqlClient.make({
    acquirer: acquirers.acquirer,
    borrower: acquirers.borrower,
    transactionAcquirer: acquirers.transactionAcquirer,
    onCommitFailure: acquirers.onCommitFailure,
    isTransaction: acquirers.isTransaction,
    compiler: makeCompiler(options.transformQueryNames),
    // The same driver name as `@effect/sql-sqlite-node`, which is also `node:sqlite` on one
    // shared connection: code that branches on `driver` should treat both alike.
    driver: "sqlite-node",
    spanAttributes: [
      ...(options.spanAttributes ? Object.entries(options.spanAttributes) : []),
      ["db.system.name", "sqlite"]
    ],
    prepareTransactionControls: true,
    // IMMEDIATE takes the write lock up front, so a transaction that reads and then writes
    // cannot fail half-way on a lock upgrade; a read-only connection never writes.
    beginTransaction: readonly ? "BEGIN" : "BEGIN IMMEDIATE",
    releaseSavepoint: (name) => `RELEASE SAVEPOINT ${name}`,
    transformRows: options.transformResultNames
      ? Statement.defaultTransforms(options.transformResultNames).array
      : undefined
  })

  return Object.assign(client, {
    [TypeId]: TypeId,
    config: options,
    backup: (destination: string) =>
      Effect.scoped(Effect.flatMap(acquirers.acquirer, (conn) => conn.backup(destination)))
  }) as SqliteClient
})

/**
 * A Layer providing `SqliteClient` and `SqlClient.SqlClient` (the same client) over the
 * given database; the database is closed when the Layer is released.
 *
 * @since 0.1.0
 */
export const layer = (
  config: SqliteClientConfig
): Layer.Layer<SqliteClient | SqlClient.SqlClient, SqlError.SqlError> =>
  Layer.effectContext(Effect.map(make(config), toContext)).pipe(Layer.provide(Reactivity.layer))

/**
 * Like `layer`, with the options read from `Config` (e.g.
 * `{ filename: Config.String("STATE_DB") }`).
 *
 * @since 0.1.0
 */
export const layerConfig = (
  config: Config.Wrap<SqliteClientConfig>
): Layer.Layer<SqliteClient | SqlClient.SqlClient, Config.ConfigError | SqlError.SqlError> =>
  Layer.effectContext(
    Config.unwrap(config).pipe(
      Effect.flatMap(make),
      Effect.map(toContext)
    )
  ).pipe(Layer.provide(Reactivity.layer))

// internal

interface SqliteConnection extends SqlConnection.Connection {
  readonly backup: (destination: string) => Effect.Effect<number, SqlError.SqlError>
}

/** SQLite's largest busy timeout (a signed 32-bit count of milliseconds). */
const maxBusyTimeoutMillis = 2_147_483_647

const busyTimeoutMillis = (timeout: Duration.Input | undefined): number =>
  Math.min(
    maxBusyTimeoutMillis,
    Math.max(0, Math.round(Duration.toMillis(timeout ?? Duration.seconds(5))))
  )

const toContext = (client: SqliteClient) =>
  Context.make(SqliteClient, client).pipe(Context.add(SqlClient.SqlClient, client))

const configure = (db: DatabaseSync, pragma: string) =>
  Effect.try({
    try: () => db.exec(pragma),
    catch: (cause) => toSqlError(cause, `Failed to configure the database (${pragma})`, "configure")
  })

type Mode = "rows" | "raw" | "values"

const makeConnection = Effect.fnUntraced(function*(db: DatabaseSync, options: SqliteClientConfig) {
  const prepareCache = yield* Cache.make({
    capacity: options.prepareCacheSize ?? 200,
    timeToLive: options.prepareCacheTTL ?? Duration.minutes(10),
    lookup: (sql: string) => prepare(db, sql)
  })
  const chunkSize = Math.max(1, options.streamChunkSize ?? 128)

  const run = (statement: StatementSync, params: ReadonlyArray<unknown>, mode: Mode) =>
    Effect.withFiber<any, SqlError.SqlError>((fiber) => {
      const safeIntegers = fiber.getRef(SqlClient.SafeIntegers)
      return Effect.try({
        try: () => runSync(statement, params, mode, safeIntegers),
        catch: (cause) => toSqlError(cause, "Failed to execute statement", "execute")
      })
    })

  const runCached = (sql: string, params: ReadonlyArray<unknown>, mode: Mode) =>
    Effect.flatMap(Cache.get(prepareCache, sql), (statement) => run(statement, params, mode))

  const runUnprepared = (sql: string, params: ReadonlyArray<unknown>, mode: Mode) =>
    Effect.flatMap(prepare(db, sql), (statement) => run(statement, params, mode))

  const connection: SqliteConnection = {
    execute: (sql, params, transformRows) =>
      transformRows ? Effect.map(runCached(sql, params, "rows"), transformRows) : runCached(sql, params, "rows"),
    executeRaw: (sql, params) => runCached(sql, params, "raw"),
    executeValues: (sql, params) => runCached(sql, params, "values"),
    executeUnprepared: (sql, params, transformRows) =>
      transformRows
        ? Effect.map(runUnprepared(sql, params, "rows"), transformRows)
        : runUnprepared(sql, params, "rows"),
    executeValuesUnprepared: (sql, params) => runUnprepared(sql, params, "values"),
    // Its own statement, not a cached one: a cached statement run again while the stream is
    // open would reset the stream's cursor.
    executeStream: (sql, params, transformRows) =>
      Stream.fromChannel(Channel.fromTransform((_upstream, scope) =>
        Effect.withFiber((fiber) => {
          const safeIntegers = fiber.getRef(SqlClient.SafeIntegers)
          return Effect.try({
            try: () => {
              const statement = db.prepare(sql)
              statement.setReadBigInts(safeIntegers)
              return statement.iterate(...toSqliteParams(params))
            },
            catch: (cause) => toSqlError(cause, "Failed to execute statement", "stream")
          })
        }).pipe(
          Effect.tap((rows) => Scope.addFinalizer(scope, Effect.sync(() => rows.return?.()))),
          Effect.map((rows) => {
            // Stepping a finished node:sqlite iterator runs the statement again from the start.
            let finished = false
            return Effect.suspend((): Effect.Effect<Arr.NonEmptyReadonlyArray<any>, SqlError.SqlError | Cause.Done> => {
              const chunk: Array<any> = []
              try {
                while (!finished && chunk.length < chunkSize) {
                  const next = rows.next()
                  if (next.done) finished = true
                  else chunk.push(next.value)
                }
              } catch (cause) {
                finished = true
                return Effect.fail(toSqlError(cause, "Failed to read the next rows", "stream"))
              }
              if (chunk.length === 0) return Cause.done()
              return Effect.succeed((transformRows ? transformRows(chunk) : chunk) as Arr.NonEmptyReadonlyArray<any>)
            })
          })
        )
      )),
    backup: (destination) =>
      Effect.tryPromise({
        try: () => backupDatabase(db, destination),
        catch: (cause) => toSqlError(cause, `Failed to back up the database to ${destination}`, "backup")
      })
  }
  return connection
})

const prepare = (db: DatabaseSync, sql: string) =>
  Effect.try({
    try: () => db.prepare(sql),
    catch: (cause) => toSqlError(cause, "Failed to prepare statement", "prepare")
  })

/** Whether a statement returns rows; a prepared statement's column count never changes kind. */
const returnsRowsCache = new WeakMap<StatementSync, boolean>()

const returnsRows = (statement: StatementSync): boolean => {
  let rows = returnsRowsCache.get(statement)
  if (rows === undefined) {
    rows = statement.columns().length > 0
    returnsRowsCache.set(statement, rows)
  }
  return rows
}

const runSync = (
  statement: StatementSync,
  params: ReadonlyArray<unknown>,
  mode: Mode,
  safeIntegers: boolean
): unknown => {
  const values = toSqliteParams(params)
  statement.setReadBigInts(safeIntegers)
  if (mode === "values") statement.setReturnArrays(true)
  try {
    if (returnsRows(statement)) return statement.all(...values)
    const result = statement.run(...values)
    return mode === "raw" ? { changes: result.changes, lastInsertRowid: result.lastInsertRowid } : []
  } finally {
    if (mode === "values") statement.setReturnArrays(false)
  }
}

const toSqliteParams = (params: ReadonlyArray<unknown>): Array<SQLInputValue> => {
  const values: Array<SQLInputValue> = new Array(params.length)
  for (let i = 0; i < params.length; i++) values[i] = toSqliteValue(params[i], i)
  return values
}

const toSqliteValue = (value: unknown, index: number): SQLInputValue => {
  switch (typeof value) {
    case "string":
    case "number":
    case "bigint":
      return value
    case "boolean":
      return value ? 1 : 0
    case "undefined":
      return null
    case "object":
      if (value === null) return null
      if (value instanceof Date) return value.toISOString()
      if (ArrayBuffer.isView(value)) return value as NodeJS.ArrayBufferView
  }
  throw new TypeError(
    `Cannot bind parameter ${index + 1} to SQLite: ${
      value === null || typeof value !== "object" ? typeof value : value.constructor?.name ?? "object"
    } is not a string, number, bigint, boolean, Date, Uint8Array or null`
  )
}

/** The SQLite dialect of `effect/sql`, plus `updateValues` (a named `VALUES` list). */
const makeCompiler = (transform: ((_: string) => string) | undefined): Statement.Compiler => {
  const escape = Statement.defaultEscape("\"")
  return Statement.makeCompiler({
    dialect: "sqlite",
    placeholder: () => "?",
    onIdentifier: transform
      ? (value, withoutTransform) => withoutTransform ? escape(value) : escape(transform(value))
      : escape,
    // SQLite cannot name the columns of `(VALUES ...) AS alias(columns)`, but a common
    // table expression can: `UPDATE t SET x = data.x FROM ${sql.updateValues(rows, "data")}`.
    onRecordUpdate: (placeholders, alias, columns, values, returning) => [
      `(WITH ${alias}${columns} AS (VALUES ${placeholders}) SELECT * FROM ${alias}) AS ${alias}${
        returning ? ` RETURNING ${returning[0]}` : ""
      }`,
      returning ? [...values.flat(), ...returning[1]] : values.flat()
    ],
    onCustom: () => ["", []]
  })
}

const toSqlError = (cause: unknown, message: string, operation: string): SqlError.SqlError =>
  new SqlError.SqlError({
    reason: SqlError.classifySqliteError(withErrno(cause), {
      message: cause instanceof Error ? `${message}: ${cause.message}` : message,
      operation
    })
  })

/**
 * `node:sqlite` puts SQLite's extended result code in `errcode` (its `code` is Node's
 * `ERR_SQLITE_ERROR`); `classifySqliteError` reads `errno`.
 */
const withErrno = (cause: unknown): unknown => {
  if (typeof cause !== "object" || cause === null || !("errcode" in cause) || "errno" in cause) return cause
  const errcode = (cause as { readonly errcode: unknown }).errcode
  return typeof errcode === "number" ? Object.assign(cause, { errno: errcode }) : cause
}
