/**
 * A throwaway PostgreSQL cluster for tests: `initdb` in a temporary directory, a server on
 * 127.0.0.1 and a free port only (its Unix socket in that directory, no other socket), trust
 * authentication, one database (more with `createDatabase`, fresh schemas with `createSchema`).
 * The cluster is stopped (`pg_ctl stop -m immediate`) and its directory removed when the scope
 * closes, and on process exit (or SIGINT, SIGTERM, SIGHUP).
 *
 * PostgreSQL's binaries are looked up in `/usr/lib/postgresql/<version>/bin` (Debian), then
 * `/usr/local/bin`, then `PATH`. PostgreSQL refuses to run as root: as root, `initdb` and
 * `pg_ctl` run as the `postgres` user (`runuser -u postgres --`, else `su postgres -c`), and the
 * directory is given to that user.
 *
 * When PostgreSQL is missing, {@link requirePostgres} fails loudly when `CI=true` and otherwise
 * lets the tests skip with a message.
 *
 * When to use: tests of your own workers or pipelines against a real PostgreSQL
 * (`@batch-extract/store/testing`), on a machine with Debian's `postgresql` package. Never
 * loaded by the library itself.
 *
 * @since 0.2.0
 */
import { PgClient } from "@effect/sql-pg"
import { Clock, Console, Data, type Duration, Effect, Redacted, type Scope } from "effect"
import { Reactivity } from "effect/reactivity"
import { spawnSync } from "node:child_process"
import { accessSync, chownSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"

/** Where `initdb` and `pg_ctl` are. */
export interface PostgresBinaries {
  readonly initdb: string
  readonly pgCtl: string
}

/** The cluster could not be set up or stopped. */
export class PostgresHarnessError extends Data.TaggedError("PostgresHarnessError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** A running throwaway cluster. */
export interface PostgresCluster {
  /** The URL of the database created with the cluster. */
  readonly url: string
  readonly port: number
  /** The temporary directory (data directory, socket, log). */
  readonly directory: string
  /** A URL to another database of the cluster. */
  readonly urlOf: (database: string) => string
  /** Create a fresh database and return its URL. */
  readonly createDatabase: (name: string) => Effect.Effect<string, PostgresHarnessError>
  /**
   * Create a fresh schema in the database of `url` and return a URL whose connections use it
   * (`search_path`): an empty namespace in milliseconds, where a database takes a few hundred.
   */
  readonly createSchema: (name: string) => Effect.Effect<string, PostgresHarnessError>
  /** Milliseconds taken by `initdb`, starting the server and creating the first database. */
  readonly startMillis: number
  /**
   * Stop the server as a crash would (`-m immediate`: every connection cut), keep it down for
   * `downFor`, then start it again on the same port and data.
   */
  readonly restart: (downFor: Duration.Input) => Effect.Effect<void, PostgresHarnessError>
}

const executable = (file: string) => {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

const withBoth = (dir: string): PostgresBinaries | undefined => {
  const initdb = join(dir, "initdb")
  const pgCtl = join(dir, "pg_ctl")
  return executable(initdb) && executable(pgCtl)
    ? { initdb, pgCtl }
    : undefined
}

/** PostgreSQL's `initdb` and `pg_ctl`, or `undefined` when not installed. */
export const findBinaries = (): PostgresBinaries | undefined => {
  const debian = "/usr/lib/postgresql"
  const versions = existsSync(debian)
    ? readdirSync(debian).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))
    : []
  const candidates = [
    ...versions.map((v) => join(debian, v, "bin")),
    "/usr/local/bin",
    ...(process.env.PATH ?? "").split(delimiter).filter((dir) => dir !== "")
  ]
  for (const dir of candidates) {
    const found = withBoth(dir)
    if (found !== undefined) return found
  }
  return undefined
}

/**
 * PostgreSQL's binaries, or `undefined` (tests then skip, with a message on stderr). When
 * `CI=true` a missing PostgreSQL throws: the test file fails instead of skipping.
 */
export const requirePostgres = (): PostgresBinaries | undefined => {
  const found = findBinaries()
  if (found !== undefined) return found
  const message = "PostgreSQL is not installed (no initdb/pg_ctl in /usr/lib/postgresql/*/bin, /usr/local/bin or PATH)"
  if (process.env.CI === "true") {
    throw new Error(`${message}; CI=true, so the PostgreSQL tests fail instead of skipping (install postgresql)`)
  }
  console.warn(`${message}: skipping the PostgreSQL tests (they fail when CI=true)`)
  return undefined
}

const isRoot = () => typeof process.getuid === "function" && process.getuid() === 0

const quote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`

/** Run a PostgreSQL binary, as the `postgres` user when running as root. */
const run = (command: string, args: ReadonlyArray<string>, timeoutMs = 60_000) => {
  const [file, argv] = !isRoot()
    ? [command, [...args]]
    : existsSync("/usr/sbin/runuser") || existsSync("/sbin/runuser") || existsSync("/usr/bin/runuser")
    ? ["runuser", ["-u", "postgres", "--", command, ...args]]
    : ["su", ["postgres", "-s", "/bin/sh", "-c", [command, ...args].map(quote).join(" ")]]
  const result = spawnSync(file, argv, { encoding: "utf8", timeout: timeoutMs, stdio: ["ignore", "pipe", "pipe"] })
  if (result.error !== undefined || result.status !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} failed (${result.error?.message ?? `exit ${result.status}`}): ${
        `${result.stdout ?? ""}${result.stderr ?? ""}`.trim()
      }`
    )
  }
  return result.stdout
}

const postgresIds = (): { uid: number; gid: number } => {
  const line = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith("postgres:"))
  const fields = line?.split(":")
  if (fields === undefined || fields.length < 4) {
    throw new Error("running as root and there is no postgres user to run PostgreSQL as")
  }
  return { uid: Number(fields[2]), gid: Number(fields[3]) }
}

/** A TCP port free on 127.0.0.1 now. */
const freePort = Effect.callback<number, PostgresHarnessError>((resume) => {
  const server = createServer()
  server.unref()
  server.on("error", (cause) => resume(Effect.fail(new PostgresHarnessError({ message: "no free port", cause }))))
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

const harnessError = (message: string) => (cause: unknown) =>
  new PostgresHarnessError({
    message: `${message}: ${cause instanceof Error ? cause.message : String(cause)}`,
    cause
  })

const validName = (name: string) => /^[a-z_][a-z0-9_]*$/.test(name)

/**
 * Start a throwaway cluster with a database `database` (default `be_test`); stopped and removed
 * when the scope closes.
 */
export const startPostgres = (
  binaries: PostgresBinaries,
  options: { readonly database?: string } = {}
): Effect.Effect<PostgresCluster, PostgresHarnessError, Scope.Scope> =>
  Effect.gen(function*() {
    const started = yield* Clock.currentTimeMillis
    const database = options.database ?? "be_test"
    const { cluster, port } = yield* Effect.flatMap(freePort, (port) =>
      Effect.acquireRelease(
        Effect.try({
          try: () => {
            const directory = mkdtempSync(join(tmpdir(), "batch-extract-pg-"))
            const data = join(directory, "data")
            let running = false
            const stop = () => {
              if (running) {
                running = false
                try {
                  run(binaries.pgCtl, ["stop", "-D", data, "-m", "immediate", "-w", "-t", "30"], 40_000)
                } catch {
                  // The server shuts itself down (within a minute) once its data directory is removed.
                }
              }
              rmSync(directory, { recursive: true, force: true })
            }
            // Also stopped when the process exits, or is ended by a signal (then re-raised).
            const onExit = () => stop()
            const onSignal = (signal: NodeJS.Signals) => {
              unhook()
              stop()
              process.kill(process.pid, signal)
            }
            const signals: ReadonlyArray<NodeJS.Signals> = ["SIGINT", "SIGTERM", "SIGHUP"]
            const unhook = () => {
              process.removeListener("exit", onExit)
              for (const signal of signals) process.removeListener(signal, onSignal)
            }
            process.once("exit", onExit)
            for (const signal of signals) process.once(signal, onSignal)
            const release = () => {
              unhook()
              stop()
            }
            const serverOptions = [
              "-c listen_addresses=127.0.0.1",
              `-p ${port}`,
              `-c unix_socket_directories=${quote(directory)}`,
              "-c fsync=off",
              "-c synchronous_commit=off",
              "-c full_page_writes=off",
              "-c max_connections=50"
            ].join(" ")
            const startServer = () =>
              run(binaries.pgCtl, [
                "start",
                "-D",
                data,
                "-l",
                join(directory, "server.log"),
                "-w",
                "-t",
                "30",
                "-o",
                serverOptions
              ], 40_000)
            try {
              if (isRoot()) {
                const { gid, uid } = postgresIds()
                chownSync(directory, uid, gid)
              }
              run(binaries.initdb, [
                "-D",
                data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync"
              ])
              running = true
              startServer()
            } catch (error) {
              let log = ""
              try {
                log = readFileSync(join(directory, "server.log"), "utf8").slice(-2000)
              } catch {
                // no log yet
              }
              release()
              throw new Error(
                `${error instanceof Error ? error.message : String(error)}${log === "" ? "" : `\n${log}`}`
              )
            }
            const crash = () => run(binaries.pgCtl, ["stop", "-D", data, "-m", "immediate", "-w", "-t", "30"], 40_000)
            return { directory, release, crash, startAgain: startServer }
          },
          catch: harnessError("could not start a throwaway PostgreSQL cluster")
        }),
        ({ release }) => Effect.sync(release)
      ).pipe(Effect.map((cluster) => ({ cluster, port })))).pipe(
        // The port was free when chosen; another process may take it before the server starts.
        Effect.retry({ times: 2 })
      )
    const urlOf = (name: string) => `postgres://postgres@127.0.0.1:${port}/${name}`
    // Clients kept for the cluster's lifetime (closed before it stops): one on the maintenance
    // database to create databases, one on the test database to create schemas.
    const client = (name: string) =>
      PgClient.make({ url: Redacted.make(urlOf(name)), maxConnections: 1 }).pipe(
        Effect.provide(Reactivity.layer),
        Effect.mapError(harnessError(`could not connect to the throwaway cluster's database ${name}`))
      )
    const admin = yield* client("postgres")
    const plain = (what: string, name: string) =>
      validName(name)
        ? Effect.void
        : Effect.fail(new PostgresHarnessError({ message: `not a plain ${what} name: ${name}` }))
    const createDatabase = (name: string) =>
      plain("database", name).pipe(
        Effect.andThen(admin.unsafe(`CREATE DATABASE ${name}`)),
        Effect.mapError(harnessError(`could not create database ${name}`)),
        Effect.as(urlOf(name))
      )
    const url = yield* createDatabase(database)
    const main = yield* client(database)
    const createSchema = (name: string) =>
      plain("schema", name).pipe(
        Effect.andThen(main.unsafe(`CREATE SCHEMA ${name}`)),
        Effect.mapError(harnessError(`could not create schema ${name}`)),
        Effect.as(`${url}?options=${encodeURIComponent(`-c search_path=${name}`)}`)
      )
    const startMillis = (yield* Clock.currentTimeMillis) - started
    if (process.env.BE_PG_TIMINGS !== undefined) {
      yield* Console.error(`throwaway PostgreSQL on port ${port} started in ${startMillis} ms`)
    }
    return {
      url,
      port,
      directory: cluster.directory,
      urlOf,
      createDatabase,
      createSchema,
      startMillis,
      restart: (downFor) =>
        Effect.try({ try: cluster.crash, catch: harnessError("could not stop the throwaway cluster") }).pipe(
          Effect.andThen(Effect.sleep(downFor)),
          Effect.andThen(Effect.try({ try: cluster.startAgain, catch: harnessError("could not start it again") }))
        )
    }
  })
