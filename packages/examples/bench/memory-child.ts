/**
 * One end-to-end run for benchmark 3, in a process of its own so its peak RSS is its own:
 * `Extraction.extract` (documents → chunks → propositions → topics → extracted chunks, both
 * stages as batch jobs on the simulated service, in virtual time) over `--chunks` documents of
 * one chunk each (chunking `none`: the chunk texts are real 256-token chunks of the corpus),
 * with a disk-backed object store. Prints one JSON line.
 *
 * Usage: node memory-child.ts --chunks N --pool pool.json --dir <store dir> [--max-batch-size 500]
 *
 * Diagnostics (stderr): `BENCH_TRACE=1` with `--expose-gc` prints the live heap after a full
 * collection every 10,000 chunks; `BENCH_PEAK=1` prints the heap and external memory at the
 * largest RSS sampled (every 500 chunks).
 */
import { Document, Extraction, RunSummary } from "@batch-extract/core"
import { Effect, Stream } from "effect"
import * as fs from "node:fs"
import { parseArgs } from "node:util"
import * as DiskObjectStore from "./DiskObjectStore.ts"
import { peakRssMiB } from "./measure.ts"
import { configOf, makeSimEnv, nowSeconds, runVirtual } from "./simulation.ts"

const { values } = parseArgs({
  options: {
    chunks: { type: "string" },
    pool: { type: "string" },
    dir: { type: "string" },
    "max-batch-size": { type: "string", default: "500" }
  }
})
const chunks = Number(values.chunks)
const pool = JSON.parse(fs.readFileSync(values.pool!, "utf8")) as Array<{ text: string; metadata: Document.Metadata }>
const store = DiskObjectStore.make(values.dir!)
// Everything loaded (the library, the tokenizer tables, the pool): the floor of this process.
const baselineRssMiB = peakRssMiB()

const traceLiveHeap = (extracted: number) => {
  ;(globalThis as { gc?: () => void }).gc?.()
  const usage = process.memoryUsage()
  const mib = (bytes: number) => (bytes / 1_048_576).toFixed(0)
  process.stderr.write(`${extracted} chunks: rss ${mib(usage.rss)} MiB, live heap ${mib(usage.heapUsed)} MiB\n`)
}

let peakSample = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }
const samplePeak = () => {
  const usage = process.memoryUsage()
  if (usage.rss > peakSample.rss) peakSample = usage
}
process.on("exit", () => {
  if (process.env.BENCH_PEAK === undefined) return
  const mib = (bytes: number) => (bytes / 1_048_576).toFixed(0)
  const { rss, heapTotal, heapUsed, external, arrayBuffers } = peakSample
  process.stderr.write(
    `largest sampled rss ${mib(rss)} MiB: heap ${mib(heapUsed)}/${mib(heapTotal)}, external ${mib(external)}, buffers ${
      mib(arrayBuffers)
    }\n`
  )
})

const start = performance.now()
const result = await runVirtual(Effect.gen(function*() {
  // Small jobs, so that even the smaller run fills every job slot: what is in flight is then
  // the same at both sizes, and only growth with the corpus would show.
  const batch = yield* configOf({ maxBatchSize: Number(values["max-batch-size"]), maxConcurrentJobs: 10 })
  const extraction = yield* Extraction.decodeConfig({ chunking: "none" }).pipe(Effect.orDie)
  const env = yield* makeSimEnv({ sim: { quotas: { maxConcurrentJobs: 10 } }, slots: 10, store })
  const documents = Stream.range(0, chunks - 1).pipe(
    Stream.map((i) => {
      const chunk = pool[i % pool.length]!
      return Document.make(chunk.text, { metadata: { ...chunk.metadata, part: i } })
    })
  )
  let extracted = 0
  let statements = 0
  const [, summary] = yield* RunSummary.collect(
    Stream.runForEach(
      Extraction.extract(documents, { batch, extraction, runId: "memory" }),
      (chunk) =>
        Effect.sync(() => {
          extracted++
          // BENCH_TRACE=1 (with --expose-gc): live heap after a full collection every 10,000 chunks.
          if (process.env.BENCH_TRACE !== undefined && extracted % 10_000 === 0) traceLiveHeap(extracted)
          if (process.env.BENCH_PEAK !== undefined && extracted % 500 === 0) samplePeak()
          statements += Extraction.countsOf(chunk).statements
        })
    )
  ).pipe(Effect.provide(env.layer), Effect.orDie)
  return { extracted, statements, summary, virtualSeconds: yield* nowSeconds }
}))

process.stdout.write(
  `${
    JSON.stringify({
      chunks,
      extracted: result.extracted,
      statements: result.statements,
      records: result.summary.records.succeeded + result.summary.records.failed,
      batchShare: result.summary.batchShare,
      jobs: result.summary.jobs.total,
      virtualSeconds: result.virtualSeconds,
      wallSeconds: (performance.now() - start) / 1000,
      baselineRssMiB,
      peakRssMiB: peakRssMiB()
    })
  }\n`
)
