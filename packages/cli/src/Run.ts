/**
 * What the `batch-extract` commands share: resolving and validating settings, choosing the
 * backend, running (or resuming) an extraction with its ledger, checkpoint and progress, and
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
  ExtractionSummary,
  JobSlots,
  RunLedger,
  Sink
} from "@batch-extract/core"
import {
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
  readonly collectionId: string
  readonly textField: ReadonlyArray<string> | undefined
  readonly pathMetadataKey: string | undefined
  /** Raw flag values by flag name (only flags the user gave). */
  readonly flags: Readonly<Record<string, unknown>>
}

/** What the ledger keeps of a run so `resume` can repeat it. */
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

/** The content of `summary.json`: the library's JSON form of the summary and the command's own fields. */
export interface SummaryFile extends ExtractionSummary.Json {
  readonly runId: string
  readonly backend: RecordedRun["backend"]
  readonly output: string
  readonly elapsedSeconds: number
}

/**
 * The summary file's content: the run's summary in the library's JSON form
 * (`ExtractionSummary.toJson`), with what only the command knows around it — the run id,
 * backend, output directory and elapsed time. A resumed run passes its ledger's totals: its
 * records, jobs, tokens and failures are then the whole run's (every process that worked on
 * it), and `resumed` is set; the extraction counts are this process's.
 */
export const summaryJson = (
  runId: string,
  recorded: RecordedRun,
  summary: ExtractionSummary.ExtractionSummary,
  elapsedMs: number,
  runTotals?: RunLedger.Totals | undefined
): SummaryFile => ({
  runId,
  backend: recorded.backend,
  output: recorded.out,
  ...ExtractionSummary.toJson(summary, { runTotals }),
  elapsedSeconds: Math.round(elapsedMs / 100) / 10
})

/**
 * The checkpoint of an output directory: a journal (`<out>/.batch-extract/checkpoint/`) of the
 * chunks fully extracted and written there, by any run. A chunk written with failures (empty
 * results, so the build stage still sees it) is not in it, so a later run extracts it again.
 */
const checkpointId = "checkpoint"

/** The chunks to skip: fully extracted (per the checkpoint) and still on disk. */
const checkpointedChunkIds = (out: string, collectionId: string, checkpoint: RunLedger.Ledger) =>
  Effect.gen(function*() {
    const extracted = RunLedger.fold(yield* checkpoint.read(checkpointId)).chunksWritten
    // An output that cannot be listed has nothing to skip: its chunks are extracted again.
    const onDisk = new Set(
      yield* Stream.runCollect(Sink.chunkIdsInDirectory({ directory: out, collectionId })).pipe(
        Effect.orElseSucceed((): Array<string> => [])
      )
    )
    return new Set([...extracted].filter((id) => onDisk.has(id)))
  })

/** The ledger directory of an output directory. */
export const ledgerDirectory = (path: Path.Path, out: string) => path.join(out, ".batch-extract", "runs")

/** A run id from the current UTC time: `run-YYYYMMDD-HHMMSS`. */
export const defaultRunId = Effect.map(Clock.currentTimeMillis, (now) => {
  const d = new Date(now)
  const pad = (n: number) => String(n).padStart(2, "0")
  return `run-${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}-${pad(d.getUTCHours())}${
    pad(d.getUTCMinutes())
  }${pad(d.getUTCSeconds())}`
})

/** Run (or resume) an extraction and write its output and summary; returns the exit code. */
export const runExtraction = (options: {
  readonly runId: string
  readonly recorded: RecordedRun
  readonly batch: BatchConfig.BatchConfig
  readonly extraction: Extraction.ExtractionConfig
  readonly json: boolean
  readonly force: boolean
  readonly resuming: boolean
}): Effect.Effect<number, RunError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const { batch, extraction, recorded, runId } = options
    const started = yield* Clock.currentTimeMillis
    const ledgerDir = ledgerDirectory(path, recorded.out)
    const ledgerService = yield* RunLedger.makeFileSystem(ledgerDir)
    if (!options.resuming) {
      yield* ledgerService.append(runId, [{ _tag: "RunStarted", at: started, settings: recorded }])
    }
    const checkpoint = yield* RunLedger.makeFileSystem(path.join(recorded.out, ".batch-extract"))
    const written = options.force
      ? new Set<string>()
      : yield* checkpointedChunkIds(recorded.out, recorded.collectionId, checkpoint)
    const progress = yield* Progress.make({ tty: process.stderr.isTTY === true })
    const readerOptions: Document.ReaderOptions = {
      ...(recorded.textField === undefined ? {} : { textField: recorded.textField }),
      ...(recorded.pathMetadataKey === undefined ? {} : { pathMetadataKey: recorded.pathMetadataKey })
    }
    const inputs = yield* Effect.forEach(recorded.paths, (input) =>
      Effect.map(fs.stat(input), (info) =>
        info.type === "Directory"
          ? Document.fromDirectory(input, readerOptions)
          : Document.fromFiles([input], readerOptions)))
    const documents = Stream.concat(Stream.fromIterable(inputs), Stream.empty).pipe(Stream.flatMap((s) =>
      s
    ))
    const sink = yield* Sink.directory({ directory: recorded.out, collectionId: recorded.collectionId })
    const pipeline = Extraction.extract(documents, {
      batch,
      extraction,
      runId,
      skipChunk: (id) => written.has(id)
    }).pipe(
      Stream.mapEffect((extracted) => Effect.as(sink.write(extracted), extracted), { concurrency: 8 }),
      // Only fully extracted chunks count as done; recorded soon after they are written, so a
      // kill leaves little that a later run would extract again.
      Stream.filter((extracted) => extracted.failures.length === 0),
      Stream.map((extracted) => extracted.chunk.id),
      Stream.groupedWithin(200, "1 second"),
      Stream.runForEach((ids) =>
        Effect.andThen(
          ledgerService.append(runId, [{ _tag: "ChunksWritten", chunkIds: ids }]),
          checkpoint.append(checkpointId, [{ _tag: "ChunksWritten", chunkIds: ids }])
        )
      )
    )
    const drawing = yield* Effect.forkChild(progress.run)
    const [, summary] = yield* ExtractionSummary.collect(
      ExtractionEvents.tapped(pipeline, progress.handler.publish)
    ).pipe(
      Effect.provide(Layer.mergeAll(backendLayer(recorded, batch), JobSlots.layerFromConfig(batch))),
      Effect.provideService(RunLedger.RunLedger, ledgerService)
    )
    yield* Fiber.interrupt(drawing)
    yield* progress.final
    yield* ledgerService.append(runId, [{ _tag: "RunFinished", at: yield* Clock.currentTimeMillis }])
    const elapsed = (yield* Clock.currentTimeMillis) - started
    // A resumed run reports the whole run: records, jobs and tokens from its ledger.
    const runTotals = options.resuming
      ? RunLedger.totals(RunLedger.fold(yield* ledgerService.read(runId)))
      : undefined
    const json = summaryJson(runId, recorded, summary, elapsed, runTotals)
    yield* Sink.writeFileAtomically(path.join(recorded.out, "summary.json"), JSON.stringify(json, null, 2) + "\n")
    const failed = json.failures.length > 0 || json.skippedDocuments.length > 0
    yield* Console.error(
      `\nrun ${runId}: ${json.extractedChunks} chunks of ${json.documents} documents extracted to ` +
        `${path.join(recorded.out, recorded.collectionId)}\n` +
        `records: ${json.records.succeeded} succeeded (${json.records.batch} batch, ${json.records.onDemand} on demand), ` +
        `${json.records.failed} failed; jobs: ${json.jobs.total} ${JSON.stringify(json.jobs.byStatus)}; ` +
        `summary: ${path.join(recorded.out, "summary.json")}`
    )
    for (const failure of json.failures.slice(0, 20)) {
      yield* Console.error(`  failed ${failure.stage} ${failure.recordId}: ${failure.reason}`)
    }
    if (json.failures.length > 20) yield* Console.error(`  … and ${json.failures.length - 20} more in summary.json`)
    for (const skip of json.skippedDocuments) yield* Console.error(`  skipped ${skip.path}: ${skip.reason}`)
    if (options.json) yield* Console.log(JSON.stringify(json, null, 2))
    return failed ? 1 : 0
  })

/** The recorded settings of a run, from its ledger. */
export const recordedRun = (out: string, runId: string) =>
  Effect.gen(function*() {
    const path = yield* Path.Path
    const ledger = yield* RunLedger.makeFileSystem(ledgerDirectory(path, path.resolve(out)))
    const state = RunLedger.fold(yield* ledger.read(runId))
    if (!state.started) {
      return yield* new InvalidInput({
        issues: [{ path: "run-id", message: `no run ${runId} under ${ledgerDirectory(path, path.resolve(out))}` }]
      })
    }
    return { state, recorded: state.settings as RecordedRun, ledger }
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
