/**
 * A `SqlClient` on PostgreSQL from a `postgres://` URL, over `@effect/sql-pg` (a pool of
 * native wire-protocol connections).
 *
 * **Details**
 *
 * - The Layer connects once while it is built (`SELECT 1`, within `connectTimeout`, 5 seconds
 *   by default): a database that is down, unreachable, refuses the credentials or does not
 *   exist fails the Layer with {@link PostgresUnreachable} instead of the first statement.
 * - The URL's password never appears in an error message.
 * - Provides both `PgClient.PgClient` and `SqlClient.SqlClient` (the same client).
 *
 * **Gotchas**
 *
 * - `bigint` columns and `count(*)` read back as JavaScript `bigint`s and `sum(…)` of a
 *   `bigint` column as a string (`numeric`): code that works on SQLite and PostgreSQL converts
 *   with `Number(…)`.
 *
 * @since 0.2.0
 */
import { PgClient } from "@effect/sql-pg"
import { Config, Data, Duration, Effect, Layer, Redacted } from "effect"
import type { SqlClient, SqlError } from "effect/sql"

/**
 * The PostgreSQL database could not be used: the URL is invalid, or connecting (or
 * authenticating, or opening the database) failed or took longer than the timeout.
 *
 * @since 0.2.0
 */
export class PostgresUnreachable extends Data.TaggedError("PostgresUnreachable")<{
  /** The URL without its password. */
  readonly url: string
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * Options of the PostgreSQL client.
 *
 * @since 0.2.0
 */
export interface PostgresOptions {
  /** How long connecting (and the check at build) may take. Defaults to 5 seconds. */
  readonly connectTimeout?: Duration.Input | undefined
  /** Connections in the pool. Defaults to `@effect/sql-pg`'s default. */
  readonly maxConnections?: number | undefined
  /** Reported to the server as `application_name`. Defaults to `batch-extract`. */
  readonly applicationName?: string | undefined
}

/**
 * The URL with its password masked, for messages.
 *
 * @since 0.2.0
 */
export const displayUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    if (parsed.searchParams.has("password")) parsed.searchParams.set("password", "***")
    return parsed.toString()
  } catch {
    // Not a URL: shown as given, but for what would be a password.
    return url.replace(/\/\/([^/@:]*):[^/@]*@/, "//$1:***@")
  }
}

/** A SQL error's message with its underlying cause's (e.g. `ECONNREFUSED`, `database "x" does not exist`). */
const describe = (error: SqlError.SqlError): string => {
  const cause = error.reason.cause
  const detail = cause instanceof Error
    ? cause.message || (cause as NodeJS.ErrnoException).code || ""
    : ""
  return detail === "" || error.message.includes(detail) ? error.message : `${error.message} (${detail})`
}

/**
 * Connects to the database at `url` and checks it answers; the pool is closed when the scope
 * closes.
 *
 * @since 0.2.0
 */
export const make = (
  url: string | Redacted.Redacted<string>,
  options: PostgresOptions = {}
) =>
  Effect.gen(function*() {
    const raw = Redacted.isRedacted(url) ? Redacted.value(url) : url
    const shown = displayUrl(raw)
    const unreachable = (message: string) => (cause?: unknown) =>
      new PostgresUnreachable({ url: shown, message, ...(cause === undefined ? {} : { cause }) })
    let protocol: string | undefined
    try {
      protocol = new URL(raw).protocol
    } catch {
      protocol = undefined
    }
    if (protocol !== "postgres:" && protocol !== "postgresql:") {
      return yield* unreachable(`not a PostgreSQL URL: ${shown} (expected postgres://user@host:port/database)`)()
    }
    const timeout = Duration.fromInputUnsafe(options.connectTimeout ?? Duration.seconds(5))
    const client = yield* PgClient.make({
      url: Redacted.make(raw),
      connectTimeout: timeout,
      applicationName: options.applicationName ?? "batch-extract",
      ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections })
    }).pipe(Effect.mapError((error) => unreachable(`cannot use PostgreSQL at ${shown}: ${describe(error)}`)(error)))
    // The pool connects lazily: connect now, so a bad URL fails here and not at the first statement.
    yield* client`SELECT 1`.pipe(
      Effect.timeoutOrElse({
        duration: Duration.sum(timeout, Duration.seconds(1)),
        orElse: () =>
          Effect.fail(unreachable(`PostgreSQL at ${shown} did not answer within ${Duration.format(timeout)}`)())
      }),
      Effect.mapError((error) =>
        error instanceof PostgresUnreachable
          ? error
          : unreachable(`cannot connect to PostgreSQL at ${shown}: ${describe(error)}`)(error)
      )
    )
    return client
  })

/**
 * A Layer providing `PgClient` and `SqlClient.SqlClient` (the same client) on the database at
 * `url`, checked at build; the pool is closed when the Layer is released.
 *
 * @since 0.2.0
 */
export const layer = (
  url: string | Redacted.Redacted<string>,
  options?: PostgresOptions
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, PostgresUnreachable> => PgClient.layerFrom(make(url, options))

/**
 * Like `layer`, with the URL (and options) read from `Config` (e.g.
 * `Config.redacted("DATABASE_URL")`).
 *
 * @since 0.2.0
 */
export const layerConfig = (
  url: Config.Config<string | Redacted.Redacted<string>>,
  options?: PostgresOptions
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, PostgresUnreachable | Config.ConfigError> =>
  PgClient.layerFrom(Effect.flatMap(url, (value) => make(value, options)))
