import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as BuildConfig from "../../src/build/BuildConfig.ts"
import { config } from "../support.ts"

describe("BuildConfig", () => {
  it.effect("defaults to Titan Text Embeddings V2, the chunk and statement indexes, the default store", () =>
    Effect.gen(function*() {
      const build = yield* BuildConfig.decode({})
      assert.deepStrictEqual(build, {
        embeddingModel: "amazon.titan-embed-text-v2:0",
        indexes: ["chunk", "statement"],
        chunksPerWrite: 50
      })
    }))

  it.effect("lists every problem under build.: a text model, a store URL of no known scheme, an unknown index", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(BuildConfig.decode({
        embeddingModel: "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        graphStore: "neo4j://localhost",
        vectorStore: "pglite://",
        indexes: ["chunk", "entity"]
      }))
      const paths = error.issues.map((issue) => issue.path).sort()
      assert.deepStrictEqual(paths, ["build.graphStore", "build.indexes[1]", "build.vectorStore"])
      const model = yield* Effect.flip(BuildConfig.decode({ embeddingModel: "anthropic.claude-3-haiku-20240307-v1:0" }))
      assert.deepStrictEqual(model.issues.map((issue) => issue.path), ["build.embeddingModel"])
      assert.include(model.issues[0]!.message, "is not an embedding model")
    }))

  it.effect("embeds with the run's engine settings and the embedding model", () =>
    Effect.gen(function*() {
      const batch = yield* config()
      const build = yield* BuildConfig.decode({ embeddingModel: "cohere.embed-english-v3" })
      const embedding = BuildConfig.embeddingBatchConfig(batch, build)
      assert.strictEqual(embedding.model.modelId, "cohere.embed-english-v3")
      assert.strictEqual(embedding.bucketName, batch.bucketName)
      assert.strictEqual(BuildConfig.directoryOf("pglite:///data/graph"), "/data/graph")
    }))
})
