/**
 * Benchmarks 1 and 2: staging throughput and output throughput of the engine, each against
 * its floor, on realistic proposition-stage records and a disk-backed object store.
 *
 * 1. Staging: records are built (the library's stage-1 prompt over real chunks), packed,
 *    planned into jobs and streamed as JSONL into the store by `BatchRunner.run` — the whole
 *    engine path up to the create call, which a control plane that refuses every create ends
 *    (so nothing else runs). Floor: the same records built, `JSON.stringify` + a line break,
 *    written to the same number of files with the same piece size. Nothing else.
 * 2. Output: job outputs (`{recordId, modelInput, modelOutput}` lines in shuffled order, as
 *    Bedrock writes them) are read from the store, correlated with the job's records and
 *    parsed exactly as `BatchJob.run` does (`BatchJob.classifyOutputFile` + `readManifest`).
 *    Floor: read the same bytes and `JSON.parse` each line (the faster of two ways).
 *
 * Both take their records from a {@link RecordSource}; benchmark 11 (`embeddings.ts`) runs the
 * same two measurements on embedding records.
 */
import {
  type BatchConfig,
  BatchInference,
  BatchJob,
  BatchRecord,
  BatchRunner,
  type Chunker,
  JobSlots,
  ModelFamily,
  ObjectStore,
  ServiceError
} from "@batch-extract/core"
import { DeterministicModelRuntime, OfflineModel } from "@batch-extract/core/testing"
import { Deferred, Effect, Fiber, Layer, Option, Result, Stream } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { realisticRecord } from "./corpus.ts"
import * as DiskObjectStore from "./DiskObjectStore.ts"
import { gc, timeCpu } from "./measure.ts"
import { configOf } from "./simulation.ts"

/** A throughput figure against its floor. */
export interface Throughput {
  readonly records: number
  readonly bytes: number
  readonly seconds: number
  readonly recordsPerSecond: number
  readonly floorSeconds: number
  readonly floorRecordsPerSecond: number
  /** Engine time over floor time (1 = as fast as the floor). */
  readonly ratio: number
  /** The same, on CPU time (user + system, all threads): less sensitive to a busy machine. */
  readonly cpuRatio: number
  /** Seconds of the floor that also does what the engine must (see each benchmark). */
  readonly obligationsFloorSeconds: number
  /** Engine time over that floor's time. */
  readonly ratioToObligationsFloor: number
}

/**
 * A control plane whose creates never answer: the engine stages every job and then waits,
 * so a run measures exactly the path up to the create call.
 */
const silentControlPlane = BatchInference.BatchInference.of({
  createJob: () => Effect.never,
  getJob: (id) =>
    Effect.fail(
      new ServiceError.NotFound({ operation: "BatchInference.getJob", message: id, exceptionName: "NotFound" })
    ),
  stopJob: () => Effect.void,
  listJobs: () => Stream.empty
})

// Enough concurrent jobs that every job of the set is staged while the earlier ones wait on their create.
const stagingSettings = { maxBatchSize: 25_000, maxNumConcurrentBatches: 8, extractionNumWorkers: 2 } as const
const stagingConfig = configOf(stagingSettings)

/** The records a throughput benchmark stages and reads back, and how the engine runs them. */
export interface RecordSource {
  /** The i-th record (built on demand, by the engine's input stream and the floor alike). */
  readonly record: (i: number) => BatchRecord.BatchRecord
  /** The engine's configuration: jobs of 25,000 records, the model of the records' family. */
  readonly config: Effect.Effect<BatchConfig.BatchConfig>
  /** The model family of the records (reads the answers). */
  readonly family: ModelFamily.ModelFamily
  /** The engine stage name (in job names and keys). */
  readonly stage: string
  /**
   * Answers (JSON) to the first `n` records or fewer, made once before measuring; record i gets
   * `answers[i % answers.length]`.
   */
  readonly answers: (n: number) => ReadonlyArray<string>
}

/** The offline model's answer to a request body, as JSON. */
export const offlineAnswer = (family: ModelFamily.ModelFamily, body: unknown): string => {
  const answer = OfflineModel.respond(family, body)
  if (Result.isFailure(answer)) throw new Error(answer.failure)
  return JSON.stringify(answer.success)
}

/**
 * Benchmarks 1 and 2's records: realistic proposition-stage records over the pool (Anthropic
 * bodies), and the offline model's answer to each chunk of the pool (answers repeat with it).
 */
export const propositionSource = (pool: ReadonlyArray<Chunker.Chunk>): RecordSource => ({
  record: (i) => realisticRecord(pool, i),
  config: stagingConfig,
  family: ModelFamily.anthropic,
  stage: "propositions",
  answers: () => pool.map((_, i) => offlineAnswer(ModelFamily.anthropic, realisticRecord(pool, i).modelInput))
})

/** The staging configuration with another model (jobs of 25,000 records, 8 at once). */
export const stagingConfigFor = (modelId: string) =>
  configOf({ ...stagingSettings, model: { modelId, maxTokens: 4096, temperature: 0 } })

/**
 * Stage `n` records through the engine (`n` a multiple of 25,000: one job per 25,000); ends
 * when the last job's input is in the store. Returns the bytes staged.
 */
export const engineStaging = (source: RecordSource, n: number, dir: string) =>
  Effect.gen(function*() {
    const config = yield* source.config
    const jobs = Math.ceil(n / config.maxBatchSize)
    const disk = DiskObjectStore.make(dir)
    const allStaged = yield* Deferred.make<void>()
    let puts = 0
    const store = ObjectStore.ObjectStore.of({
      ...disk,
      put: (ref, body, options) =>
        Effect.tap(disk.put(ref, body, options), () =>
          ++puts === jobs ? Deferred.succeed(allStaged, undefined) : Effect.void)
    })
    const layer = Layer.mergeAll(
      Layer.succeed(ObjectStore.ObjectStore, store),
      Layer.succeed(BatchInference.BatchInference, silentControlPlane),
      Layer.effect(JobSlots.JobSlots, JobSlots.make(config.maxConcurrentJobs)),
      DeterministicModelRuntime.layer()
    )
    const run = yield* BatchRunner.run(
      Stream.range(0, n - 1).pipe(Stream.map(source.record)),
      { config: { ...config, stopJobsOnInterrupt: false }, runId: "staging", stage: source.stage }
    ).pipe(Stream.runDrain, Effect.provide(layer), Effect.forkChild)
    yield* Deferred.await(allStaged)
    yield* Fiber.interrupt(run)
    const staged = yield* Stream.runCollect(store.list(config.bucketName, "")).pipe(Effect.orDie)
    return staged.reduce((sum, object) =>
      sum + object.size, 0)
  })

/**
 * The floor: build the same records, `JSON.stringify` each, encode the lines into 2 MiB
 * buffers (no joined strings) and write them, one file per 25,000 records.
 *
 * With `obligations`, the floor also does the two things the engine must do and the plain
 * floor does not: it keeps every line in memory until the end (the engine keeps the records
 * of every job in flight, to correlate, retry and fall back on demand), and it hashes each
 * file's lines with SHA-256 (the content hash behind idempotent job names and tokens).
 */
const floorStaging = (
  source: RecordSource,
  n: number,
  dir: string,
  perFile: number,
  obligations = false
) => {
  fs.mkdirSync(dir, { recursive: true })
  const kept: Array<Array<string>> = []
  let bytes = 0
  for (let file = 0; file * perFile < n; file++) {
    const fd = fs.openSync(path.join(dir, `job-${file}.jsonl`), "w")
    const end = Math.min(n, (file + 1) * perFile)
    const lines: Array<string> = []
    let buffer = Buffer.allocUnsafe(2 * 1_048_576)
    let offset = 0
    const flush = () => {
      fs.writeSync(fd, buffer, 0, offset)
      bytes += offset
      offset = 0
    }
    const write = (line: string) => {
      // A UTF-16 unit is at most 3 UTF-8 bytes.
      if (offset + line.length * 3 + 1 > buffer.length) {
        flush()
        if (line.length * 3 + 1 > buffer.length) buffer = Buffer.allocUnsafe(line.length * 3 + 1)
      }
      offset += buffer.write(line, offset, "utf8")
      buffer[offset++] = 0x0a
    }
    for (let i = file * perFile; i < end; i++) {
      const record = source.record(i)
      const line = JSON.stringify({ recordId: record.recordId, modelInput: record.modelInput })
      if (obligations) lines.push(line)
      else write(line)
    }
    if (obligations) {
      const hash = createHash("sha256")
      for (const line of lines) hash.update(line).update("\n")
      hash.digest("hex")
      for (const line of lines) write(line)
      kept.push(lines)
    }
    if (offset > 0) flush()
    fs.closeSync(fd)
  }
  // Returned, so the lines are released only once the whole set is staged (as the engine's
  // in-flight records are).
  return { bytes, kept }
}

/** Benchmark 1: the engine against the floor, and against the floor plus the engine's obligations. */
export const staging = (pool: ReadonlyArray<Chunker.Chunk>, n: number, root: string): Promise<Throughput> =>
  stagingOf(propositionSource(pool), n, root)

/**
 * Staging throughput of any records (benchmark 1's measurement): engine, floor, floor with
 * obligations, the best of `runs` interleaved runs each.
 */
export const stagingOf = async (source: RecordSource, n: number, root: string, runs = 3): Promise<Throughput> => {
  // Warm up every path (JIT) on a small set.
  const warm = Math.min(n, 25_000)
  await Effect.runPromise(engineStaging(source, warm, path.join(root, "warm-engine")))
  floorStaging(source, warm, path.join(root, "warm-floor"), 25_000)
  floorStaging(source, warm, path.join(root, "warm-floor"), 25_000, true)
  fs.rmSync(path.join(root, "warm-engine"), { recursive: true, force: true })
  fs.rmSync(path.join(root, "warm-floor"), { recursive: true, force: true })

  // Best of three (`runs`) runs each, interleaved, so a hiccup of the machine does not decide the figure.
  const best = { floor: Infinity, floorCpu: Infinity, obligations: Infinity, engine: Infinity, engineCpu: Infinity }
  let floorBytes = 0
  let bytes = 0
  const scratch = path.join(root, "staging")
  for (let run = 0; run < runs; run++) {
    gc()
    const [floorWritten, floorTook, floorCpuTook] = await timeCpu(() => floorStaging(source, n, scratch, 25_000).bytes)
    fs.rmSync(scratch, { recursive: true, force: true })
    gc()
    const [, obligationsTook] = await timeCpu(() => floorStaging(source, n, scratch, 25_000, true).kept.length)
    fs.rmSync(scratch, { recursive: true, force: true })
    gc()
    const [written, took, cpuTook] = await timeCpu(() => Effect.runPromise(engineStaging(source, n, scratch)))
    fs.rmSync(scratch, { recursive: true, force: true })
    best.floor = Math.min(best.floor, floorTook)
    best.floorCpu = Math.min(best.floorCpu, floorCpuTook)
    best.obligations = Math.min(best.obligations, obligationsTook)
    best.engine = Math.min(best.engine, took)
    best.engineCpu = Math.min(best.engineCpu, cpuTook)
    floorBytes = floorWritten
    bytes = written
  }
  if (bytes !== floorBytes) throw new Error(`staging: the engine wrote ${bytes} bytes, the floor ${floorBytes}`)
  return {
    records: n,
    bytes,
    seconds: best.engine,
    recordsPerSecond: n / best.engine,
    floorSeconds: best.floor,
    floorRecordsPerSecond: n / best.floor,
    ratio: best.engine / best.floor,
    cpuRatio: best.engineCpu / best.floorCpu,
    obligationsFloorSeconds: best.obligations,
    ratioToObligationsFloor: best.engine / best.obligations
  }
}

const shuffle = <A>(items: Array<A>, seed: number): Array<A> => {
  let state = seed
  for (let i = items.length - 1; i > 0; i--) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0
    const j = state % (i + 1)
    const swap = items[i]!
    items[i] = items[j]!
    items[j] = swap
  }
  return items
}

/** Benchmark 2. */
export const output = (
  pool: ReadonlyArray<Chunker.Chunk>,
  n: number,
  root: string,
  perJob = 25_000
): Promise<Throughput> => outputOf(propositionSource(pool), n, root, perJob)

/**
 * Output throughput of any records (benchmark 2's measurement): engine, floor, floor keeping the
 * answers. The warm-up reads the first job's first `warmRecords` records (all of them by default).
 */
export const outputOf = async (
  source: RecordSource,
  n: number,
  root: string,
  perJob = 25_000,
  warmRecords = perJob
): Promise<Throughput> => {
  const config = await Effect.runPromise(source.config)
  const family = source.family
  const store = DiskObjectStore.make(root)
  const bucket = config.bucketName
  const answers = source.answers(n)
  const jobs = Math.ceil(n / perJob)
  const recordsOf = (job: number) => {
    const records: Array<BatchRecord.PackedRecord> = []
    for (let i = job * perJob; i < Math.min(n, (job + 1) * perJob); i++) {
      records.push(BatchRecord.pack(source.record(i)))
    }
    return records
  }
  const outputKey = (job: number) => `output/job-${job}/sim0000/job-${job}.jsonl.out`
  const manifestKey = (job: number) => `output/job-${job}/sim0000/manifest.json.out`

  /** Write a job's output as Bedrock would: one line per record, in no particular order. */
  const writeOutput = (job: number, records: ReadonlyArray<BatchRecord.PackedRecord>) => {
    const lines = shuffle(
      records.map((record, k) =>
        `${record.line.slice(0, -1)},"modelOutput":${answers[(job * perJob + k) % answers.length]}}\n`
      ),
      job + 1
    )
    const file = path.join(root, bucket, outputKey(job))
    fs.mkdirSync(path.dirname(file), { recursive: true })
    const fd = fs.openSync(file, "w")
    let written = 0
    for (let i = 0; i < lines.length; i += 2_000) {
      const buffer = Buffer.from(lines.slice(i, i + 2_000).join(""))
      fs.writeSync(fd, buffer)
      written += buffer.length
    }
    fs.closeSync(fd)
    fs.writeFileSync(
      path.join(root, bucket, manifestKey(job)),
      JSON.stringify({ totalRecordCount: records.length, inputTokenCount: 1, outputTokenCount: 1 })
    )
    return written
  }

  const engineRead = (job: number, records: ReadonlyArray<BatchRecord.PackedRecord>) =>
    Effect.gen(function*() {
      const classified = yield* BatchJob.classifyOutputFile(family, records, { bucket, key: outputKey(job) })
      const manifest = yield* ObjectStore.getStringOption({ bucket, key: manifestKey(job) }).pipe(
        Effect.map(Option.flatMap(BatchJob.readManifest))
      )
      if (classified.succeeded.length !== records.length || Option.isNone(manifest)) {
        throw new Error(`output: ${classified.succeeded.length} of ${records.length} records read`)
      }
    }).pipe(Effect.provideService(ObjectStore.ObjectStore, store), Effect.orDie)

  /**
   * The floor: read the same bytes and `JSON.parse` every line, nothing else. Two ways, and the
   * faster counts: the whole file as one string split at line feeds, or line feeds found in the
   * bytes and each line decoded on its own (faster with V8 on long lines).
   *
   * With `keep`, the floor also does what the engine must and the plain floor does not: it
   * keeps every answer (`modelOutput`) until the whole file is read (a job's results are
   * returned together).
   */
  const floorRead = (job: number, mode: "whole" | "lines", keep: boolean) => {
    const file = path.join(root, bucket, outputKey(job))
    const kept: Array<unknown> = []
    let parsed = 0
    const parse = (line: string) => {
      const value = JSON.parse(line) as { modelOutput?: unknown }
      if (keep) kept.push(value.modelOutput)
      parsed++
    }
    if (mode === "whole") {
      for (const line of fs.readFileSync(file, "utf8").split("\n")) {
        if (line !== "") parse(line)
      }
    } else {
      const bytes = fs.readFileSync(file)
      let from = 0
      for (let lineFeed = bytes.indexOf(0x0a); lineFeed !== -1; lineFeed = bytes.indexOf(0x0a, from)) {
        if (lineFeed > from) parse(bytes.toString("utf8", from, lineFeed))
        from = lineFeed + 1
      }
    }
    const manifest = JSON.parse(fs.readFileSync(path.join(root, bucket, manifestKey(job)), "utf8")) as unknown
    if (parsed === 0 || manifest === null) throw new Error("output floor: nothing parsed")
    return kept
  }

  // One job at a time: write its output (not measured), then read it both ways, interleaved,
  // best of two each. The job's records are in memory, as they are in the engine when its
  // output is read.
  let bytes = 0
  let seconds = 0
  let floorSeconds = 0
  let obligationsSeconds = 0
  let cpu = 0
  let floorCpu = 0
  for (let job = -1; job < jobs; job++) {
    // Job -1 is the first job again (or its first `warmRecords`), to warm up every path.
    const index = Math.max(job, 0)
    const records = job < 0 ? recordsOf(index).slice(0, warmRecords) : recordsOf(index)
    const written = writeOutput(index, records)
    const best = { floor: Infinity, floorCpu: Infinity, obligations: Infinity, engine: Infinity, engineCpu: Infinity }
    for (let run = 0; run < 2; run++) {
      for (const mode of ["whole", "lines"] as const) {
        gc()
        const [, floorTook, floorCpuTook] = await timeCpu(() => floorRead(index, mode, false).length)
        best.floor = Math.min(best.floor, floorTook)
        best.floorCpu = Math.min(best.floorCpu, floorCpuTook)
        gc()
        const [, obligationsTook] = await timeCpu(() => floorRead(index, mode, true).length)
        best.obligations = Math.min(best.obligations, obligationsTook)
      }
      gc()
      const [, took, cpuTook] = await timeCpu(() => Effect.runPromise(engineRead(index, records)))
      best.engine = Math.min(best.engine, took)
      best.engineCpu = Math.min(best.engineCpu, cpuTook)
    }
    if (job < 0) continue
    bytes += written
    seconds += best.engine
    floorSeconds += best.floor
    obligationsSeconds += best.obligations
    cpu += best.engineCpu
    floorCpu += best.floorCpu
  }
  fs.rmSync(path.join(root, bucket), { recursive: true, force: true })
  return {
    records: n,
    bytes,
    seconds,
    recordsPerSecond: n / seconds,
    floorSeconds,
    floorRecordsPerSecond: n / floorSeconds,
    ratio: seconds / floorSeconds,
    cpuRatio: cpu / floorCpu,
    obligationsFloorSeconds: obligationsSeconds,
    ratioToObligationsFloor: seconds / obligationsSeconds
  }
}
