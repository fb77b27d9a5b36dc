/**
 * A durable extraction run: a workflow of `effect/workflow`, executed by `effect/cluster`'s
 * workflow engine on SQL storage, whose state lives in the same database (`RunStore`).
 *
 * The run reads its settings from the store, extracts its documents into its sink, records
 * every document and chunk in the manifest as it goes, writes `summary.json` and ends with an
 * exit code (0 every record succeeded, 1 some failed). The engine's steps with effects outside
 * — staging a job's input, creating the job, awaiting it, reading its output, each on-demand
 * call — are activities of the workflow (`RunState.Store.step`): a completed activity is
 * replayed from the engine's storage, never run again. What an activity produces that is
 * large (a job's answers) goes to the store's tables, not into the activity's result.
 *
 * After a crash, the engine runs the workflow again when a process opens the store and asks
 * for the run (`resume`): completed activities are replayed, jobs left open are re-attached by
 * their ARN (or found by name), records with an outcome are not sent again, chunks already
 * written are left out.
 *
 * Details:
 * - A process works only on the runs it selects ({@link RunSelection}); other unfinished runs
 *   in the same store wait for a process that selects them.
 * - Entity classifications (`inferEntityClassifications`) are inferred once per run, in the
 *   `classifications` activity of the run's workflow, after its inputs are split into parts and
 *   before any part starts: sampled from the run's first chunks (parts in order), recorded in
 *   the run state (`RunStore.recordClassifications`) and in the summary. Every part, on any
 *   process, reads them from there: a resumed run, or one whose activity ran again after a
 *   crash, uses the recorded ones without asking the model again.
 * - Waits for a job are polls inside the `await/<job>` activity (a job's end is not pushed to
 *   the caller; a poll interval is far under the engine's threshold for durable sleeps), so a
 *   crash during a wait re-attaches to the same job and polls again.
 *
 * @since 0.2.0
 */
import { Cause, Context, Effect, Exit, Layer, Option, Schedule, Schema, type Scope, Semaphore, Stream } from "effect"
import { ClusterWorkflowEngine, SingleRunner } from "effect/cluster"
import { Digest } from "effect/crypto"
import { SqlClient } from "effect/sql"
import { Activity, Workflow, WorkflowEngine } from "effect/workflow"
import type * as BatchConfig from "../engine/BatchConfig.ts"
import type { BatchInference } from "../engine/BatchInference.ts"
import type { ModelRuntime } from "../engine/ModelRuntime.ts"
import type { ObjectStore } from "../engine/ObjectStore.ts"
import * as Pricing from "../engine/Pricing.ts"
import type * as RunState from "../engine/RunState.ts"
import { RunState as RunStateService, StateError } from "../engine/RunState.ts"
import type * as Chunker from "../extraction/Chunker.ts"
import * as ClassificationInference from "../extraction/ClassificationInference.ts"
import type * as Document from "../extraction/Document.ts"
import * as Extraction from "../extraction/Extraction.ts"
import type { ExtractionConfig } from "../extraction/ExtractionConfig.ts"
import * as ExtractionEvents from "../extraction/ExtractionEvents.ts"
import * as ExtractionSummary from "../extraction/ExtractionSummary.ts"
import type * as Sink from "../extraction/Sink.ts"
import * as RunStore from "./RunStore.ts"

/** The workflow of a run: its payload is the run id, its result the exit code. */
export const ExtractRunWorkflow = Workflow.make("batch-extract/ExtractRun", {
  payload: { runId: Schema.String },
  success: Schema.Struct({ exitCode: Schema.Number }),
  idempotencyKey: ({ runId }) => runId
})

/** What a part's extraction saw that the run state does not hold (figures of its events). */
const PartResult = Schema.Struct({
  retried: Schema.Number,
  createsDeferred: Schema.Number,
  onDemandCalls: Schema.Number,
  incomplete: Schema.Array(Schema.Struct({
    stage: Schema.String,
    jobName: Schema.String,
    status: Schema.String,
    message: Schema.optional(Schema.String)
  }))
})
type PartResult = typeof PartResult.Type

/**
 * The workflow of one part of a run (some of its input files): read, chunk and extract them
 * and write their chunks. Parts are workflows of their own so that the processes of a cluster
 * (workers on a shared database) extract them at once, each on the process that owns it.
 */
export const ExtractPartWorkflow = Workflow.make("batch-extract/ExtractPart", {
  payload: { runId: Schema.String, part: Schema.Number },
  success: PartResult,
  idempotencyKey: ({ part, runId }) => `${runId}/${part}`
})

/** What a run needs, built from its recorded settings by the process that works on it. */
export interface RunPlan {
  readonly batch: BatchConfig.BatchConfig
  readonly extraction: ExtractionConfig
  /** Every input file of the run, in a fixed order, with its size (the run is split by them). */
  readonly inputs: Stream.Stream<RunStore.Input, unknown>
  /** The documents of some input files (one part's). */
  readonly read: (inputs: ReadonlyArray<RunStore.Input>) => Stream.Stream<Document.ReadResult, unknown>
  /** Input bytes per part (a part holds at least one file; a file is never split). */
  readonly partBytes: number
  /**
   * The backend ports of this run (its bucket, region and model may differ from another run's
   * in the same process), e.g. `yield* Effect.context<ObjectStore | BatchInference | ModelRuntime>()`.
   */
  readonly services: Context.Context<ObjectStore | BatchInference | ModelRuntime>
  readonly sink: Sink.Sink["Service"]
  /** Names the output, for chunks already extracted into it (by any run). */
  readonly outKey: string
  /** Writes the run's summary (e.g. `summary.json`); the process that finishes the run calls it. */
  readonly finish: (summary: RunResult) => Effect.Effect<void, unknown>
}

/** Builds a run's plan from its recorded settings (the command's settings, or your own). */
export class Planner extends Context.Service<Planner, {
  readonly plan: (runId: string, settings: unknown) => Effect.Effect<RunPlan, unknown, Scope.Scope>
}>()("@batch-extract/core/ExtractRun/Planner") {}

/** The runs this process works on: every run, or those named. */
export const RunSelection = Context.Reference<"all" | ReadonlySet<string>>(
  "@batch-extract/core/ExtractRun/RunSelection",
  { defaultValue: () => "all" as const }
)

/** A run's result: its summary in the library's JSON form, figures from the run state. */
export interface RunResult extends ExtractionSummary.Json {
  readonly runId: string
  readonly exitCode: number
  readonly startedAt: number
  readonly finishedAt: number
  /**
   * What the run cost, in US dollars, from the tokens its records reported (and, with
   * entity-classification inference, its calls'): `batch` and `onDemand` the parts billed each
   * way, `total`, and `saving` against the same tokens all on demand. `null` for a model
   * without a price (`costNote` says so).
   */
  readonly cost: Pricing.Cost | null
  /** Why there is no cost. */
  readonly costNote?: string
  /** The prices the cost is from (absent for a model without a price). */
  readonly prices?: ReturnType<typeof Pricing.describePrice>
  /** Per stage: records, jobs and tokens (in all and by how they were billed), the model, the cost. */
  readonly stages: Readonly<
    Record<
      string,
      RunStore.StageTotals & {
        readonly model: string
        readonly tokensByVia: Pricing.TokensByVia
        readonly cost: Pricing.Cost | null
      }
    >
  >
}

/**
 * The summary of a run from its state: records, jobs, tokens and failures over every process
 * that worked on it; extraction counts from its manifest; `retried`, `createsDeferred`,
 * on-demand calls and incomplete jobs from the events of its parts (`events`); the cost per
 * stage and in all, from the tokens of its records by how they were billed and the model's
 * prices (`prices`: the run's `prices` setting over the built-in table; `Pricing`).
 */
export const summarize = (
  runId: string,
  model: string,
  events: ExtractionSummary.ExtractionSummary,
  startedAt: number,
  finishedAt: number,
  prices?: Pricing.PriceTable | undefined
): Effect.Effect<RunResult, RunState.StateError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const stages = yield* RunStore.stageTotals(runId)
    const byVia = yield* RunStore.tokensByVia(runId)
    const total = RunStore.sumStages(stages)
    const counts = yield* RunStore.manifestCounts(runId)
    const failures = yield* Stream.runCollect(RunStore.failures(runId))
    const skipped = yield* RunStore.skippedDocuments(runId)
    const summary: ExtractionSummary.ExtractionSummary = {
      ...events,
      extraction: {
        ...events.extraction,
        documents: counts.documents.read,
        skippedDocuments: skipped,
        chunks: counts.chunks.total + counts.duplicateChunks + counts.doneBefore,
        duplicateChunks: counts.duplicateChunks,
        checkpointedChunks: counts.doneBefore,
        extractedChunks: counts.chunks.extracted + counts.chunks.failed,
        failedChunks: counts.chunks.failed,
        ...counts.written
      }
    }
    const json = ExtractionSummary.toJson(summary, { runTotals: { ...total, failures } })
    const { resumed: _, ...rest } = json
    const failed = json.failures.length > 0 || json.skippedDocuments.length > 0 ||
      counts.chunks.pending + counts.chunks.staged + counts.chunks.in_job > 0
    const priced = Pricing.lookup(model, prices)
    const none: Pricing.TokensByVia = { batch: Pricing.noTokens, onDemand: Pricing.noTokens }
    const stageCost = (tokens: Pricing.TokensByVia) =>
      priced === undefined ? null : Pricing.costOf(priced.price, tokens)
    // The classification inference's calls are on demand, apart from the records' tokens.
    const inferenceTokens = events.classifications?.tokens ?? Pricing.noTokens
    const stageCosts = [...stages.keys()].map((stage) => stageCost(byVia.get(stage) ?? none))
    const cost = priced === undefined ? null : [
      ...stageCosts,
      stageCost({ batch: Pricing.noTokens, onDemand: inferenceTokens })
    ].reduce<Pricing.Cost>((sum, c) => (c === null ? sum : Pricing.addCosts(sum, c)), Pricing.noCost)
    return {
      runId,
      exitCode: failed ? 1 : 0,
      startedAt,
      finishedAt,
      ...rest,
      cost,
      ...(priced === undefined
        ? { costNote: Pricing.unknownModelNote(model) }
        : { prices: Pricing.describePrice(priced) }),
      stages: Object.fromEntries(
        [...stages].map(([stage, totals]) => {
          const tokensByVia = byVia.get(stage) ?? none
          return [stage, { ...totals, model, tokensByVia, cost: stageCost(tokensByVia) }]
        })
      )
    }
  })

/** Steps as activities of the current workflow execution. */
const durableSteps = Effect.gen(function*() {
  const engine = yield* WorkflowEngine.WorkflowEngine
  const instance = yield* WorkflowEngine.WorkflowInstance
  const step: RunState.Store["step"] = (name, success, effect) =>
    Activity.make({
      name,
      success,
      // Results are plain data: absent fields are left out, as the stored JSON has them.
      execute: Effect.map(Effect.orDie(effect), (value) =>
        value === undefined ? value : JSON.parse(JSON.stringify(value)))
    }).pipe(
      Effect.provideService(WorkflowEngine.WorkflowEngine, engine),
      Effect.provideService(WorkflowEngine.WorkflowInstance, instance)
    )
  return step
})

/** Not this process's run: it waits (unfinished) for a process that selects it. */
const selected = (runId: string) =>
  Effect.flatMap(
    Effect.service(RunSelection),
    (selection) => selection === "all" || selection.has(runId) ? Effect.void : Effect.never
  )

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/** How often the run looks whether its parts ended. */
const partPollInterval = "200 millis"

/** The body of a run: split its inputs into parts, have them extracted, then summarise. */
const runBody = (runId: string) =>
  Effect.gen(function*() {
    yield* selected(runId)
    const run = yield* RunStore.getRun(runId, "the run state")
    if (run.phase === "finished") return { exitCode: run.exitCode ?? 1 }
    const planner = yield* Planner
    const plan = yield* planner.plan(runId, run.settings)
    const step = yield* durableSteps
    const { parts } = yield* step(
      "partition",
      Schema.Struct({ parts: Schema.Number, files: Schema.Number, bytes: Schema.Number }),
      RunStore.recordParts(runId, plan.inputs, plan.partBytes)
    )
    const inference = plan.extraction.inferEntityClassifications
      ? yield* step("classifications", ClassificationInference.Inference, inferOnce(runId, plan, parts))
      : undefined
    if (inference !== undefined) yield* ExtractionEvents.publish({ _tag: "ClassificationsInferred", inference })
    // Every part is dispatched (again: dispatching is idempotent), then awaited in turn.
    yield* Effect.forEach(
      range(parts),
      (part) => ExtractPartWorkflow.execute({ runId, part }, { discard: true, detached: true }),
      { concurrency: 16, discard: true }
    )
    const results = yield* Effect.forEach(range(parts), (part) => awaitPart(runId, part))
    const events: ExtractionSummary.ExtractionSummary = {
      ...ExtractionSummary.empty,
      records: { ...ExtractionSummary.empty.records, retried: sum(results, (r) => r.retried) },
      jobs: {
        ...ExtractionSummary.empty.jobs,
        createsDeferred: sum(results, (r) => r.createsDeferred),
        incomplete: results.flatMap((r) => r.incomplete.map((job) => ({ ...job, message: job.message })))
      },
      onDemandCalls: sum(results, (r) => r.onDemandCalls),
      classifications: inference
    }
    const finishedAt = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
    const result = yield* summarize(
      runId,
      plan.batch.model.modelId,
      events,
      run.startedAt,
      finishedAt,
      plan.batch.prices
    )
    yield* plan.finish(result)
    yield* RunStore.finishRun(runId, result.exitCode, result, finishedAt)
    yield* RunStore.releaseSlotsOf(runId)
    return { exitCode: result.exitCode }
  }).pipe(Effect.scoped, Effect.orDie)

const sum = <A>(items: ReadonlyArray<A>, f: (a: A) => number) => items.reduce((n, a) => n + f(a), 0)

/**
 * The run's entity classifications: those recorded, else inferred from the first chunks of its
 * parts (in order) and recorded — the first record wins, so an activity that ran again after a
 * crash, before its result was kept, neither asks again once recorded nor disagrees.
 */
const inferOnce = (runId: string, plan: RunPlan, parts: number) =>
  Effect.gen(function*() {
    const recorded = yield* RunStore.retrying(RunStore.classificationsOf(runId))
    if (recorded !== undefined) return recorded
    const documents = Stream.fromIterable(range(parts)).pipe(
      Stream.mapEffect((part) => RunStore.retrying(RunStore.inputsOf(runId, part))),
      Stream.flatMap((inputs) => plan.read(inputs))
    )
    const inference = yield* ClassificationInference.inferFrom(
      documents,
      plan.extraction,
      Extraction.chunkingOf(plan.extraction),
      plan.batch
    ).pipe(Effect.provide(plan.services))
    const at = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
    yield* RunStore.retrying(RunStore.recordClassifications(runId, inference, at))
    return (yield* RunStore.retrying(RunStore.classificationsOf(runId))) ?? inference
  })

/** A part's result, once its workflow ended (its failure fails the run). */
const awaitPart = (runId: string, part: number) =>
  Effect.gen(function*() {
    const executionId = yield* ExtractPartWorkflow.executionId({ runId, part })
    const ended = yield* ExtractPartWorkflow.poll(executionId).pipe(
      Effect.repeat({
        schedule: Schedule.spaced(partPollInterval),
        until: (result) => Option.isSome(result) && result.value._tag === "Complete"
      })
    )
    if (Option.isNone(ended) || ended.value._tag !== "Complete") return yield* Effect.die("unreachable")
    const exit = ended.value.exit
    if (Exit.isSuccess(exit)) return exit.value
    return yield* new StateError({
      message: `part ${part} of run ${runId} ended in an error: ${Cause.pretty(exit.cause)}`
    })
  })

/** The body of a part: extract its documents into the run's sink, recording as it goes. */
const partBody = (runId: string, part: number, permits: Semaphore.Semaphore) =>
  Effect.gen(function*() {
    yield* selected(runId)
    const run = yield* RunStore.getRun(runId, "the run state")
    const none: PartResult = { retried: 0, createsDeferred: 0, onDemandCalls: 0, incomplete: [] }
    if (run.phase === "finished") return none
    const planner = yield* Planner
    const plan = yield* planner.plan(runId, run.settings)
    const state: RunState.Store = { ...yield* RunStore.makeState, step: yield* durableSteps }
    const sql = yield* Effect.context<SqlClient.SqlClient>()
    const store = <A, E>(effect: Effect.Effect<A, E | RunState.StateError, SqlClient.SqlClient>) =>
      RunStore.retrying(effect as Effect.Effect<A, RunState.StateError, SqlClient.SqlClient>).pipe(
        Effect.provide(sql),
        Effect.orDie
      )
    const inputs = yield* store(RunStore.inputsOf(runId, part))
    // The classifications the run's coordinator inferred and recorded before any part started.
    const classifications = plan.extraction.inferEntityClassifications
      ? yield* store(Effect.flatMap(RunStore.classificationsOf(runId), (inference) =>
        inference === undefined
          ? Effect.fail(
            new StateError({ message: `run ${runId} infers entity classifications, but none are recorded` })
          )
          : Effect.succeed(inference.classifications)))
      : undefined
    yield* Effect.logInfo(`run ${runId}: extracting part ${part} (${inputs.length} files)`)

    /** Documents and skips go to the manifest as they are read. */
    const recordDocuments = (event: ExtractionEvents.Event): Effect.Effect<void> => {
      switch (event._tag) {
        case "DocumentRead":
          return store(RunStore.recordDocument(runId, {
            path: event.path,
            sourceId: event.sourceId,
            state: "read",
            chunks: event.chunks - event.duplicateChunks - event.skippedChunks,
            duplicateChunks: event.duplicateChunks,
            doneChunks: event.skippedChunks
          }))
        case "DocumentSkipped":
          return store(RunStore.recordDocument(runId, { path: event.path, state: "skipped", reason: event.reason }))
        default:
          return Effect.void
      }
    }

    const admitChunks = (chunks: ReadonlyArray<Chunker.Chunk>) =>
      store(Effect.gen(function*() {
        const done = yield* RunStore.extractedAmong(plan.outKey, chunks.map((chunk) => chunk.id))
        const fresh = chunks.filter((chunk) => !done.has(chunk.id))
        const mine = yield* RunStore.admitChunks(
          runId,
          part,
          fresh.map((chunk) => ({ chunkId: chunk.id, sourceId: chunk.source.id }))
        )
        return fresh.filter((chunk) => mine.has(chunk.id))
      }))

    const pipeline = Extraction.extract(plan.read(inputs), {
      batch: plan.batch,
      extraction: plan.extraction,
      runId,
      part,
      admitChunks,
      classifications
    }).pipe(
      Stream.mapEffect((extracted) => Effect.as(plan.sink.write(extracted), extracted), { concurrency: 8 }),
      // Written chunks are recorded soon after: a kill leaves little that a later run extracts again.
      Stream.groupedWithin(200, "1 second"),
      Stream.runForEach((written) =>
        store(RunStore.recordWritten(
          runId,
          plan.outKey,
          written.map((extracted) => {
            const counts = Extraction.countsOf(extracted)
            return {
              chunkId: extracted.chunk.id,
              sourceId: extracted.chunk.source.id,
              failures: extracted.failures,
              counts: {
                ...counts,
                diagnostics: extracted.diagnostics.propositions.length + extracted.diagnostics.topics.length
              }
            }
          })
        ))
      )
    )
    const [, events] = yield* ExtractionSummary.collect(
      ExtractionEvents.tapped(pipeline, recordDocuments)
    ).pipe(
      Effect.provideService(RunStateService, state),
      Effect.provide(plan.services)
    )
    yield* Effect.logInfo(`run ${runId}: part ${part} done`)
    const result: PartResult = {
      retried: events.records.retried,
      createsDeferred: events.jobs.createsDeferred,
      onDemandCalls: events.onDemandCalls,
      incomplete: events.jobs.incomplete.map((job) => ({
        stage: job.stage,
        jobName: job.jobName,
        status: job.status,
        ...(job.message === undefined ? {} : { message: job.message })
      }))
    }
    return result
  }).pipe(permits.withPermits(1), Effect.scoped, Effect.orDie)

/** Options of the run workflows' Layer. */
export interface LayerOptions {
  /** Parts this process extracts at once (default 4); more wait for a turn. */
  readonly concurrentParts?: number | undefined
}

/**
 * The run workflows' Layer (the run and its parts): needs the workflow engine, the SQL client
 * of the store, the {@link Planner} (whose plans carry each run's backend ports) and the
 * process's job slots.
 * Provide the process's event handlers (`ExtractionEvents`, `RunEvents`) here to see the
 * events of the parts this process extracts.
 */
export const layer = (options: LayerOptions = {}) =>
  Layer.unwrap(Effect.gen(function*() {
    const permits = yield* Semaphore.make(Math.max(1, options.concurrentParts ?? 4))
    return Layer.mergeAll(
      ExtractRunWorkflow.toLayer(({ runId }) => runBody(runId)),
      ExtractPartWorkflow.toLayer(({ part, runId }) => partBody(runId, part, permits))
    )
  }))

/** Settings of the engine that runs workflows in one process on a SQL store. */
export interface EngineOptions {
  /** How long a stopping process lets its runs end before interrupting them (default 1 s). */
  readonly terminationTimeout?: `${number} ${"millis" | "seconds"}` | undefined
}

/**
 * The workflow engine of one process on a SQL store (`effect/cluster`'s single runner, with
 * its messages and replies in the database): needs the `SqlClient`.
 */
export const engineLayer = (options: EngineOptions = {}) =>
  ClusterWorkflowEngine.layer.pipe(
    Layer.provideMerge(SingleRunner.layer({
      runnerStorage: "sql",
      shardingConfig: {
        entityTerminationTimeout: options.terminationTimeout ?? "1 seconds",
        // Unfinished runs are picked up quickly when a process opens the store.
        entityMessagePollInterval: "1 seconds"
      }
    })),
    Layer.provide(Digest.layerWebCrypto)
  )

/**
 * Execute a run (or resume it: a finished run gives its recorded exit code; an unfinished one
 * continues where it stopped) and return its exit code.
 *
 * An earlier attempt that ended in an error (e.g. the output's disk was full) left its result
 * in the engine: that execution is cleared and the run starts again. Nothing is lost or paid
 * twice: its jobs, outcomes and written chunks are in the run state's tables, and the run
 * re-attaches to and skips them as after a crash.
 */
export const execute = (runId: string) =>
  Effect.gen(function*() {
    yield* clearFailed(runId)
    return (yield* ExtractRunWorkflow.execute({ runId })).exitCode
  })

/** Clear the executions of a run and of its parts that ended in an error (they start again). */
const clearFailed = (runId: string) =>
  Effect.gen(function*() {
    const executionId = yield* ExtractRunWorkflow.executionId({ runId })
    const previous = yield* ExtractRunWorkflow.poll(executionId)
    if (Option.isNone(previous) || previous.value._tag !== "Complete" || Exit.isSuccess(previous.value.exit)) return
    for (const part of range(yield* RunStore.partCount(runId))) {
      const partId = yield* ExtractPartWorkflow.executionId({ runId, part })
      const ended = yield* ExtractPartWorkflow.poll(partId)
      if (Option.isSome(ended) && ended.value._tag === "Complete" && Exit.isFailure(ended.value.exit)) {
        yield* clearExecution(runId, partId)
      }
    }
    yield* clearExecution(runId, executionId)
  })

/**
 * Start a run's workflow without waiting for it, if it has not ended (idempotent: a run
 * already started is left as it is; one that ended in an error waits for `execute`). The
 * processes of the cluster that own it work on it. Returns whether the run is under way.
 */
export const start = (runId: string) =>
  Effect.gen(function*() {
    const executionId = yield* ExtractRunWorkflow.executionId({ runId })
    const previous = yield* ExtractRunWorkflow.poll(executionId)
    if (Option.isSome(previous) && previous.value._tag === "Complete") return false
    yield* ExtractRunWorkflow.execute({ runId }, { discard: true })
    return true
  })

/** Delete an execution's messages and replies from the engine's tables. */
const clearExecution = (runId: string, executionId: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.withTransaction(Effect.andThen(
      sql`DELETE FROM cluster_replies WHERE request_id IN (SELECT id FROM cluster_messages WHERE entity_id = ${executionId})`,
      sql`DELETE FROM cluster_messages WHERE entity_id = ${executionId}`
    )).pipe(
      Effect.mapError((cause) => new StateError({ message: `could not clear the workflow of run ${runId}`, cause }))
    )
  })

/**
 * Remove finished runs that ended before `before` (epoch ms): their rows in the run state and
 * their workflow's messages and replies in the engine's tables (the engine keeps those of
 * finished workflows forever). Returns the ids removed.
 */
export const removeFinishedBefore = (before: number) =>
  Effect.gen(function*() {
    const removed = yield* RunStore.removeFinishedBefore(before)
    for (const { parts, runId } of removed) {
      yield* clearExecution(runId, yield* ExtractRunWorkflow.executionId({ runId }))
      for (const part of range(parts)) {
        yield* clearExecution(runId, yield* ExtractPartWorkflow.executionId({ runId, part }))
      }
    }
    return removed.map(({ runId }) => runId)
  })
