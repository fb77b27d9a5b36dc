/**
 * Chunks for the build tests: the reference's fixture file, and small chunks of our own made
 * with the project's topic parser.
 */
import { Result } from "effect"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as GraphModel from "../../src/build/GraphModel.ts"

/** The reference's fixture file, parsed. */
export const fixtureJson: Record<string, any> = JSON.parse(readFileSync(
  fileURLToPath(new URL("../../../../../shared/fixtures/graphrag-toolkit-extracted-chunk.json", import.meta.url)),
  "utf8"
))

/** The fixture as the build reads it. */
export const fixture: GraphModel.ChunkInput = Result.getOrThrow(GraphModel.decodeChunk(fixtureJson))

/** A fixed build time. */
export const buildTimestamp = 1_760_000_000_000

/** Build options of the tests. */
export const options: GraphModel.Options = { buildTimestamp }

/** The graph of some chunks (the test fails on invalid input). */
export const buildGraph = (chunks: ReadonlyArray<GraphModel.ChunkInput>): GraphModel.Graph =>
  Result.getOrThrow(GraphModel.build(chunks, options))

/** A chunk's contribution (the test fails on invalid input or a skipped chunk). */
export const contributionOf = (chunk: GraphModel.ChunkInput): GraphModel.Contribution => {
  const result = Result.getOrThrow(GraphModel.contribution(chunk, options))
  if (result === undefined) throw new Error(`${chunk.id_} was skipped`)
  return result
}

/** The source of the synthetic chunks, and a chunk of it whose topics are the given model output (the test kit's). */
export { chunk, sourceId } from "../../src/testing/StoreContract.ts"

/** The ids of the nodes of a label. */
export const idsOf = (graph: Pick<GraphModel.Graph, "nodes">, label: GraphModel.NodeLabel): Array<string> =>
  graph.nodes.filter((node) => node.label === label).map((node) => node.id).sort()

/** The edges of a label as `from -> to` pairs (sorted). */
export const pairsOf = (graph: Pick<GraphModel.Graph, "edges">, label: GraphModel.EdgeLabel): Array<string> =>
  graph.edges.filter((edge) => edge.label === label).map((edge) => `${edge.from.id} -> ${edge.to.id}`).sort()
