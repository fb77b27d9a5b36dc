/**
 * The engine's port to the durable state of a run, so a crashed or interrupted run resumes
 * without losing records, paying twice, or creating a job twice.
 *
 * What the engine records, as it happens: for each planned job its input key, content hash
 * and records, and the intent to create it (name and client request token) *before* the
 * create call; the job ARN after; status changes; every record's final outcome (with the
 * answer, so a record already paid for never runs again). What it reads back: the outcomes of
 * the records coming in (looked up in batches, never loaded whole) and the jobs an earlier
 * attempt left unfinished (re-attached, not created again).
 *
 * The port also runs the engine's steps with side effects on the outside world — creating a
 * job, awaiting it, reading its output, an on-demand call — through {@link Store.step}: in a
 * durable run each is an activity of the run's workflow (`effect/workflow`), whose result the
 * workflow engine keeps; without one, the step simply runs.
 *
 * When to use: the library's durable runs (`RunStore`, `ExtractRun`) provide it; tests use
 * {@link layerMemory}. Without one, the default keeps nothing (runs are not resumable).
 *
 * @since 0.2.0
 */
import { Context, Data, Effect, Layer, Ref, type Schema } from "effect"
import type { JobStatus } from "./BatchInference.ts"
import type * as BatchRecord from "./BatchRecord.ts"

/** The intent recorded before a job's create. */
export interface JobIntent {
  readonly stage: string
  /** The job's number in its stage (`"3"`), or a retry's (`"3r2"`). */
  readonly label: string
  readonly attempt: number
  readonly jobName: string
  readonly clientRequestToken: string
  readonly bucket: string
  readonly inputKey: string
  readonly contentHash: string
  readonly recordIds: ReadonlyArray<string>
}

/** What the state knows of one job: its intent (without its records), then what happened to it. */
export interface JobState extends Omit<JobIntent, "recordIds"> {
  readonly records: number
  readonly jobArn: string | undefined
  readonly status: JobStatus | "NotCreated" | undefined
  readonly finished: boolean
}

/** A record outcome as the state keeps it (the raw `modelOutput` body is not kept). */
export type StoredOutcome =
  | BatchRecord.Failed
  | (Omit<BatchRecord.Succeeded, "modelOutput"> & { readonly modelOutput?: undefined })

/** The state could not be read or written. */
export class StateError extends Data.TaggedError("StateError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** A job that reached its end: recorded with its records' outcomes, in one write. */
export interface FinishedJob {
  readonly jobName: string
  readonly status: JobStatus | "NotCreated"
}

/** The run state service. */
export interface Store {
  /** Record the intent to create a job (its records are then "in job X"). Idempotent. */
  readonly jobIntent: (runId: string, intent: JobIntent) => Effect.Effect<void, StateError>
  /** Record a job's ARN. */
  readonly jobCreated: (runId: string, jobName: string, jobArn: string) => Effect.Effect<void, StateError>
  /** Record a job's status as seen by a poll. */
  readonly jobStatus: (runId: string, jobName: string, status: JobStatus) => Effect.Effect<void, StateError>
  /**
   * Record final outcomes (and, when given, that their job ended), at once. A later outcome of
   * the same record replaces the earlier one.
   */
  readonly recordOutcomes: (
    runId: string,
    stage: string,
    outcomes: ReadonlyArray<BatchRecord.RecordOutcome>,
    finished?: FinishedJob | undefined
  ) => Effect.Effect<void, StateError>
  /** The recorded outcomes of some records of a stage (those without one are absent). */
  readonly outcomes: (
    runId: string,
    stage: string,
    recordIds: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyMap<string, StoredOutcome>, StateError>
  /**
   * The jobs of a stage (of one part of the run, see {@link partOfLabel}) whose intent was
   * recorded and that have not ended, in intent order.
   */
  readonly openJobs: (
    runId: string,
    stage: string,
    part?: number | undefined
  ) => Effect.Effect<ReadonlyArray<JobState>, StateError>
  /** The highest job number recorded in a stage (of one part of the run; 0 when none). */
  readonly lastJobNumber: (runId: string, stage: string, part?: number | undefined) => Effect.Effect<number, StateError>
  /**
   * Forget what a stage of a run recorded once it has ended: its records' outcomes and its
   * finished jobs. Unfinished jobs stay, so a later attempt still re-attaches them. (A build
   * under a stable run id forgets its answers after each build.)
   */
  readonly forgetStage: (runId: string, stage: string) => Effect.Effect<void, StateError>
  /**
   * Run a step with effects on the outside world. In a durable run it is an activity named
   * `name` of the run's workflow: once it completed, its result (encoded with `success`) is
   * replayed instead of running it again. Names are unique within a run.
   */
  readonly step: <A, E, R>(
    name: string,
    success: Schema.Codec<A, any>,
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | StateError, R>
}

/** Steps that simply run (no workflow around them). */
export const runStep: Store["step"] = (_name, _success, effect) => effect

/** A store that keeps nothing: the default, when a run is not resumable. */
export const none: Store = {
  jobIntent: () => Effect.void,
  jobCreated: () => Effect.void,
  jobStatus: () => Effect.void,
  recordOutcomes: () => Effect.void,
  outcomes: () => Effect.succeed(new Map()),
  openJobs: () => Effect.succeed([]),
  lastJobNumber: () => Effect.succeed(0),
  forgetStage: () => Effect.void,
  step: runStep
}

/** The run state in the environment; by default it keeps nothing (runs are not resumable). */
export const RunState = Context.Reference<Store>("@batch-extract/core/RunState", { defaultValue: () => none })

/** Outcome without its raw body, as stored. */
export const toStored = (outcome: BatchRecord.RecordOutcome): StoredOutcome =>
  outcome._tag === "Succeeded" ? { ...outcome, modelOutput: undefined } : outcome

/** A stored outcome as an outcome again (its raw body is not kept: `modelOutput` is undefined). */
export const fromStored = (stored: StoredOutcome): BatchRecord.RecordOutcome =>
  stored._tag === "Succeeded" ? { ...stored, modelOutput: undefined } : stored

/**
 * The label of a run's `n`th job of a stage: `"n"`, or `"p<part>.n"` in parts after the first
 * (a run split into parts extracts them at once, each numbering its own jobs).
 */
export const labelOf = (part: number, n: number): string => (part === 0 ? String(n) : `p${part}.${n}`)

/** The part a job label belongs to (`"p3.12r2"` → 3; a label without a part: 0). */
export const partOfLabel = (label: string): number => {
  const match = /^p(\d+)\./.exec(label)
  return match === null ? 0 : Number(match[1])
}

/** The number of a job label (`"3r2"` → 3, `"p2.3r2"` → 3). */
export const jobNumberOf = (label: string): number => Number.parseInt(label.replace(/^p\d+\./, ""), 10) || 0

// -----------------------------------------------------------------------------
// In memory
// -----------------------------------------------------------------------------

interface MemoryJob extends JobState {
  readonly runId: string
}

/** What an in-memory store holds (for tests that look inside). */
export interface MemoryContents {
  readonly jobs: ReadonlyArray<MemoryJob>
  readonly outcomes: ReadonlyMap<string, StoredOutcome>
}

/**
 * An in-memory store (for tests: survives a simulated crash within one process). Steps simply
 * run. `contents` shows what it holds.
 */
export const makeMemory: Effect.Effect<Store & { readonly contents: Effect.Effect<MemoryContents> }> = Effect.map(
  // Fresh maps for every store (they are updated in place): built when the effect runs.
  Effect.suspend(() =>
    Ref.make<{ jobs: Map<string, MemoryJob>; outcomes: Map<string, StoredOutcome> }>({
      jobs: new Map(),
      outcomes: new Map()
    })
  ),
  (ref) => {
    const key = (runId: string, stage: string, recordId: string) => `${runId}\u0000${stage}\u0000${recordId}`
    const updateJob = (runId: string, jobName: string, f: (job: MemoryJob) => MemoryJob) =>
      Ref.update(ref, (s) => {
        const job = s.jobs.get(`${runId}\u0000${jobName}`)
        if (job !== undefined) s.jobs.set(`${runId}\u0000${jobName}`, f(job))
        return s
      })
    return {
      jobIntent: (runId, { recordIds, ...intent }) =>
        Ref.update(ref, (s) => {
          const id = `${runId}\u0000${intent.jobName}`
          if (!s.jobs.has(id)) {
            s.jobs.set(id, {
              ...intent,
              runId,
              records: recordIds.length,
              jobArn: undefined,
              status: undefined,
              finished: false
            })
          }
          return s
        }),
      jobCreated: (runId, jobName, jobArn) => updateJob(runId, jobName, (job) => ({ ...job, jobArn })),
      jobStatus: (runId, jobName, status) => updateJob(runId, jobName, (job) => ({ ...job, status })),
      recordOutcomes: (runId, stage, outcomes, finished) =>
        Effect.andThen(
          Ref.update(ref, (s) => {
            for (const outcome of outcomes) {
              s.outcomes.set(key(runId, stage, outcome.recordId), structuredClone(toStored(outcome)))
            }
            return s
          }),
          finished === undefined
            ? Effect.void
            : updateJob(runId, finished.jobName, (job) => ({ ...job, status: finished.status, finished: true }))
        ),
      outcomes: (runId, stage, recordIds) =>
        Effect.map(Ref.get(ref), (s) => {
          const found = new Map<string, StoredOutcome>()
          for (const id of recordIds) {
            const outcome = s.outcomes.get(key(runId, stage, id))
            if (outcome !== undefined) found.set(id, structuredClone(outcome))
          }
          return found
        }),
      openJobs: (runId, stage, part = 0) =>
        Effect.map(
          Ref.get(ref),
          (s) =>
            [...s.jobs.values()].filter((job) =>
              job.runId === runId && job.stage === stage && !job.finished && partOfLabel(job.label) === part
            )
        ),
      lastJobNumber: (runId, stage, part = 0) =>
        Effect.map(Ref.get(ref), (s) =>
          [...s.jobs.values()]
            .filter((job) => job.runId === runId && job.stage === stage && partOfLabel(job.label) === part)
            .reduce((max, job) => Math.max(max, jobNumberOf(job.label)), 0)),
      forgetStage: (runId, stage) =>
        Ref.update(ref, (s) => {
          const prefix = key(runId, stage, "")
          for (const id of [...s.outcomes.keys()]) if (id.startsWith(prefix)) s.outcomes.delete(id)
          for (const [id, job] of [...s.jobs]) {
            if (job.runId === runId && job.stage === stage && job.finished) s.jobs.delete(id)
          }
          return s
        }),
      step: runStep,
      contents: Effect.map(Ref.get(ref), (s) => ({ jobs: [...s.jobs.values()], outcomes: new Map(s.outcomes) }))
    }
  }
)

/** A Layer with a fresh in-memory store. */
export const layerMemory: Layer.Layer<never> = Layer.effect(RunState, makeMemory)
