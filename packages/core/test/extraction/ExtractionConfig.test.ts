/**
 * `ExtractionConfig`: the extraction settings declared once; `Extraction.decodeConfig` is its
 * `decode`; `ExtractionConfig.config` / `layerConfig` read the settings through Effect `Config`
 * under their environment names (`BATCH_EXTRACT_<SNAKE>`, `EXTRACTION_BATCH_SIZE`).
 */
import { Extraction, ExtractionConfig, Prompts, Setting } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Config, ConfigProvider, Effect } from "effect"

describe("ExtractionConfig", () => {
  it.effect("decodes with the declared defaults; Extraction.decodeConfig is the same decoder", () =>
    Effect.gen(function*() {
      const config = yield* ExtractionConfig.decode({})
      assert.strictEqual(config.chunking, "sentence")
      assert.strictEqual(config.chunkSize, ExtractionConfig.settings.chunkSize.default)
      assert.strictEqual(config.chunkOverlap, 25)
      assert.strictEqual(config.enablePropositionExtraction, true)
      assert.deepStrictEqual(config.preferredEntityClassifications, Prompts.defaultEntityClassifications)
      assert.strictEqual(config.extractionBatchSize, 100)
      assert.deepStrictEqual(yield* Extraction.decodeConfig(undefined), config)
      const error = yield* Effect.flip(Extraction.decodeConfig({ chunkSize: 8, prompt: "x" }))
      assert.instanceOf(error, Setting.InvalidConfig)
      assert.deepStrictEqual(error.issues.map((issue) => issue.path).sort(), [
        "extraction.chunkSize",
        "extraction.prompt"
      ])
    }))

  it.effect("reads its settings from Effect Config under their environment names", () =>
    Effect.gen(function*() {
      const provider = ConfigProvider.fromEnv({
        env: {
          BATCH_EXTRACT_CHUNK_SIZE: "512",
          BATCH_EXTRACT_CHUNK_OVERLAP: "0",
          BATCH_EXTRACT_ENABLE_PROPOSITION_EXTRACTION: "no",
          BATCH_EXTRACT_PREFERRED_TOPICS: "policy, economy",
          EXTRACTION_BATCH_SIZE: "20"
        }
      })
      const config = yield* ExtractionConfig.config.parse(provider)
      assert.strictEqual(config.chunkSize, 512)
      assert.strictEqual(config.chunkOverlap, 0)
      assert.strictEqual(config.enablePropositionExtraction, false)
      assert.deepStrictEqual(config.preferredTopics, ["policy", "economy"])
      assert.strictEqual(config.extractionBatchSize, 20)
      assert.strictEqual(config.chunking, "sentence")
    }))

  it.effect("reports every invalid value at its environment variable, with its path under extraction.", () =>
    Effect.gen(function*() {
      const provider = ConfigProvider.fromUnknown({
        BATCH_EXTRACT_CHUNKING: "paragraphs",
        BATCH_EXTRACT_CHUNK_SIZE: "big",
        BATCH_EXTRACT_EXTRACTION_BATCH_SIZE: "0",
        EXTRACTION_BATCH_SIZE: "5"
      })
      const error = yield* Effect.flip(ExtractionConfig.config.parse(provider))
      const message = error.cause.message
      assert.match(message, /extraction\.chunkSize: must be a number, got "big"\n {2}at \["BATCH_EXTRACT_CHUNK_SIZE"\]/)
      assert.match(message, /extraction\.chunking: .*\n {2}at \["BATCH_EXTRACT_CHUNKING"\]/)
      // The first variable set wins: BATCH_EXTRACT_EXTRACTION_BATCH_SIZE over EXTRACTION_BATCH_SIZE.
      assert.match(
        message,
        /extraction\.extractionBatchSize: must be a whole number of at least 1, got 0\n {2}at \["BATCH_EXTRACT_EXTRACTION_BATCH_SIZE"\]/
      )
    }))

  it.effect("layerConfig provides CurrentExtractionConfig; prompt templates come from code", () =>
    Effect.gen(function*() {
      const config = yield* ExtractionConfig.CurrentExtractionConfig
      assert.strictEqual(config.chunking, "none")
      assert.deepStrictEqual(config.topicsPrompt, { user: "Topics of {text}" })
    }).pipe(
      Effect.provide(ExtractionConfig.layerConfig({ topicsPrompt: Config.succeed({ user: "Topics of {text}" }) })),
      Effect.provideService(
        ConfigProvider.ConfigProvider,
        ConfigProvider.fromUnknown({ BATCH_EXTRACT_CHUNKING: "none" })
      )
    ))

  it("the prompt templates have no flag and no environment variable", () => {
    const entries = Setting.entries(ExtractionConfig.settings)
    assert.strictEqual(entries.length, 15)
    for (const entry of entries.filter((e) => e.setting.kind === "object")) {
      assert.isUndefined(entry.flag)
      assert.deepStrictEqual(entry.envNames, [])
    }
  })
})
