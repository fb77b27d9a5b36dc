/**
 * Chunks for the embedded store's own tests (the ports' contract cases bring theirs,
 * `StoreContract` of `@batch-extract/core/testing`): the reference's fixture file and small
 * chunks of our own, made by the test kit's `StoreContract.chunk` as core's build tests make them.
 */
import { GraphModel } from "@batch-extract/core"
import { StoreContract } from "@batch-extract/core/testing"
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

/** A chunk of the synthetic source whose topics are the given model output (the test kit's). */
export const chunk = StoreContract.chunk
