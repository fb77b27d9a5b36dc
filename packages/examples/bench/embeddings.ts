/**
 * Benchmark 11: embedding records through the engine's staging and output parsing, each
 * against its floor — benchmarks 1 and 2's measurements (`throughput.ts`) on Amazon Titan Text
 * Embeddings V2 records as the build stage (`Build.ts`) makes them.
 *
 * - Texts: the chunks of the chunking benchmark and their sentences (statement-like texts),
 *   each text once; a record per text, `recordId` as the build's (`statement.<node id>.<12 hex
 *   of the digest>`), `modelInput` the family's `buildEmbeddingRequest([text], "document")`.
 * - Staging: `BatchRunner.run` up to the create call; floor: the same records
 *   `JSON.stringify`'d and written the same way.
 * - Output: the offline model's Titan answers (`{embedding, inputTextTokenCount, …}`, 1,024
 *   numbers) as job output lines in shuffled order, read back and classified by
 *   `BatchJob.classifyOutputFile` with the Titan family; floor: read the same bytes and
 *   `JSON.parse` each line.
 */
import { type BatchRecord, Build, type Chunker, GraphModel, ModelFamily } from "@batch-extract/core"
import {
  offlineAnswer,
  outputOf,
  type RecordSource,
  stagingConfigFor,
  stagingOf,
  type Throughput
} from "./throughput.ts"

/** The embedding model of the records (the build's default). */
export const model = "amazon.titan-embed-text-v2:0"

/** What benchmark 11 measured. */
export interface EmbeddingsFigures {
  /** Distinct texts taken from the chunks (chunks and sentences); records cycle through them beyond. */
  readonly texts: number
  /** Mean length of a record's text, in characters. */
  readonly meanTextCharacters: number
  readonly staging: Throughput
  readonly output: Throughput
}

/** A statement-like text and the topic it is filed under (part of its node id). */
interface Text {
  readonly topic: string
  readonly text: string
}

/** Sentences of a chunk: split after `.`, `!` or `?` followed by white space; short ones dropped. */
const sentencesOf = (text: string): Array<string> =>
  text.split(/(?<=[.!?])\s+/).map((sentence) => sentence.replace(/\s+/g, " ").trim()).filter((sentence) =>
    sentence.length >= 20
  )

/**
 * The texts to embed, in chunk order: each chunk's text, then its sentences; a text already
 * seen (overlapping chunks repeat sentences) is kept once, as the build embeds a statement once.
 */
export const textsOf = (pool: ReadonlyArray<Chunker.Chunk>): ReadonlyArray<Text> => {
  const seen = new Set<string>()
  const texts: Array<Text> = []
  const add = (topic: string, text: string) => {
    if (seen.has(text)) return
    seen.add(text)
    texts.push({ topic, text })
  }
  for (const chunk of pool) {
    const title = chunk.metadata.title
    const topic = typeof title === "string" ? title : "State of the Union"
    add(topic, chunk.text)
    for (const sentence of sentencesOf(chunk.text)) add(topic, sentence)
  }
  return texts
}

/** The records of benchmark 11: one per text (cycling, with the topic numbered, beyond the texts). */
export const embeddingSource = (texts: ReadonlyArray<Text>): RecordSource => {
  const family = ModelFamily.titanEmbed
  const embedding = family.embedding!
  const record = (i: number): BatchRecord.BatchRecord => {
    const { text, topic } = texts[i % texts.length]!
    const cycle = Math.floor(i / texts.length)
    const input = text.slice(0, embedding.maxTextCharacters)
    return {
      recordId: Build.recordIdOf({
        index: "statement",
        id: GraphModel.statementId(cycle === 0 ? topic : `${topic} (${cycle})`, text),
        digest: Build.digestOf(model, embedding.dimensions, text)
      }),
      modelInput: embedding.buildEmbeddingRequest([input], "document")
    }
  }
  return {
    record,
    config: stagingConfigFor(model),
    family,
    stage: Build.stage,
    answers: (n) =>
      Array.from({ length: Math.min(n, texts.length) }, (_, i) => offlineAnswer(family, record(i).modelInput))
  }
}

/** Benchmark 11: staging and output throughput of `n` embedding records. */
export const run = async (pool: ReadonlyArray<Chunker.Chunk>, n: number, root: string): Promise<EmbeddingsFigures> => {
  const texts = textsOf(pool)
  const source = embeddingSource(texts)
  let characters = 0
  for (let i = 0; i < n; i++) characters += texts[i % texts.length]!.text.length
  // A job's staging takes a fraction of a second here: best of seven runs instead of three.
  const staging = await stagingOf(source, n, root, 7)
  // Jobs of 25,000 as in benchmark 2 (so one job here); the warm-up reads 5,000 records (it
  // warms the paths, not the volume).
  const output = await outputOf(source, n, root, 25_000, 5_000)
  return { texts: texts.length, meanTextCharacters: characters / n, staging, output }
}
