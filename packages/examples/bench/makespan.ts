/**
 * Benchmark 4: makespan in simulated time. A corpus goes through both extraction stages on
 * the simulated Bedrock service (quota of live jobs, queue time, time per record), driven by
 * `TestClock`: batch-extract's completion time against the lower bound of the workload, and
 * against the reference's policy replayed on the same simulator.
 */
import { Effect } from "effect"
import { runReference } from "./reference.ts"
import { makeSimEnv, respondLight, runEngineLight, runVirtual } from "./simulation.ts"

/** The workload and the service. */
export interface MakespanSettings {
  readonly chunks: number
  /** Chunks per document, cycled (the reference reads documents in rounds). */
  readonly chunksPerDocument: ReadonlyArray<number>
  readonly quota: number
  readonly submittedSeconds: number
  readonly validatingSeconds: number
  readonly scheduledSeconds: number
  readonly secondsPerRecord: number
  /** Bedrock's maximum records per job. */
  readonly maxRecordsPerJob: number
}

/** What benchmark 4 measured. */
export interface MakespanFigures {
  readonly settings: Omit<MakespanSettings, "chunksPerDocument">
  readonly records: number
  readonly lowerBoundSeconds: number
  readonly engine: { readonly seconds: number; readonly jobs: number; readonly getCalls: number }
  readonly reference: { readonly seconds: number; readonly jobs: number; readonly getCalls: number }
  /** The reference's policy with as many workers as the quota allows jobs (a machine with that many cores). */
  readonly referenceQuotaWorkers: { readonly workers: number; readonly seconds: number; readonly jobs: number }
  /** batch-extract over the lower bound. */
  readonly ratioToLowerBound: number
  /** The reference's makespan over batch-extract's. */
  readonly speedup: number
}

/** Documents of the given sizes (cycled) holding exactly `chunks` chunks. */
export const documentsOf = (chunks: number, sizes: ReadonlyArray<number>): Array<number> => {
  const documents: Array<number> = []
  let total = 0
  for (let i = 0; total < chunks; i++) {
    const size = Math.min(sizes[i % sizes.length]!, chunks - total)
    documents.push(size)
    total += size
  }
  return documents
}

/**
 * The lower bound: every job holds a slot for its queue time plus its records' time, and at
 * most `quota` jobs are live at once, so `quota · makespan ≥ jobs · queue + records · perRecord`
 * with at least `ceil(records / maxRecordsPerJob)` jobs.
 */
export const lowerBound = (settings: MakespanSettings, records: number): number => {
  const queue = settings.submittedSeconds + settings.validatingSeconds + settings.scheduledSeconds
  const jobs = Math.ceil(records / settings.maxRecordsPerJob)
  return (jobs * queue + records * settings.secondsPerRecord) / settings.quota
}

/** Benchmark 4. */
export const run = async (settings: MakespanSettings): Promise<MakespanFigures> => {
  const timings = {
    submittedMs: settings.submittedSeconds * 1000,
    validatingMs: settings.validatingSeconds * 1000,
    scheduledMs: settings.scheduledSeconds * 1000,
    perRecordMs: settings.secondsPerRecord * 1000,
    inProgressMs: 60_000,
    stoppingMs: 30_000
  }
  const sim = { quotas: { maxConcurrentJobs: settings.quota, maxRecordsPerJob: settings.maxRecordsPerJob }, timings }
  const records = settings.chunks * 2
  const engine = await runEngineLight({
    chunks: settings.chunks,
    // Jobs as large as the service allows; as many concurrent jobs per stage as the quota.
    config: {
      maxBatchSize: settings.maxRecordsPerJob,
      maxNumConcurrentBatches: Math.ceil(settings.quota / 2),
      extractionNumWorkers: 2,
      maxConcurrentJobs: settings.quota
    },
    sim
  })
  if (engine.summary.records.batch !== records) {
    throw new Error(`makespan: the engine answered ${engine.summary.records.batch} of ${records} records in batch`)
  }
  const referenceWith = (numWorkers: number) =>
    runVirtual(Effect.gen(function*() {
      const env = yield* makeSimEnv({
        sim: { respond: respondLight, ...sim },
        slots: settings.quota,
        runtime: { respond: respondLight }
      })
      // The reference's benchmark settings (extraction_batch_size 15,000 documents per round),
      // with jobs as large as split_nodes can make them without passing the service's maximum.
      return yield* runReference(documentsOf(settings.chunks, settings.chunksPerDocument), {
        extractionBatchSize: 15_000,
        numWorkers,
        maxBatchSize: settings.maxRecordsPerJob - 100
      }).pipe(Effect.provide(env.layer))
    }))
  // Its default of 2 workers (capped at the CPU count), and as many workers as the quota.
  const reference = await referenceWith(2)
  const referenceQuota = await referenceWith(settings.quota)
  const bound = lowerBound(settings, records)
  const { chunksPerDocument: _, ...shown } = settings
  return {
    settings: shown,
    records,
    lowerBoundSeconds: bound,
    engine: {
      seconds: engine.seconds,
      jobs: engine.counters.jobsCreated,
      getCalls: engine.counters.callsByOperation.GetModelInvocationJob ?? 0
    },
    reference: {
      seconds: reference.seconds,
      jobs: reference.jobs.length,
      getCalls: reference.jobs.reduce((sum, job) => sum + job.getCalls, 0)
    },
    referenceQuotaWorkers: {
      workers: settings.quota,
      seconds: referenceQuota.seconds,
      jobs: referenceQuota.jobs.length
    },
    ratioToLowerBound: engine.seconds / bound,
    speedup: reference.seconds / engine.seconds
  }
}
