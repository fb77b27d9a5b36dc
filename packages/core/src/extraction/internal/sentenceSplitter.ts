/**
 * Sentence-aware, token-bounded splitting: a text becomes chunks of at most `chunkSize`
 * tokens that end at sentence boundaries where possible, each starting with up to
 * `chunkOverlap` tokens of whole trailing pieces of the previous chunk. The chunks are the
 * ones of the `SentenceSplitter` the reference chunks with (`SentenceSplitter(256, 25)`,
 * metadata aware), in its TypeScript form (`@llamaindex/core` 0.6.23), which the tests
 * compare it with.
 *
 * A text too long for a chunk is cut by the first of these that cuts it in two or more
 * pieces, and each piece still too long is cut again the same way:
 * 1. paragraphs (`"\n\n\n"`, kept at the start of the next piece),
 * 2. sentences ({@link splitSentences}),
 * 3. phrases (`[^,.;。？！]+[,.;。？！]?`; text between two of those marks is lost, as in the
 *    reference),
 * 4. words (`" "`, kept at the start of the next piece),
 * 5. characters: code points, as the reference (Python) cuts them, so a character outside
 *    the BMP stays whole (LlamaIndex's TypeScript core cuts UTF-16 units, which leaves lone
 *    surrogates in chunks; that is the one place where the two differ).
 * The pieces are then merged in order into chunks: a piece that does not fit closes the
 * chunk, and the next chunk starts with the overlap, then that piece, even if together they
 * are longer than a chunk. The chunks are trimmed; whitespace-only chunks are dropped.
 *
 * With metadata, the chunk size is reduced by the tokens of the metadata text (which travels
 * with each chunk into the prompts); the overlap is not.
 *
 * Linear in the length of the text: each level cuts its text in one pass (the sentence
 * tokenizer included), every piece is counted once, and a piece is cut again only while it
 * is longer than a chunk. (Counting itself is up to the tokenizer: cl100k_base in
 * `gpt-tokenizer` takes quadratic time over a long run of spaces.)
 *
 * @internal
 */
import { splitSentences } from "./sentenceTokenizer.ts"

/** How to split. */
export interface SplitOptions {
  /** Maximum tokens of a chunk. */
  readonly chunkSize: number
  /** Tokens of whole trailing pieces of a chunk repeated at the start of the next one. */
  readonly chunkOverlap: number
  /** Tokens of a text. */
  readonly countTokens: (text: string) => number
  /** Metadata text whose tokens count against `chunkSize`. */
  readonly metadata?: string | undefined
}

/** A piece of text no longer than a chunk. */
interface Split {
  readonly text: string
  readonly tokens: number
}

const splitKeepingSeparator = (text: string, separator: string): Array<string> =>
  text.split(separator).map((part, index) => index > 0 ? separator + part : part).filter((part) => part !== "")

const phrasePattern = /[^,.;。？！]+[,.;。？！]?/g

/** The cuts, in order of preference. */
const cuts: ReadonlyArray<(text: string) => Array<string>> = [
  (text) => splitKeepingSeparator(text, "\n\n\n"),
  splitSentences,
  (text) => text.match(phrasePattern) ?? [],
  (text) => splitKeepingSeparator(text, " "),
  (text) => Array.from(text)
]

/** The pieces of a text by the first cut that gives two or more. */
const cut = (text: string): ReadonlyArray<string> | undefined => {
  for (const cutOf of cuts) {
    const pieces = cutOf(text)
    if (pieces.length > 1) return pieces
  }
  return undefined
}

/** Append the splits of a text of `tokens` tokens to `splits`. */
const splitInto = (
  splits: Array<Split>,
  text: string,
  tokens: number,
  chunkSize: number,
  countTokens: (text: string) => number
): void => {
  if (tokens <= chunkSize) {
    splits.push({ text, tokens })
    return
  }
  const pieces = cut(text)
  if (pieces === undefined) {
    throw new Error(`a single character has ${tokens} tokens, more than the chunk size (${chunkSize})`)
  }
  for (const piece of pieces) {
    const pieceTokens = countTokens(piece)
    if (pieceTokens <= chunkSize) splits.push({ text: piece, tokens: pieceTokens })
    else splitInto(splits, piece, pieceTokens, chunkSize, countTokens)
  }
}

/** Merge splits into chunks of at most `chunkSize` tokens, with whole-split overlap. */
const merge = (splits: ReadonlyArray<Split>, chunkSize: number, chunkOverlap: number): Array<string> => {
  const chunks: Array<string> = []
  let current: Array<Split> = []
  let currentTokens = 0
  let newChunk = true
  const close = () => {
    chunks.push(current.map((split) => split.text).join(""))
    let start = current.length
    currentTokens = 0
    while (start > 0 && currentTokens + current[start - 1]!.tokens <= chunkOverlap) {
      start--
      currentTokens += current[start]!.tokens
    }
    current = current.slice(start)
    newChunk = true
  }
  let next = 0
  while (next < splits.length) {
    const split = splits[next]!
    if (currentTokens + split.tokens > chunkSize && !newChunk) {
      close()
    } else {
      // A new chunk takes its first split even past the chunk size (after the overlap).
      current.push(split)
      currentTokens += split.tokens
      newChunk = false
      next++
    }
  }
  if (!newChunk) chunks.push(current.map((split) => split.text).join(""))
  const trimmed: Array<string> = []
  for (const chunk of chunks) {
    const text = chunk.trim()
    if (text !== "") trimmed.push(text)
  }
  return trimmed
}

/**
 * Split a text into chunks (see the module doc). Throws when the metadata alone does not fit
 * in a chunk, or a single character does not.
 */
export const splitText = (text: string, options: SplitOptions): Array<string> => {
  let chunkSize = options.chunkSize
  if (options.metadata !== undefined) {
    const metadataTokens = options.countTokens(options.metadata)
    chunkSize -= metadataTokens
    if (chunkSize <= 0) {
      throw new Error(`the metadata (${metadataTokens} tokens) is longer than the chunk size (${options.chunkSize})`)
    }
  }
  if (text === "") return [text]
  const splits: Array<Split> = []
  splitInto(splits, text, options.countTokens(text), chunkSize, options.countTokens)
  return merge(splits, chunkSize, options.chunkOverlap)
}
