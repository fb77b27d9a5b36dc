/**
 * `npm run bench`: batch-extract's benchmarks, measured in one run on this machine.
 *
 * Prints a table (or, with `--json`, one JSON object of every figure). Progress goes to
 * stderr, so `--json` output can be piped (`npm run -s bench -- --json`); `--out <file>`
 * also writes the JSON object to a file. See BENCHMARKS.md for what each figure means.
 *
 * Names (or numbers) run only those benchmarks, e.g. `node packages/examples/bench/main.ts
 * workers` or `… 8 9`: chunking, staging, output, memory, makespan, polling, batch-share,
 * state, workers, local-lifecycle, embeddings (7, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11). Chunking
 * (7) also runs when a benchmark needs its chunks (1 to 4, 6 and 11). The table then has
 * those rows only.
 *
 * Usage: node packages/examples/bench/main.ts [--json] [--out figures.json] [name|number ...]
 */
import * as fs from "node:fs"
import * as os from "node:os"
import { parseArgs } from "node:util"
import * as BatchShare from "./batchShare.ts"
import * as Chunking from "./chunking.ts"
import * as Embeddings from "./embeddings.ts"
import * as Lifecycle from "./lifecycle.ts"
import * as Makespan from "./makespan.ts"
import { scratch } from "./measure.ts"
import * as Memory from "./memory.ts"
import * as Polling from "./polling.ts"
import * as State from "./state.ts"
import * as Table from "./table.ts"
import * as Throughput from "./throughput.ts"
import * as Workers from "./workers.ts"

const { positionals, values } = parseArgs({
  options: { json: { type: "boolean", default: false }, out: { type: "string" } },
  allowPositionals: true
})

/** The benchmarks by name, with their numbers. */
const benchmarks = {
  staging: 1,
  output: 2,
  memory: 3,
  makespan: 4,
  polling: 5,
  "batch-share": 6,
  chunking: 7,
  state: 8,
  workers: 9,
  "local-lifecycle": 10,
  embeddings: 11
} as const
type Benchmark = keyof typeof benchmarks

const nameOf = (arg: string): Benchmark => {
  const found = (Object.keys(benchmarks) as Array<Benchmark>).find((name) =>
    name === arg || String(benchmarks[name]) === arg
  )
  if (found === undefined) {
    process.stderr.write(`unknown benchmark "${arg}"; one of ${Object.keys(benchmarks).join(", ")} (or 1 to 11)\n`)
    process.exit(2)
  }
  return found
}
const chosen = new Set(positionals.map(nameOf))
const selected = (name: Benchmark) => chosen.size === 0 || chosen.has(name)

/** The sizes of the run (fixed, so figures compare across runs and machines). */
export const sizes = {
  throughputRecords: 100_000,
  memoryChunks: 20_000,
  memoryMaxBatchSize: 500,
  makespanChunks: 500_000,
  pollingJobSeconds: [600, 3_600, 21_600],
  batchShareChunks: [50, 150, 1_000, 100_000],
  stateRecords: 1_000_000,
  stateSmallRecords: 100_000,
  workers: Workers.defaults,
  lifecycle: Lifecycle.defaults,
  embeddingRecords: 20_000
} as const

const started = performance.now()
const progress = (message: string) =>
  process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s] ${message}\n`)

/** Wall seconds of each benchmark that ran, by name. */
const seconds: Partial<Record<Benchmark, number>> = {}
const timed = async <A>(name: Benchmark, f: () => Promise<A> | A): Promise<A> => {
  const start = performance.now()
  const result = await f()
  seconds[name] = (performance.now() - start) / 1000
  return result
}

const machine = {
  cpu: os.cpus()[0]?.model ?? "unknown",
  cores: os.availableParallelism(),
  memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
  node: process.version,
  platform: `${os.platform()} ${os.release()}`
}

progress(`machine: ${machine.cores} × ${machine.cpu}, ${machine.memoryGiB} GiB, Node ${machine.node}`)
const needsChunks = (["staging", "output", "memory", "makespan", "batch-share", "chunking", "embeddings"] as const)
  .some(selected)
let chunking: Chunking.ChunkingFigures | undefined
if (needsChunks) {
  progress("7. chunking and parsing (State of the Union addresses)")
  chunking = await timed("chunking", () => Chunking.run())
}

let staging: Throughput.Throughput | undefined
let output: Throughput.Throughput | undefined
if (selected("staging") || selected("output")) {
  const dir = scratch()
  try {
    if (selected("staging")) {
      progress(`1. staging throughput (${sizes.throughputRecords} records, in ${dir})`)
      staging = await timed("staging", () => Throughput.staging(chunking!.pool, sizes.throughputRecords, dir))
    }
    if (selected("output")) {
      progress(`2. output throughput (${sizes.throughputRecords} records)`)
      output = await timed("output", () => Throughput.output(chunking!.pool, sizes.throughputRecords, dir))
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

let memory: Memory.MemoryFigures | undefined
if (selected("memory")) {
  progress(`3. memory scaling (${sizes.memoryChunks} and ${sizes.memoryChunks * 10} chunks, a process each)`)
  memory = await timed("memory", () => Memory.run(chunking!.pool, sizes.memoryChunks, sizes.memoryMaxBatchSize))
}

let makespan: Makespan.MakespanFigures | undefined
if (selected("makespan")) {
  progress(`4. makespan (${sizes.makespanChunks} chunks, two stages, simulated time)`)
  makespan = await timed("makespan", () =>
    Makespan.run({
      chunks: sizes.makespanChunks,
      chunksPerDocument: chunking!.chunksPerDocument,
      quota: 10,
      submittedSeconds: 60,
      validatingSeconds: 240,
      scheduledSeconds: 600,
      secondsPerRecord: 0.2,
      maxRecordsPerJob: 50_000
    }))
}

let polling: ReadonlyArray<Polling.PollingRow> | undefined
if (selected("polling")) {
  progress("5. polling cost (10-minute, 1-hour and 6-hour jobs, simulated time)")
  polling = await timed("polling", () => Polling.run(sizes.pollingJobSeconds))
}

let batchShare: ReadonlyArray<BatchShare.BatchShareRow> | undefined
if (selected("batch-share")) {
  progress("6. batch share (50, 150, 1,000 and 100,000 chunks)")
  batchShare = await timed("batch-share", () => BatchShare.run(sizes.batchShareChunks, chunking!.chunksPerDocument))
}

let state: State.StateFigures | undefined
if (selected("state")) {
  progress(
    `8. run state (${sizes.stateRecords.toLocaleString("en-US")} records in SQLite: build, resume, written, status; ` +
      `a process each)`
  )
  state = await timed(
    "state",
    () => State.run({ records: sizes.stateRecords, smallRecords: sizes.stateSmallRecords }, progress)
  )
}

let workers: Workers.WorkersFigures | undefined
if (selected("workers")) {
  const w = sizes.workers
  progress(
    `9. workers (${w.workerCounts.join(", ")} workers on one PostgreSQL, ${w.documents} addresses, ` +
      `quota ${w.quota} jobs of ${w.jobSeconds} s; takeover with --takeover-seconds ${w.takeoverSeconds}; processes)`
  )
  workers = await timed("workers", () => Workers.run(sizes.workers, progress))
  if (workers._tag === "Skipped") progress(`9. workers: skipped: ${workers.reason}`)
  if (workers._tag === "Failed") progress(`9. workers: failed: ${workers.error}`)
}

let lifecycle: Lifecycle.LifecycleFigures | undefined
if (selected("local-lifecycle")) {
  const l = sizes.lifecycle
  progress(
    `10. local lifecycle (${l.processes} processes: start the local emulation, a job, ${l.aborts} + ${l.aborts} ` +
      `interrupted calls and ${l.uploads} interrupted uploads, release, exit)`
  )
  lifecycle = await timed("local-lifecycle", () => Lifecycle.run(sizes.lifecycle))
  for (const failure of lifecycle.failures) progress(`10. local lifecycle: a process failed: ${failure}`)
}

let embeddings: Embeddings.EmbeddingsFigures | undefined
if (selected("embeddings")) {
  const dir = scratch()
  progress(
    `11. embeddings (${sizes.embeddingRecords.toLocaleString("en-US")} Titan Text Embeddings V2 records: ` +
      `staging and output, in ${dir})`
  )
  try {
    embeddings = await timed("embeddings", () => Embeddings.run(chunking!.pool, sizes.embeddingRecords, dir))
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const chunkingFigures = (() => {
  if (chunking === undefined) return undefined
  const { pool: _pool, chunksPerDocument: _sizes, ...figures } = chunking
  return figures
})()
const figures: Table.Figures = {
  machine,
  wallSeconds: (performance.now() - started) / 1000,
  seconds,
  staging,
  output,
  memory,
  makespan,
  polling,
  batchShare,
  chunking: chunkingFigures,
  state,
  workers,
  lifecycle,
  embeddings
}
progress(`done in ${figures.wallSeconds.toFixed(0)} s`)

if (values.out !== undefined) fs.writeFileSync(values.out, `${JSON.stringify(figures, null, 2)}\n`)
process.stdout.write(values.json ? `${JSON.stringify(figures, null, 2)}\n` : `${Table.render(figures)}\n`)
