/**
 * `batch-extract extract <paths...>`: read documents, run both extraction stages as Bedrock
 * batch jobs (on the embedded local emulation by default, or on AWS), write the chunks in the
 * reference's layout and a `summary.json`. The run is recorded in the run state (embedded
 * under `--out`, or `--database`), which `resume` continues from.
 */
import { RunStore } from "@batch-extract/core"
import { Clock, Console, Effect, type FileSystem, Option, type Path } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import * as Quotas from "../Quotas.ts"
import * as Run from "../Run.ts"
import * as Settings from "../Settings.ts"
import * as BuildCommand from "./Build.ts"
import * as Options from "./Options.ts"
import * as Plan from "./Plan.ts"

/**
 * `extract`: validate, record the run in the run state, then work on it until it ends — or,
 * with `--detach`, print its id and leave it to the workers on the database; with `--dry-run`,
 * print its plan instead (`plan`: nothing sent, written or recorded).
 */
export const run = (
  request: Run.Request & {
    readonly detach?: boolean | undefined
    readonly runner?: Run.RunnerOptions | undefined
    readonly dryRun?: boolean | undefined
    /** `--build`: build the chunks into the embedded store under `--out` as they are written. */
    readonly build?: boolean | undefined
    /** With `build`: chunks written and not yet taken by the build before the extraction waits (default 256). */
    readonly buildBuffer?: number | undefined
  }
): Effect.Effect<number, Run.RunError | BuildCommand.BuildFailure, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    if (request.build === true && request.database !== undefined) {
      return yield* new Run.InvalidInput({
        issues: [{
          path: "build",
          message: "--build cannot be used with --database: the embedded graph store is single-process; " +
            "extract with the workers, then run `batch-extract build <out>` once on one machine"
        }]
      })
    }
    const resolved = yield* Run.resolve(request)
    if (request.dryRun === true) return yield* Plan.report(resolved, request.json)
    if (request.detach === true && request.database === undefined) {
      return yield* new Run.InvalidInput({
        issues: [{ path: "detach", message: "--detach needs --database (workers on the database do the work)" }]
      })
    }
    const runId = request.runId ?? (yield* Run.defaultRunId)
    // With --build the run records the build's settings (`resume` builds too).
    const build = request.build === true
      ? yield* BuildCommand.recordedBuild(resolved.build, resolved.recorded.out)
      : undefined
    const location = { out: resolved.recorded.out, database: request.database }
    const state = Run.storeLayer(location, "work")
    /** Check the run can start, then record it in the run state. */
    const recordRun = Effect.gen(function*() {
      // Reading the inputs and writing the output is checked once the store is known to work.
      yield* Run.checkRemote(resolved.recorded, resolved.batch)
      const existing = yield* RunStore.findRun(runId)
      if (existing !== undefined) {
        return yield* new Run.InvalidInput({
          issues: [{ path: "run-id", message: `run ${runId} already exists; continue it with resume ${runId}` }]
        })
      }
      // The quotas not set are read once, here, and recorded with the run: every worker and a resume use them.
      const quoted = yield* Quotas.forRun(resolved.recorded, resolved.batch)
      const recorded: Run.RecordedRun = build === undefined ? quoted.recorded : { ...quoted.recorded, build }
      if (request.retentionDays !== undefined) yield* Options.applyRetention(request.retentionDays)
      if (request.force) yield* RunStore.forgetExtracted(Run.outKeyOf(recorded))
      yield* RunStore.createRun(runId, recorded, yield* Clock.currentTimeMillis)
      return recorded
    })
    if (build !== undefined) {
      // The build's stores are opened and checked before the run state: nothing written on a bad one.
      return yield* BuildCommand.withRunStores(
        { ...resolved.recorded, build },
        resolved.batch,
        Effect.gen(function*() {
          const recorded = yield* recordRun
          return yield* BuildCommand.extractAndBuild({
            runId,
            recorded,
            batch: resolved.batch,
            json: request.json,
            location,
            runner: request.runner,
            buffer: request.buildBuffer
          })
        }).pipe(Effect.provide(state))
      )
    }
    return yield* Effect.gen(function*() {
      const recorded = yield* recordRun
      if (request.detach === true) {
        yield* Console.error(`run ${runId} submitted; the workers on the database work on it (see: status ${runId})`)
        yield* Console.log(runId)
        return 0
      }
      return yield* Run.runExtraction({ runId, recorded, json: request.json, location, runner: request.runner })
    }).pipe(Effect.provide(state))
  }).pipe(Run.storeIssues, Run.withLogging, Run.reportInvalidInput)

export const command = Command.make("extract", {
  paths: Argument.String("paths").pipe(
    Argument.withDescription("files (.txt .md .json .jsonl) or directories to extract"),
    Argument.variadic()
  ),
  out: Options.out,
  database: Options.database,
  retentionDays: Options.retentionDays,
  backend: Flag.Literals("backend", ["local", "aws"]).pipe(
    Flag.withDescription("local: the embedded emulation (no AWS account); aws: real AWS, standard SDK environment"),
    Flag.withDefault("local")
  ),
  runId: Flag.String("run-id").pipe(Flag.withDescription("names the run (default: run-<UTC time>)"), Flag.optional),
  json: Options.json,
  config: Flag.String("config").pipe(
    Flag.withDescription("JSON settings file (camelCase or the reference's snake_case names)"),
    Flag.optional
  ),
  faults: Flag.String("faults").pipe(
    Flag.withDescription("JSON faults for the local backend (throttleRate, jobStatuses, recordErrorRate…)"),
    Flag.optional
  ),
  dryRun: Flag.Boolean("dry-run").pipe(
    Flag.withDescription(
      "print the run's plan (jobs, tokens, estimated cost) instead: nothing sent, written or recorded"
    ),
    Flag.withDefault(false)
  ),
  prices: Options.prices,
  detach: Flag.Boolean("detach").pipe(
    Flag.withDescription("with --database: submit the run, print its id and return (workers do the work)"),
    Flag.withDefault(false)
  ),
  partMb: Flag.Finite("part-mb").pipe(
    Flag.withDescription("megabytes of input per part of the run; workers extract parts at once (default 64)"),
    Flag.optional
  ),
  ...Options.runnerFlags,
  build: Flag.Boolean("build").pipe(
    Flag.withDescription(
      "also build the chunks, as they are written, into the graph store under --out (see build; not with --database)"
    ),
    Flag.withDefault(false)
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
  propositionsPrompt: Flag.String(Settings.promptFileFlags.propositionsPrompt).pipe(
    Flag.withDescription("stage-1 prompt template: a JSON file {system?, user} or a text file (the user turn)"),
    Flag.optional
  ),
  topicsPrompt: Flag.String(Settings.promptFileFlags.topicsPrompt).pipe(
    Flag.withDescription("stage-2 prompt template: a JSON file {system?, user} or a text file (the user turn)"),
    Flag.optional
  ),
  inferClassificationsPrompt: Flag.String(Settings.promptFileFlags.inferClassificationsPrompt).pipe(
    Flag.withDescription(
      "entity-classification inference prompt template, with {text_chunks} and {existing_classifications}: " +
        "a JSON file {system?, user} or a text file (the user turn)"
    ),
    Flag.optional
  ),
  pathMetadataKey: Flag.String("path-metadata-key").pipe(
    Flag.withDescription("metadata key that records each document's file path (empty: none)"),
    Flag.withDefault("file_path")
  ),
  ...Options.settingFlags
}, (input) => {
  const flags = Options.settingValues(input)
  return run({
    paths: input.paths,
    out: input.out,
    backend: input.backend,
    runId: Option.getOrUndefined(input.runId),
    json: input.json,
    configFile: Option.getOrUndefined(input.config),
    faultsFile: Option.getOrUndefined(input.faults),
    promptFiles: {
      propositionsPrompt: Option.getOrUndefined(input.propositionsPrompt),
      topicsPrompt: Option.getOrUndefined(input.topicsPrompt),
      inferClassificationsPrompt: Option.getOrUndefined(input.inferClassificationsPrompt)
    },
    pricesFile: Option.getOrUndefined(input.prices),
    force: input.force,
    dryRun: input.dryRun,
    build: input.build,
    detach: input.detach,
    partMb: Option.getOrUndefined(input.partMb),
    runner: Options.runner(input),
    database: Option.getOrUndefined(input.database),
    retentionDays: input.retentionDays,
    collectionId: input.collectionId,
    textField: Option.getOrUndefined(Option.map(input.textField, (s) => s.split(",").map((f) => f.trim()))),
    pathMetadataKey: input.pathMetadataKey === "" ? undefined : input.pathMetadataKey,
    flags
  }).pipe(
    Effect.flatMap(Options.exitWith),
    // The errors that end a run are printed by the process's teardown (exit 1).
    (effect): Effect.Effect<void, unknown, FileSystem.FileSystem | Path.Path> => effect
  )
}).pipe(Command.withDescription("extract documents into the lexical graph's chunk files, with Bedrock batch jobs"))
