/**
 * `batch-extract stop <run-id>`: stop a run's remote jobs that have not finished (also those
 * whose ARN was never recorded, found by name).
 */
import { AwsBackend } from "@batch-extract/aws"
import { BatchConfig, BatchInference, type RunLedger } from "@batch-extract/core"
import { type Config, Effect, type FileSystem, Option, type Path, Stream } from "effect"
import { Command } from "effect/cli"
import * as Run from "../Run.ts"
import * as Options from "./Options.ts"

/** `stop <run-id>`: stop the run's remote jobs that have not finished. */
export const run = (
  options: { readonly runId: string; readonly out: string }
): Effect.Effect<number, RunLedger.LedgerError | Config.ConfigError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const { recorded, state } = yield* Run.recordedRun(options.out, options.runId)
    const batch = yield* BatchConfig.decode(recorded.batch).pipe(
      Effect.mapError((e) => new Run.InvalidInput({ issues: e.issues }))
    )
    if (recorded.backend === "local") {
      process.stdout.write("the local backend's jobs ended with the process that ran them; nothing to stop\n")
      return 0
    }
    // Unfinished jobs; one whose ARN was never recorded (killed during its create) is looked up by name.
    const open = [...state.jobs.values()].filter((job) => !job.finished)
    const stopped = yield* Effect.forEach(
      open,
      (job) =>
        BatchInference.BatchInference.use((service) =>
          Effect.gen(function*() {
            const found = job.jobArn !== undefined
              ? Option.some(job.jobArn)
              : Option.map(
                yield* service.listJobs({ nameContains: job.jobName }).pipe(
                  Stream.filter((listed) => listed.jobName === job.jobName),
                  Stream.runHead
                ),
                (listed) => listed.jobArn
              )
            if (Option.isNone(found)) return `${job.jobName}: never created`
            return yield* service.stopJob(found.value).pipe(
              Effect.as(`stopped ${job.jobName}`),
              Effect.catchTag("Conflict", () => Effect.succeed(`${job.jobName}: already finished`))
            )
          })
        ).pipe(
          Effect.catch((error) => Effect.succeed(`${job.jobName}: ${error._tag}: ${error.message}`))
        )
    ).pipe(Effect.provide(AwsBackend.layer(batch)))
    for (const line of stopped) process.stdout.write(`${line}\n`)
    if (open.length === 0) process.stdout.write("no unfinished jobs\n")
    return 0
  }).pipe(Run.reportInvalidInput)

export const command = Command.make(
  "stop",
  { runId: Options.runIdArgument, out: Options.out },
  (input) => run(input).pipe(Effect.flatMap(Options.exitWith))
).pipe(
  Command.withDescription("stop a run's remote jobs")
)
