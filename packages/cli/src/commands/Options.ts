/**
 * Flags and arguments several commands share, and how a command's exit code reaches the
 * process.
 */
import { Effect } from "effect"
import { Argument, Flag } from "effect/cli"

/** `--out DIR`: where chunks, `summary.json` and the run ledger live. */
export const out = Flag.String("out").pipe(
  Flag.withDescription("output directory (chunks, summary.json, the run ledger)"),
  Flag.withDefault("./extracted")
)
/** `--json`: also print the result as JSON on stdout. */
export const json = Flag.Boolean("json").pipe(
  Flag.withDescription("also print the summary on stdout"),
  Flag.withDefault(false)
)
/** `<run-id>`: the run a command works on. */
export const runIdArgument = Argument.String("run-id").pipe(Argument.withDescription("the run's id (see summary.json)"))

/** The command's exit code, set for the process to use when it ends. */
export const exitWith = (code: number) => Effect.sync(() => void (process.exitCode = code))
