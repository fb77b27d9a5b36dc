/**
 * `npm run bench`: batch-extract's benchmarks, measured in one run on this machine.
 *
 * Prints a table (or, with `--json`, one JSON object of every figure). Progress goes to
 * stderr, so `--json` output can be piped (`npm run -s bench -- --json`); `--out <file>`
 * also writes the JSON object to a file. See BENCHMARKS.md for what each figure means.
 *
 * Usage: node packages/examples/bench/main.ts [--json] [--out figures.json]
 */
import * as fs from "node:fs"
import * as os from "node:os"
import { parseArgs } from "node:util"
import * as BatchShare from "./batchShare.ts"
import * as Chunking from "./chunking.ts"
import * as Makespan from "./makespan.ts"
import { scratch } from "./measure.ts"
import * as Memory from "./memory.ts"
import * as Polling from "./polling.ts"
import * as State from "./state.ts"
import * as Table from "./table.ts"
import * as Throughput from "./throughput.ts"

const { values } = parseArgs({
  options: { json: { type: "boolean", default: false }, out: { type: "string" } }
})

/** The sizes of the run (fixed, so figures compare across runs and machines). */
export const sizes = {
  throughputRecords: 200_000,
  memoryChunks: 20_000,
  memoryMaxBatchSize: 500,
  makespanChunks: 500_000,
  pollingJobSeconds: [600, 3_600, 21_600],
  batchShareChunks: [50, 150, 1_000, 100_000],
  stateRecords: 1_000_000,
  stateSmallRecords: 100_000
} as const

const started = performance.now()
const progress = (message: string) =>
  process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s] ${message}\n`)

const machine = {
  cpu: os.cpus()[0]?.model ?? "unknown",
  cores: os.availableParallelism(),
  memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
  node: process.version,
  platform: `${os.platform()} ${os.release()}`
}

progress(`machine: ${machine.cores} × ${machine.cpu}, ${machine.memoryGiB} GiB, Node ${machine.node}`)
progress("7. chunking and parsing (State of the Union addresses)")
const chunking = Chunking.run()

const dir = scratch()
let staging: Throughput.Throughput
let output: Throughput.Throughput
try {
  progress(`1. staging throughput (${sizes.throughputRecords} records, in ${dir})`)
  staging = await Throughput.staging(chunking.pool, sizes.throughputRecords, dir)
  progress(`2. output throughput (${sizes.throughputRecords} records)`)
  output = await Throughput.output(chunking.pool, sizes.throughputRecords, dir)
} finally {
  fs.rmSync(dir, { recursive: true, force: true })
}

progress(`3. memory scaling (${sizes.memoryChunks} and ${sizes.memoryChunks * 10} chunks, a process each)`)
const memory = Memory.run(chunking.pool, sizes.memoryChunks, sizes.memoryMaxBatchSize)

progress(`4. makespan (${sizes.makespanChunks} chunks, two stages, simulated time)`)
const makespan = await Makespan.run({
  chunks: sizes.makespanChunks,
  chunksPerDocument: chunking.chunksPerDocument,
  quota: 10,
  submittedSeconds: 60,
  validatingSeconds: 240,
  scheduledSeconds: 600,
  secondsPerRecord: 0.2,
  maxRecordsPerJob: 50_000
})

progress("5. polling cost (10-minute, 1-hour and 6-hour jobs, simulated time)")
const polling = await Polling.run(sizes.pollingJobSeconds)

progress("6. batch share (50, 150, 1,000 and 100,000 chunks)")
const batchShare = await BatchShare.run(sizes.batchShareChunks, chunking.chunksPerDocument)

progress(
  `8. run state (${sizes.stateRecords.toLocaleString("en-US")} records in SQLite: build, resume, written, status; ` +
    `a process each)`
)
const state = State.run({ records: sizes.stateRecords, smallRecords: sizes.stateSmallRecords }, progress)

const { pool: _pool, chunksPerDocument: _sizes, ...chunkingFigures } = chunking
const figures = {
  machine,
  wallSeconds: (performance.now() - started) / 1000,
  staging,
  output,
  memory,
  makespan,
  polling,
  batchShare,
  chunking: chunkingFigures,
  state
}
progress(`done in ${figures.wallSeconds.toFixed(0)} s`)

if (values.out !== undefined) fs.writeFileSync(values.out, `${JSON.stringify(figures, null, 2)}\n`)
process.stdout.write(values.json ? `${JSON.stringify(figures, null, 2)}\n` : `${Table.render(figures)}\n`)
