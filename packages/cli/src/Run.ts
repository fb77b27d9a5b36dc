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
  type AccountQuotas,
  BatchConfig,
  type BatchInference,
  BuildConfig,
  type ClassificationInference,
  Document,
  type ExtractedChunk,
  Extraction,
  ExtractionEvents,
  ExtractRun,
  JobSlots,
  type ModelRuntime,
  type ObjectStore,
  type RunState,
  RunStore,
  SharedJobSlots,
  type Sink
} from "@batch-extract/core"
import { Cluster, EmbeddedState, Postgres } from "@batch-extract/store"
import {
  Cause,
  Clock,
  type Config,
  Console,
  Context,
  Data,
  Duration,
  Effect,
  Fiber,
  FileSystem,
  Layer,
  Logger,
  Option,
  Path,
  type PlatformError,
  RcMap,
  type Scope,
  Stream
} from "effect"
import type { SocketServer } from "effect/socket"
import type { SqlClient } from "effect/sql"
import type { WorkflowEngine } from "effect/workflow"
import { existsSync } from "node:fs"
import { createServer } from "node:net"
import * as Faults from "./Faults.ts"
import * as Inputs from "./Inputs.ts"
import * as Outputs from "./Outputs.ts"
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
    readonly inferClassificationsPrompt?: string | undefined
  } | undefined
  /** `--prices FILE`: token prices per model over the built-in table (the `prices` setting). */
  readonly pricesFile?: string | undefined
  readonly force: boolean
  /** `--database URL`: the run state in PostgreSQL instead of the embedded store under `--out`. */
  readonly database: string | undefined
  /** Finished runs that ended more than this many days ago are removed (none when undefined). */
  readonly retentionDays?: number | undefined
  /** `--part-mb`: megabytes of input per part of the run (workers extract parts at once). */
  readonly partMb?: number | undefined
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
  /** Input bytes per part of the run (absent in runs recorded before parts: the default). */
  readonly partBytes?: number | undefined
  /**
   * The run's quotas and where they came from (absent in runs recorded before quotas were
   * read); their values are in `batch`, so every process that works on the run uses them.
   */
  readonly quotas?: AccountQuotas.Resolution | undefined
  /**
   * `extract --build`: the build settings (store URLs absolute), so `resume` builds too. Absent
   * when the run does not build.
   */
  readonly build?: BuildConfig.BuildConfigInput | undefined
}

const runIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/** A JSON file's content, or invalid input naming it under `label`. */
export const readJsonFile = (file: string, label: string) =>
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
/**
 * The settings of a command from its config file, the environment and its flags (flags >
 * environment > file > defaults, the local backend's defaults with `--backend local`), with
 * every problem found so far (the values are decoded by the caller).
 */
export const gatherSettings = (request: {
  readonly backend: "local" | "aws"
  readonly configFile: string | undefined
  readonly flags: Readonly<Record<string, unknown>>
}) =>
  Effect.gen(function*() {
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
    return { gathered, issues }
  })

export const resolve = (request: Request) =>
  Effect.gen(function*() {
    const path = yield* Path.Path
    const fs = yield* FileSystem.FileSystem
    const { gathered, issues } = yield* gatherSettings(request)
    for (const key of ["propositionsPrompt", "topicsPrompt", "inferClassificationsPrompt"] as const) {
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
    if (request.pricesFile !== undefined) {
      const prices = yield* Effect.result(readJsonFile(request.pricesFile, "prices"))
      if (prices._tag === "Failure") issues.push(...prices.failure.issues)
      else gathered.batch.prices = prices.success
    }
    const batch = yield* Effect.result(BatchConfig.decode(gathered.batch))
    if (batch._tag === "Failure") issues.push(...batch.failure.issues)
    const extraction = yield* Effect.result(Extraction.decodeConfig(gathered.extraction))
    if (extraction._tag === "Failure") issues.push(...extraction.failure.issues)
    const build = yield* Effect.result(BuildConfig.decode(gathered.build))
    if (build._tag === "Failure") issues.push(...build.failure.issues)
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
    const remote = request.paths.some(Inputs.isObjectUri) || Inputs.isObjectUri(request.out)
    for (const input of request.paths) {
      if (Inputs.isObjectUri(input)) continue
      const exists = yield* fs.exists(input).pipe(Effect.orElseSucceed(() => false))
      if (!exists) issues.push({ path: "paths", message: `no such file or directory: ${input}` })
    }
    if (remote && request.backend === "local") {
      issues.push({
        path: "backend",
        message:
          "s3:// inputs and outputs need --backend aws (the local emulation's S3 lives and dies with the process)"
      })
    }
    if (Inputs.isObjectUri(request.out) && request.database === undefined) {
      issues.push({
        path: "out",
        message: "an s3:// output needs --database (the run state cannot live in a bucket)"
      })
    }
    if (request.database !== undefined && request.backend === "local") {
      issues.push({
        path: "backend",
        message: "a run in a database is shared by every worker on it, but the local emulation lives inside one " +
          "process: use --backend aws (to try workers without AWS, point them at `batch-extract emulator`)"
      })
    }
    if (request.partMb !== undefined && !(request.partMb > 0)) {
      issues.push({ path: "part-mb", message: `must be a number above 0, got ${request.partMb}` })
    }
    if (issues.length > 0 || batch._tag === "Failure" || extraction._tag === "Failure" || build._tag === "Failure") {
      return yield* new InvalidInput({ issues })
    }
    const recorded: RecordedRun = {
      paths: request.paths.map((p) => (Inputs.isObjectUri(p) ? p : path.resolve(p))),
      out: Inputs.isObjectUri(request.out) ? request.out : path.resolve(request.out),
      backend: request.backend,
      collectionId: request.collectionId,
      textField: request.textField,
      pathMetadataKey: request.pathMetadataKey,
      batch: gathered.batch as BatchConfig.BatchConfigInput,
      extraction: gathered.extraction as Extraction.ExtractionConfigInput,
      faults,
      partBytes: request.partMb === undefined ? defaultPartBytes : Math.round(request.partMb * 1_000_000)
    }
    return { batch: batch.success, extraction: extraction.success, build: build.success, recorded }
  })

/**
 * The ports for a backend. The local emulation is loaded only when asked for: a run on AWS
 * never loads it (nor the test kit it answers with).
 */
export const backendLayer = (
  recorded: Pick<RecordedRun, "backend" | "faults">,
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
  | RunStore.UnknownRun
  | EngineError

const localLayer = (
  Local: typeof import("@batch-extract/aws/local"),
  recorded: Pick<RecordedRun, "faults">,
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
  /** The quotas the run used: values, where they came from, the warning when they could not be read. */
  readonly quotas?: AccountQuotas.Resolution | undefined
}

/**
 * The summary file's content: the run's result — every figure a view of the run state, over
 * every process that worked on it — with what only the command knows around it: the backend,
 * the output directory, the run's elapsed time (start to end) and the quotas it used.
 */
export const summaryJson = (recorded: RecordedRun, result: ExtractRun.RunResult): SummaryFile => ({
  ...result,
  backend: recorded.backend,
  output: recorded.out,
  elapsedSeconds: Math.round((result.finishedAt - result.startedAt) / 100) / 10,
  ...(recorded.quotas === undefined ? {} : { quotas: recorded.quotas })
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
      tag === "ForeignStore" || tag === "UnknownRun" || tag === "SocketServerError"
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
    for (const line of costLines(file)) yield* Console.error(line)
    for (const failure of file.failures.slice(0, 20)) {
      yield* Console.error(`  failed ${failure.stage} ${failure.recordId}: ${failure.reason}`)
    }
    if (file.failures.length > 20) yield* Console.error(`  … and ${file.failures.length - 20} more in summary.json`)
    for (const skip of file.skippedDocuments) yield* Console.error(`  skipped ${skip.path}: ${skip.reason}`)
    if (file.classifications !== undefined) {
      for (const line of classificationLines(file.classifications)) yield* Console.error(line)
    }
    if (json) yield* Console.log(JSON.stringify(file, null, 2))
    return result.exitCode
  })

const usd = (amount: number) => `$${amount.toFixed(amount !== 0 && Math.abs(amount) < 0.01 ? 4 : 2)}`

/** What the report says of a run's cost (from the tokens it reported), line by line. */
export const costLines = (
  result: Pick<ExtractRun.RunResult, "cost" | "costNote" | "prices" | "stages">
): Array<string> => {
  if (result.cost === null || result.cost === undefined) {
    return result.costNote === undefined ? [] : [`cost: unknown: ${result.costNote}`]
  }
  const stages = Object.entries(result.stages).flatMap(([stage, totals]) =>
    totals.cost === null || totals.cost === undefined ? [] : [`${stage} ${usd(totals.cost.total)}`]
  )
  return [
    `cost: ${usd(result.cost.total)} (${usd(result.cost.batch)} batch, ${usd(result.cost.onDemand)} on demand; ` +
    `${usd(result.cost.saving)} less than all on demand)` + (stages.length === 0 ? "" : `: ${stages.join(", ")}`) +
    (result.prices === undefined ? "" : ` at ${result.prices.pricedAs}'s prices (${result.prices.source})`)
  ]
}

/** What the report and `status` say of a run's inferred entity classifications, line by line. */
export const classificationLines = (inference: ClassificationInference.Inference): Array<string> => [
  inference.fellBack
    ? `entity classifications: none inferred; the topic prompts used the preferred ones: ${
      inference.classifications.join(", ") || "none"
    }`
    : `entity classifications inferred from ${inference.sampledChunkIds.length} chunks (${inference.calls} calls): ` +
      `${inference.inferred.join(", ")}; the topic prompts offered: ${inference.classifications.join(", ")}`,
  ...inference.warnings.map((warning) => `  warning: ${warning}`),
  ...inference.notes.map((note) => `  note: ${note}`)
]

/**
 * The command's planner: a run's plan from its recorded settings (its input files, local or
 * in S3, split into parts; the directory or object-store sink under its output; its backend,
 * shared by the run's parts in this process); at the end it writes `summary.json`.
 *
 * `check`: before a process works on a run, it checks that it can read the run's inputs and
 * write its output; `onRefused` says what to do when it cannot (a worker leaves the run to
 * the others).
 */
const planner = (options: {
  readonly onRefused?: ((runId: string, error: InvalidInput) => Effect.Effect<never>) | undefined
  readonly onWritten?: OnWritten | undefined
}) =>
  Effect.gen(function*() {
    const context = yield* Effect.context<FileSystem.FileSystem | Path.Path>()
    const settingsOf = new Map<string, { recorded: RecordedRun; batch: BatchConfig.BatchConfig }>()
    // One backend per run in this process, shared by its parts; released a minute after its last part.
    const backends = yield* RcMap.make({
      lookup: (
        runId: string
      ): Effect.Effect<
        Context.Context<ObjectStore.ObjectStore | BatchInference.BatchInference | ModelRuntime.ModelRuntime>,
        BackendError | InvalidInput,
        Scope.Scope
      > =>
        Effect.gen(function*() {
          const { batch, recorded } = settingsOf.get(runId)!
          const ports = yield* Layer.build(backendLayer(recorded, batch))
          const issues = yield* checkAccess(recorded).pipe(Effect.provideContext(ports))
          if (issues.length > 0) return yield* new InvalidInput({ issues })
          return ports
        }).pipe(Effect.provideContext(context)),
      idleTimeToLive: "1 minute"
    })
    return ExtractRun.Planner.of({
      plan: (runId, settings) =>
        Effect.gen(function*() {
          const recorded = settings as RecordedRun
          const batch = yield* BatchConfig.decode(recorded.batch)
          const extraction = yield* Extraction.decodeConfig(recorded.extraction)
          settingsOf.set(runId, { recorded, batch })
          const ports = yield* RcMap.get(backends, runId).pipe(
            Effect.catchTag(
              "InvalidInput",
              (error) => options.onRefused === undefined ? Effect.fail(error) : options.onRefused(runId, error)
            )
          )
          const services = Context.merge(context, ports)
          const readerOptions = readerOptionsOf(recorded)
          const written = yield* Outputs.sinkOf(recorded.out, recorded.collectionId).pipe(
            Effect.provideContext(services)
          )
          const onWritten = options.onWritten
          const sink: Sink.Sink["Service"] = onWritten === undefined ? written : {
            write: (extracted) => Effect.andThen(written.write(extracted), onWritten(runId, extracted))
          }
          const plan: ExtractRun.RunPlan = {
            batch,
            extraction,
            inputs: Inputs.list(recorded.paths).pipe(Stream.provideContext(services)),
            read: (files) => Inputs.read(files, readerOptions).pipe(Stream.provideContext(services)),
            partBytes: recorded.partBytes ?? defaultPartBytes,
            services: ports,
            sink,
            outKey: outKeyOf(recorded),
            finish: (result) =>
              Outputs.writeSummary(
                recorded.out,
                JSON.stringify(summaryJson(recorded, result), null, 2) + "\n"
              ).pipe(Effect.provideContext(services))
          }
          return plan
        }).pipe(Effect.provideContext(context))
    })
  })

/** Told of each chunk once its file is written (a build fed as chunks come out). */
export type OnWritten = (runId: string, extracted: ExtractedChunk.ExtractedChunk) => Effect.Effect<void>

/** How a run reads its documents (`--text-field`, `--path-metadata-key`). */
export const readerOptionsOf = (recorded: RecordedRun): Document.ReaderOptions => ({
  ...(recorded.textField === undefined ? {} : { textField: recorded.textField }),
  ...(recorded.pathMetadataKey === undefined ? {} : { pathMetadataKey: recorded.pathMetadataKey })
})

/** Input bytes per part when a run does not say (64 MB: a small corpus is one part). */
export const defaultPartBytes = 64_000_000

/**
 * Whether this process can read a run's inputs and write its output (objects in S3: the
 * credentials of this process); every problem, nothing written.
 */
export const checkAccess = (recorded: RecordedRun) =>
  Effect.gen(function*() {
    const inputs = yield* Inputs.check(recorded.paths)
    const output = yield* Outputs.check(recorded.out)
    return [...inputs, ...output]
  })

/** Why a process could not join the work (its address is wrong or taken). */
export type EngineError = Config.ConfigError | InvalidInput | SocketServer.SocketServerError

/**
 * Before a run is submitted or resumed: when it reads or writes objects in S3, check with this
 * process's credentials that it can (every problem at once; exit 2, nothing sent or written).
 */
export const checkRemote = (recorded: RecordedRun, batch: BatchConfig.BatchConfig) =>
  Effect.gen(function*() {
    if (!recorded.paths.some(Inputs.isObjectUri) && !Inputs.isObjectUri(recorded.out)) return
    const issues = yield* checkAccess(recorded).pipe(Effect.provide(backendLayer(recorded, batch)))
    if (issues.length > 0) return yield* new InvalidInput({ issues })
  })

/** Where a process that works on runs listens for the other processes of a cluster. */
export interface RunnerOptions {
  /** `host:port` the others reach this process at (default: 127.0.0.1 and a free port). */
  readonly address?: string | undefined
  /** `host:port` to listen on (default: the address). */
  readonly listen?: string | undefined
  /** Seconds before the others take over the work of a process that died (default 20). */
  readonly takeoverSeconds?: number | undefined
  /** Parts of runs this process extracts at once (default 4). */
  readonly concurrentParts?: number | undefined
}

const parseAddress = (value: string, label: string) =>
  Effect.gen(function*() {
    const match = /^(.+):(\d{1,5})$/.exec(value)
    if (match === null || Number(match[2]) > 65535) {
      return yield* new InvalidInput({ issues: [{ path: label, message: `expected host:port, got "${value}"` }] })
    }
    return { host: match[1]!, port: Number(match[2]) }
  })

const isLoopback = (host: string) => host === "localhost" || host.startsWith("127.") || host === "::1"

const databaseHost = (url: string) => {
  try {
    return new URL(url).hostname || "localhost"
  } catch {
    return "localhost"
  }
}

/** A free TCP port on a host (asked of the system, then released for the runner to take). */
const freePort = (host: string) =>
  Effect.callback<number, InvalidInput>((resume) => {
    const server = createServer()
    server.once("error", (error) =>
      resume(Effect.fail(
        new InvalidInput({ issues: [{ path: "address", message: `cannot listen on ${host}: ${error.message}` }] })
      )))
    server.listen(0, host, () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resume(Effect.succeed(port)))
    })
  })

/**
 * The workflow engine of a process: on the embedded store one process (a single runner); on a
 * database one runner of the cluster of every process on it (socket runners).
 */
export const engineLayer = (
  location: StoreLocation,
  runner: RunnerOptions = {}
): Layer.Layer<WorkflowEngine.WorkflowEngine, EngineError, SqlClient.SqlClient> =>
  location.database === undefined
    ? ExtractRun.engineLayer()
    : Layer.unwrap(Effect.gen(function*() {
      const listen = runner.listen === undefined ? undefined : yield* parseAddress(runner.listen, "listen")
      const address = runner.address !== undefined
        ? yield* parseAddress(runner.address, "address")
        : { host: listen?.host ?? "127.0.0.1", port: listen?.port ?? (yield* freePort(listen?.host ?? "127.0.0.1")) }
      if (isLoopback(address.host) && !isLoopback(databaseHost(location.database!))) {
        yield* Console.error(
          `batch-extract: this process is reachable at ${address.host}:${address.port} only from this host; ` +
            "workers on other hosts need --address HOST:PORT (an address they can reach)"
        )
      }
      return Cluster.layer({
        address,
        listen,
        takeover: Duration.seconds(runner.takeoverSeconds ?? Duration.toSeconds(Cluster.defaultTakeover))
      })
    }))

/**
 * The services of a process that works on runs: the run workflows, the engine, the planner,
 * job slots (shared through the store on a database), the progress of the parts it extracts.
 */
export const workLayer = (options: {
  readonly location: StoreLocation
  readonly runner?: RunnerOptions | undefined
  readonly selection: "all" | ReadonlySet<string>
  readonly progress: Progress.Progress
  readonly onRefused?: ((runId: string, error: InvalidInput) => Effect.Effect<never>) | undefined
  readonly onWritten?: OnWritten | undefined
}) => {
  const shared = options.location.database !== undefined
  const services = Layer.mergeAll(
    shared ? SharedJobSlots.layer() : JobSlots.layerPerModel,
    Layer.effect(ExtractRun.Planner, planner({ onRefused: options.onRefused, onWritten: options.onWritten })),
    Layer.succeed(ExtractionEvents.ExtractionEvents, options.progress.handler),
    Layer.succeed(ExtractRun.RunSelection, options.selection)
  )
  return ExtractRun.layer({ concurrentParts: options.runner?.concurrentParts }).pipe(
    Layer.provideMerge(engineLayer(options.location, options.runner)),
    Layer.provide(services)
  )
}

/**
 * Work on a run until it ends (a new run, or one resumed: the workflow engine continues it
 * where it stopped), print its result and return its exit code. The run's state is in the
 * store in the environment. On the embedded store the process works on this run only; on a
 * database it is a runner of the cluster, and works on any run it is given while it waits.
 */
export const runExtraction = (options: {
  readonly runId: string
  readonly recorded: RecordedRun
  readonly json: boolean
  readonly location: StoreLocation
  readonly runner?: RunnerOptions | undefined
  /** Told of each chunk of this run once written (`extract --build`: the build it feeds). */
  readonly onWritten?: ((extracted: ExtractedChunk.ExtractedChunk) => Effect.Effect<void>) | undefined
  /**
   * The progress display, drawn by the caller, who also reports the run's result
   * ({@link reportRun}); by default one of the run's own, and the result reported here.
   */
  readonly progress?: Progress.Progress | undefined
}): Effect.Effect<number, RunError | InvalidInput, FileSystem.FileSystem | Path.Path | SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const { onWritten, recorded, runId } = options
    const progress = options.progress ?? (yield* Progress.make({ tty: process.stderr.isTTY === true }))
    const workflow = workLayer({
      location: options.location,
      runner: options.runner,
      selection: options.location.database === undefined ? new Set([runId]) : "all",
      progress,
      onWritten: onWritten === undefined
        ? undefined
        : (id, extracted) => (id === runId ? onWritten(extracted) : Effect.void)
    })
    // A display given by the caller is drawn by the caller.
    const drawing = options.progress === undefined ? yield* Effect.forkChild(progress.run) : undefined
    const code = yield* ExtractRun.execute(runId).pipe(
      Effect.provide(workflow),
      Effect.map(Option.some),
      // A run that ended in an error stays resumable: say so (interrupts exit 130 as they are).
      Effect.catchCause((cause) =>
        Cause.hasInterruptsOnly(cause) ? Effect.failCause(cause) : Effect.as(
          Console.error(
            `\nrun ${runId} stopped: ${Cause.pretty(cause)}\n` +
              `its state is kept: \`batch-extract resume ${runId}\` continues it`
          ),
          Option.none<number>()
        )
      )
    )
    if (drawing === undefined) return Option.getOrElse(code, () => 1)
    yield* Fiber.interrupt(drawing)
    yield* progress.final
    if (Option.isNone(code)) return 1
    return yield* reportRun(runId, recorded, options.json, options.location, code.value)
  })

/**
 * Print the result of a run that ended (as {@link report}) and return its exit code; `code`
 * (the run's, or 1 when it stopped in an error) when the store holds no result.
 */
export const reportRun = (
  runId: string,
  recorded: RecordedRun,
  json: boolean,
  location: StoreLocation,
  code: number
) =>
  Effect.gen(function*() {
    const stored = yield* RunStore.getRun(runId, describeLocation(location))
    if (stored.result === undefined) return code
    return yield* report(recorded, stored.result as ExtractRun.RunResult, json)
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
