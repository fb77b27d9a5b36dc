/**
 * The command line of `batch-extract`, built with `effect/cli`: `extract`, `resume`, `status`
 * and `stop`. Every `BatchConfig` and extraction setting has a flag (see `Settings.specs`);
 * values are validated by the library, all at once.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Effect, Exit, Option } from "effect"
import { Argument, CliError, Command, Flag } from "effect/cli"
import * as Main from "./Main.ts"
import * as Settings from "./Settings.ts"

/** One optional flag per setting; booleans also get `--no-<name>`. */
const settingFlags = Object.fromEntries(
  Settings.specs.map((spec) => {
    const description = `${spec.description} (env ${Settings.envNames(spec).join(", ")})`
    const flag = spec.kind === "boolean"
      ? Flag.Boolean(spec.flag).pipe(Flag.withDescription(description), Flag.optional)
      : Flag.String(spec.flag).pipe(Flag.withDescription(description), Flag.optional)
    return [spec.flag, flag]
  })
) as Record<string, Flag.Flag<Option.Option<string | boolean>>>

const out = Flag.String("out").pipe(
  Flag.withDescription("output directory (chunks, summary.json, the run ledger)"),
  Flag.withDefault("./extracted")
)
const json = Flag.Boolean("json").pipe(
  Flag.withDescription("also print the summary on stdout"),
  Flag.withDefault(false)
)
const runIdArgument = Argument.String("run-id").pipe(Argument.withDescription("the run's id (see summary.json)"))

const extract = Command.make("extract", {
  paths: Argument.String("paths").pipe(
    Argument.withDescription("files (.txt .md .json .jsonl) or directories to extract"),
    Argument.variadic()
  ),
  out,
  backend: Flag.Literals("backend", ["local", "aws"]).pipe(
    Flag.withDescription("local: the embedded emulation (no AWS account); aws: real AWS, standard SDK environment"),
    Flag.withDefault("local")
  ),
  runId: Flag.String("run-id").pipe(Flag.withDescription("names the run (default: run-<UTC time>)"), Flag.optional),
  json,
  config: Flag.String("config").pipe(
    Flag.withDescription("JSON settings file (camelCase or the reference's snake_case names)"),
    Flag.optional
  ),
  faults: Flag.String("faults").pipe(
    Flag.withDescription("JSON faults for the local backend (throttleRate, jobStatuses, recordErrorRate…)"),
    Flag.optional
  ),
  force: Flag.Boolean("force").pipe(
    Flag.withDescription("extract chunks again even if already written in --out"),
    Flag.withDefault(false)
  ),
  collectionId: Flag.String("collection-id").pipe(
    Flag.withDescription("sub-directory of --out that holds the chunks"),
    Flag.withDefault("default")
  ),
  textField: Flag.String("text-field").pipe(
    Flag.withDescription("JSON field(s) holding the text, comma-separated (default text,body,content)"),
    Flag.optional
  ),
  propositionsPrompt: Flag.String("propositions-prompt").pipe(
    Flag.withDescription("stage-1 prompt template: a JSON file {system?, user} or a text file (the user turn)"),
    Flag.optional
  ),
  topicsPrompt: Flag.String("topics-prompt").pipe(
    Flag.withDescription("stage-2 prompt template: a JSON file {system?, user} or a text file (the user turn)"),
    Flag.optional
  ),
  pathMetadataKey: Flag.String("path-metadata-key").pipe(
    Flag.withDescription("metadata key that records each document's file path (empty: none)"),
    Flag.withDefault("file_path")
  ),
  ...settingFlags
}, (input) => {
  const flags: Record<string, unknown> = {}
  for (const spec of Settings.specs) {
    const value = (input as unknown as Record<string, Option.Option<unknown>>)[spec.flag]
    if (value !== undefined && Option.isSome(value)) flags[spec.flag] = value.value
  }
  return Main.extract({
    paths: input.paths,
    out: input.out,
    backend: input.backend,
    runId: Option.getOrUndefined(input.runId),
    json: input.json,
    configFile: Option.getOrUndefined(input.config),
    faultsFile: Option.getOrUndefined(input.faults),
    promptFiles: {
      propositionsPrompt: Option.getOrUndefined(input.propositionsPrompt),
      topicsPrompt: Option.getOrUndefined(input.topicsPrompt)
    },
    force: input.force,
    collectionId: input.collectionId,
    textField: Option.getOrUndefined(Option.map(input.textField, (s) => s.split(",").map((f) => f.trim()))),
    pathMetadataKey: input.pathMetadataKey === "" ? undefined : input.pathMetadataKey,
    flags
  }).pipe(Effect.flatMap(exitWith))
}).pipe(Command.withDescription("extract documents into the lexical graph's chunk files, with Bedrock batch jobs"))

const resume = Command.make(
  "resume",
  { runId: runIdArgument, out, json },
  (input) => Main.resume(input).pipe(Effect.flatMap(exitWith))
).pipe(
  Command.withDescription("continue an interrupted run: re-attach to its jobs, skip what is done")
)

const status = Command.make(
  "status",
  { runId: runIdArgument, out, json },
  (input) => Main.status(input).pipe(Effect.flatMap(exitWith))
).pipe(
  Command.withDescription("show a run's jobs and records")
)

const stop = Command.make(
  "stop",
  { runId: runIdArgument, out },
  (input) => Main.stop(input).pipe(Effect.flatMap(exitWith))
).pipe(
  Command.withDescription("stop a run's remote jobs")
)

/** The command's exit code, set for the process to use when it ends. */
const exitWith = (code: number) => Effect.sync(() => void (process.exitCode = code))

const command = Command.make("batch-extract").pipe(
  Command.withDescription("Lexical-graph extraction over large corpora with Amazon Bedrock batch inference"),
  Command.withSubcommands([extract, resume, status, stop])
)

/**
 * Run the command on the process's arguments. Exit codes: 0 every record succeeded, 1 some
 * failed, 2 invalid input (command-line errors included), 130 interrupted.
 */
export const main = (): void =>
  command.pipe(
    Command.run({ version: "0.1.0" }),
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
