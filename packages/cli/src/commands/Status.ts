/**
 * `batch-extract status [run-id]`: the runs in a run state, or one run's manifest — documents
 * and chunks by state, records, jobs and tokens by stage, the entity classifications it
 * inferred, failures by document — read from the store (read-only: also while the run is
 * live). Figures are aggregated in the database; nothing is loaded whole.
 */
import { ExtractRun, RunStore } from "@batch-extract/core"
import { Console, Effect, type FileSystem, Option, type Path } from "effect"
import { Argument, Command } from "effect/cli"
import * as Run from "../Run.ts"
import * as Options from "./Options.ts"

/** Failed chunks listed by `status` (grouped by document); `--json` too. */
const failureLimit = 1000

/** One run's status as one JSON object: counts and failures, not every chunk. */
const statusOf = (runId: string, where: string) =>
  Effect.gen(function*() {
    const run = yield* RunStore.getRun(runId, where)
    const recorded = run.settings as Partial<Run.RecordedRun>
    const stages = yield* RunStore.stageTotals(runId)
    const manifest = yield* RunStore.manifestCounts(runId)
    const jobs = yield* RunStore.jobsOf(runId)
    const failedDocuments = yield* RunStore.failedChunksByDocument(runId, failureLimit)
    const skippedDocuments = yield* RunStore.skippedDocuments(runId)
    const result = run.result as ExtractRun.RunResult | undefined
    const parts = yield* RunStore.partCount(runId)
    const slots = yield* RunStore.slotsInUse
    const infers = (recorded.extraction as { inferEntityClassifications?: unknown } | undefined)
      ?.inferEntityClassifications === true
    const inference = infers ? yield* RunStore.classificationsOf(runId) : undefined
    return {
      runId,
      phase: run.phase,
      exitCode: run.exitCode ?? null,
      startedAt: new Date(run.startedAt).toISOString(),
      finishedAt: run.finishedAt === undefined ? null : new Date(run.finishedAt).toISOString(),
      backend: recorded.backend ?? null,
      output: recorded.out ?? null,
      documents: { ...manifest.documents, skipped: skippedDocuments.length },
      /** Parts the run's inputs were split into (workers extract them at once). */
      parts,
      /** Job slots taken now in this store, per model, by every run and process. */
      slotsInUse: Object.fromEntries(slots),
      chunks: manifest.chunks,
      records: RunStore.sumStages(stages).records,
      tokens: RunStore.sumStages(stages).tokens,
      stages: Object.fromEntries(stages),
      jobs: {
        total: jobs.length,
        open: jobs.filter((job) => !job.finished).length,
        byStatus: jobs.reduce<Record<string, number>>((counts, job) => {
          const status = job.status ?? (job.jobArn === undefined ? "Planned" : "Submitted")
          counts[status] = (counts[status] ?? 0) + 1
          return counts
        }, {}),
        live: jobs.filter((job) => !job.finished).map((job) => ({
          stage: job.stage,
          jobName: job.jobName,
          jobArn: job.jobArn ?? null,
          status: job.status ?? "Planned",
          records: job.records
        }))
      },
      /**
       * The entity classifications the run inferred (what its topic prompts offer), `"pending"`
       * before they are, `null` when the run does not infer them.
       */
      classifications: inference ?? (infers ? "pending" as const : null),
      failures: {
        documents: failedDocuments,
        skippedDocuments,
        records: result === undefined ? null : result.failures.length
      }
    }
  })

/** `status [run-id]`: a run's status, or the list of runs. */
export const run = (
  options: { readonly runId: string | undefined; readonly location: Run.StoreLocation; readonly json: boolean }
): Effect.Effect<number, Run.RunError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    if (options.runId === undefined) {
      const runs = yield* RunStore.listRuns
      if (options.json) {
        yield* Console.log(JSON.stringify({ runs }, null, 2))
        return 0
      }
      if (runs.length === 0) yield* Console.log("no runs")
      for (const run of runs) {
        yield* Console.log(
          `${run.runId}  ${run.phase}${run.exitCode === undefined ? "" : ` (exit ${run.exitCode})`}  started ${
            new Date(run.startedAt).toISOString()
          }`
        )
      }
      return 0
    }
    const status = yield* statusOf(options.runId, Run.describeLocation(options.location))
    if (options.json) {
      yield* Console.log(JSON.stringify(status, null, 2))
      return 0
    }
    const c = status.chunks
    yield* Console.log(
      `run ${status.runId} (${status.backend}) ${status.phase}` +
        (status.exitCode === null ? "" : `, exit ${status.exitCode}`) + `\n` +
        `  documents: ${status.documents.read} read, ${status.documents.skipped} skipped (${status.parts} parts)\n` +
        `  chunks: ${c.total} — ${c.pending} pending, ${c.staged} staged, ${c.in_job} in a job, ` +
        `${c.extracted} extracted, ${c.failed} failed\n` +
        `  records: ${status.records.succeeded} succeeded (${status.records.batch} batch, ` +
        `${status.records.onDemand} on demand), ${status.records.failed} failed; tokens ${status.tokens.input} in, ` +
        `${status.tokens.output} out\n` +
        `  jobs: ${status.jobs.total} (${status.jobs.open} open) ${JSON.stringify(status.jobs.byStatus)}; ` +
        `job slots taken in this store: ${JSON.stringify(status.slotsInUse)}`
    )
    if (status.classifications === "pending") {
      yield* Console.log("  entity classifications: to be inferred before the topic stage")
    } else if (status.classifications !== null) {
      for (const line of Run.classificationLines(status.classifications)) yield* Console.log(`  ${line}`)
    }
    for (const job of status.jobs.live) {
      yield* Console.log(`    ${job.stage} ${job.jobName} ${job.status} ${job.records} records ${job.jobArn ?? ""}`)
    }
    for (const document of status.failures.documents) {
      yield* Console.log(`  failed chunks of ${document.path ?? document.sourceId}:`)
      for (const chunk of document.chunks) yield* Console.log(`    ${chunk.chunkId}: ${chunk.reason}`)
    }
    for (const skip of status.failures.skippedDocuments) yield* Console.log(`  skipped ${skip.path}: ${skip.reason}`)
    return 0
  }).pipe(
    Effect.provide(Run.storeLayer(options.location, "read")),
    Run.storeIssues,
    Run.reportInvalidInput
  )

export const command = Command.make(
  "status",
  {
    runId: Options.runIdArgument.pipe(Argument.optional),
    out: Options.out,
    database: Options.database,
    json: Options.json
  },
  (input) =>
    run({ runId: Option.getOrUndefined(input.runId), location: Options.location(input), json: input.json }).pipe(
      Effect.flatMap(Options.exitWith)
    )
).pipe(
  Command.withDescription("list the runs, or show a run's documents, chunks, records, jobs and failures")
)
