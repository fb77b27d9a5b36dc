/**
 * The command line of `batch-extract`, built with `effect/cli`: `extract`, `plan`, `build`,
 * `query`, `resume`, `status` and `stop`, each a module of its own under `commands/`. Every `BatchConfig` and extraction
 * setting has a flag (see `Settings.specs`); values are validated by the library, all at once.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Effect, Exit } from "effect"
import { CliError, Command } from "effect/cli"
import { readFileSync } from "node:fs"
import * as Build from "./commands/Build.ts"
import * as Emulator from "./commands/Emulator.ts"
import * as Extract from "./commands/Extract.ts"
import * as Plan from "./commands/Plan.ts"
import * as Query from "./commands/Query.ts"
import * as Resume from "./commands/Resume.ts"
import * as Status from "./commands/Status.ts"
import * as Stop from "./commands/Stop.ts"
import * as Worker from "./commands/Worker.ts"

/** The version of the installed `@batch-extract/cli` (from its package.json, one level up from `src/` and `dist/`). */
export const version: string =
  (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version

/** The `batch-extract` command and its subcommands. */
export const command = Command.make("batch-extract").pipe(
  Command.withDescription("Lexical-graph extraction over large corpora with Amazon Bedrock batch inference"),
  Command.withSubcommands([
    Extract.command,
    Plan.command,
    Build.command,
    Query.command,
    Resume.command,
    Status.command,
    Stop.command,
    Worker.command,
    Emulator.command
  ])
)

/**
 * Run the command on the process's arguments. Exit codes: 0 every record succeeded, 1 some
 * failed, 2 invalid input (command-line errors included), 130 interrupted.
 */
export const main = (): void =>
  command.pipe(
    Command.run({ version }),
    Effect.provide(NodeServices.layer),
    NodeRuntime.runMain({
      teardown: (exit, onExit) => {
        if (Exit.isSuccess(exit)) return onExit(typeof process.exitCode === "number" ? process.exitCode : 0)
        if (Exit.hasInterrupts(exit)) return onExit(130)
        // Command-line errors (unknown flags, missing arguments) are invalid input.
        const failure = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
        onExit(CliError.isCliError(failure) ? 2 : 1)
      }
    })
  )
