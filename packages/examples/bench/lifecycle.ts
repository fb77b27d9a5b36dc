/**
 * Benchmark 10: the local emulation's lifecycle — how soon it starts, how soon an interrupted
 * call is aborted on the wire, and how soon the process ends once everything is released.
 * These were assertions of the aws package's tests (start < 1 s, the process gone < 1 s after
 * its last line, an abort < 5 s); the tests now prove the behaviour (the process exits by
 * itself, the emulator counts the aborts) and the timings are measured here.
 *
 * `processes` children (`lifecycle-child.ts`), one after another, each: start
 * `LocalBackend.layer`, one batch job and two runtime calls, `aborts` interrupted runtime and
 * control-plane calls and `uploads` interrupted uploads, release, start and release a second
 * local backend, print one line. The child also says when its event loop emptied after that
 * line (what was left running after the release: nothing, if it empties at once); this
 * process times each child from spawn to exit and from its line to its exit (the linger:
 * that, plus Node's own teardown). Spreads are over the processes, or over every interrupted call of
 * every process for the aborts.
 *
 * Runs alone too: `node packages/examples/bench/lifecycle.ts [--processes 5] [--aborts 20]
 * [--uploads 5]` prints the figures as JSON.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import type { AbortTiming, ChildFigures } from "./lifecycle-child.ts"

/** The sizes of the benchmark. */
export interface LifecycleSettings {
  /** Child processes, one after another. */
  readonly processes: number
  /** Interrupted runtime calls, and as many control-plane calls, per process. */
  readonly aborts: number
  /** Interrupted uploads per process. */
  readonly uploads: number
}

/** The default sizes: about 15 s in all on 2 cores. */
export const defaults: LifecycleSettings = { processes: 5, aborts: 20, uploads: 5 }

/** Milliseconds: the median, the least and the most of `count` measurements. */
export interface Spread {
  readonly count: number
  readonly median: number
  readonly min: number
  readonly max: number
}

/** The spreads of interrupted calls of one kind. */
export interface AbortSpread {
  /** Interruption → the interrupted effect returned. */
  readonly returnedMs: Spread
  /** Interruption → the service saw the request closed. */
  readonly seenMs: Spread
}

/** What benchmark 10 measured. */
export interface LifecycleFigures {
  readonly settings: LifecycleSettings
  /** Children that printed their line and ended by themselves with code 0. */
  readonly exitedByThemselves: number
  /** Failures (a child that did not print, failed, or had to be killed), first lines. */
  readonly failures: ReadonlyArray<string>
  /** Process start → the library loaded, in the child. */
  readonly loadedMs: Spread
  /** Building `LocalBackend.layer`. */
  readonly startupMs: Spread
  /** Building a second one in the same process, after the first was released. */
  readonly secondStartupMs: Spread
  /** Stage, one batch job to its end, two runtime calls. */
  readonly runMs: Spread
  /** Closing the scope of the local backend. */
  readonly releaseMs: Spread
  /** The child's line (printed after the release) → its event loop empty (Node's `exit` event), in the child. */
  readonly loopEmptiedMs: Spread
  /** The child's line → its exit, seen from here (the above, then Node's own teardown and exit). */
  readonly lingerMs: Spread
  /** Spawn → exit, seen from here. */
  readonly processMs: Spread
  readonly runtimeAbort: AbortSpread
  readonly controlPlaneAbort: AbortSpread
  readonly uploadAbort: AbortSpread
}

const childScript = fileURLToPath(new URL("./lifecycle-child.ts", import.meta.url))

/** The spread of some measurements (zeros when there are none). */
export const spread = (values: ReadonlyArray<number>): Spread => {
  if (values.length === 0) return { count: 0, median: 0, min: 0, max: 0 }
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
  return { count: sorted.length, median, min: sorted[0]!, max: sorted[sorted.length - 1]! }
}

/** How one child went, as seen from here. */
interface ChildRun {
  readonly figures: ChildFigures | undefined
  readonly loopEmptiedMs: number | undefined
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stderr: string
  readonly processMs: number
  readonly lingerMs: number | undefined
}

const runChild = (settings: LifecycleSettings): Promise<ChildRun> =>
  new Promise((resolve) => {
    const spawned = performance.now()
    const child = spawn(
      process.execPath,
      ["--no-warnings", childScript, "--aborts", String(settings.aborts), "--uploads", String(settings.uploads)],
      { stdio: ["ignore", "pipe", "pipe"] }
    )
    let stdout = ""
    let stderr = ""
    let printedAt: number | undefined
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8")
      if (printedAt === undefined && stdout.includes("\n")) printedAt = performance.now()
    })
    child.stderr.on("data", (chunk: Buffer) => void (stderr += chunk.toString("utf8")))
    // Only a child that never ends is killed (and reported failed).
    const deadline = setTimeout(() => child.kill("SIGKILL"), 120_000)
    child.on("exit", (code, signal) => {
      const exited = performance.now()
      clearTimeout(deadline)
      const [figures, emptied] = stdout.split("\n").map((line) => {
        try {
          return JSON.parse(line) as unknown
        } catch {
          return undefined
        }
      })
      resolve({
        figures: figures as ChildFigures | undefined,
        loopEmptiedMs: (emptied as { loopEmptiedMs?: number } | undefined)?.loopEmptiedMs,
        code,
        signal,
        stderr,
        processMs: exited - spawned,
        lingerMs: printedAt === undefined ? undefined : exited - printedAt
      })
    })
  })

const abortSpread = (timings: ReadonlyArray<AbortTiming>): AbortSpread => ({
  returnedMs: spread(timings.map((t) => t.returnedMs)),
  seenMs: spread(timings.map((t) => t.seenMs))
})

/** Benchmark 10. */
export const run = async (settings: LifecycleSettings = defaults): Promise<LifecycleFigures> => {
  const runs: Array<ChildRun> = []
  for (let i = 0; i < settings.processes; i++) runs.push(await runChild(settings))
  const ok = runs.filter((r) => r.figures !== undefined && r.code === 0 && r.signal === null)
  const failures = runs.filter((r) => !ok.includes(r)).map((r) =>
    `exit ${r.code ?? r.signal}: ${r.stderr.trim().split("\n")[0] ?? ""}`
  )
  const figures = ok.map((r) => r.figures!)
  return {
    settings,
    exitedByThemselves: ok.length,
    failures,
    loadedMs: spread(figures.map((f) => f.loadedMs)),
    startupMs: spread(figures.map((f) => f.startupMs)),
    secondStartupMs: spread(figures.map((f) => f.secondStartupMs)),
    runMs: spread(figures.map((f) => f.runMs)),
    releaseMs: spread(figures.map((f) => f.releaseMs)),
    loopEmptiedMs: spread(ok.flatMap((r) => (r.loopEmptiedMs === undefined ? [] : [r.loopEmptiedMs]))),
    lingerMs: spread(ok.flatMap((r) => (r.lingerMs === undefined ? [] : [r.lingerMs]))),
    processMs: spread(ok.map((r) => r.processMs)),
    runtimeAbort: abortSpread(figures.flatMap((f) => f.runtime)),
    controlPlaneAbort: abortSpread(figures.flatMap((f) => f.controlPlane)),
    uploadAbort: abortSpread(figures.flatMap((f) => f.upload))
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      processes: { type: "string", default: String(defaults.processes) },
      aborts: { type: "string", default: String(defaults.aborts) },
      uploads: { type: "string", default: String(defaults.uploads) }
    }
  })
  const figures = await run({
    processes: Number(values.processes),
    aborts: Number(values.aborts),
    uploads: Number(values.uploads)
  })
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`)
}
