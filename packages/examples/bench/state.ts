/**
 * Benchmark 8: the run state at a million records — how big it is, how fast the engine builds
 * it, what a resume and a `status` of it cost. Each step runs in a process of its own
 * (`state-child.ts`), so its wall time and peak RSS are its own.
 *
 * 1. Build: `BatchRunner.run` over 1,000,000 records (small bodies, answers of about 200
 *    characters, 1% failed) on the simulated batch service in real time (jobs of 50,000
 *    records that end as soon as they are checked), with `RunState` = `RunStore.makeState`
 *    over the embedded SQLite store (`EmbeddedState.layer`) in a scratch directory (in
 *    `/dev/shm` when it has room, as the other benchmarks; `--dir` to put it on a disk);
 *    each record is also a chunk of the run's manifest (50 per document). Then the size of
 *    the state (`state.db` and its WAL) per record.
 * 2. Resume: in a fresh process, `BatchRunner.run` again over the same records, same run id
 *    and store: every record has an outcome, so each is looked up and passed through (the
 *    simulated service must see no create). Wall time and peak RSS; the same for a state of
 *    100,000 records, and the ratio of the peaks (memory must not grow with the records).
 * 3. Written: every chunk recorded written (`RunStore.recordWritten`: answers cleared, chunks
 *    extracted or failed), then `VACUUM`: the size per record of what a finished run keeps.
 * 4. Status: in a fresh process, `batch-extract status <run> --out <dir> --json` (the CLI
 *    itself, read-only store): wall time from spawn to exit, and peak RSS; and the same
 *    queries alone (`RunStore.getRun`, `stageTotals`, `manifestCounts`, `jobsOf`,
 *    `failedChunksByDocument`, `skippedDocuments`).
 *
 * Runs alone too: `node packages/examples/bench/state.ts [--records N] [--small N] [--dir D]`
 * prints the figures as JSON.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { scratch } from "./measure.ts"

/** The run id and stage of the benchmark's run. */
export const runId = "state-bench"
export const stage = "propositions"

/** Chunks per document (about the State of the Union corpus's average with 256-token chunks). */
export const chunksPerDocument = 50

/** The share of records the simulated service answers with an error (no retry). */
export const failureRate = 0.01

/** What benchmark 8 measured. */
export interface StateFigures {
  readonly records: number
  readonly chunksPerDocument: number
  /** Share of records the simulated service failed. */
  readonly failureRate: number
  readonly build: {
    readonly seconds: number
    readonly recordsPerSecond: number
    readonly jobs: number
    readonly failedRecords: number
    readonly peakRssMiB: number
  }
  /** `state.db` + `state.db-wal` after the build, per record. */
  readonly bytesPerRecord: number
  /** The same once every chunk is recorded written (answers cleared) and the file vacuumed. */
  readonly bytesPerRecordAfterWrite: number
  /** The same before the `VACUUM` (SQLite keeps the freed pages for later rows). */
  readonly bytesPerRecordAfterWriteBeforeVacuum: number
  readonly written: {
    /** `RunStore.recordWritten` of every chunk, 200 at a time. */
    readonly seconds: number
    readonly vacuumSeconds: number
  }
  readonly resume: ResumeRun & {
    readonly recordsPerSecond: number
    /** Peak RSS of the resume at `records` over that at `resume100k.records`. */
    readonly rssRatio: number
  }
  readonly resume100k: ResumeRun
  readonly status: {
    /** `batch-extract status --json`, spawn to exit ("RunStore": the queries alone, when the command failed). */
    readonly via: "cli" | "RunStore"
    readonly seconds: number
    readonly peakRssMiB: number
    /** The command's queries alone, in a process of their own (from opening the store to the figures). */
    readonly querySeconds: number
    readonly queryPeakRssMiB: number
  }
}

/** One resume. */
export interface ResumeRun {
  readonly records: number
  /** The engine run, from opening the store to closing it (the process's start not included). */
  readonly seconds: number
  /** RSS once everything is loaded, before the run. */
  readonly baselineRssMiB: number
  readonly peakRssMiB: number
}

interface ChildResult {
  readonly seconds: number
  readonly baselineRssMiB: number
  readonly peakRssMiB: number
  readonly [key: string]: unknown
}

const child = fileURLToPath(new URL("./state-child.ts", import.meta.url))
const quiet = "--disable-warning=ExperimentalWarning"

/** Run one step in a process of its own; returns its JSON line and the wall time from spawn to exit. */
const step = (mode: string, out: string, records: number): ChildResult & { readonly processSeconds: number } => {
  const start = performance.now()
  const stdout = execFileSync(
    process.execPath,
    [quiet, child, "--mode", mode, "--out", out, "--records", String(records)],
    { encoding: "utf8", maxBuffer: 16 * 1_048_576, stdio: ["ignore", "pipe", "inherit"] }
  )
  const processSeconds = (performance.now() - start) / 1000
  const lines = stdout.trim().split("\n")
  return { ...(JSON.parse(lines[lines.length - 1]!) as ChildResult), processSeconds }
}

/** `batch-extract status state-bench --out <out> --json`, checked; `undefined` when the command failed. */
const statusCommand = (out: string, records: number) => {
  const figuresFile = path.join(out, "status-figures.json")
  const start = performance.now()
  try {
    const stdout = execFileSync(
      process.execPath,
      [child, "--mode", "cli", "--figures", figuresFile, "--", "status", runId, "--out", out, "--json"],
      { encoding: "utf8", maxBuffer: 64 * 1_048_576, stdio: ["ignore", "pipe", "pipe"] }
    )
    const seconds = (performance.now() - start) / 1000
    const status = JSON.parse(stdout) as { chunks: { total: number } }
    if (status.chunks.total !== records) throw new Error(`status counted ${status.chunks.total} chunks, not ${records}`)
    const figures = JSON.parse(fs.readFileSync(figuresFile, "utf8")) as { exitCode: number; peakRssMiB: number }
    return { seconds, peakRssMiB: figures.peakRssMiB }
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? ""
    process.stderr.write(
      `batch-extract status failed (${String(error).split("\n")[0]}); reporting the queries alone\n${stderr}`
    )
    return undefined
  }
}

/** The sizes of a store's files (the database and its WAL), in bytes. */
const storeSize = (out: string) => {
  const db = path.join(out, ".batch-extract", "state", "state.db")
  const size = (file: string) => (fs.existsSync(file) ? fs.statSync(file).size : 0)
  return size(db) + size(`${db}-wal`)
}

/** Benchmark 8. */
export const run = (
  options: { readonly records?: number; readonly smallRecords?: number; readonly dir?: string | undefined } = {},
  progress: (message: string) => void = () => {}
): StateFigures => {
  const records = options.records ?? 1_000_000
  const smallRecords = options.smallRecords ?? 100_000
  const dir = options.dir === undefined
    ? scratch("batch-extract-bench-state-")
    : fs.mkdtempSync(path.join(options.dir, "batch-extract-bench-state-"))
  try {
    const resumeOf = (result: ChildResult, n: number): ResumeRun => ({
      records: n,
      seconds: result.seconds,
      baselineRssMiB: result.baselineRssMiB,
      peakRssMiB: result.peakRssMiB
    })

    progress(`  state of ${smallRecords.toLocaleString("en-US")} records: build, resume`)
    const small = path.join(dir, "small")
    step("build", small, smallRecords)
    const resumeSmall = resumeOf(step("resume", small, smallRecords), smallRecords)
    fs.rmSync(small, { recursive: true, force: true })

    const large = path.join(dir, "large")
    progress(`  state of ${records.toLocaleString("en-US")} records: build`)
    const build = step("build", large, records)
    const builtBytes = storeSize(large)
    progress("  resume")
    const resumeLarge = resumeOf(step("resume", large, records), records)
    progress("  every chunk written, VACUUM")
    const written = step("written", large, records)
    const writtenBytes = storeSize(large)
    const beforeVacuum = written.beforeVacuum as { dbBytes: number; walBytes: number }
    progress("  status")
    const queries = step("status", large, records)
    const command = statusCommand(large, records)

    return {
      records,
      chunksPerDocument,
      failureRate,
      build: {
        seconds: build.seconds,
        recordsPerSecond: records / build.seconds,
        jobs: build.jobsCreated as number,
        failedRecords: records - (build.succeeded as number),
        peakRssMiB: build.peakRssMiB
      },
      bytesPerRecord: builtBytes / records,
      bytesPerRecordAfterWrite: writtenBytes / records,
      bytesPerRecordAfterWriteBeforeVacuum: (beforeVacuum.dbBytes + beforeVacuum.walBytes) / records,
      written: { seconds: written.recordSeconds as number, vacuumSeconds: written.vacuumSeconds as number },
      resume: {
        ...resumeLarge,
        recordsPerSecond: records / resumeLarge.seconds,
        rssRatio: resumeLarge.peakRssMiB / resumeSmall.peakRssMiB
      },
      resume100k: resumeSmall,
      status: {
        via: command === undefined ? "RunStore" : "cli",
        seconds: command?.seconds ?? queries.processSeconds,
        peakRssMiB: command?.peakRssMiB ?? queries.peakRssMiB,
        querySeconds: queries.seconds,
        queryPeakRssMiB: queries.peakRssMiB
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      records: { type: "string", default: "1000000" },
      small: { type: "string", default: "100000" },
      dir: { type: "string" }
    }
  })
  const started = performance.now()
  const figures = run(
    { records: Number(values.records), smallRecords: Number(values.small), dir: values.dir },
    (message) =>
      process.stderr.write(`[state ${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s] ${message}\n`)
  )
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`)
}
