/**
 * Progress of a run, from its events: documents read, chunks, records by stage and outcome,
 * jobs by status, elapsed time. On a terminal it redraws a small live display; otherwise it
 * prints a plain line at a steady cadence.
 */
import type { RunEvents } from "@batch-extract/core"
import { Clock, Duration, Effect } from "effect"

/** What the display shows. */
export interface Counts {
  documents: number
  skipped: number
  chunks: number
  extracted: number
  failedChunks: number
  readonly records: Record<string, { succeeded: number; failed: number; retried: number; onDemand: number }>
  readonly jobStatus: Map<string, string>
  onDemandCalls: number
}

/** A fresh set of counts. */
export const emptyCounts = (): Counts => ({
  documents: 0,
  skipped: 0,
  chunks: 0,
  extracted: 0,
  failedChunks: 0,
  records: {},
  jobStatus: new Map(),
  onDemandCalls: 0
})

const stageOf = (
  counts: Counts,
  stage: string
) => (counts.records[stage] ??= { succeeded: 0, failed: 0, retried: 0, onDemand: 0 })

/** Count one event. */
export const count = (counts: Counts, event: RunEvents.RunEvent): void => {
  switch (event._tag) {
    case "DocumentRead":
      counts.documents++
      counts.chunks += event.chunks
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
    case "JobPlanned":
      counts.jobStatus.set(event.jobName, "Planned")
      break
    case "JobStatusChanged":
      counts.jobStatus.set(event.jobName, event.to)
      break
    case "JobFinished":
      counts.jobStatus.set(event.jobName, event.status)
      break
    case "OnDemandCall":
      counts.onDemandCalls++
      break
    default:
      break
  }
}

const formatElapsed = (ms: number) => {
  const s = Math.floor(ms / 1000)
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`
}

/** The display's lines. */
export const render = (counts: Counts, elapsedMs: number): Array<string> => {
  const jobs = new Map<string, number>()
  for (const status of counts.jobStatus.values()) jobs.set(status, (jobs.get(status) ?? 0) + 1)
  const jobText = [...jobs.entries()].map(([status, n]) => `${status} ${n}`).join(", ") || "none yet"
  const stages = Object.entries(counts.records).map(([stage, r]) =>
    `${stage}: ${r.succeeded} ok (${r.onDemand} on demand), ${r.failed} failed, ${r.retried} retried`
  )
  return [
    `batch-extract ${formatElapsed(elapsedMs)}  documents ${counts.documents} (${counts.skipped} skipped)  ` +
    `chunks ${counts.extracted}/${counts.chunks} extracted (${counts.failedChunks} with failures)`,
    `  records  ${stages.join("  |  ") || "none yet"}`,
    `  jobs     ${jobText}`
  ]
}

/**
 * A progress reporter: `handler` receives events; `run` draws until interrupted (on a TTY a
 * live redraw every quarter second, else a plain line every `plainEvery`); `final` prints
 * the last state once.
 */
export const make = (options: {
  readonly tty: boolean
  readonly write: (text: string) => void
  readonly plainEvery?: Duration.Input | undefined
}) =>
  Effect.gen(function*() {
    const counts = emptyCounts()
    const started = yield* Clock.currentTimeMillis
    let drawn = 0
    const draw = Effect.gen(function*() {
      const lines = render(counts, (yield* Clock.currentTimeMillis) - started)
      if (options.tty) {
        const up = drawn > 0 ? `\x1b[${drawn}A` : ""
        options.write(up + lines.map((line) => `\r\x1b[K${line}`).join("\n") + "\n")
        drawn = lines.length
      } else {
        options.write(lines.join(" ").replace(/\s+/g, " ") + "\n")
      }
    })
    const handler: RunEvents.Handler = { publish: (event) => Effect.sync(() => count(counts, event)) }
    const every = options.tty ? Duration.millis(250) : Duration.fromInputUnsafe(options.plainEvery ?? "10 seconds")
    const run = Effect.forever(Effect.andThen(Effect.sleep(every), draw))
    return { handler, run, final: draw, counts }
  })
