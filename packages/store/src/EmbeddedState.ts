/**
 * The embedded run state of an output directory: a SQLite database (over `node:sqlite`) in
 * `<out>/.batch-extract/state/`, which needs no setup.
 *
 * One process works on it at a time (SQLite allows one writer; the workflow engine's shard
 * locks assume one runner): opening it for work takes a lock file naming the process, and a
 * second live process is refused with {@link StoreLocked}. A lock left by a process that is
 * gone is taken over. Other commands (`status`, `stop`) open it read-only, also while a run is
 * live.
 *
 * @since 0.2.0
 */
import { Cause, Data, Effect, Layer } from "effect"
import type { SqlClient, SqlError } from "effect/sql"
import { existsSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import * as DirectoryLock from "./internal/directoryLock.ts"
import * as SqliteClient from "./SqliteClient.ts"

/** Another live process works on this store. */
export class StoreLocked extends Data.TaggedError("StoreLocked")<{ readonly message: string }> {}

/** The store cannot be opened (missing, unreadable, not a database). */
export class StoreUnavailable extends Data.TaggedError("StoreUnavailable")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** The directory of the embedded store of an output directory. */
export const directoryOf = (out: string): string => join(out, ".batch-extract", "state")

/** The database file in a store directory. */
export const databaseFile = (directory: string): string => join(directory, "state.db")

const lockFile = (directory: string) => join(directory, "lock")

const acquireLock = (directory: string) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        const file = lockFile(directory)
        const attempt = DirectoryLock.acquire(file)
        if (attempt._tag === "Held") {
          throw new StoreLocked({
            message: `the run state in ${directory} is in use by process ${attempt.holder.pid} on ` +
              `${attempt.holder.host}; wait for it to end, or stop it (a lock left by a process that is gone is ` +
              "taken over)"
          })
        }
        return file
      },
      catch: (error) =>
        error instanceof StoreLocked
          ? error
          : new StoreUnavailable({
            message: `cannot lock the run state in ${directory}: ${String(error)}`,
            cause: error
          })
    }),
    (file) => Effect.sync(() => DirectoryLock.release(file))
  )

const unavailable =
  (directory: string) => <A, R>(layer: Layer.Layer<A, SqlError.SqlError, R>): Layer.Layer<A, StoreUnavailable, R> =>
    Layer.catchCause(layer, (cause) =>
      Layer.effectContext(Effect.fail(
        new StoreUnavailable({ message: `cannot open the run state in ${directory}: ${Cause.pretty(cause)}`, cause })
      )))

/**
 * The store of an output directory, opened for work: the directory is created, the lock
 * taken (released with the Layer), the database opened (WAL). Provides the `SqlClient`.
 */
export const layer = (
  directory: string
): Layer.Layer<SqlClient.SqlClient | SqliteClient.SqliteClient, StoreLocked | StoreUnavailable> =>
  Layer.unwrap(Effect.gen(function*() {
    yield* Effect.try({
      try: () => mkdirSync(directory, { recursive: true }),
      catch: (cause) => new StoreUnavailable({ message: `cannot create ${directory}: ${String(cause)}`, cause })
    })
    yield* acquireLock(directory)
    return SqliteClient.layer({ filename: databaseFile(directory) }).pipe(unavailable(directory))
  }))

/**
 * The store of an output directory, opened read-only (no lock; works while a run is live).
 * Fails with {@link StoreUnavailable} when there is no store.
 */
export const layerReadonly = (
  directory: string
): Layer.Layer<SqlClient.SqlClient | SqliteClient.SqliteClient, StoreUnavailable> =>
  Layer.unwrap(Effect.suspend(() =>
    existsSync(databaseFile(directory))
      ? Effect.succeed(
        SqliteClient.layer({ filename: databaseFile(directory), readonly: true }).pipe(
          unavailable(directory)
        )
      )
      : Effect.fail(new StoreUnavailable({ message: `no run state in ${directory}` }))
  ))
