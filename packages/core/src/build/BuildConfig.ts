/**
 * `BuildConfig`: the build stage's settings, each declared once with `Setting` (schema,
 * default, flag, environment and config-file names, description, the reference's name), like
 * the batch and extraction settings; the command's flags and the README's table derive from
 * {@link settings}.
 *
 * When to use: decode user input with {@link decode}; {@link embeddingBatchConfig} turns the
 * engine's configuration into the one a build embeds with (`--model` stays the extraction
 * model).
 *
 * Gotchas: issue paths are under `build.` (`build.embeddingModel`).
 *
 * @since 0.3.0
 */
import { Effect, Result, Schema } from "effect"
import type * as BatchConfig from "../engine/BatchConfig.ts"
import * as ModelFamily from "../engine/ModelFamily.ts"
import * as Setting from "../engine/Setting.ts"

/** The embedding model a build uses unless told otherwise (Bedrock batch accepts it). */
export const defaultEmbeddingModel = "amazon.titan-embed-text-v2:0"

/** The store URL schemes the build knows. */
export const storeSchemes: ReadonlyArray<string> = ["pglite://"]

const storeUrl = Schema.String.check(
  Setting.rule((url: string) =>
    storeSchemes.some((scheme) => url.startsWith(scheme) && url.length > scheme.length)
      ? undefined
      : `must be a store URL (${storeSchemes.map((s) => `${s}<directory>`).join(", ")}), got "${url}"`
  )
)

/** Every build setting, declared once. */
export const settings = {
  /** The Bedrock embedding model: Titan Text Embeddings V2 (batch) or Cohere Embed v3 (on demand). */
  embeddingModel: Setting.defaulted(Schema.String, defaultEmbeddingModel, {
    kind: "string",
    description: "Bedrock embedding model (amazon.titan-embed-text-v2:0 in batch, cohere.embed-*-v3 on demand)",
    env: ["EMBEDDINGS_MODEL"],
    reference: "`GraphRAGConfig.embed_model` (`cohere.embed-english-v3`)"
  }),
  /** Where the graph goes (default: the embedded store beside the chunks). */
  graphStore: Setting.optional(storeUrl, {
    kind: "string",
    description: "graph store URL (pglite://<dir>)",
    defaultText: "`pglite://<out>/.batch-extract/graph`",
    reference: "`GraphStoreFactory.for_graph_store(...)`"
  }),
  /** Where the vectors go (default: the graph store's database). */
  vectorStore: Setting.optional(storeUrl, {
    kind: "string",
    description: "vector store URL (pglite://<dir>)",
    defaultText: "the graph store",
    reference: "`VectorStoreFactory.for_vector_store(...)`"
  }),
  /** The vector indexes to build. */
  indexes: Setting.defaulted(Schema.Array(Schema.Literals(["chunk", "statement", "topic"])), ["chunk", "statement"], {
    kind: "list",
    flag: "indexes",
    description: "vector indexes to build (chunk, statement, topic)",
    reference: "`DEFAULT_EMBEDDING_INDEXES`"
  }),
  /** Chunks merged into one graph write. */
  chunksPerWrite: Setting.defaulted(Schema.Number.check(Setting.between(1, 10_000)), 50, {
    kind: "integer",
    description: "chunks merged into one graph write",
    reference: "`GraphRAGConfig.build_batch_size`"
  })
}

/** The build settings. */
export const BuildConfigSchema = Schema.Struct(Setting.fieldsOf(settings))

/** Decoded build settings. */
export type BuildConfig = typeof BuildConfigSchema.Type

/** What a user writes (every field optional). */
export type BuildConfigInput = typeof BuildConfigSchema.Encoded

/** Decode and validate build settings, listing every problem (paths under `build.`). */
export const decode = (input: unknown): Effect.Effect<BuildConfig, Setting.InvalidConfig> =>
  Effect.suspend(() => {
    const decoded = Schema.decodeUnknownResult(BuildConfigSchema)(input ?? {}, {
      errors: "all",
      onExcessProperty: "error"
    })
    const issues: Array<Setting.ConfigIssue> = Result.isFailure(decoded)
      ? Setting.issuesOf(decoded.failure.issue).map((issue) => ({ ...issue, path: `build.${issue.path}` }))
      : []
    if (Result.isSuccess(decoded)) {
      const family = ModelFamily.resolve({ modelId: decoded.success.embeddingModel })
      if (Result.isFailure(family) || !ModelFamily.isEmbedding(family.success)) {
        issues.push({
          path: "build.embeddingModel",
          message: `"${decoded.success.embeddingModel}" is not an embedding model batch-extract knows ` +
            `(amazon.titan-embed-text-v2:0, cohere.embed-english-v3, cohere.embed-multilingual-v3)`
        })
      }
    }
    return issues.length > 0 || Result.isFailure(decoded)
      ? Effect.fail(new Setting.InvalidConfig({ issues }))
      : Effect.succeed(decoded.success)
  })

/** The engine configuration a build embeds with: the run's, with the embedding model. */
export const embeddingBatchConfig = (batch: BatchConfig.BatchConfig, build: BuildConfig): BatchConfig.BatchConfig => ({
  ...batch,
  model: { modelId: build.embeddingModel, maxTokens: batch.model.maxTokens, invocationType: "InvokeModel" }
})

/** The directory of a `pglite://` URL. */
export const directoryOf = (url: string): string => url.slice("pglite://".length)
