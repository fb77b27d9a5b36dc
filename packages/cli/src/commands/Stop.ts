/**
 * `batch-extract stop <run-id>`: stop a run's remote jobs that have not finished (also those
 * whose ARN was never recorded, found by name). Reads the run state read-only: works while
 * the run is live in another process.
 */
import { AwsBackend } from "@batch-extract/aws"
import { BatchConfig, BatchInference, BatchJob, RunStore } from "@batch-extract/core"
import { Console, Effect, type FileSystem, type Path } from "effect"
import { Command } from "effect/cli"
import * as Run from "../Run.ts"
import * as Options from "./Options.ts"

/** `stop <run-id>`: stop the run's remote jobs that have not finished. */
export const run = (
  options: { readonly runId: string; readonly location: Run.StoreLocation }
): Effect.Effect<number, Run.RunError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const stored = yield* RunStore.getRun(options.runId, Run.describeLocation(options.location))
    const recorded = stored.settings as Run.RecordedRun
    const batch = yield* BatchConfig.decode(recorded.batch).pipe(
      Effect.mapError((e) => new Run.InvalidInput({ issues: e.issues }))
    )
    if (recorded.backend === "local") {
      yield* Console.log("the local backend's jobs ended with the process that ran them; nothing to stop")
      return 0
    }
    const open = (yield* RunStore.jobsOf(options.runId)).filter((job) => !job.finished)
    const stopped = yield* Effect.forEach(
      open,
      (job) =>
        Effect.gen(function*() {
          const jobArn = job.jobArn ?? (yield* BatchJob.findByName(job.jobName))
          if (jobArn === undefined) return `${job.jobName}: never created`
          return yield* BatchInference.BatchInference.use((service) => service.stopJob(jobArn)).pipe(
            Effect.as(`stopped ${job.jobName}`),
            Effect.catchTag("Conflict", () => Effect.succeed(`${job.jobName}: already finished`))
          )
        }).pipe(
          Effect.catch((error) => Effect.succeed(`${job.jobName}: ${error._tag}: ${error.message}`))
        )
    ).pipe(Effect.provide(AwsBackend.layer(batch)))
    for (const line of stopped) yield* Console.log(line)
    if (open.length === 0) yield* Console.log("no unfinished jobs")
    return 0
  }).pipe(
    Effect.provide(Run.storeLayer(options.location, "read")),
    Run.storeIssues,
    Run.reportInvalidInput
  )

export const command = Command.make(
  "stop",
  { runId: Options.runIdArgument, out: Options.out, database: Options.database },
  (input) => run({ runId: input.runId, location: Options.location(input) }).pipe(Effect.flatMap(Options.exitWith))
).pipe(
  Command.withDescription("stop a run's remote jobs")
)
