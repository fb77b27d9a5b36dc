/**
 * The benchmark table: every figure of a run, one row each, with its target and whether the
 * run met it (markdown, so BENCHMARKS.md can hold it as printed).
 */
import type { BatchShareRow } from "./batchShare.ts"
import type { ChunkingFigures } from "./chunking.ts"
import type { EmbeddingsFigures } from "./embeddings.ts"
import type { LifecycleFigures, Spread } from "./lifecycle.ts"
import type { MakespanFigures } from "./makespan.ts"
import type { MemoryFigures } from "./memory.ts"
import type { PollingRow } from "./polling.ts"
import type { StateFigures } from "./state.ts"
import type { Throughput } from "./throughput.ts"
import type { WorkersFigures } from "./workers.ts"

/** Everything a run measured (a benchmark that did not run is absent). */
export interface Figures {
  readonly machine: {
    readonly cpu: string
    readonly cores: number
    readonly memoryGiB: number
    readonly node: string
    readonly platform: string
  }
  readonly wallSeconds: number
  /** Wall seconds of each benchmark that ran, by name. */
  readonly seconds: Readonly<Record<string, number>>
  readonly staging: Throughput | undefined
  readonly output: Throughput | undefined
  readonly memory: MemoryFigures | undefined
  readonly makespan: MakespanFigures | undefined
  readonly polling: ReadonlyArray<PollingRow> | undefined
  readonly batchShare: ReadonlyArray<BatchShareRow> | undefined
  readonly chunking: Omit<ChunkingFigures, "pool" | "chunksPerDocument"> | undefined
  readonly state: StateFigures | undefined
  readonly workers: WorkersFigures | undefined
  readonly lifecycle: LifecycleFigures | undefined
  readonly embeddings: EmbeddingsFigures | undefined
}

const int = (n: number) => Math.round(n).toLocaleString("en-US")
const fixed = (n: number, digits: number) => n.toFixed(digits)
const percent = (share: number) => `${(share * 100).toFixed(share === 1 || share === 0 ? 0 : 1)}%`
const mb = (bytes: number) => `${int(bytes / 1_000_000)} MB`
const hours = (seconds: number) => `${int(seconds)} s (${fixed(seconds / 3600, 1)} h)`
const duration = (seconds: number) =>
  seconds >= 3600 ? `${seconds / 3600} h` : seconds >= 60 ? `${seconds / 60} min` : `${seconds} s`
const mark = (ok: boolean) => (ok ? "met" : "**missed**")

const seconds = (n: number) => `${fixed(n, 1)} s`
const listed = (values: ReadonlyArray<string>) => values.join(", ")
const sum = (values: ReadonlyArray<number>) => values.reduce((n, v) => n + v, 0)

const ms = (n: number) => `${n >= 100 ? int(n) : fixed(n, 1)} ms`
/** A spread as "median (min–max)". */
const spreadOf = (s: Spread) => `${ms(s.median)} (${ms(s.min)}–${ms(s.max)})`

/** The rows of benchmark 10: start and exit, and the aborts. */
const lifecycleRows = (
  l: LifecycleFigures | undefined,
  add: (what: string, figure: string, target: string, status: string) => void
) => {
  if (l === undefined) return
  const { processes } = l.settings
  add(
    "10. Local lifecycle: start and exit",
    [
      `\`LocalBackend.layer\` built in **${ms(l.startupMs.median)}** (${ms(l.startupMs.min)}–${
        ms(l.startupMs.max)
      }, the first in a process; a second one in the same process: ${spreadOf(l.secondStartupMs)})`,
      `released in ${spreadOf(l.releaseMs)}`,
      `the process ended by itself ${l.exitedByThemselves} of ${processes} times: its event loop empty ` +
      `**${ms(l.loopEmptiedMs.median)}** after its line (max ${ms(l.loopEmptiedMs.max)}), the process gone ` +
      `**${ms(l.lingerMs.median)}** after it (max ${ms(l.lingerMs.max)})`,
      `spawn to exit ${spreadOf(l.processMs)}, of which loading the library ${spreadOf(l.loadedMs)} and the run ` +
      `(a job, two runtime calls) ${spreadOf(l.runMs)}`
    ].join("; "),
    "start < 1 s; exit < 1 s after the release",
    mark(l.exitedByThemselves === processes && l.startupMs.median < 1_000 && l.lingerMs.max < 1_000)
  )
  const kinds = [
    ["a runtime call (HTTP/2)", l.runtimeAbort, "the emulator"],
    ["a control-plane call (HTTP/1.1)", l.controlPlaneAbort, "the emulator"],
    ["an upload (multipart)", l.uploadAbort, "the local S3 (`AbortMultipartUpload`)"]
  ] as const
  const slowest = Math.max(...kinds.map(([, spread]) => spread.seenMs.max))
  add(
    "10. Local lifecycle: aborts",
    kinds.map(([what, spread, service]) =>
      `${what}, ${spread.seenMs.count} times: returned ${spreadOf(spread.returnedMs)} after its interruption, ` +
      `the abort seen by ${service} after **${ms(spread.seenMs.median)}** (max ${ms(spread.seenMs.max)})`
    ).join("; "),
    "abort seen < 5 s (the emulator holds the calls 30 s)",
    mark(kinds.every(([, spread]) => spread.seenMs.count > 0) && slowest < 5_000)
  )
}

/** The rows of benchmark 9: one per configuration, and the takeover. */
const workersRows = (
  w: WorkersFigures | undefined,
  add: (what: string, figure: string, target: string, status: string) => void
) => {
  if (w === undefined) return
  if (w._tag === "Skipped") return add("9. Workers", `skipped: ${w.reason}`, "(reported)", "—")
  if (w._tag === "Failed") {
    return add("9. Workers", `failed: ${w.error.split("\n")[0]}`, "(reported)", "**failed**")
  }
  const { quota, jobSeconds } = w.settings
  for (const c of w.configurations) {
    const workers = c.perWorker
    const cpu = workers.map((worker) =>
      worker.runCpuSeconds === undefined || worker.cpuShare === undefined
        ? "n/a"
        : `${fixed(worker.runCpuSeconds, 1)} s (${percent(worker.cpuShare)})`
    )
    const idle = workers.flatMap((worker) => (worker.idleCpuPerSecond === undefined ? [] : [worker.idleCpuPerSecond]))
    add(
      `9. Workers, ${c.workers} worker${c.workers === 1 ? "" : "s"}`,
      [
        `makespan **${seconds(c.makespanSeconds)}** (submit → run finished; the submit ${seconds(c.submitSeconds)})`,
        `quota bound ⌈${c.jobsCreated} jobs ÷ ${quota}⌉ × ${jobSeconds} s = ${seconds(c.boundSeconds)}: ` +
        `**${fixed(c.ratioToBound, 2)}× the bound**`,
        `with the head (submit → first create) ${seconds(c.headSeconds)} and tail (last job end → finished) ` +
        `${seconds(c.tailSeconds)}: ${seconds(c.boundWithHeadTailSeconds)}, ${fixed(c.ratioToBoundWithHeadTail, 2)}×`,
        `jobs live ${seconds(c.meanJobLiveSeconds)} each, the quota ${percent(c.quotaUse)} busy from first create ` +
        "to last end",
        `CPU seconds per worker during the run: ${listed(cpu)}${
          idle.length === 0 ? "" : ` (a joined worker without a run: ${fixed(sum(idle) / idle.length, 2)} s/s)`
        }`,
        `parts: ${listed(workers.map((worker) => `${worker.parts} (${percent(worker.partShare)})`))}`,
        `files: ${listed(workers.map((worker) => `${worker.files} (${percent(worker.fileShare)})`))}`,
        `peak live jobs ${c.peakLiveJobs}, creates refused ${c.createsRefused}, jobs created ${c.jobsCreated}`,
        `${int(c.records.succeeded)} records succeeded (${int(c.records.failed)} failed, ${
          int(c.records.onDemand)
        } on demand), ${int(c.chunks)} chunks, exit ${c.exitCode ?? "none"}`
      ].join("; "),
      `live jobs ≤ ${quota}, no create refused`,
      mark(c.peakLiveJobs <= quota && c.createsRefused === 0 && c.exitCode === 0)
    )
  }
  const t = w.takeover
  if (t !== undefined) {
    const seen = t.parts.flatMap((part) => (part.seconds === undefined ? [] : [part.seconds]))
    add(
      "9. Workers: takeover",
      [
        `one of ${t.workers} workers SIGKILLed ${
          listed(t.parts.map((part) => `${seconds(part.extractingForSeconds)} into part ${part.part}`))
        } of a fresh run`,
        seen.length === 0
          ? "**no other worker started its parts again** within the wait"
          : `another worker started ${seen.length === 1 ? "it" : "them"} again **${seconds(Math.max(...seen))}** ` +
            `later (${
              listed(t.parts.map((part) => (part.seconds === undefined ? "not seen" : seconds(part.seconds))))
            })`,
        `\`--takeover-seconds ${t.settingSeconds}\``
      ].join("; "),
      "(reported)",
      "—"
    )
  }
}

/** The figures of a staging row (1, 11): rate, floor, ratios. */
const stagingFigures = (st: Throughput, detail = "") =>
  [
    `${int(st.recordsPerSecond)} records/s (${int(st.records)} records, ${mb(st.bytes)}${detail})`,
    `floor ${int(st.floorRecordsPerSecond)} records/s`,
    `**${fixed(st.ratio, 2)}× the floor** (CPU time ${fixed(st.cpuRatio, 2)}×)`,
    `${fixed(st.ratioToObligationsFloor, 2)}× the floor plus the engine's obligations ` +
    "(SHA-256 content hash, records of in-flight jobs kept)"
  ].join("; ")

/** The figures of an output row (2, 11): rate, floor, ratios. */
const outputFigures = (ou: Throughput) =>
  [
    `${int(ou.recordsPerSecond)} records/s (${int(ou.records)} records, ${mb(ou.bytes)})`,
    `floor ${int(ou.floorRecordsPerSecond)} records/s`,
    `**${fixed(ou.ratio, 2)}× the floor** (CPU time ${fixed(ou.cpuRatio, 2)}×)`,
    `${fixed(ou.ratioToObligationsFloor, 2)}× the floor plus the engine's obligation (every answer of the job kept ` +
    "until the file is read)"
  ].join("; ")

/** The table of a run. */
export const render = (f: Figures): string => {
  const rows: Array<[string, string, string, string]> = []
  const add = (what: string, figure: string, target: string, status: string) =>
    rows.push([what, figure, target, status])

  const st = f.staging
  if (st !== undefined) {
    add(
      "1. Staging (build, pack, stream JSONL)",
      stagingFigures(st),
      "≤ 1.5× the floor",
      mark(st.ratio <= 1.5)
    )
  }
  const ou = f.output
  if (ou !== undefined) {
    add(
      "2. Output (read, correlate, parse)",
      outputFigures(ou),
      "≤ 1.5× the floor",
      mark(ou.ratio <= 1.5)
    )
  }
  const m = f.memory
  if (m !== undefined) {
    add(
      "3. Memory (peak RSS, end to end)",
      `${int(m.small.chunks)} chunks: ${int(m.small.peakRssMiB)} MiB; ${int(m.large.chunks)} chunks: ${
        int(m.large.peakRssMiB)
      } MiB; **${fixed(m.ratio, 2)}×** (above the ${int(m.small.baselineRssMiB)} MiB baseline: ${
        fixed(m.ratioAboveBaseline, 2)
      }×)`,
      "< 1.3× for 10× the records",
      mark(m.ratio < 1.3)
    )
  }
  const s = f.makespan
  if (s !== undefined) {
    add(
      "4. Makespan (simulated)",
      [
        `${int(s.settings.chunks)} chunks = ${int(s.records)} records`,
        `batch-extract ${hours(s.engine.seconds)}`,
        `lower bound ${hours(s.lowerBoundSeconds)}`,
        `reference policy (2 workers) ${hours(s.reference.seconds)}`,
        `**${fixed(s.ratioToLowerBound, 3)}× the bound, ${fixed(s.speedup, 2)}× faster than the reference**`,
        `(reference with ${s.referenceQuotaWorkers.workers} workers: ${hours(s.referenceQuotaWorkers.seconds)})`
      ].join("; "),
      "≤ 1.1× the bound; ≥ 3× the reference",
      mark(s.ratioToLowerBound <= 1.1 && s.speedup >= 3)
    )
  }
  if (f.polling !== undefined) {
    for (const row of f.polling) {
      add(
        `5. Polling, ${duration(row.jobSeconds)} jobs`,
        `batch-extract ${fixed(row.engine.getCallsPerJob, 1)} checks/job, read ${
          int(row.engine.meanDelaySeconds)
        } s after the end (max ${int(row.engine.maxDelaySeconds)}); with pollMaxSeconds 60: ${
          fixed(row.engineCapped60.getCallsPerJob, 1)
        } checks, ${int(row.engineCapped60.meanDelaySeconds)} s (max ${
          int(row.engineCapped60.maxDelaySeconds)
        }); fixed 60 s: ${fixed(row.reference.getCallsPerJob, 1)} checks, ${
          int(row.reference.meanDelaySeconds)
        } s (max ${int(row.reference.maxDelaySeconds)})`,
        "(reported)",
        "—"
      )
    }
  }
  if (f.batchShare !== undefined) {
    for (const row of f.batchShare) {
      add(
        `6. Batch share, ${int(row.chunks)} chunks`,
        `batch-extract ${percent(row.engine)}; reference defaults (4 documents/round, 2 workers) ${
          percent(row.reference)
        }; reference with 1,000 documents/round ${percent(row.referenceDocsExample)} (${int(row.documents)} documents)`,
        row.chunks >= 100 ? "≥ 99.9%" : "(below Bedrock's 100-record minimum)",
        row.chunks >= 100 ? mark(row.engine >= 0.999) : "—"
      )
    }
  }
  const c = f.chunking
  if (c !== undefined) {
    add(
      "7. Chunking and parsing",
      `${int(c.chunksPerSecond)} chunks/s (${int(c.chunks)} chunks of ${c.documents} documents, ${mb(c.textBytes)}); ${
        int(c.propositionOutputsPerSecond)
      } proposition outputs/s; ${int(c.topicOutputsPerSecond)} topic outputs/s (${
        int(c.topicOutputBytes)
      } bytes each); one ${(c.longParagraph.bytes / 1_000_000).toFixed(1)} MB paragraph: ${
        int(c.longParagraph.chunks)
      } chunks in ${c.longParagraph.seconds.toFixed(2)} s`,
      "(reported)",
      "—"
    )
  }
  const r = f.state
  if (r !== undefined) {
    add(
      "8. Run state: build and size (SQLite)",
      [
        `${int(r.records)} records through \`BatchRunner.run\` into the embedded store in ${
          fixed(r.build.seconds, 1)
        } s ` +
        `(${int(r.build.recordsPerSecond)} records/s, ${r.build.jobs} jobs, ${int(r.build.failedRecords)} failed)`,
        `**${int(r.bytesPerRecord)} bytes/record** with the answers kept; ${int(r.bytesPerRecordAfterWrite)} ` +
        `once every chunk is written and the file vacuumed (${int(r.bytesPerRecordAfterWriteBeforeVacuum)} before ` +
        `the VACUUM; recording them written took ${fixed(r.written.seconds, 1)} s)`
      ].join("; "),
      "(reported)",
      "—"
    )
    add(
      "8. Run state: resume (peak RSS)",
      `${int(r.resume.records)} records looked up and passed through in ${fixed(r.resume.seconds, 1)} s (${
        int(r.resume.recordsPerSecond)
      } records/s), nothing sent; peak RSS ${int(r.resume100k.records)} records: ${int(r.resume100k.peakRssMiB)} MiB, ${
        int(r.resume.records)
      } records: ${int(r.resume.peakRssMiB)} MiB; **${fixed(r.resume.rssRatio, 2)}×** (${
        int(r.resume.baselineRssMiB)
      } MiB once loaded)`,
      "≤ 1.3× for 10× the records",
      mark(r.resume.rssRatio <= 1.3)
    )
    add(
      "8. Run state: status",
      `${r.status.via === "cli" ? "`batch-extract status --json`" : "the status queries (the command failed)"} of ${
        int(r.records)
      } records: **${fixed(r.status.seconds, 1)} s** spawn to exit, peak RSS ${
        int(r.status.peakRssMiB)
      } MiB (the queries alone: ${fixed(r.status.querySeconds, 1)} s)`,
      "< 10 s",
      mark(r.status.seconds < 10)
    )
  }
  workersRows(f.workers, add)
  lifecycleRows(f.lifecycle, add)
  const e = f.embeddings
  if (e !== undefined) {
    add(
      "11. Embeddings: staging (Titan Text Embeddings V2 records)",
      stagingFigures(
        e.staging,
        `; ${int(Math.min(e.staging.records, e.texts))} of the ${int(e.texts)} texts (chunks and their sentences), ` +
          `${int(e.meanTextCharacters)} characters on average`
      ),
      "≤ 1.5× the floor",
      mark(e.staging.ratio <= 1.5)
    )
    add(
      "11. Embeddings: output (read, correlate, parse vectors)",
      outputFigures(e.output),
      "≤ 1.5× the floor",
      mark(e.output.ratio <= 1.5)
    )
  }

  const header = ["benchmark", "figures", "target", "status"]
  const lines = [
    `batch-extract benchmarks — ${f.machine.cores} × ${f.machine.cpu}, ${f.machine.memoryGiB} GiB, Node ${f.machine.node}, ${f.machine.platform}; ${
      int(f.wallSeconds)
    } s${
      Object.keys(f.seconds).length === 0 ?
        "" :
        ` (${Object.entries(f.seconds).map(([name, seconds]) => `${name} ${int(seconds)} s`).join(", ")})`
    }`,
    "",
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((row) => `| ${row.join(" | ")} |`)
  ]
  return lines.join("\n")
}
