/**
 * Benchmark 3: memory scaling. Peak RSS of an end-to-end run (`Extraction.extract` on the
 * simulated service, disk-backed store) at N and at 10·N chunks, each in a process of its own
 * (`memory-child.ts`). If memory is bounded by what is in flight (jobs being packed, staged,
 * awaited and read, and the chunks between the two stages), the ratio stays near 1.
 */
import type { Chunker } from "@batch-extract/core"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** One run of the child. */
export interface MemoryRun {
  readonly chunks: number
  readonly extracted: number
  readonly records: number
  readonly jobs: number
  readonly batchShare: number
  readonly virtualSeconds: number
  readonly wallSeconds: number
  /** RSS once everything is loaded, before the run. */
  readonly baselineRssMiB: number
  readonly peakRssMiB: number
}

/** What benchmark 3 measured. */
export interface MemoryFigures {
  readonly maxBatchSize: number
  readonly small: MemoryRun
  readonly large: MemoryRun
  /** Peak RSS at 10·N over peak RSS at N. */
  readonly ratio: number
  /** The same, above the baseline (what the runs themselves added). */
  readonly ratioAboveBaseline: number
}

const child = fileURLToPath(new URL("./memory-child.ts", import.meta.url))

/** Benchmark 3. */
export const run = (pool: ReadonlyArray<Chunker.Chunk>, chunks: number, maxBatchSize = 500): MemoryFigures => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "batch-extract-bench-memory-"))
  try {
    const poolFile = path.join(dir, "pool.json")
    fs.writeFileSync(poolFile, JSON.stringify(pool.map((chunk) => ({ text: chunk.text, metadata: chunk.metadata }))))
    const runOnce = (n: number): MemoryRun => {
      const store = path.join(dir, `store-${n}`)
      const out = execFileSync(
        process.execPath,
        [child, "--chunks", String(n), "--pool", poolFile, "--dir", store, "--max-batch-size", String(maxBatchSize)],
        { encoding: "utf8", maxBuffer: 16 * 1_048_576, stdio: ["ignore", "pipe", "inherit"] }
      )
      fs.rmSync(store, { recursive: true, force: true })
      const lines = out.trim().split("\n")
      return JSON.parse(lines[lines.length - 1]!) as MemoryRun
    }
    const small = runOnce(chunks)
    const large = runOnce(chunks * 10)
    return {
      maxBatchSize,
      small,
      large,
      ratio: large.peakRssMiB / small.peakRssMiB,
      ratioAboveBaseline: (large.peakRssMiB - large.baselineRssMiB) / (small.peakRssMiB - small.baselineRssMiB)
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
