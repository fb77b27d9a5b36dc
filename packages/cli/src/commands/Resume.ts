/**
 * `batch-extract resume <run-id>`: work on a run until it ends, with its recorded settings —
 * from any process, also another than the one that started it. The workflow engine continues
 * it where it stopped: jobs are re-attached, records already answered are not sent again,
 * chunks already written are left out. A run already finished prints its result (a run of
 * `extract --build` also finishes its build, which may have been stopped after the extraction).
 */
import { BatchConfig, ExtractRun, RunStore } from "@batch-extract/core"
import { EmbeddedState } from "@batch-extract/store"
import { Effect, FileSystem, type Path } from "effect"
import { Command } from "effect/cli"
import * as Run from "../Run.ts"
import * as BuildCommand from "./Build.ts"
import * as Options from "./Options.ts"

/** `resume <run-id>`: the run's exit code (0 every record succeeded, 1 some failed). */
export const run = (
  options: {
    readonly runId: string
    readonly location: Run.StoreLocation
    readonly json: boolean
    readonly retentionDays?: number | undefined
    readonly runner?: Run.RunnerOptions | undefined
  }
): Effect.Effect<number, Run.RunError | BuildCommand.BuildFailure, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const stored = yield* RunStore.getRun(options.runId, Run.describeLocation(options.location))
    const recorded = stored.settings as Run.RecordedRun
    if (options.retentionDays !== undefined) yield* Options.applyRetention(options.retentionDays)
    // A run of `extract --build` whose extraction ended may still have a build to finish.
    if (stored.phase === "finished" && stored.result !== undefined && recorded.build === undefined) {
      return yield* Run.report(recorded, stored.result as ExtractRun.RunResult, options.json)
    }
    const batch = yield* BatchConfig.decode(recorded.batch).pipe(
      Effect.mapError((e) => new Run.InvalidInput({ issues: e.issues }))
    )
    yield* Run.checkRemote(recorded, batch)
    // A run of `extract --build` builds as it extracts: an interrupted build continues (after
    // an extraction that ended, over its chunk files; chunks built unchanged are not written again).
    if (recorded.build !== undefined) {
      return yield* BuildCommand.withRunStores(
        recorded,
        batch,
        BuildCommand.extractAndBuild({
          runId: options.runId,
          recorded,
          batch,
          json: options.json,
          location: options.location,
          runner: options.runner
        })
      )
    }
    return yield* Run.runExtraction({
      runId: options.runId,
      recorded,
      json: options.json,
      location: options.location,
      runner: options.runner
    })
  }).pipe(
    Effect.provide(Run.storeLayer(options.location, "work")),
    (resume) => Effect.andThen(storeExists(options.location, options.runId), resume),
    Run.storeIssues,
    Run.withLogging,
    Run.reportInvalidInput
  )

/** An output without an embedded store holds no run: refused without creating one there. */
const storeExists = (location: Run.StoreLocation, runId: string) =>
  Effect.gen(function*() {
    if (location.database !== undefined) return
    const fs = yield* FileSystem.FileSystem
    const file = EmbeddedState.databaseFile(EmbeddedState.directoryOf(location.out))
    if (yield* fs.exists(file).pipe(Effect.orElseSucceed(() => false))) return
    return yield* new RunStore.UnknownRun({
      runId,
      message: `no run ${runId} in ${Run.describeLocation(location)} (it has none)`
    })
  })

export const command = Command.make(
  "resume",
  {
    runId: Options.runIdArgument,
    out: Options.out,
    database: Options.database,
    json: Options.json,
    retentionDays: Options.retentionDays,
    ...Options.runnerFlags
  },
  (input) =>
    run({
      runId: input.runId,
      location: Options.location(input),
      json: input.json,
      retentionDays: input.retentionDays,
      runner: Options.runner(input)
    }).pipe(
      Effect.flatMap(Options.exitWith),
      // The errors that end a run are printed by the process's teardown (exit 1).
      (effect): Effect.Effect<void, unknown, FileSystem.FileSystem | Path.Path> => effect
    )
).pipe(
  Command.withDescription("work on a run until it ends: re-attach to its jobs, skip what is done")
)
