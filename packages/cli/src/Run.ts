/**
 * What the `batch-extract` commands share: resolving and validating settings, choosing the
 * backend, running (or resuming) an extraction as a durable workflow on its run state, with progress, and
 * writing `summary.json`.
 *
 * Exit codes: 0 every record succeeded; 1 some failed (all listed in the summary); 2 invalid
 * input (nothing sent or written); 130 interrupted.
 *
 * Output goes through Effect's `Console`: the report, progress and logs to stderr
 * (`Console.error`), `--json` output to stdout (`Console.log`).
 */
import { AwsBackend } from "@batch-extract/aws"
import type * as Local from "@batch-extract/aws/local"
import {
  BatchConfig,
  Document,
  Extraction,
  ExtractionEvents,
  ExtractRun,
  JobSlots,
  type RunState,
  RunStore,
  Sink
} from "@batch-extract/core"
import { EmbeddedState, Postgres } from "@batch-extract/store"
import {
  Cause,
  Clock,
  type Config,
  Console,
  Data,
  Effect,
  Fiber,
  FileSystem,
  Layer,
  Logger,
  Path,
  type PlatformError,
  Stream
} from "effect"
import type { SqlClient } from "effect/sql"
import { existsSync } from "node:fs"
import * as Faults from "./Faults.ts"
import * as Progress from "./Progress.ts"
import * as Settings from "./Settings.ts"

/** Invalid input: every problem, nothing sent or written. */
export class InvalidInput extends Data.TaggedError("InvalidInput")<{
  readonly issues: ReadonlyArray<BatchConfig.ConfigIssue>
}> {}

/** What the command was asked to do (after parsing the command line). */
export interface Request {
  readonly paths: ReadonlyArray<string>
  readonly out: string
  readonly backend: "local" | "aws"
  readonly runId: string | undefined
  readonly json: boolean
  readonly configFile: string | undefined
  readonly faultsFile: string | undefined
  /** Prompt template files (JSON `{system?, user}` or plain text for the user turn). */
  readonly promptFiles?: {
    readonly propositionsPrompt?: string | undefined
    readonly topicsPrompt?: string | undefined
  } | undefined
  readonly force: boolean
  /** `--database URL`: the run state in PostgreSQL instead of the embedded store under `--out`. */
  readonly database: string | undefined
  /** Finished runs that ended more than this many days ago are removed (none when undefined). */
  readonly retentionDays?: number | undefined
  readonly collectionId: string
  readonly textField: ReadonlyArray<string> | undefined
  readonly pathMetadataKey: string | undefined
  /** Raw flag values by flag name (only flags the user gave). */
  readonly flags: Readonly<Record<string, unknown>>
}

/** What the run state keeps of a run (its settings) so `resume` can repeat it. */
export interface RecordedRun {
  readonly paths: ReadonlyArray<string>
  readonly out: string
  readonly backend: "local" | "aws"
  readonly collectionId: string
  readonly textField: ReadonlyArray<string> | undefined
  readonly pathMetadataKey: string | undefined
  readonly batch: BatchConfig.BatchConfigInput
  readonly extraction: Extraction.ExtractionConfigInput
  readonly faults: Faults.FaultsFile | undefined
}

const runIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

const readJsonFile = (file: string, label: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(file).pipe(
      Effect.mapError((error) =>
        new InvalidInput({ issues: [{ path: label, message: `cannot read ${file}: ${error.message}` }] })
      )
    )
    try {
      return JSON.parse(text) as unknown
    } catch (error) {
      return yield* new InvalidInput({
        issues: [{
          path: label,
          message: `${file} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`
        }]
      })
    }
  })

/** Resolve and validate every setting; fails with every problem at once. */
export const resolve = (request: Request) =>
  Effect.gen(function*() {
    const path = yield* Path.Path
    const fs = yield* FileSystem.FileSystem
    const issues: Array<BatchConfig.ConfigIssue> = []
    const file = request.configFile === undefined
      ? undefined
      : yield* Effect.result(readJsonFile(request.configFile, "config"))
    if (file !== undefined && file._tag === "Failure") issues.push(...file.failure.issues)
    const gathered = Settings.gather({
      defaults: request.backend === "local" ? Settings.localDefaults : Settings.commandDefaults,
      file: file?._tag === "Success" ? file.success : undefined,
      env: process.env,
      flags: request.flags
    })
    issues.push(...gathered.issues)
    for (const key of ["propositionsPrompt", "topicsPrompt"] as const) {
      const file = request.promptFiles?.[key]
      if (file === undefined) continue
      const text = yield* fs.readFileString(file).pipe(Effect.result)
      if (text._tag === "Failure") {
        issues.push({ path: `extraction.${key}`, message: `cannot read ${file}: ${text.failure.message}` })
        continue
      }
      if (!file.endsWith(".json")) {
        gathered.extraction[key] = { user: text.success }
        continue
      }
      try {
        gathered.extraction[key] = JSON.parse(text.success)
      } catch (error) {
        issues.push({ path: `extraction.${key}`, message: `${file} is not valid JSON: ${String(error)}` })
      }
    }
    const batch = yield* Effect.result(BatchConfig.decode(gathered.batch))
    if (batch._tag === "Failure") issues.push(...batch.failure.issues)
    const extraction = yield* Effect.result(Extraction.decodeConfig(gathered.extraction))
    if (extraction._tag === "Failure") issues.push(...extraction.failure.issues)
    let faults: Faults.FaultsFile | undefined
    if (request.faultsFile !== undefined) {
      if (request.backend !== "local") issues.push({ path: "faults", message: "--faults needs --backend local" })
      const raw = yield* Effect.result(readJsonFile(request.faultsFile, "faults"))
      if (raw._tag === "Failure") issues.push(...raw.failure.issues)
      else {
        const decoded = Faults.decode(raw.success)
        if ("issues" in decoded) issues.push(...decoded.issues)
        else faults = decoded.faults
      }
    }
    if (request.runId !== undefined && !runIdPattern.test(request.runId)) {
      issues.push({
        path: "run-id",
        message: `must be 1 to 64 letters, digits, '.', '_' or '-', got "${request.runId}"`
      })
    }
    if (request.paths.length === 0) issues.push({ path: "paths", message: "give at least one file or directory" })
    for (const input of request.paths) {
      const exists = yield* fs.exists(input).pipe(Effect.orElseSucceed(() => false))
      if (!exists) issues.push({ path: "paths", message: `no such file or directory: ${input}` })
    }
    if (issues.length > 0 || batch._tag === "Failure" || extraction._tag === "Failure") {
      return yield* new InvalidInput({ issues })
    }
    const recorded: RecordedRun = {
      paths: request.paths.map((p) => path.resolve(p)),
      out: path.resolve(request.out),
      backend: request.backend,
      collectionId: request.collectionId,
      textField: request.textField,
      pathMetadataKey: request.pathMetadataKey,
      batch: gathered.batch as BatchConfig.BatchConfigInput,
      extraction: gathered.extraction as Extraction.ExtractionConfigInput,
      faults
    }
    return { batch: batch.success, extraction: extraction.success, recorded }
  })

/**
 * The ports for a backend. The local emulation is loaded only when asked for: a run on AWS
 * never loads it (nor the test kit it answers with).
 */
export const backendLayer = (
  recorded: RecordedRun,
  batch: BatchConfig.BatchConfig
): Layer.Layer<AwsBackend.Services, BackendError> => {
  if (recorded.backend === "aws") return AwsBackend.layer(batch)
  return Layer.unwrap(Effect.map(
    Effect.promise(() => import("@batch-extract/aws/local")),
    (Local) => localLayer(Local, recorded, batch)
  ))
}

/** Why a backend could not start (invalid client settings, the local emulation failing to start). */
export type BackendError =
  | Config.ConfigError
  | Local.LocalS3.LocalS3Error
  | Local.BedrockEmulator.EmulatorError

/** Why a run ended before its summary (a failed record is not one: it is in the summary). */
export type RunError =
  | PlatformError.PlatformError
  | Document.DocumentError
  | Extraction.ExtractError
  | Sink.SinkError
  | BackendError
  | RunState.StateError

const localLayer = (
  Local: typeof import("@batch-extract/aws/local"),
  recorded: RecordedRun,
  batch: BatchConfig.BatchConfig
) => {
  const faults = recorded.faults
  return Local.LocalBackend.layerFromBatchConfig(batch, {
    emulator: {
      seed: faults?.seed,
      faults: {
        throttleRate: faults?.throttleRate,
        runtimeThrottleRate: faults?.throttleRate,
        jobStatuses: faults?.jobStatuses,
        recordErrorRate: faults?.recordErrorRate,
        recordMissingRate: faults?.recordMissingRate,
        malformedRate: faults?.malformedRate,
        truncatedRate: faults?.truncatedRate
      },
      ...(faults?.maxConcurrentJobs !== undefined ? { quotas: { maxConcurrentJobs: faults.maxConcurrentJobs } } : {})
    },
    s3: { errorRate: faults?.s3ErrorRate, seed: faults?.seed }
  })
}

/** The content of `summary.json`: the run's result (`ExtractRun.RunResult`) and the command's own fields. */
export interface SummaryFile extends ExtractRun.RunResult {
  readonly backend: RecordedRun["backend"]
  readonly output: string
  readonly elapsedSeconds: number
}

/**
 * The summary file's content: the run's result — every figure a view of the run state, over
 * every process that worked on it — with what only the command knows around it: the backend,
 * the output directory and the run's elapsed time (start to end).
 */
export const summaryJson = (recorded: RecordedRun, result: ExtractRun.RunResult): SummaryFile => ({
  ...result,
  backend: recorded.backend,
  output: recorded.out,
  elapsedSeconds: Math.round((result.finishedAt - result.startedAt) / 100) / 10
})

/** Where a run's state lives: `--database URL`, else the embedded store under `--out`. */
export interface StoreLocation {
  readonly out: string
  readonly database: string | undefined
}

/** Where a store is, for messages. */
export const describeLocation = (location: StoreLocation) =>
  location.database !== undefined ? "the database" : `the run state under ${location.out}`

/** The store could not be used: refused before anything is sent (exit 2). */
export type StoreError =
  | EmbeddedState.StoreLocked
  | EmbeddedState.StoreUnavailable
  | Postgres.PostgresUnreachable
  | RunStore.ForeignStore
  | RunStore.UnknownRun

/**
 * The run state's database, checked (ours, this schema version; created when empty): for work
 * (the embedded store locked for this process) or read-only (also while a run is live).
 */
export const storeLayer = (
  location: StoreLocation,
  mode: "work" | "read"
): Layer.Layer<SqlClient.SqlClient, StoreError | RunState.StateError> => {
  const client: Layer.Layer<SqlClient.SqlClient, StoreError> = location.database !== undefined
    ? Postgres.layer(location.database)
    : mode === "work"
    ? EmbeddedState.layer(EmbeddedState.directoryOf(location.out))
    : EmbeddedState.layerReadonly(EmbeddedState.directoryOf(location.out))
  // An existing embedded file is checked read-only first: a foreign file is refused untouched.
  const file = EmbeddedState.databaseFile(EmbeddedState.directoryOf(location.out))
  const precheck = location.database === undefined && mode === "work" && existsSync(file)
    ? Layer.effectDiscard(
      RunStore.checkNotForeign.pipe(
        Effect.provide(EmbeddedState.layerReadonly(EmbeddedState.directoryOf(location.out))),
        Effect.scoped
      )
    )
    : Layer.empty
  return Layer.effectDiscard(mode === "work" ? RunStore.migrate : RunStore.checkSchema).pipe(
    Layer.provideMerge(client),
    Layer.provide(precheck)
  )
}

/** Store problems are invalid input: printed, exit 2, nothing sent. */
export const storeIssues = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, Exclude<E, StoreError> | InvalidInput, R> =>
  Effect.catch(effect, (error): Effect.Effect<never, Exclude<E, StoreError> | InvalidInput> => {
    const tag = (error as { _tag?: string })?._tag
    if (
      tag === "StoreLocked" || tag === "StoreUnavailable" || tag === "PostgresUnreachable" ||
      tag === "ForeignStore" || tag === "UnknownRun"
    ) {
      return Effect.fail(
        new InvalidInput({ issues: [{ path: "state", message: (error as { message: string }).message }] })
      )
    }
    return Effect.fail(error as Exclude<E, StoreError>)
  })

/** A run id from the current UTC time: `run-YYYYMMDD-HHMMSS`. */
export const defaultRunId = Effect.map(Clock.currentTimeMillis, (now) => {
  const d = new Date(now)
  const pad = (n: number) => String(n).padStart(2, "0")
  return `run-${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}-${pad(d.getUTCHours())}${
    pad(d.getUTCMinutes())
  }${pad(d.getUTCSeconds())}`
})

/** Where the chunks of a run go, as the run state names it (chunks extracted there are skipped). */
export const outKeyOf = (recorded: Pick<RecordedRun, "out" | "collectionId">) =>
  `${recorded.out}#${recorded.collectionId}`

/** Print a run's result (and its JSON on stdout with `--json`); returns its exit code. */
export const report = (recorded: RecordedRun, result: ExtractRun.RunResult, json: boolean) =>
  Effect.gen(function*() {
    const path = yield* Path.Path
    const file = summaryJson(recorded, result)
    yield* Console.error(
      `\nrun ${result.runId}: ${file.extractedChunks} chunks of ${file.documents} documents extracted to ` +
        `${path.join(recorded.out, recorded.collectionId)}\n` +
        `records: ${file.records.succeeded} succeeded (${file.records.batch} batch, ${file.records.onDemand} on demand), ` +
        `${file.records.failed} failed; jobs: ${file.jobs.total} ${JSON.stringify(file.jobs.byStatus)}; ` +
        `summary: ${path.join(recorded.out, "summary.json")}`
    )
    for (const failure of file.failures.slice(0, 20)) {
      yield* Console.error(`  failed ${failure.stage} ${failure.recordId}: ${failure.reason}`)
    }
    if (file.failures.length > 20) yield* Console.error(`  … and ${file.failures.length - 20} more in summary.json`)
    for (const skip of file.skippedDocuments) yield* Console.error(`  skipped ${skip.path}: ${skip.reason}`)
    if (json) yield* Console.log(JSON.stringify(file, null, 2))
    return result.exitCode
  })

/**
 * The command's planner: a run's plan from its recorded settings (documents from its paths,
 * the directory sink under its output); at the end it writes `summary.json` and reports.
 */
const planner = (json: boolean) =>
  Effect.map(
    Effect.context<FileSystem.FileSystem | Path.Path>(),
    (context) =>
      ExtractRun.Planner.of({
        plan: (_runId, settings) =>
          Effect.gen(function*() {
            const fs = yield* FileSystem.FileSystem
            const path = yield* Path.Path
            const recorded = settings as RecordedRun
            const batch = yield* BatchConfig.decode(recorded.batch)
            const extraction = yield* Extraction.decodeConfig(recorded.extraction)
            const readerOptions: Document.ReaderOptions = {
              ...(recorded.textField === undefined ? {} : { textField: recorded.textField }),
              ...(recorded.pathMetadataKey === undefined ? {} : { pathMetadataKey: recorded.pathMetadataKey })
            }
            const inputs = yield* Effect.forEach(recorded.paths, (input) =>
              Effect.map(fs.stat(input), (info) =>
                info.type === "Directory"
                  ? Document.fromDirectory(input, readerOptions)
                  : Document.fromFiles([input], readerOptions)))
            const documents = Stream.fromIterable(inputs).pipe(
              Stream.flatMap((s) => s),
              Stream.provideContext(context)
            )
            const sink = yield* Sink.directory({ directory: recorded.out, collectionId: recorded.collectionId })
            const plan: ExtractRun.RunPlan = {
              batch,
              extraction,
              documents,
              sink,
              outKey: outKeyOf(recorded),
              finish: (result) =>
                Effect.andThen(
                  Sink.writeFileAtomically(
                    path.join(recorded.out, "summary.json"),
                    JSON.stringify(summaryJson(recorded, result), null, 2) + "\n"
                  ),
                  report(recorded, result, json)
                ).pipe(Effect.provide(context))
            }
            return plan
          }).pipe(Effect.provide(context))
      })
  )

/**
 * Work on a run until it ends (a new run, or one resumed: the workflow engine continues it
 * where it stopped) and return its exit code. The run's state is in the store in the
 * environment; the process works on this run only.
 */
export const runExtraction = (options: {
  readonly runId: string
  readonly recorded: RecordedRun
  readonly batch: BatchConfig.BatchConfig
  readonly json: boolean
}): Effect.Effect<number, RunError, FileSystem.FileSystem | Path.Path | SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const { batch, recorded, runId } = options
    const progress = yield* Progress.make({ tty: process.stderr.isTTY === true })
    const services = Layer.mergeAll(
      backendLayer(recorded, batch),
      JobSlots.layerFromConfig(batch),
      Layer.succeed(ExtractRun.Planner, yield* planner(options.json)),
      Layer.succeed(ExtractionEvents.ExtractionEvents, progress.handler),
      Layer.succeed(ExtractRun.RunSelection, new Set([runId]))
    )
    const workflow = ExtractRun.layer.pipe(
      Layer.provideMerge(ExtractRun.engineLayer()),
      Layer.provide(services)
    )
    const drawing = yield* Effect.forkChild(progress.run)
    const code = yield* ExtractRun.execute(runId).pipe(
      Effect.provide(workflow),
      // A run that ended in an error stays resumable: say so (interrupts exit 130 as they are).
      Effect.catchCause((cause) =>
        Cause.hasInterruptsOnly(cause) ? Effect.failCause(cause) : Effect.as(
          Console.error(
            `\nrun ${runId} stopped: ${Cause.pretty(cause)}\n` +
              `its state is kept: \`batch-extract resume ${runId}\` continues it`
          ),
          1
        )
      )
    )
    yield* Fiber.interrupt(drawing)
    yield* progress.final
    return code
  })

/** Logs go to stderr (stdout carries `--json` output); `--log-level` sets the level. */
export const withLogging = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provide(effect, Logger.layer([Logger.withConsoleError(Logger.formatSimple)]))

/** Print every problem of invalid input and exit with 2. */
export const reportInvalidInput = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A | number, Exclude<E, InvalidInput>, R> =>
  Effect.catch(
    effect,
    (error) =>
      !(error instanceof InvalidInput)
        ? Effect.fail(error as Exclude<E, InvalidInput>)
        : Effect.as(
          Console.error(
            `batch-extract: invalid input (${error.issues.length} problem${error.issues.length === 1 ? "" : "s"}); ` +
              "nothing was sent or written:" +
              error.issues.map((issue) => `\n  - ${issue.path}: ${issue.message}`).join("")
          ),
          2
        )
  )
