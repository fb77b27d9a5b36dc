/**
 * One step of the run-state benchmark (`state.ts`), in a process of its own so its wall time
 * and peak RSS are its own. Prints one JSON line.
 *
 * Modes:
 * - `build`: the state of a run of `--records` records, built by the engine's own code —
 *   `BatchRunner.run` over synthetic records (small bodies, answers of about 200 characters)
 *   on the simulated batch service in real time, with `RunState` = `RunStore.makeState` over
 *   the embedded SQLite store of `--out` (after `RunStore.migrate` and `RunStore.createRun`).
 *   Each record is also a chunk of the run's manifest, admitted as a run admits them
 *   (`RunStore.recordDocument` for each document of 50 chunks, `RunStore.recordChunks`), and
 *   1% of the records fail (the service answers them with an error; no retry).
 * - `resume`: `BatchRunner.run` again over the same records, with the same run id and store:
 *   every record has an outcome, so each is looked up and passed through. Fails unless the
 *   simulated service saw no create and every record came out.
 * - `status`: open the store read-only and compute what `batch-extract status <run> --json`
 *   computes (`RunStore.getRun`, `stageTotals`, `manifestCounts`, `jobsOf`,
 *   `failedChunksByDocument`, `skippedDocuments`).
 * - `written`: record every chunk written (`RunStore.recordWritten`, as the run does once a
 *   chunk is in the output: its answers are no longer kept; chunks whose record failed are
 *   recorded failed), then `VACUUM`.
 * - `cli`: run the command (`packages/cli/src/bin.ts`) in this process with the arguments
 *   after `--` (its output goes to stdout), and write its exit code and peak RSS to
 *   `--figures <file>`.
 *
 * Usage: node state-child.ts --mode build|resume|status|written --out <dir> --records N
 *        node state-child.ts --mode cli --figures <file> -- status <run> --out <dir> --json
 *
 * Diagnostics (stderr): `BENCH_TRACE=1` prints the engine's job events as they happen and the
 * time spent in each method of the run state; `BENCH_HEAP=1` prints RSS and the live heap
 * (after a full collection) every 100,000 outcomes.
 */
import {
  BatchConfig,
  BatchInference,
  type BatchRecord,
  BatchRunner,
  JobSlots,
  ModelFamily,
  ModelRuntime,
  ObjectStore,
  RunEvents,
  RunState,
  RunStore
} from "@batch-extract/core"
import { DeterministicModelRuntime, InMemoryObjectStore, SimulatedBatchInference } from "@batch-extract/core/testing"
import { EmbeddedState } from "@batch-extract/store"
import { Array as Arr, Effect, Layer, Result, Stream } from "effect"
import { SqlClient } from "effect/sql"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { parameters } from "./corpus.ts"
import { gc, peakRssMiB } from "./measure.ts"
import { chunksPerDocument, failureRate, runId, stage } from "./state.ts"

const hex = (n: number, width: number) => (n >>> 0).toString(16).padStart(width, "0").slice(-width)

/** The source id of the d-th document. */
const sourceId = (d: number) => `aws::${hex(Math.imul(d, 2654435761), 8)}:${hex(Math.imul(d, 40503), 4)}`

const sourceIdLength = sourceId(0).length

/**
 * The id of the i-th chunk, shaped as the library makes them (`aws::<8 hex of the document>:<4
 * hex of its metadata>:<8 hex of the chunk>`), so the chunks of a document are neighbours in the
 * store's indexes, as in a real run. Unique: the last part is a bijection of i.
 */
const chunkId = (i: number) =>
  `${sourceId(Math.floor(i / chunksPerDocument))}:${hex(Math.imul(i ^ 0x5bd1e995, 2246822519), 8)}`

/** The i-th record: a small body (about 180 bytes). */
const record = (i: number): BatchRecord.BatchRecord => ({
  recordId: chunkId(i),
  modelInput: ModelFamily.anthropic.buildRequest({ user: `Extract the propositions of chunk ${i}.` }, parameters)
})

/** An answer of about 200 characters (Anthropic shape). */
const answerText = "Propositions\n" +
  "The committee approved the annual budget after a long debate.\n" +
  "The budget raises spending on schools by four percent.\n" +
  "Several members voted against the proposal on fiscal grounds."
const respond = () =>
  Result.succeed({
    content: [{ type: "text", text: answerText }],
    stop_reason: "end_turn",
    usage: { input_tokens: 48, output_tokens: 52 }
  })

/** The engine's settings: large jobs (the service's largest), checked often, nothing on demand. */
const configOf = BatchConfig.decode({
  bucketName: "bench-bucket",
  region: "us-east-1",
  roleArn: "arn:aws:iam::123456789012:role/BedrockBatch",
  model: { modelId: "us.anthropic.claude-3-5-haiku-20241022-v1:0", maxTokens: 4096, temperature: 0 },
  maxBatchSize: 50_000,
  minRecordsPerJob: 1,
  // A failed record fails at once (no retry job): the state holds some failures, as a real one does.
  maxRecordAttempts: 1,
  maxNumConcurrentBatches: 2,
  extractionNumWorkers: 2,
  maxConcurrentJobs: 4,
  pollInitialSeconds: 0.02,
  pollMaxSeconds: 0.1
}).pipe(Effect.orDie)

/** The simulated service in real time: a job ends as soon as it is checked. */
const simulatedEnv = Effect.gen(function*() {
  const store = yield* InMemoryObjectStore.make()
  const sim = yield* SimulatedBatchInference.make({
    timings: {
      submittedMs: 0,
      validatingMs: 0,
      scheduledMs: 0,
      perRecordMs: 0,
      inProgressMs: 0,
      stoppingMs: 0
    },
    quotas: { maxConcurrentJobs: 4, minRecordsPerJob: 1 },
    faults: { recordErrorRate: failureRate },
    respond
  }).pipe(Effect.provideService(ObjectStore.ObjectStore, store.unfaulted))
  const runtime = yield* DeterministicModelRuntime.make({ respond })
  const slots = yield* JobSlots.make(4)
  const layer = Layer.mergeAll(
    Layer.succeed(ObjectStore.ObjectStore, store.service),
    Layer.succeed(BatchInference.BatchInference, sim.service),
    Layer.succeed(ModelRuntime.ModelRuntime, runtime.service),
    Layer.succeed(JobSlots.JobSlots, slots)
  )
  return { sim, runtime, layer }
})

// `BENCH_TRACE=1`: the engine's job events as they happen, and the time spent in each method of
// the run state (waits for the connection included).
const trace = process.env.BENCH_TRACE !== undefined
const traceStart = performance.now()
const traceEvent = (event: RunEvents.RunEvent) =>
  Effect.sync(() => {
    if (event._tag === "RecordsSucceeded" || event._tag === "JobProgress") return
    const job = "jobName" in event ? ` ${event.jobName}` : ""
    const status = "status" in event ? ` ${String(event.status)}` : ""
    process.stderr.write(`${((performance.now() - traceStart) / 1000).toFixed(2)} s ${event._tag}${job}${status}\n`)
  })
const times = new Map<string, { calls: number; ms: number }>()
const timed = (store: RunState.Store): RunState.Store => {
  const wrap = <F extends (...args: Array<any>) => Effect.Effect<any, any, any>>(name: string, f: F): F =>
    ((...args: Array<any>) =>
      Effect.suspend(() => {
        const start = performance.now()
        return Effect.ensuring(
          f(...args),
          Effect.sync(() => {
            const entry = times.get(name) ?? { calls: 0, ms: 0 }
            entry.calls++
            entry.ms += performance.now() - start
            times.set(name, entry)
          })
        )
      })) as F
  return {
    ...store,
    jobIntent: wrap("jobIntent", store.jobIntent),
    jobCreated: wrap("jobCreated", store.jobCreated),
    jobStatus: wrap("jobStatus", store.jobStatus),
    recordOutcomes: wrap("recordOutcomes", store.recordOutcomes),
    outcomes: wrap("outcomes", store.outcomes)
  }
}
const reportTimes = () => {
  for (const [name, { calls, ms }] of times) {
    process.stderr.write(`RunState.${name}: ${calls} calls, ${(ms / 1000).toFixed(2)} s\n`)
  }
}

// `BENCH_HEAP=1`: RSS and the live heap (after a full collection) every 100,000 outcomes.
const heapTrace = process.env.BENCH_HEAP !== undefined
const traceHeap = (outcomes: number) => {
  gc()
  const usage = process.memoryUsage()
  const mib = (bytes: number) => (bytes / 1_048_576).toFixed(0)
  process.stderr.write(
    `${outcomes} outcomes: rss ${mib(usage.rss)} MiB, peak ${peakRssMiB().toFixed(0)} MiB, live heap ${
      mib(usage.heapUsed)
    } MiB, external ${mib(usage.external)} MiB\n`
  )
}

/** Files of the store and their sizes (the database, its WAL). */
const storeBytes = (out: string) => {
  const db = EmbeddedState.databaseFile(EmbeddedState.directoryOf(out))
  const size = (file: string) => (fs.existsSync(file) ? fs.statSync(file).size : 0)
  return { dbBytes: size(db), walBytes: size(`${db}-wal`) }
}

/**
 * The engine over `records` records with the run state of `out`: in `build`, each batch of
 * records is admitted to the manifest first (as a run does).
 */
const engineRun = (records: number, admit: boolean) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const config = yield* configOf
    const env = yield* simulatedEnv
    const state = trace ? timed(yield* RunStore.makeState) : yield* RunStore.makeState
    const input = Stream.range(0, records - 1).pipe(
      Stream.mapArrayEffect((indices) => {
        const batch = Arr.map(indices, record)
        return admit
          ? Effect.as(admitChunks(records, indices, batch).pipe(Effect.provideService(SqlClient.SqlClient, sql)), batch)
          : Effect.succeed(batch)
      })
    )
    let outcomes = 0
    let succeeded = 0
    yield* BatchRunner.run(input, { config, runId, stage }).pipe(
      Stream.runForEachArray((batch) =>
        Effect.sync(() => {
          const before = outcomes
          outcomes += batch.length
          for (const outcome of batch) if (outcome._tag === "Succeeded") succeeded++
          if (heapTrace && Math.floor(outcomes / 100_000) > Math.floor(before / 100_000)) traceHeap(outcomes)
        })
      ),
      Effect.provide(env.layer),
      Effect.provideService(RunState.RunState, state),
      trace ? Effect.provideService(RunEvents.RunEvents, { publish: traceEvent }) : (effect) => effect
    )
    if (trace) reportTimes()
    const counters = yield* env.sim.counters
    return { outcomes, succeeded, jobsCreated: counters.jobsCreated }
  })

/**
 * What a run records as chunks come in, before they reach the engine: each document read (once,
 * with its chunk count), then its chunks, pending (`ExtractRun`'s `admitChunks`).
 */
const admitChunks = (
  records: number,
  indices: ReadonlyArray<number>,
  batch: ReadonlyArray<BatchRecord.BatchRecord>
) =>
  Effect.gen(function*() {
    for (const i of indices) {
      if (i % chunksPerDocument !== 0) continue
      const source = sourceId(i / chunksPerDocument)
      yield* RunStore.recordDocument(runId, {
        path: `documents/${source.slice(5)}.txt`,
        sourceId: source,
        state: "read",
        chunks: Math.min(chunksPerDocument, records - i)
      })
    }
    yield* RunStore.recordChunks(
      runId,
      batch.map((r) => ({ chunkId: r.recordId, sourceId: r.recordId.slice(0, sourceIdLength) }))
    )
  })

const build = (records: number, out: string) =>
  Effect.gen(function*() {
    yield* RunStore.migrate
    yield* RunStore.createRun(runId, { backend: "simulated", out }, Date.now())
    return yield* engineRun(records, true)
  })

/** What `batch-extract status <run> --json` computes (packages/cli/src/commands/Status.ts). */
const status = Effect.gen(function*() {
  const run = yield* RunStore.getRun(runId, "the bench's store")
  const stages = yield* RunStore.stageTotals(runId)
  const manifest = yield* RunStore.manifestCounts(runId)
  const jobs = yield* RunStore.jobsOf(runId)
  const failedDocuments = yield* RunStore.failedChunksByDocument(runId, 1000)
  const skippedDocuments = yield* RunStore.skippedDocuments(runId)
  const total = RunStore.sumStages(stages)
  const json = JSON.stringify({
    runId,
    phase: run.phase,
    documents: { ...manifest.documents, skipped: skippedDocuments.length },
    chunks: manifest.chunks,
    records: total.records,
    tokens: total.tokens,
    stages: Object.fromEntries(stages),
    jobs: { total: jobs.length, open: jobs.filter((job) => !job.finished).length },
    failures: { documents: failedDocuments, skippedDocuments }
  })
  return {
    chunks: manifest.chunks.total,
    outcomes: total.records.succeeded + total.records.failed,
    failedChunks: manifest.chunks.failed,
    json
  }
})

/**
 * Every chunk written, as the run records them (`RunStore.recordWritten`, 200 at a time): its
 * answers are no longer kept; a chunk whose record failed is recorded failed with the reason.
 * Then `VACUUM`, so the file shrinks to what is left.
 */
const written = (records: number, out: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // The failed records, in one query (`RunStore.failures` pages through them, scanning every
    // outcome of the run for each page of 1,000).
    const failed = new Map<string, string>()
    const rows = yield* sql<{ record_id: string; reason: string | null }>`SELECT record_id, reason FROM be_outcomes
      WHERE run_id = ${runId} AND tag = 'Failed'`
    for (const row of rows) failed.set(row.record_id, row.reason ?? "")
    const counts = { propositions: 3, topics: 1, entities: 4, statements: 3, facts: 3, diagnostics: 0 }
    const none = { propositions: 0, topics: 0, entities: 0, statements: 0, facts: 0, diagnostics: 0 }
    const start = performance.now()
    yield* Stream.range(0, records - 1).pipe(
      Stream.rechunk(200),
      Stream.runForEachArray((batch) =>
        RunStore.recordWritten(
          runId,
          `${out}#${runId}`,
          batch.map((i) => {
            const id = chunkId(i)
            const reason = failed.get(id)
            return {
              chunkId: id,
              sourceId: sourceId(Math.floor(i / chunksPerDocument)),
              failures: reason === undefined ? [] : [{ stage, reason }],
              counts: reason === undefined ? counts : none
            }
          })
        )
      )
    )
    const recordSeconds = (performance.now() - start) / 1000
    const beforeVacuum = storeBytes(out)
    const vacuumStart = performance.now()
    yield* sql.unsafe("VACUUM")
    yield* sql.unsafe("PRAGMA wal_checkpoint(TRUNCATE)")
    return {
      failedRecords: failed.size,
      recordSeconds,
      vacuumSeconds: (performance.now() - vacuumStart) / 1000,
      beforeVacuum
    }
  })

const main = async () => {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      mode: { type: "string" },
      out: { type: "string" },
      records: { type: "string", default: "0" },
      figures: { type: "string" }
    }
  })
  const mode = values.mode
  if (mode === "cli") {
    // The command's own output goes to stdout: this process's figures go to a file.
    const bin = fileURLToPath(new URL("../../cli/src/bin.ts", import.meta.url))
    process.argv = [process.argv[0]!, bin, ...positionals]
    process.on("exit", (code) => {
      fs.writeFileSync(values.figures!, JSON.stringify({ exitCode: code, peakRssMiB: peakRssMiB() }))
    })
    await import(bin)
    return
  }
  const out = values.out!
  const records = Number(values.records)
  const directory = EmbeddedState.directoryOf(out)
  const baselineRssMiB = peakRssMiB()
  const start = performance.now()
  const program = Effect.gen(function*() {
    switch (mode) {
      case "build": {
        const result = yield* build(records, out).pipe(Effect.provide(EmbeddedState.layer(directory)))
        if (result.outcomes !== records) {
          return yield* Effect.die(new Error(`the build gave ${result.outcomes} outcomes for ${records} records`))
        }
        return result
      }
      case "resume": {
        const result = yield* engineRun(records, false).pipe(Effect.provide(EmbeddedState.layer(directory)))
        if (result.jobsCreated !== 0 || result.outcomes !== records) {
          return yield* Effect.die(
            new Error(`resume sent records: ${result.jobsCreated} jobs created, ${result.outcomes} outcomes`)
          )
        }
        return result
      }
      case "status": {
        const { json, ...rest } = yield* status.pipe(Effect.provide(EmbeddedState.layerReadonly(directory)))
        return { ...rest, jsonBytes: json.length }
      }
      case "written":
        return yield* written(records, out).pipe(Effect.provide(EmbeddedState.layer(directory)))
      default:
        return yield* Effect.die(new Error(`unknown mode ${mode}`))
    }
  })
  const result = await Effect.runPromise(Effect.orDie(program))
  const seconds = (performance.now() - start) / 1000
  process.stdout.write(
    `${JSON.stringify({ mode, records, seconds, baselineRssMiB, peakRssMiB: peakRssMiB(), ...result })}\n`
  )
}

if (import.meta.main) await main()
