/**
 * Progress of a run, as a view over its events: documents read, chunks, and per stage a bar
 * with the share of records done and the time left (from the jobs' reported progress),
 * records by outcome, jobs by status, elapsed time. On a terminal it redraws a small live
 * display; otherwise it prints a plain line at a steady cadence.
 *
 * The view only folds an extraction run's events ({@link ExtractionEvents.Event}: the
 * engine's and the extraction's; {@link count}) and draws what it folded ({@link render}), so
 * any source of a run's events can feed it.
 */
import type { Extraction, ExtractionEvents } from "@batch-extract/core"
import { Clock, Console, Duration, Effect } from "effect"

/** What a running job last reported. */
export interface JobReport {
  readonly stage: string
  readonly processed: number
  readonly total: number
  /** Epoch milliseconds when the job should end, when its progress allowed an estimate. */
  readonly endsAt: number | undefined
}

/** A stage's records by outcome. */
export interface StageCounts {
  succeeded: number
  failed: number
  retried: number
  onDemand: number
}

/** What the display shows. */
export interface Counts {
  documents: number
  skipped: number
  chunks: number
  /** Chunks this run extracts: read, less duplicates and those already extracted (checkpoint). */
  toExtract: number
  extracted: number
  failedChunks: number
  readonly records: Record<string, StageCounts>
  readonly jobStatus: Map<string, string>
  /** Running jobs' last progress reports, by job name (removed when the job ends). */
  readonly running: Map<string, JobReport>
  onDemandCalls: number
}

/** A fresh set of counts. */
export const emptyCounts = (): Counts => ({
  documents: 0,
  skipped: 0,
  chunks: 0,
  toExtract: 0,
  extracted: 0,
  failedChunks: 0,
  records: {},
  jobStatus: new Map(),
  running: new Map(),
  onDemandCalls: 0
})

const stageOf = (
  counts: Counts,
  stage: string
): StageCounts => (counts.records[stage] ??= { succeeded: 0, failed: 0, retried: 0, onDemand: 0 })

/** Count one event. */
export const count = (counts: Counts, event: ExtractionEvents.Event): void => {
  switch (event._tag) {
    case "DocumentRead":
      counts.documents++
      counts.chunks += event.chunks
      counts.toExtract += Math.max(0, event.chunks - event.duplicateChunks - event.skippedChunks)
      break
    case "DocumentSkipped":
      counts.skipped++
      break
    case "ChunkExtracted":
      counts.extracted++
      if (event.failures.length > 0) counts.failedChunks++
      break
    case "RecordsSucceeded": {
      const stage = stageOf(counts, event.stage)
      stage.succeeded += event.count
      if (event.via === "onDemand") stage.onDemand += event.count
      break
    }
    case "RecordsFailed":
      stageOf(counts, event.stage).failed += event.failures.length
      break
    case "RecordsRetried":
      stageOf(counts, event.stage).retried += event.count
      break
    case "RecordsRecovered": {
      // Settled by an earlier attempt at the run: done, as far as this view goes.
      const stage = stageOf(counts, event.stage)
      stage.succeeded += event.succeeded
      stage.failed += event.failed
      break
    }
    case "JobPlanned":
      stageOf(counts, event.stage)
      counts.jobStatus.set(event.jobName, "Planned")
      break
    case "JobStatusChanged":
      counts.jobStatus.set(event.jobName, event.to)
      break
    case "JobProgress":
      counts.running.set(event.jobName, {
        stage: event.stage,
        processed: event.processed,
        total: event.total,
        endsAt: event.remainingMillis === undefined ? undefined : event.at + event.remainingMillis
      })
      break
    case "JobFinished":
      counts.jobStatus.set(event.jobName, event.status)
      counts.running.delete(event.jobName)
      break
    case "OnDemandCall":
      counts.onDemandCalls++
      break
    default:
      break
  }
}

const formatDuration = (ms: number) => {
  const s = Math.max(0, Math.floor(ms / 1000))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const ss = String(s % 60).padStart(2, "0")
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`
}

/** The stages with one record per chunk to extract (their total is known as documents are read). */
const perChunkStages: ReadonlySet<string> = new Set(["propositions", "topics"] satisfies Array<Extraction.Stage>)

/**
 * A stage's share of records done (succeeded or failed for good), from 0 to 1, if its total
 * is known (an extraction stage: one record per chunk to extract).
 */
export const fractionDone = (counts: Counts, stage: string): number | undefined => {
  const r = counts.records[stage]
  if (r === undefined || counts.toExtract === 0 || !perChunkStages.has(stage)) return undefined
  return Math.min(1, (r.succeeded + r.failed) / counts.toExtract)
}

/**
 * The time left of a stage (milliseconds), from its running jobs' reported progress: until
 * the last of them should end. `undefined` when none has reported enough to estimate.
 */
export const timeLeft = (counts: Counts, stage: string, now: number): number | undefined => {
  let latest: number | undefined
  for (const job of counts.running.values()) {
    if (job.stage !== stage || job.endsAt === undefined) continue
    latest = latest === undefined ? job.endsAt : Math.max(latest, job.endsAt)
  }
  return latest === undefined ? undefined : Math.max(0, latest - now)
}

const barWidth = 24

/** A text bar of `width` cells, filled to `fraction`. */
export const bar = (fraction: number, width: number = barWidth): string => {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width)
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`
}

const stageLine = (counts: Counts, stage: string, now: number, withBar: boolean): string => {
  const r = counts.records[stage]!
  const fraction = fractionDone(counts, stage)
  const left = timeLeft(counts, stage, now)
  const percent = fraction === undefined ? "  …" : `${String(Math.floor(fraction * 100)).padStart(3)}%`
  const eta = fraction === 1 ? "done" : left === undefined ? "eta …" : `eta ${formatDuration(left)}`
  const shown = withBar && fraction !== undefined ? `${bar(fraction)} ` : ""
  return `${stage} ${shown}${percent} ${eta}  ${r.succeeded} ok (${r.onDemand} on demand), ${r.failed} failed, ` +
    `${r.retried} retried`
}

/**
 * The display's lines: a header, then one line per stage (with a bar when `bars`), then jobs,
 * then `extra` lines (a build's, during `extract --build`). With a `title` (a command that reads
 * no documents, such as `build`), the header is the title and the time only.
 */
export const render = (
  counts: Counts,
  elapsedMs: number,
  now: number,
  bars: boolean = true,
  title?: string | undefined,
  extra: ReadonlyArray<string> = []
): Array<string> => {
  const jobs = new Map<string, number>()
  for (const status of counts.jobStatus.values()) jobs.set(status, (jobs.get(status) ?? 0) + 1)
  const jobText = [...jobs.entries()].map(([status, n]) => `${status} ${n}`).join(", ") || "none yet"
  const stages = Object.keys(counts.records).map((stage) => stageLine(counts, stage, now, bars))
  return [
    title !== undefined
      ? `batch-extract ${title} ${formatDuration(elapsedMs)}`
      : `batch-extract ${formatDuration(elapsedMs)}  documents ${counts.documents} (${counts.skipped} skipped)  ` +
        `chunks ${counts.extracted}/${counts.chunks} extracted (${counts.failedChunks} with failures)`,
    ...(stages.length === 0 ? ["  records  none yet"] : stages.map((line) => `  ${line}`)),
    `  jobs     ${jobText}`,
    ...extra.map((line) => `  ${line}`)
  ]
}

/**
 * Writes the display's text to stderr through Effect's `Console` (so a program that provides
 * its own `Console` gets it). The text always ends with a newline, which `console.error`
 * adds itself; there is no newline-free write in `Console`.
 */
export const writeToConsoleError = (console: Console.Console) => (text: string): void =>
  console.error(text.endsWith("\n") ? text.slice(0, -1) : text)

/**
 * A progress reporter: `handler` receives events; `run` draws until interrupted (on a TTY a
 * live redraw every quarter second, else a plain line every `plainEvery`); `final` prints
 * the last state once. It draws with `write` (each text ends with a newline), by default
 * {@link writeToConsoleError} on the current `Console`.
 */
export const make = (options: {
  readonly tty: boolean
  /** The header's title instead of the extraction's counts (see {@link render}), read at each draw. */
  readonly title?: (() => string) | undefined
  /** Lines drawn under the jobs, read at each draw. */
  readonly extra?: (() => ReadonlyArray<string>) | undefined
  readonly write?: ((text: string) => void) | undefined
  readonly plainEvery?: Duration.Input | undefined
}) =>
  Effect.gen(function*() {
    const write = options.write ?? writeToConsoleError(yield* Console.Console)
    const counts = emptyCounts()
    const started = yield* Clock.currentTimeMillis
    let drawn = 0
    const draw = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const lines = render(counts, now - started, now, options.tty, options.title?.(), options.extra?.())
      if (options.tty) {
        const up = drawn > 0 ? `\x1b[${drawn}A` : ""
        // Lines that went away (a stage line before the first job) are cleared too.
        const cleared = lines.length < drawn ? "\r\x1b[J" : ""
        write(up + cleared + lines.map((line) => `\r\x1b[K${line}`).join("\n") + "\n")
        drawn = lines.length
      } else {
        write(lines.join(" ").replace(/\s+/g, " ") + "\n")
      }
    })
    const handler: ExtractionEvents.Handler = { publish: (event) => Effect.sync(() => count(counts, event)) }
    const every = options.tty ? Duration.millis(250) : Duration.fromInputUnsafe(options.plainEvery ?? "10 seconds")
    const run = Effect.forever(Effect.andThen(Effect.sleep(every), draw))
    return { handler, run, final: draw, counts }
  })

/** A progress display ({@link make}). */
export type Progress = Effect.Success<ReturnType<typeof make>>
