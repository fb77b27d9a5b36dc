/**
 * `batch-extract build <dir | s3://prefix>`: build the lexical graph and its vector indexes
 * from extracted chunk files, the texts embedded by a Bedrock embedding model through the
 * engine (batch jobs; on demand below a job's minimum; Cohere on demand), into the embedded
 * store (`pglite://<dir>/.batch-extract/graph` unless `--graph-store` / `--vector-store`).
 *
 * Every chunk file is read once before anything is opened: a bad or missing file is refused
 * (exit 2) with nothing written. The build's embedding jobs are recorded in the run state
 * beside the chunks (`<dir>/.batch-extract/state`) under a run id stable for the store, so a
 * build stopped while a job runs re-attaches that job the next time instead of paying again.
 *
 * Exit codes: 0 built; 1 some text could not be embedded (listed); 2 invalid input, an
 * unusable store, or an index built with another model or dimensions; 130 interrupted.
 */
import type { AwsBackend } from "@batch-extract/aws"
import {
  BatchConfig,
  Build,
  BuildConfig,
  ChunkFiles,
  type ExtractRun,
  GraphModel,
  GraphStore,
  JobSlots,
  RunEvents,
  RunStore
} from "@batch-extract/core"
import { type Cause, Console, Deferred, Effect, Fiber, FileSystem, Layer, Option, Path, Queue, Stream } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import type { SqlClient } from "effect/sql"
import { createHash } from "node:crypto"
import * as Progress from "../Progress.ts"
import * as Run from "../Run.ts"
import * as Stores from "../Stores.ts"
import * as Options from "./Options.ts"

/** What `build` was asked to do (after parsing the command line). */
export interface Request {
  /** A directory of chunk files (`<dir>/<collection>/<source>/*.json`) or `s3://bucket/prefix`. */
  readonly target: string
  readonly collectionId: string
  readonly backend: "local" | "aws"
  readonly json: boolean
  readonly configFile: string | undefined
  readonly runId: string | undefined
  /** Raw flag values by flag name (only flags the user gave). */
  readonly flags: Readonly<Record<string, unknown>>
}

/** A build's settings, validated. */
export interface Resolved {
  readonly backend: "local" | "aws"
  readonly batch: BatchConfig.BatchConfig
  readonly build: BuildConfig.BuildConfig
  readonly location: ChunkFiles.Location
  readonly graphStore: string
  readonly vectorStore: string
  /** Where the run state that keeps the build's embedding jobs lives (its `--out`). */
  readonly stateOut: string
  readonly runId: string
}

/** What a build ended with. */
export interface Outcome {
  readonly exitCode: number
  readonly summary?: Build.Summary | undefined
  /** Nodes and edges in the graph store after the build, by label. */
  readonly graph?: GraphModel.Counts | undefined
}

const runIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/** The default graph store of a directory of chunks: `pglite://<dir>/.batch-extract/graph`. */
export const defaultStoreOf = (directory: string) => `pglite://${directory}/.batch-extract/graph`

/** The run id of a build unless `--run-id`: `build-` and 8 hex digits of the store URLs. */
export const defaultRunIdOf = (graphStore: string, vectorStore: string) =>
  `build-${createHash("md5").update(`${graphStore}\n${vectorStore}`).digest("hex").slice(0, 8)}`

/** Why a build ended without its summary (those that are invalid input print and exit 2 first). */
export type BuildFailure = Build.BuildError | ChunkFiles.ChunkFileError | Stores.StoreUnavailable

/** Resolve and validate a build's settings (flags > environment > config file > defaults). */
export const resolve = (request: Request) =>
  Effect.gen(function*() {
    const path = yield* Path.Path
    const { gathered, issues } = yield* Run.gatherSettings(request)
    const batch = yield* Effect.result(BatchConfig.decode(gathered.batch))
    if (batch._tag === "Failure") issues.push(...batch.failure.issues)
    const build = yield* Effect.result(BuildConfig.decode(gathered.build))
    if (build._tag === "Failure") issues.push(...build.failure.issues)
    if (request.runId !== undefined && !runIdPattern.test(request.runId)) {
      issues.push({
        path: "run-id",
        message: `must be 1 to 64 letters, digits, '.', '_' or '-', got "${request.runId}"`
      })
    }
    const remote = request.target.startsWith("s3://")
    if (remote && request.backend === "local") {
      issues.push({
        path: "backend",
        message: "s3:// chunks need --backend aws (the local emulation's S3 lives and dies with the process)"
      })
    }
    const graphStoreSet = build._tag === "Success" ? build.success.graphStore : undefined
    if (remote && graphStoreSet === undefined) {
      issues.push({ path: "build.graphStore", message: "chunks in s3:// need --graph-store pglite://<dir>" })
    }
    if (issues.length > 0 || batch._tag === "Failure" || build._tag === "Failure") {
      return yield* new Run.InvalidInput({ issues })
    }
    const directory = remote ? undefined : path.resolve(request.target)
    const graphStore = graphStoreSet ?? defaultStoreOf(directory!)
    const vectorStore = build.success.vectorStore ?? graphStore
    const resolved: Resolved = {
      backend: request.backend,
      batch: batch.success,
      build: build.success,
      location: ChunkFiles.locationOf(directory ?? request.target, request.collectionId),
      graphStore,
      vectorStore,
      // The run state of a directory is the extraction's; of a bucket, beside the graph store.
      stateOut: directory ?? path.dirname(path.resolve(Stores.directoryOf(graphStore))),
      runId: request.runId ?? defaultRunIdOf(graphStore, vectorStore)
    }
    return resolved
  })

const invalid = (path: string, message: string) => new Run.InvalidInput({ issues: [{ path, message }] })

/** Problems of the input or the stores are invalid input (exit 2); others end the command (exit 1). */
const asInvalidInput = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.catch(effect, (error): Effect.Effect<never, E | Run.InvalidInput> => {
    const tagged = error as { readonly _tag?: string; readonly message?: string }
    switch (tagged._tag) {
      case "ChunkFileError":
        return Effect.fail(invalid("chunks", tagged.message!))
      case "StoreUnavailable":
        return Effect.fail(invalid("store", tagged.message!))
      case "DimensionMismatch":
      case "ModelMismatch":
        return Effect.fail(
          invalid(
            "build.embeddingModel",
            `${tagged.message!} (build into another store, or with the index's model)`
          )
        )
      case "InvalidBuildOptions":
      case "InvalidInput":
        return tagged._tag === "InvalidInput" && error instanceof Run.InvalidInput
          ? Effect.fail(error)
          : Effect.fail(invalid("build", tagged.message!))
      default:
        return Effect.fail(error)
    }
  })

/** Lines of counts by label, the zeros left out. */
const countLines = (counts: GraphModel.Counts): Array<string> => [
  `  nodes: ${
    GraphModel.nodeLabels.filter((l) => counts.nodes[l] > 0).map((l) => `${l} ${counts.nodes[l]}`).join(", ") || "none"
  }`,
  `  edges: ${
    GraphModel.edgeLabels.filter((l) => counts.edges[l] > 0).map((l) => `${l} ${counts.edges[l]}`).join(", ") || "none"
  }`
]

/** Print a build's summary to stderr (and as JSON on stdout with `--json`); its exit code. */
export const report = (resolved: Resolved, summary: Build.Summary, graph: GraphModel.Counts, json: boolean) =>
  Effect.gen(function*() {
    const e = summary.embeddings
    const lines = [
      `\nbuild ${resolved.runId}: ${summary.chunks} chunks (${summary.chunksWithoutTopics} without topics, ` +
      `${summary.unchangedChunks} unchanged since built) into ` +
      `${resolved.graphStore}${resolved.vectorStore === resolved.graphStore ? "" : ` and ${resolved.vectorStore}`}`,
      "written:",
      ...countLines(summary.written),
      `removed (chunks built again): ${summary.removed.nodes} nodes, ${summary.removed.edges} edges`,
      `embeddings (${resolved.build.embeddingModel}): ${e.batch} in batch, ${e.onDemand} on demand, ` +
      `${e.unchanged} unchanged, ${e.failed.length} failed; ${e.inputTokens} input tokens; ` +
      `rows written: chunk ${e.written.chunk}, statement ${e.written.statement}, topic ${e.written.topic}`,
      ...Run.costLines({ cost: e.cost, ...(e.costNote === undefined ? {} : { costNote: e.costNote }), stages: {} })
        .map((line) => `  ${line}`),
      ...e.failed.slice(0, 20).map((f) => `  failed ${f.index} ${f.id}: ${f.reason}`),
      ...(e.failed.length > 20 ? [`  … and ${e.failed.length - 20} more (see --json)`] : []),
      "the graph now holds:",
      ...countLines(graph)
    ]
    yield* Console.error(lines.join("\n"))
    if (json) yield* Console.log(JSON.stringify(jsonOf(resolved, summary, graph), null, 2))
    return e.failed.length > 0 ? 1 : 0
  })

/** What `build --json` prints: the summary, the run id, the stores and the store's counts after the build. */
export interface Json extends Build.Summary {
  readonly runId: string
  readonly graphStore: string
  readonly vectorStore: string
  readonly graph: GraphModel.Counts
}

/** The summary as `build --json` prints it. */
export const jsonOf = (resolved: Resolved, summary: Build.Summary, graph: GraphModel.Counts): Json => ({
  ...summary,
  runId: resolved.runId,
  graphStore: resolved.graphStore,
  vectorStore: resolved.vectorStore,
  graph
})

/** The services a build runs on: its stores, job slots per model and the run state's answers. */
const buildServices = (resolved: Resolved) =>
  Layer.mergeAll(
    Stores.storesLayer(resolved.graphStore, resolved.vectorStore),
    JobSlots.layerPerModel,
    RunStore.layerState
  )

const buildOptions = (resolved: Resolved, onProgress: (now: Build.Progress) => void): Build.Options => ({
  embedding: BuildConfig.embeddingBatchConfig(resolved.batch, resolved.build),
  runId: resolved.runId,
  indexes: resolved.build.indexes,
  chunksPerWrite: resolved.build.chunksPerWrite,
  onProgress: (now) => Effect.sync(() => onProgress(now))
})

const buildLine = (built: Build.Progress) => `build  chunks ${built.chunks} written  vectors ${built.vectors} written`

/** After a build: the store's counts, the answers forgotten, the report; the outcome. */
const finishBuild = (resolved: Resolved, summary: Build.Summary, json: boolean) =>
  Effect.gen(function*() {
    const graph = yield* (yield* GraphStore.GraphStore).counts
    const exitCode = yield* report(resolved, summary, graph, json)
    return { exitCode, summary, graph } satisfies Outcome
  })

/**
 * Build the chunks of a resolved location into its stores, on the backend's ports and the run
 * state in the environment (stores opened here, after nothing failed before).
 */
export const buildInto = (
  resolved: Resolved,
  options: { readonly json: boolean }
): Effect.Effect<
  Outcome,
  BuildFailure | Run.InvalidInput,
  FileSystem.FileSystem | Path.Path | SqlClient.SqlClient | AwsBackend.Services
> =>
  Effect.gen(function*() {
    // The embedding jobs and records as they go (the engine's events), on stderr.
    let built: Build.Progress = { chunks: 0, vectors: 0 }
    const progress = yield* Progress.make({ tty: process.stderr.isTTY === true, title: () => buildLine(built) })
    const drawing = yield* Effect.forkChild(progress.run)
    const summary = yield* Build.build(
      ChunkFiles.read(resolved.location),
      buildOptions(resolved, (now) => void (built = now))
    ).pipe(
      Effect.provideService(RunEvents.RunEvents, progress.handler),
      Effect.ensuring(Fiber.interrupt(drawing))
    )
    yield* progress.final
    return yield* finishBuild(resolved, summary, options.json)
  }).pipe(Effect.provide(buildServices(resolved)), asInvalidInput)

/** The build settings an `extract --build` run records: its stores' URLs absolute (`resume` may run elsewhere). */
export const recordedBuild = (build: BuildConfig.BuildConfig, out: string) =>
  Effect.gen(function*() {
    const path = yield* Path.Path
    const absolute = (url: string) => `pglite://${path.resolve(Stores.directoryOf(url))}`
    const graphStore = absolute(build.graphStore ?? defaultStoreOf(out))
    const vectorStore = build.vectorStore === undefined ? graphStore : absolute(build.vectorStore)
    return { ...build, graphStore, vectorStore } satisfies BuildConfig.BuildConfigInput
  })

/** The build of a run that records one (`extract --build`), resolved from its recorded settings. */
const resolvedOf = (recorded: Run.RecordedRun, batch: BatchConfig.BatchConfig) =>
  Effect.gen(function*() {
    const build = yield* BuildConfig.decode(recorded.build).pipe(
      Effect.mapError((error) => new Run.InvalidInput({ issues: error.issues }))
    )
    const graphStore = build.graphStore ?? defaultStoreOf(recorded.out)
    const vectorStore = build.vectorStore ?? graphStore
    const resolved: Resolved = {
      backend: recorded.backend,
      batch,
      build,
      location: ChunkFiles.locationOf(recorded.out, recorded.collectionId),
      graphStore,
      vectorStore,
      stateOut: recorded.out,
      runId: defaultRunIdOf(graphStore, vectorStore)
    }
    return resolved
  })

/**
 * Open the stores of a run's build and check its options and indexes (`Build.prepare`), then
 * run `effect` with them: called before the run state is opened, so a store that cannot be used
 * exits 2 with nothing written or recorded.
 */
export const withRunStores = <A, E, R>(
  recorded: Run.RecordedRun,
  batch: BatchConfig.BatchConfig,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | BuildFailure | Run.InvalidInput, Exclude<R, Stores.Services>> =>
  Effect.gen(function*() {
    const resolved = yield* resolvedOf(recorded, batch)
    return yield* Effect.andThen(
      Build.prepare(buildOptions(resolved, () => undefined)),
      effect
    ).pipe(Effect.provide(Stores.storesLayer(resolved.graphStore, resolved.vectorStore)))
  }).pipe(asInvalidInput)

/**
 * An extraction and the build it feeds, at once (`extract --build`, and `resume` of such a run),
 * on the stores in the environment ({@link withRunStores}): the build takes the chunks already
 * under the output (an earlier run's, or those written before a resume) and each chunk as its
 * file is written. With the `topic` index the build starts once the extraction ended (a topic's
 * text needs every chunk of its source). The extraction's progress display shows the build's
 * line; its report, then the build's, come when both ended.
 *
 * Exit code: the larger of the extraction's and the build's.
 */
export const extractAndBuild = (options: {
  readonly runId: string
  readonly recorded: Run.RecordedRun
  readonly batch: BatchConfig.BatchConfig
  readonly json: boolean
  readonly location: Run.StoreLocation
  readonly runner?: Run.RunnerOptions | undefined
  /** Chunks written and not yet taken by the build before the extraction waits for it (default 256). */
  readonly buffer?: number | undefined
}): Effect.Effect<
  number,
  Run.RunError | BuildFailure | Run.InvalidInput,
  FileSystem.FileSystem | Path.Path | SqlClient.SqlClient | Stores.Services
> =>
  Effect.gen(function*() {
    const { recorded, runId } = options
    const resolved = yield* resolvedOf(recorded, options.batch)
    return yield* Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      let built: Build.Progress = { chunks: 0, vectors: 0 }
      const progress = yield* Progress.make({ tty: process.stderr.isTTY === true, extra: () => [buildLine(built)] })
      const feed = yield* Queue.bounded<Build.Buildable, Cause.Done>(Math.max(1, options.buffer ?? 256))
      const extracted = yield* Deferred.make<void>()
      // The chunks under the output before this extraction writes any (absent on a first run).
      const collection = path.join(recorded.out, recorded.collectionId)
      const existing = (yield* fs.exists(collection).pipe(Effect.orElseSucceed(() => false)))
        ? ChunkFiles.read(resolved.location)
        : Stream.empty
      const streamed = !resolved.build.indexes.includes("topic")
      const chunks = streamed
        ? Stream.concat(existing, Stream.fromQueue(feed))
        : Stream.unwrap(Effect.as(Deferred.await(extracted), ChunkFiles.read(resolved.location)))
      const drawing = yield* Effect.forkChild(progress.run)
      const extraction = Run.runExtraction({
        runId,
        recorded,
        json: false,
        location: options.location,
        runner: options.runner,
        progress,
        ...(streamed ? { onWritten: (chunk) => Queue.offer(feed, chunk).pipe(Effect.asVoid) } : {})
      }).pipe(Effect.ensuring(Effect.andThen(Queue.end(feed), Deferred.succeed(extracted, undefined))))
      const building = Build.build(chunks, buildOptions(resolved, (now) => void (built = now))).pipe(
        Effect.provideService(RunEvents.RunEvents, progress.handler)
      )
      // A build that fails stops the extraction (its state kept: `resume` continues both).
      const [code, summary] = yield* Effect.all([extraction, building], { concurrency: 2 }).pipe(
        Effect.ensuring(Fiber.interrupt(drawing))
      )
      yield* progress.final
      const extractionCode = yield* Run.reportRun(runId, recorded, false, options.location, code)
      const outcome = yield* finishBuild(resolved, summary, false)
      if (options.json) {
        // One document on stdout: the run's summary, with the build's under `build`.
        const stored = yield* RunStore.getRun(runId, Run.describeLocation(options.location))
        const run = stored.result === undefined
          ? { runId }
          : Run.summaryJson(recorded, stored.result as ExtractRun.RunResult)
        yield* Console.log(JSON.stringify({ ...run, build: jsonOf(resolved, summary, outcome.graph) }, null, 2))
      }
      return Math.max(extractionCode, outcome.exitCode)
    }).pipe(
      Effect.provide(Layer.mergeAll(
        JobSlots.layerPerModel,
        RunStore.layerState,
        Run.backendLayer(recorded, options.batch)
      )),
      asInvalidInput
    )
  })

/**
 * `build`: validate, read every chunk file once (nothing opened on a bad one), open the
 * stores and the run state, build; the outcome with its exit code.
 */
export const execute = (request: Request) =>
  Effect.gen(function*() {
    const resolved = yield* resolve(request)
    return yield* Effect.gen(function*() {
      const checked = yield* ChunkFiles.check(resolved.location)
      yield* Console.error(`checked ${checked.chunks} chunks of ${checked.sources} sources`)
      return yield* buildInto(resolved, request).pipe(
        Effect.provide(Run.storeLayer({ out: resolved.stateOut, database: undefined }, "work"))
      )
    }).pipe(
      asInvalidInput,
      Effect.provide(Run.backendLayer({ backend: resolved.backend, faults: undefined }, resolved.batch))
    )
  }).pipe(
    Run.storeIssues,
    Run.withLogging,
    Run.reportInvalidInput,
    Effect.map((outcome): Outcome => (typeof outcome === "number" ? { exitCode: outcome } : outcome))
  )

/** `build` as a command's effect: its exit code. */
export const run = (request: Request): Effect.Effect<number, unknown, FileSystem.FileSystem | Path.Path> =>
  Effect.map(execute(request), (outcome) => outcome.exitCode)

/** `--backend local|aws`. */
export const backend = Flag.Literals("backend", ["local", "aws"]).pipe(
  Flag.withDescription("local: the embedded emulation (no AWS account); aws: real AWS, standard SDK environment"),
  Flag.withDefault("local")
)

/** `--config FILE`. */
export const config = Flag.String("config").pipe(
  Flag.withDescription("JSON settings file (camelCase or the reference's snake_case names)"),
  Flag.optional
)

export const command = Command.make("build", {
  target: Argument.String("target").pipe(
    Argument.withDescription("directory of chunk files (an extract's --out) or s3://bucket/prefix")
  ),
  collectionId: Flag.String("collection-id").pipe(
    Flag.withDescription("sub-directory of the target that holds the chunks"),
    Flag.withDefault("default")
  ),
  backend,
  json: Options.json,
  config,
  runId: Flag.String("run-id").pipe(
    Flag.withDescription("names the build's embedding run in the run state (default: build-<hash of the store>)"),
    Flag.optional
  ),
  ...Options.settingFlags
}, (input) =>
  run({
    target: input.target,
    collectionId: input.collectionId,
    backend: input.backend,
    json: input.json,
    configFile: Option.getOrUndefined(input.config),
    runId: Option.getOrUndefined(input.runId),
    flags: Options.settingValues(input)
  }).pipe(Effect.flatMap(Options.exitWith))).pipe(
    Command.withDescription("build the lexical graph and its vector indexes from chunk files (embedded store)")
  )
