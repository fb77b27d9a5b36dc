/**
 * Benchmark 7: chunking and parsing.
 *
 * - Chunks per second: `Chunker.chunk` (the reference's sentence splitter with cl100k_base
 *   token counts, 256 tokens, overlap 25, metadata aware) over every third State of the Union
 *   address (78 documents, all eras).
 * - One long paragraph: `Chunker.chunk` of the whole corpus joined into a single 1.5 MB
 *   paragraph (no paragraph breaks), where a splitter that is not linear in the length of a
 *   paragraph would take minutes.
 * - Parsed outputs per second: `Propositions.parse` and `Topics.parse` over the offline
 *   model's answers for those chunks (a title and one proposition per sentence; the topic
 *   grammar with entities, statements and relationships).
 *
 * The chunks are reused by the other benchmarks (record texts; document sizes).
 */
import { Chunker, Document, Propositions, Topics } from "@batch-extract/core"
import { OfflineModel } from "@batch-extract/core/testing"
import { Effect } from "effect"
import { addresses, documentOf } from "./corpus.ts"
import { gc } from "./measure.ts"

/** What benchmark 7 measured, and the chunks it made. */
export interface ChunkingFigures {
  readonly documents: number
  readonly textBytes: number
  readonly chunks: number
  readonly seconds: number
  readonly chunksPerSecond: number
  /** The long-paragraph case: its size, its chunks and the time to chunk it. */
  readonly longParagraph: { readonly bytes: number; readonly chunks: number; readonly seconds: number }
  readonly propositionOutputsPerSecond: number
  readonly topicOutputsPerSecond: number
  /** Mean size of a topic answer, in bytes. */
  readonly topicOutputBytes: number
  /** The chunks, in document order. */
  readonly pool: ReadonlyArray<Chunker.Chunk>
  /** Chunks per document, in document order. */
  readonly chunksPerDocument: ReadonlyArray<number>
}

/** Calls per second of `f` over `inputs`, repeated for at least `minSeconds`. */
const rate = <A>(inputs: ReadonlyArray<A>, f: (input: A) => unknown, minSeconds: number): number => {
  gc()
  let calls = 0
  const start = performance.now()
  let elapsed = 0
  do {
    for (const input of inputs) f(input)
    calls += inputs.length
    elapsed = (performance.now() - start) / 1000
  } while (elapsed < minSeconds)
  return calls / elapsed
}

/** Benchmark 7. */
export const run = (): ChunkingFigures => {
  const documents = addresses().filter((_, i) => i % 3 === 0).map(documentOf)
  // Warm up (the splitter compiles its sentence tokenizer once).
  Effect.runSync(Chunker.chunk(documents[0]!))
  gc()
  const pool: Array<Chunker.Chunk> = []
  const chunksPerDocument: Array<number> = []
  const start = performance.now()
  for (const document of documents) {
    const chunks = Effect.runSync(Chunker.chunk(document))
    pool.push(...chunks)
    chunksPerDocument.push(chunks.length)
  }
  const seconds = (performance.now() - start) / 1000

  const paragraph = documents.map((document) => document.text.replace(/\s+/g, " ")).join(" ").slice(0, 1_500_000)
  gc()
  const paragraphStart = performance.now()
  const paragraphChunks = Effect.runSync(Chunker.chunk(Document.make(paragraph))).length
  const longParagraph = {
    bytes: Buffer.byteLength(paragraph),
    chunks: paragraphChunks,
    seconds: (performance.now() - paragraphStart) / 1000
  }

  const propositionAnswers = pool.map((chunk) => OfflineModel.answerPropositions(chunk.text))
  const topicAnswers = propositionAnswers.map((answer) =>
    OfflineModel.answerTopics(Propositions.parse(answer).propositions.join("\n"))
  )
  return {
    documents: documents.length,
    textBytes: documents.reduce((sum, document) => sum + Buffer.byteLength(document.text), 0),
    chunks: pool.length,
    seconds,
    chunksPerSecond: pool.length / seconds,
    longParagraph,
    propositionOutputsPerSecond: rate(propositionAnswers, Propositions.parse, 1),
    topicOutputsPerSecond: rate(topicAnswers, Topics.parse, 1.5),
    topicOutputBytes: topicAnswers.reduce((sum, answer) => sum + Buffer.byteLength(answer), 0) / topicAnswers.length,
    pool,
    chunksPerDocument
  }
}
