/**
 * Flags and arguments several commands share, and how a command's exit code reaches the
 * process.
 */
import { ExtractRun, type RunState } from "@batch-extract/core"
import { Clock, Console, Effect, Option } from "effect"
import { Argument, Flag } from "effect/cli"
import type { SqlClient } from "effect/sql"
import * as Settings from "../Settings.ts"

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

/** One optional flag per setting that has one; booleans also get `--no-<name>`. */
export const settingFlags = Object.fromEntries(
  Settings.specs.flatMap((spec) => {
    if (spec.flag === undefined) return []
    const description = Settings.flagDescription(spec)
    const flag = spec.kind === "boolean"
      ? Flag.Boolean(spec.flag).pipe(Flag.withDescription(description), Flag.optional)
      : Flag.String(spec.flag).pipe(Flag.withDescription(description), Flag.optional)
    return [[spec.flag, flag]]
  })
) as Record<string, Flag.Flag<Option.Option<string | boolean>>>

/** The values of the setting flags the user gave, by flag name (see {@link settingFlags}). */
export const settingValues = (input: unknown): Record<string, unknown> => {
  const flags: Record<string, unknown> = {}
  for (const spec of Settings.specs) {
    if (spec.flag === undefined) continue
    const value = (input as Record<string, Option.Option<unknown>>)[spec.flag]
    if (value !== undefined && Option.isSome(value)) flags[spec.flag] = value.value
  }
  return flags
}

/** `--prices FILE`: token prices per model over the built-in table (the `prices` setting). */
export const prices = Flag.String(Settings.settingFileFlags.prices).pipe(
  Flag.withDescription(
    "JSON file of token prices per model, over the built-in table: {\"<model id>\": {\"batch\": {\"input\", " +
      "\"output\"}, \"onDemand\": {…}}}, US dollars per 1,000 tokens"
  ),
  Flag.optional
)

/** `<run-id>`: the run a command works on. */
export const runIdArgument = Argument.String("run-id").pipe(Argument.withDescription("the run's id (see summary.json)"))

/** Where a command finds the run state: `--out` (embedded) or `--database`. */
export const location = (input: { readonly out: string; readonly database: Option.Option<string> }) => ({
  out: input.out,
  database: Option.getOrUndefined(input.database)
})

/** The command's exit code, set for the process to use when it ends. */
export const exitWith = (code: number) => Effect.sync(() => void (process.exitCode = code))

/** `--address host:port`: where the other processes on the database reach this one. */
export const address = Flag.String("address").pipe(
  Flag.withDescription("host:port the other workers reach this process at (default 127.0.0.1 and a free port)"),
  Flag.optional
)
/** `--listen host:port`: where this process listens for the others (default: the address). */
export const listen = Flag.String("listen").pipe(
  Flag.withDescription("host:port to listen on for the other workers (default: --address)"),
  Flag.optional
)
/** `--takeover-seconds N`: how long before the others take over the work of a process that died. */
export const takeoverSeconds = Flag.Int("takeover-seconds").pipe(
  Flag.withDescription("seconds before the other workers take over the work of one that died (default 20)"),
  Flag.optional
)
/** `--concurrent-parts N`: parts of runs this process extracts at once. */
export const concurrentParts = Flag.Int("concurrent-parts").pipe(
  Flag.withDescription("parts of runs this process extracts at once (default 4)"),
  Flag.optional
)

/** The runner settings of a process on a database, from its flags. */
export const runner = (input: {
  readonly address: Option.Option<string>
  readonly listen: Option.Option<string>
  readonly takeoverSeconds: Option.Option<number>
  readonly concurrentParts: Option.Option<number>
}) => ({
  address: Option.getOrUndefined(input.address),
  listen: Option.getOrUndefined(input.listen),
  takeoverSeconds: Option.getOrUndefined(input.takeoverSeconds),
  concurrentParts: Option.getOrUndefined(input.concurrentParts)
})

/** The runner flags, for a command's flag set. */
export const runnerFlags = { address, listen, takeoverSeconds, concurrentParts }
