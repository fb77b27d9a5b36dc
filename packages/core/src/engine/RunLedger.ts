/**
 * The run ledger: durable state of a run, so a crashed or interrupted run can resume without
 * losing records, paying twice, or forgetting jobs.
 *
 * What is written, as it happens: the run's configuration; for each planned job its input
 * key, content hash and record ids, and the intent to create it (name and client request
 * token) *before* the create call; the job ARN after; status transitions; per-record
 * outcomes (with the answer's text, so succeeded records never run again); and which chunks
 * are fully extracted and written.
 *
 * The ledger is a journal: entries are appended, never rewritten. Each line carries a
 * checksum, so a line torn by a kill is recognised and ignored when the journal is read back.
 *
 * When to use: provide `layerFileSystem(dir)` (or your own implementation) to make runs
 * resumable. Without one, the default ledger keeps nothing.
 *
 * @since 0.1.0
 */
import { Context, Data, Effect, FileSystem, Layer, Path, Ref, Semaphore, Stream } from "effect"
import type { JobStatus } from "./BatchInference.ts"
import type * as BatchRecord from "./BatchRecord.ts"
import type * as RunSummary from "./RunSummary.ts"

/** A ledger entry. */
export type Entry =
  | {
    readonly _tag: "RunStarted"
    readonly at: number
    /** The run's settings (no secrets: the configuration holds none). */
    readonly settings: unknown
  }
  | {
    readonly _tag: "JobIntent"
    readonly stage: string
    readonly label: string
    readonly attempt: number
    readonly jobName: string
    readonly clientRequestToken: string
    readonly bucket: string
    readonly inputKey: string
    readonly contentHash: string
    readonly recordIds: ReadonlyArray<string>
  }
  | { readonly _tag: "JobCreated"; readonly stage: string; readonly jobName: string; readonly jobArn: string }
  | { readonly _tag: "JobStatus"; readonly stage: string; readonly jobName: string; readonly status: JobStatus }
  | {
    readonly _tag: "JobFinished"
    readonly stage: string
    readonly jobName: string
    readonly status: JobStatus | "NotCreated"
  }
  | { readonly _tag: "Outcomes"; readonly stage: string; readonly outcomes: ReadonlyArray<StoredOutcome> }
  | { readonly _tag: "ChunksWritten"; readonly chunkIds: ReadonlyArray<string> }
  | { readonly _tag: "RunFinished"; readonly at: number }

/** A record outcome as the ledger keeps it (the raw `modelOutput` body is not kept). */
export type StoredOutcome =
  | BatchRecord.Failed
  | (Omit<BatchRecord.Succeeded, "modelOutput"> & { readonly modelOutput?: undefined })

/** The ledger could not be read or written. */
export class LedgerError extends Data.TaggedError("LedgerError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** The ledger service. */
export interface Ledger {
  /** Append entries to a run's journal (atomically per entry). */
  readonly append: (runId: string, entries: ReadonlyArray<Entry>) => Effect.Effect<void, LedgerError>
  /** Read a run's journal back (torn or corrupt lines are skipped). */
  readonly read: (runId: string) => Effect.Effect<ReadonlyArray<Entry>, LedgerError>
  /** The run ids the ledger knows. */
  readonly runs: Effect.Effect<ReadonlyArray<string>, LedgerError>
}

/** The ledger in the environment; by default it keeps nothing (runs are not resumable). */
export const RunLedger = Context.Reference<Ledger>("@batch-extract/core/RunLedger", {
  defaultValue: () => ({ append: () => Effect.void, read: () => Effect.succeed([]), runs: Effect.succeed([]) })
})

// -----------------------------------------------------------------------------
// State
// -----------------------------------------------------------------------------

/** The intent recorded before a job's create. */
export type JobIntent = Omit<Extract<Entry, { readonly _tag: "JobIntent" }>, "_tag">

/** What the ledger knows of one job: its intent, then what happened to it. */
export interface JobState extends JobIntent {
  readonly jobArn: string | undefined
  readonly status: JobStatus | "NotCreated" | undefined
  readonly finished: boolean
}

/** The state of a run, folded from its journal. */
export interface RunState {
  readonly settings: unknown
  readonly started: boolean
  readonly finished: boolean
  /** Jobs by name, in intent order. */
  readonly jobs: ReadonlyMap<string, JobState>
  /** The last outcome of each record, by stage then record id. */
  readonly outcomes: ReadonlyMap<string, ReadonlyMap<string, StoredOutcome>>
  readonly chunksWritten: ReadonlySet<string>
}

/** Fold a journal into a run state. */
export const fold = (entries: ReadonlyArray<Entry>): RunState => {
  let settings: unknown = undefined
  let started = false
  let finished = false
  const jobs = new Map<string, JobState>()
  const outcomes = new Map<string, Map<string, StoredOutcome>>()
  const chunksWritten = new Set<string>()
  for (const entry of entries) {
    switch (entry._tag) {
      case "RunStarted":
        started = true
        settings = entry.settings
        break
      case "RunFinished":
        finished = true
        break
      case "JobIntent":
        if (!jobs.has(entry.jobName)) {
          const { _tag, ...intent } = entry
          jobs.set(entry.jobName, { ...intent, jobArn: undefined, status: undefined, finished: false })
        }
        break
      case "JobCreated": {
        const job = jobs.get(entry.jobName)
        if (job !== undefined) jobs.set(entry.jobName, { ...job, jobArn: entry.jobArn })
        break
      }
      case "JobStatus": {
        const job = jobs.get(entry.jobName)
        if (job !== undefined) jobs.set(entry.jobName, { ...job, status: entry.status })
        break
      }
      case "JobFinished": {
        const job = jobs.get(entry.jobName)
        if (job !== undefined) jobs.set(entry.jobName, { ...job, status: entry.status, finished: true })
        break
      }
      case "Outcomes": {
        let stage = outcomes.get(entry.stage)
        if (stage === undefined) outcomes.set(entry.stage, stage = new Map())
        for (const outcome of entry.outcomes) stage.set(outcome.recordId, outcome)
        break
      }
      case "ChunksWritten":
        for (const id of entry.chunkIds) chunksWritten.add(id)
        break
    }
  }
  return { settings, started, finished, jobs, outcomes, chunksWritten }
}

/** What a whole run did, from its journal (every process that worked on it). */
export type Totals = RunSummary.RunTotals

/** The totals of a run state: final record outcomes, jobs by final status, tokens. */
export const totals = (state: RunState): Totals => {
  let succeeded = 0
  let batch = 0
  let input = 0
  let output = 0
  const failures: Array<{ recordId: string; stage: string; reason: string }> = []
  for (const [stage, outcomes] of state.outcomes) {
    for (const outcome of outcomes.values()) {
      if (outcome._tag === "Failed") {
        failures.push({ recordId: outcome.recordId, stage, reason: outcome.reason })
        continue
      }
      succeeded++
      if (outcome.via === "batch") batch++
      input += outcome.output.usage.inputTokens
      output += outcome.output.usage.outputTokens
    }
  }
  const byStatus: Record<string, number> = {}
  let total = 0
  for (const job of state.jobs.values()) {
    if (!job.finished || job.status === undefined) continue
    total++
    byStatus[job.status] = (byStatus[job.status] ?? 0) + 1
  }
  return {
    records: { succeeded, failed: failures.length, batch, onDemand: succeeded - batch },
    jobs: { total, byStatus },
    tokens: { input, output },
    failures
  }
}

/** Read and fold a run's state from the ledger in the environment. */
export const state = (runId: string): Effect.Effect<RunState, LedgerError> =>
  RunLedger.use((ledger) => Effect.map(ledger.read(runId), fold))

/** Append entries to the ledger in the environment. */
export const append = (runId: string, entries: ReadonlyArray<Entry>): Effect.Effect<void, LedgerError> =>
  entries.length === 0 ? Effect.void : RunLedger.use((ledger) => ledger.append(runId, entries))

/** Outcome without its raw body, as stored. */
export const toStored = (outcome: BatchRecord.RecordOutcome): StoredOutcome =>
  outcome._tag === "Succeeded" ? { ...outcome, modelOutput: undefined } : outcome

// -----------------------------------------------------------------------------
// Implementations
// -----------------------------------------------------------------------------

/** An in-memory ledger (for tests: survives a simulated crash within one process). */
export const makeMemory: Effect.Effect<Ledger> = Effect.map(
  Ref.make(new Map<string, Array<Entry>>()),
  (ref): Ledger => ({
    append: (runId, entries) =>
      Ref.update(ref, (map) => new Map(map).set(runId, [...(map.get(runId) ?? []), ...structuredClone(entries)])),
    read: (runId) => Effect.map(Ref.get(ref), (map) => structuredClone(map.get(runId) ?? [])),
    runs: Effect.map(Ref.get(ref), (map) => [...map.keys()])
  })
)

/** A Layer with a fresh in-memory ledger. */
export const layerMemory: Layer.Layer<never> = Layer.effect(RunLedger, makeMemory)

/** FNV-1a checksum of a line, as 8 hex digits. */
const checksum = (text: string): string => {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return (hash >>> 0).toString(16).padStart(8, "0")
}

/** Encode an entry as a journal line: `<checksum> <json>`. */
export const encodeLine = (entry: Entry): string => {
  const json = JSON.stringify(entry)
  return `${checksum(json)} ${json}\n`
}

/** Decode the journal's text; lines torn by a kill or corrupted are skipped. */
export const decodeLines = (text: string): Array<Entry> => {
  const entries: Array<Entry> = []
  for (const line of text.split("\n")) {
    const space = line.indexOf(" ")
    if (space !== 8) continue
    const json = line.slice(9)
    if (checksum(json) !== line.slice(0, 8)) continue
    try {
      entries.push(JSON.parse(json) as Entry)
    } catch {
      // A checksum collision on a torn line: skip it as well.
    }
  }
  return entries
}

/**
 * A ledger in a directory: one journal per run at `<dir>/<runId>/ledger.jsonl`.
 * Appends are single writes of whole lines; a line torn by a kill is skipped on read and
 * the next append starts on a fresh line.
 */
export const makeFileSystem = (dir: string): Effect.Effect<Ledger, never, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const checked = new Set<string>()
    const fileOf = (runId: string) => path.join(dir, runId, "ledger.jsonl")
    const fail = (message: string) => (cause: unknown) => new LedgerError({ message, cause })
    const lock = yield* Semaphore.make(1)
    return {
      append: (runId, entries) =>
        Effect.gen(function*() {
          const file = fileOf(runId)
          let prefix = ""
          if (!checked.has(runId)) {
            yield* fs.makeDirectory(path.dirname(file), { recursive: true })
            if (yield* fs.exists(file)) {
              const text = yield* fs.readFileString(file)
              if (text.length > 0 && !text.endsWith("\n")) prefix = "\n"
            }
            checked.add(runId)
          }
          yield* fs.writeFileString(file, prefix + entries.map(encodeLine).join(""), { flag: "a" })
        }).pipe(lock.withPermits(1), Effect.mapError(fail(`could not append to the ledger of run ${runId}`))),
      read: (runId) =>
        Effect.gen(function*() {
          const file = fileOf(runId)
          if (!(yield* fs.exists(file))) return []
          return decodeLines(yield* fs.readFileString(file))
        }).pipe(Effect.mapError(fail(`could not read the ledger of run ${runId}`))),
      runs: Effect.gen(function*() {
        if (!(yield* fs.exists(dir))) return []
        const names = yield* fs.readDirectory(dir)
        const runs: Array<string> = []
        for (const name of names) if (yield* fs.exists(path.join(dir, name, "ledger.jsonl"))) runs.push(name)
        return runs.sort()
      }).pipe(Effect.mapError(fail(`could not list the runs in ${dir}`)))
    }
  })

/** A Layer with a ledger in a directory (needs the platform's FileSystem and Path). */
export const layerFileSystem = (dir: string): Layer.Layer<never, never, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(RunLedger, makeFileSystem(dir))

/** Read every entry of a journal as a stream (for tools that print a run). */
export const entries = (runId: string): Stream.Stream<Entry, LedgerError> =>
  Stream.unwrap(Effect.map(RunLedger.use((ledger) => ledger.read(runId)), Stream.fromIterable))
