/**
 * Benchmark 6: batch share — the fraction of records billed at the batch price (answered by a
 * batch job rather than on demand), both stages together, for corpora of 50, 150, 1,000 and
 * 100,000 chunks. batch-extract with its defaults; the reference with its defaults
 * (`extraction_batch_size` 4 documents per round, 2 workers: each worker decides batch or on
 * demand on its own ~2 documents) and with the value of its documentation example (1,000).
 * Documents have the sizes of the State of the Union addresses chunked at 256 tokens.
 */
import { Effect } from "effect"
import { documentsOf } from "./makespan.ts"
import { runReference } from "./reference.ts"
import { makeSimEnv, respondLight, runEngineLight, runVirtual } from "./simulation.ts"

/** Batch share at one corpus size. */
export interface BatchShareRow {
  readonly chunks: number
  readonly documents: number
  readonly engine: number
  readonly reference: number
  readonly referenceDocsExample: number
}

const sim = { quotas: { maxConcurrentJobs: 10 } }

const referenceShare = (documents: ReadonlyArray<number>, extractionBatchSize: number) =>
  runVirtual(Effect.gen(function*() {
    const env = yield* makeSimEnv({
      sim: { respond: respondLight, ...sim },
      slots: 10,
      runtime: { respond: respondLight }
    })
    const run = yield* runReference(documents, { extractionBatchSize, numWorkers: 2, maxBatchSize: 25_000 }).pipe(
      Effect.provide(env.layer)
    )
    return run.batchRecords / (run.batchRecords + run.onDemandRecords)
  }))

/** Benchmark 6. */
export const run = async (
  corpora: ReadonlyArray<number>,
  chunksPerDocument: ReadonlyArray<number>
): Promise<Array<BatchShareRow>> => {
  const rows: Array<BatchShareRow> = []
  for (const chunks of corpora) {
    const documents = documentsOf(chunks, chunksPerDocument)
    const engine = await runEngineLight({ chunks, config: {}, sim })
    rows.push({
      chunks,
      documents: documents.length,
      engine: engine.summary.batchShare,
      reference: await referenceShare(documents, 4),
      referenceDocsExample: await referenceShare(documents, 1_000)
    })
  }
  return rows
}
