/**
 * The reference's scheduling policy (graphrag-toolkit lexical-graph, fixed path), replayed
 * against the same simulated Bedrock service as batch-extract:
 *
 * - documents are read in rounds of `extractionBatchSize`; each round is sliced contiguously
 *   into `numWorkers` groups of `ceil(n / numWorkers)` documents, and the round ends when every
 *   worker has finished (a barrier);
 * - a worker runs the proposition stage on its chunks, then the topic stage (stages strictly
 *   in sequence);
 * - a stage with fewer than 100 chunks goes on demand (4 concurrent calls per worker);
 *   otherwise `split_nodes` cuts it into jobs of `maxBatchSize` (a tail below 100 is absorbed
 *   by the last job), and the jobs of one worker run one after another (the thread-pool bug);
 * - each job: upload the JSONL, create the job, then sleep 60 s and check, until terminal;
 *   read the output; records that errored are retried on demand one at a time.
 */
import { BatchInference, ModelRuntime, ObjectStore, type ServiceError } from "@batch-extract/core"
import { Duration, Effect, Stream } from "effect"
import { lightRecord } from "./corpus.ts"
import { baseConfig, nowSeconds } from "./simulation.ts"

/** The reference's knobs. */
export interface ReferenceSettings {
  /** `GraphRAGConfig.extraction_batch_size`: documents per round (default 4). */
  readonly extractionBatchSize: number
  /** `GraphRAGConfig.extraction_num_workers` (default 2). */
  readonly numWorkers: number
  /** `BatchConfig.max_batch_size` (default 25,000). */
  readonly maxBatchSize: number
  /** The fixed polling interval (60 s). */
  readonly pollSeconds?: number | undefined
}

/** What one job of the reference measured. */
export interface ReferenceJob {
  readonly records: number
  readonly getCalls: number
  /** Seconds between the job's end and the check that saw it. */
  readonly readDelay: number
}

/** What a run of the reference policy measured. */
export interface ReferenceRun {
  readonly seconds: number
  readonly batchRecords: number
  readonly onDemandRecords: number
  readonly jobs: ReadonlyArray<ReferenceJob>
}

const minBatchSize = 100
const onDemandThreadsPerWorker = 4
const bucket = baseConfig.bucketName
const modelId = baseConfig.model?.modelId ?? "us.anthropic.claude-3-5-haiku-20241022-v1:0"

/** `split_nodes`: slices of `batchSize`; a remainder below 100 is absorbed by the last slice. */
export const splitNodes = <A>(items: ReadonlyArray<A>, batchSize: number): Array<ReadonlyArray<A>> => {
  const batches: Array<ReadonlyArray<A>> = []
  let start = 0
  while (start < items.length) {
    let end = start + batchSize
    if (items.length - end < minBatchSize) end = items.length
    batches.push(items.slice(start, end))
    start = end
  }
  return batches
}

/** `node_batcher`: contiguous groups of `ceil(n / workers)`. */
export const nodeBatcher = <A>(items: ReadonlyArray<A>, workers: number): Array<ReadonlyArray<A>> => {
  const size = Math.ceil(items.length / workers)
  const groups: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) groups.push(items.slice(i, i + size))
  return groups
}

let jobSequence = 0

/**
 * One job as the reference runs it: upload, create, sleep-then-check every `pollSeconds`
 * until terminal, read the output. Returns the record ids answered and those that errored.
 */
export const referenceJob = (
  recordIds: ReadonlyArray<number>,
  stage: string,
  pollSeconds: number
): Effect.Effect<
  { readonly answered: number; readonly errored: ReadonlyArray<string>; readonly job: ReferenceJob },
  ServiceError.ServiceError,
  ObjectStore.ObjectStore | BatchInference.BatchInference
> =>
  Effect.gen(function*() {
    const store = yield* ObjectStore.ObjectStore
    const batch = yield* BatchInference.BatchInference
    const name = `ref-${stage}-${++jobSequence}`
    const inputKey = `reference/${name}/input/${name}.jsonl`
    const outputKey = `reference/${name}/output/`
    const lines = recordIds.map((i) => `${JSON.stringify(lightRecord(i, stage))}\n`)
    yield* store.put({ bucket, key: inputKey }, Stream.make(new TextEncoder().encode(lines.join(""))))
    const { jobArn } = yield* batch.createJob({
      jobName: name,
      clientRequestToken: name.replace(/[^A-Za-z0-9]/g, ""),
      roleArn: baseConfig.roleArn,
      modelId,
      inputDataConfig: { s3InputDataConfig: { s3Uri: `s3://${bucket}/${inputKey}`, s3InputFormat: "JSONL" } },
      outputDataConfig: { s3OutputDataConfig: { s3Uri: `s3://${bucket}/${outputKey}` } }
    })
    let getCalls = 0
    let description = undefined as BatchInference.JobDescription | undefined
    while (description === undefined || !BatchInference.isTerminal(description.status)) {
      yield* Effect.sleep(Duration.seconds(pollSeconds))
      description = yield* batch.getJob(jobArn)
      getCalls++
    }
    const readAt = yield* nowSeconds
    if (description.status !== "Completed") {
      return yield* Effect.die(new Error(`reference job ${name} ended ${description.status}: ${description.message}`))
    }
    const jobId = BatchInference.jobIdFromArn(jobArn)
    const output = yield* ObjectStore.getLines({ bucket, key: `${outputKey}${jobId}/${name}.jsonl.out` }).pipe(
      Stream.runCollect
    )
    let answered = 0
    const errored: Array<string> = []
    for (const line of output) {
      if (line.trim() === "") continue
      const parsed = JSON.parse(line) as { recordId: string; error?: unknown }
      if (parsed.error === undefined) answered++
      else errored.push(parsed.recordId)
    }
    // The reference never deletes S3 objects; the bench does, to keep its own memory bounded.
    const written = yield* Stream.runCollect(store.list(bucket, `reference/${name}/`))
    yield* store.deleteMany(bucket, written.map((object) => object.key))
    const endAt = (description.endTime?.getTime() ?? readAt * 1000) / 1000
    return { answered, errored, job: { records: recordIds.length, getCalls, readDelay: readAt - endAt } }
  })

/** One on-demand call per record (the reference's per-record fallback). */
const onDemand = (recordIds: ReadonlyArray<number>, stage: string, concurrency: number) =>
  Effect.forEach(
    recordIds,
    (i) =>
      ModelRuntime.ModelRuntime.use((runtime) =>
        runtime.invoke({ modelId, invocationType: "InvokeModel", body: lightRecord(i, stage).modelInput })
      ),
    { concurrency, discard: true }
  )

/**
 * Run a corpus through the reference policy. `documents` holds the chunk count of each
 * document; chunks are numbered in document order.
 */
export const runReference = (
  documents: ReadonlyArray<number>,
  settings: ReferenceSettings
): Effect.Effect<
  ReferenceRun,
  ServiceError.ServiceError,
  ObjectStore.ObjectStore | BatchInference.BatchInference | ModelRuntime.ModelRuntime
> =>
  Effect.gen(function*() {
    const pollSeconds = settings.pollSeconds ?? 60
    const start = yield* nowSeconds
    const jobs: Array<ReferenceJob> = []
    let batchRecords = 0
    let onDemandRecords = 0

    const stage = (chunkIds: ReadonlyArray<number>, name: string) =>
      Effect.gen(function*() {
        if (chunkIds.length < minBatchSize) {
          yield* onDemand(chunkIds, name, onDemandThreadsPerWorker)
          onDemandRecords += chunkIds.length
          return
        }
        for (const slice of splitNodes(chunkIds, settings.maxBatchSize)) {
          const result = yield* referenceJob(slice, name, pollSeconds)
          jobs.push(result.job)
          batchRecords += result.answered
          // Errored records: one on-demand call at a time.
          yield* onDemand(result.errored.map((id) => parseInt(id.slice(-8), 16)), name, 1)
          onDemandRecords += result.errored.length
        }
      })

    const worker = (group: ReadonlyArray<readonly [number, number]>) =>
      Effect.gen(function*() {
        const chunkIds: Array<number> = []
        for (const [first, count] of group) for (let i = 0; i < count; i++) chunkIds.push(first + i)
        yield* stage(chunkIds, "p")
        yield* stage(chunkIds, "t")
      })

    let next = 0
    const located = documents.map((count) => {
      const first = next
      next += count
      return [first, count] as const
    })
    for (let round = 0; round < located.length; round += settings.extractionBatchSize) {
      const docs = located.slice(round, round + settings.extractionBatchSize)
      // A new process pool per round; the round ends when every worker is done.
      yield* Effect.forEach(nodeBatcher(docs, settings.numWorkers), worker, {
        concurrency: "unbounded",
        discard: true
      })
    }
    const end = yield* nowSeconds
    return { seconds: end - start, batchRecords, onDemandRecords, jobs } satisfies ReferenceRun
  })
