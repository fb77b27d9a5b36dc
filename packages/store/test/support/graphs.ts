/**
 * Chunks for the embedded store's own tests (the ports' contract cases bring theirs,
 * `StoreContract` of `@batch-extract/core/testing`): the reference's fixture file and small
 * chunks of our own, as `@batch-extract/core`'s build tests make them
 * (`packages/core/test/build/support.ts`, which another project's tests cannot import).
 */
import { GraphModel, Topics } from "@batch-extract/core"
import { Result } from "effect"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

/** The reference's fixture, as the build reads it. */
export const fixture: GraphModel.ChunkInput = Result.getOrThrow(GraphModel.decodeChunk(JSON.parse(readFileSync(
  fileURLToPath(new URL("../../../../../shared/fixtures/graphrag-toolkit-extracted-chunk.json", import.meta.url)),
  "utf8"
))))

/** Build options of the tests (a fixed build time). */
export const options: GraphModel.Options = { buildTimestamp: 1_760_000_000_000 }

/** The graph of some chunks (the test fails on invalid input). */
export const buildGraph = (chunks: ReadonlyArray<GraphModel.ChunkInput>): GraphModel.Graph =>
  Result.getOrThrow(GraphModel.build(chunks, options))

/** The source of the synthetic chunks. */
const sourceId = "aws::00000001:abcd"

/** A chunk of the synthetic source whose topics are the given model output. */
export const chunk = (
  id: string,
  modelOutput: string,
  options: {
    readonly start?: number
    readonly sourceMetadata?: Record<string, unknown>
    readonly relationships?: Record<string, unknown>
    readonly text?: string
  } = {}
): GraphModel.ChunkInput =>
  Result.getOrThrow(GraphModel.decodeChunk({
    id_: `${sourceId}:${id}`,
    metadata: { [Topics.metadataKey]: Topics.parse(modelOutput).topics },
    relationships: {
      "1": { node_id: sourceId, metadata: options.sourceMetadata ?? { title: "T" } },
      ...options.relationships
    },
    text: options.text ?? `text of ${id}`,
    start_char_idx: options.start ?? 0
  }))
