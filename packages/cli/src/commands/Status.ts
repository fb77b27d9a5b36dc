/**
 * `batch-extract status <run-id>`: a run's jobs and records, from its ledger.
 */
import type { RunLedger } from "@batch-extract/core"
import { Console, Effect, type FileSystem, type Path } from "effect"
import { Command } from "effect/cli"
import * as Run from "../Run.ts"
import * as Options from "./Options.ts"

/** `status <run-id>`: the run's jobs and records, from its ledger. */
export const run = (
  options: { readonly runId: string; readonly out: string; readonly json: boolean }
): Effect.Effect<number, RunLedger.LedgerError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const { recorded, state } = yield* Run.recordedRun(options.out, options.runId)
    const jobs = [...state.jobs.values()].map((job) => ({
      stage: job.stage,
      jobName: job.jobName,
      jobArn: job.jobArn ?? null,
      status: job.status ?? "Planned",
      records: job.recordIds.length,
      finished: job.finished
    }))
    const records: Record<string, { succeeded: number; failed: number }> = {}
    for (const [stage, outcomes] of state.outcomes) {
      let succeeded = 0
      for (const outcome of outcomes.values()) if (outcome._tag === "Succeeded") succeeded++
      records[stage] = { succeeded, failed: outcomes.size - succeeded }
    }
    const report = {
      runId: options.runId,
      backend: recorded.backend,
      finished: state.finished,
      chunksWritten: state.chunksWritten.size,
      records,
      jobs
    }
    if (options.json) {
      yield* Console.log(JSON.stringify(report, null, 2))
    } else {
      yield* Console.log(
        `run ${options.runId} (${recorded.backend}) ${state.finished ? "finished" : "not finished"}; ` +
          `${state.chunksWritten.size} chunks written`
      )
      for (const [stage, r] of Object.entries(records)) {
        yield* Console.log(`  ${stage}: ${r.succeeded} succeeded, ${r.failed} failed`)
      }
      for (const job of jobs) {
        yield* Console.log(`  ${job.stage} ${job.jobName} ${job.status} ${job.records} records ${job.jobArn ?? ""}`)
      }
    }
    return 0
  }).pipe(Run.reportInvalidInput)

export const command = Command.make(
  "status",
  { runId: Options.runIdArgument, out: Options.out, json: Options.json },
  (input) => run(input).pipe(Effect.flatMap(Options.exitWith))
).pipe(
  Command.withDescription("show a run's jobs and records")
)
