/**
 * `batch-extract resume <run-id>`: continue an interrupted run with its recorded settings —
 * re-attaching to its jobs, never sending a record that already succeeded.
 */
import { BatchConfig, Extraction, type RunLedger } from "@batch-extract/core"
import { Effect, type FileSystem, type Path } from "effect"
import { Command } from "effect/cli"
import * as Run from "../Run.ts"
import * as Options from "./Options.ts"

/** `resume <run-id>`: continue a run with its recorded settings. */
export const run = (
  options: { readonly runId: string; readonly out: string; readonly json: boolean }
): Effect.Effect<number, Run.RunError | RunLedger.LedgerError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const { recorded } = yield* Run.recordedRun(options.out, options.runId)
    const batch = yield* BatchConfig.decode(recorded.batch).pipe(
      Effect.mapError((e) => new Run.InvalidInput({ issues: e.issues }))
    )
    const extraction = yield* Extraction.decodeConfig(recorded.extraction).pipe(
      Effect.mapError((e) => new Run.InvalidInput({ issues: e.issues }))
    )
    return yield* Run.runExtraction({
      runId: options.runId,
      recorded,
      batch,
      extraction,
      json: options.json,
      force: false,
      resuming: true
    })
  }).pipe(Run.withLogging, Run.reportInvalidInput)

export const command = Command.make(
  "resume",
  { runId: Options.runIdArgument, out: Options.out, json: Options.json },
  (input) => run(input).pipe(Effect.flatMap(Options.exitWith))
).pipe(
  Command.withDescription("continue an interrupted run: re-attach to its jobs, skip what is done")
)
