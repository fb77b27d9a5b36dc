/**
 * `batch-extract worker --database URL`: join the runs in a database — those already there
 * and those submitted later — and work on them until stopped (SIGINT or SIGTERM).
 *
 * Every worker is a runner of the cluster on the database: the runs' workflows and their
 * parts are shared out among the workers by shard, jobs count against one quota per model
 * over every worker, and the workflows of a worker that dies are taken over by the others
 * (see `--takeover-seconds`). A run's settings come from the database; AWS credentials and
 * endpoints from this process's environment, as the SDK reads them.
 *
 * A worker that cannot read a run's inputs or write its output (its credentials) says so
 * and stops (exit 2) without touching the run: the other workers take its share.
 */
import { ExtractRun, RunStore } from "@batch-extract/core"
import { Postgres } from "@batch-extract/store"
import { Console, Deferred, Effect, type FileSystem, type Path, Schedule } from "effect"
import { Command, Flag } from "effect/cli"
import * as Progress from "../Progress.ts"
import * as Run from "../Run.ts"
import * as Options from "./Options.ts"

/** How often a worker looks for runs submitted since it joined. */
const sweepInterval = "2 seconds"

/** `worker`: work on the database's runs until stopped; 2 when it cannot join or must leave a run. */
export const run = (options: {
  readonly database: string
  readonly runner: Run.RunnerOptions
  readonly retentionDays?: number | undefined
}): Effect.Effect<number, Run.RunError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const location: Run.StoreLocation = { out: ".", database: options.database }
    if (options.retentionDays !== undefined) yield* Options.applyRetention(options.retentionDays)
    const refused = yield* Deferred.make<never, Run.InvalidInput>()
    const progress = yield* Progress.make({ tty: process.stderr.isTTY === true })
    const work = Run.workLayer({
      location,
      runner: options.runner,
      selection: "all",
      progress,
      // This process cannot work on the run: it leaves, and the run waits for the others.
      onRefused: (runId, error) =>
        Effect.andThen(
          Deferred.fail(
            refused,
            new Run.InvalidInput({
              issues: error.issues.map((issue) => ({ ...issue, message: `run ${runId}: ${issue.message}` }))
            })
          ),
          Effect.never
        )
    })
    return yield* Effect.gen(function*() {
      yield* Console.error(
        `worker joined the runs in ${Postgres.displayUrl(options.database)}; stop it with Ctrl-C or SIGTERM`
      )
      const started = new Set<string>()
      const sweep = Effect.gen(function*() {
        for (const stored of yield* RunStore.retrying(RunStore.listRuns)) {
          if (stored.phase === "finished" || started.has(stored.runId)) continue
          if (yield* ExtractRun.start(stored.runId)) {
            yield* Console.error(`working on run ${stored.runId}`)
          }
          started.add(stored.runId)
        }
      })
      yield* Effect.forkScoped(sweep.pipe(Effect.repeat(Schedule.spaced(sweepInterval))))
      yield* Effect.forkScoped(progress.run)
      return yield* Deferred.await(refused)
    }).pipe(Effect.provide(work), Effect.scoped)
  }).pipe(
    Effect.provide(Run.storeLayer({ out: ".", database: options.database }, "work")),
    Run.storeIssues,
    Run.withLogging,
    Run.reportInvalidInput
  )

export const command = Command.make("worker", {
  database: Flag.String("database").pipe(
    Flag.withDescription("postgres://… URL of the run state the worker joins")
  ),
  retentionDays: Options.retentionDays,
  ...Options.runnerFlags
}, (input) =>
  run({
    database: input.database,
    runner: Options.runner(input),
    retentionDays: input.retentionDays
  }).pipe(Effect.flatMap(Options.exitWith))).pipe(
    Command.withDescription("work on the runs in a database, with any number of other workers, until stopped")
  )
