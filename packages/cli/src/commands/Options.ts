/**
 * Flags and arguments several commands share, and how a command's exit code reaches the
 * process.
 */
import { ExtractRun, type RunState } from "@batch-extract/core"
import { Clock, Console, Effect, Option } from "effect"
import { Argument, Flag } from "effect/cli"
import type { SqlClient } from "effect/sql"

/** `--out DIR`: where chunks, `summary.json` and the embedded run state live. */
export const out = Flag.String("out").pipe(
  Flag.withDescription("output directory (chunks, summary.json, the run state in .batch-extract/state)"),
  Flag.withDefault("./extracted")
)
/** `--database URL`: the run state in PostgreSQL instead of the embedded store under `--out`. */
export const database = Flag.String("database").pipe(
  Flag.withDescription("postgres://… URL of the run state (default: embedded under --out)"),
  Flag.optional
)
/** `--json`: also print the result as JSON on stdout. */
export const json = Flag.Boolean("json").pipe(
  Flag.withDescription("also print the summary on stdout"),
  Flag.withDefault(false)
)
/** `--retention-days N`: finished runs older than this are removed from the run state. */
export const retentionDays = Flag.Int("retention-days").pipe(
  Flag.withDescription("remove finished runs that ended more than N days ago from the run state (default 30)"),
  Flag.withDefault(30)
)

/** Remove finished runs past the retention (rows and the engine's messages); says which. */
export const applyRetention = (days: number): Effect.Effect<void, RunState.StateError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const removed = yield* ExtractRun.removeFinishedBefore(now - days * 86_400_000)
    if (removed.length > 0) {
      yield* Console.error(`removed ${removed.length} finished run(s) older than ${days} days: ${removed.join(", ")}`)
    }
  })

/** `<run-id>`: the run a command works on. */
export const runIdArgument = Argument.String("run-id").pipe(Argument.withDescription("the run's id (see summary.json)"))

/** Where a command finds the run state: `--out` (embedded) or `--database`. */
export const location = (input: { readonly out: string; readonly database: Option.Option<string> }) => ({
  out: input.out,
  database: Option.getOrUndefined(input.database)
})

/** The command's exit code, set for the process to use when it ends. */
export const exitWith = (code: number) => Effect.sync(() => void (process.exitCode = code))
