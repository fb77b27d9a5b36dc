/**
 * The command's settings derive from the library's declarations (`BatchConfig.settings`,
 * `ExtractionConfig.settings`): every setting has its flag (shown by `--help` with its
 * environment variables), its environment and config-file names, and its row in the README's
 * configuration table; `gather` merges flags > environment > config file > defaults.
 *
 * README.md's table is checked against `Settings.readmeTable()`. After changing a
 * declaration, regenerate it with `npm run readme:settings`
 * (`vitest run packages/cli/test/Settings.test.ts --update`).
 */
import { BatchConfig, BuildConfig, ExtractionConfig, Setting } from "@batch-extract/core"
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as Settings from "../src/Settings.ts"
import * as Cli from "./support/cli.ts"

const readmePath = fileURLToPath(new URL("../../../README.md", import.meta.url))

/** README.md with its configuration table replaced by the one the declarations render. */
const readmeWithGeneratedTable = (readme: string): string => {
  const lines = readme.split("\n")
  const start = lines.findIndex((line) => line.trim() === Settings.readmeHeader)
  assert.isAtLeast(start, 0, `README.md has no table starting with ${Settings.readmeHeader}`)
  let end = start
  while (end < lines.length && lines[end]!.startsWith("|")) end++
  return [...lines.slice(0, start), Settings.readmeTable(), ...lines.slice(end)].join("\n")
}

const byName = (name: string) => {
  const spec = Settings.specs.find((s) => s.path.join(".") === name)
  assert.isDefined(spec, name)
  return spec!
}

describe("settings", () => {
  it("README.md's configuration table is the one the declarations render", async () => {
    const readme = readFileSync(readmePath, "utf8")
    // Fails with a diff when the table is stale; `--update` writes the rendered table.
    await expect(readmeWithGeneratedTable(readme)).toMatchFileSnapshot(readmePath)
  })

  it("every declared setting is a spec, in declaration order, with its names", () => {
    const declared = [
      ...Setting.entries(BatchConfig.settings).map((entry) => `batch.${entry.name}`),
      ...Setting.entries(ExtractionConfig.settings).map((entry) => `extraction.${entry.name}`),
      ...Setting.entries(BuildConfig.settings).map((entry) => `build.${entry.name}`)
    ]
    assert.deepStrictEqual(Settings.specs.map((spec) => spec.path.join(".")), declared)
    assert.strictEqual(Settings.specs.filter((spec) => spec.flag !== undefined).length, 47)

    // No flag, environment variable or config-file name belongs to two settings.
    for (
      const names of [
        Settings.specs.flatMap((spec) => spec.flag === undefined ? [] : [spec.flag]),
        Settings.specs.flatMap(Settings.envNames),
        Settings.specs.flatMap(Settings.fileNames)
      ]
    ) {
      assert.deepStrictEqual(names.filter((name, i) => names.indexOf(name) !== i), [])
    }

    const model = byName("batch.model.modelId")
    assert.strictEqual(model.flag, "model")
    assert.deepStrictEqual(Settings.envNames(model), ["BATCH_EXTRACT_MODEL_ID", "EXTRACTION_MODEL"])
    assert.deepStrictEqual(Settings.fileNames(model), ["modelId", "model_id", "model", "extraction_llm"])
    assert.deepStrictEqual(Settings.envNames(byName("batch.region")), ["BATCH_EXTRACT_REGION", "AWS_REGION"])
    assert.deepStrictEqual(Settings.envNames(byName("batch.extractionNumWorkers")), [
      "BATCH_EXTRACT_EXTRACTION_NUM_WORKERS",
      "EXTRACTION_NUM_WORKERS"
    ])
    assert.deepStrictEqual(Settings.fileNames(byName("batch.maxNumConcurrentBatches")), [
      "maxNumConcurrentBatches",
      "max_num_concurrent_batches"
    ])
    assert.strictEqual(byName("extraction.enablePropositionExtraction").flag, "propositions")
    // The build's settings: `--model` stays the extraction model.
    assert.strictEqual(byName("build.embeddingModel").flag, "embedding-model")
    assert.deepStrictEqual(Settings.envNames(byName("build.embeddingModel")), [
      "BATCH_EXTRACT_EMBEDDING_MODEL",
      "EMBEDDINGS_MODEL"
    ])
    assert.strictEqual(byName("build.graphStore").flag, "graph-store")
    // Prompt templates: config file (or their file flags) only.
    assert.isUndefined(byName("extraction.topicsPrompt").flag)
    assert.deepStrictEqual(Settings.envNames(byName("extraction.topicsPrompt")), [])
  })

  it("gather: flags win over the environment, which wins over the file, which wins over the defaults", () => {
    const gathered = Settings.gather({
      defaults: { "batch.bucketName": "from-defaults", "batch.region": "us-east-1", "batch.maxBatchSize": 100 },
      file: {
        bucket_name: "from-file",
        region: "eu-west-1",
        max_batch_size: 200,
        max_tokens: 300,
        model: { model_id: "from-file-model" },
        extraction: { chunk_size: 64, propositions_prompt: { user: "{text}" } }
      },
      env: { AWS_REGION: "eu-central-1", BATCH_EXTRACT_MAX_BATCH_SIZE: "400", EXTRACTION_MODEL: "from-env-model" },
      flags: { "max-batch-size": "500", propositions: false }
    })
    assert.deepStrictEqual(gathered.issues, [])
    assert.deepStrictEqual(gathered.batch, {
      bucketName: "from-file",
      region: "eu-central-1",
      maxBatchSize: 500,
      model: { maxTokens: 300, modelId: "from-env-model" }
    })
    assert.deepStrictEqual(gathered.extraction, {
      chunkSize: 64,
      propositionsPrompt: { user: "{text}" },
      enablePropositionExtraction: false
    })
  })

  it("gather: build settings from flags, the environment and the config file (flat or in `build`)", () => {
    const nested = Settings.gather({
      file: { build: { embedding_model: "cohere.embed-english-v3", chunks_per_write: 10 }, indexes: ["chunk"] },
      env: { BATCH_EXTRACT_GRAPH_STORE: "pglite:///tmp/env-graph" },
      flags: { "vector-store": "pglite:///tmp/flag-vectors", "chunks-per-write": "20" }
    })
    assert.deepStrictEqual(nested.issues, [])
    assert.deepStrictEqual(nested.build, {
      embeddingModel: "cohere.embed-english-v3",
      chunksPerWrite: 20,
      indexes: ["chunk"],
      graphStore: "pglite:///tmp/env-graph",
      vectorStore: "pglite:///tmp/flag-vectors"
    })
    assert.deepStrictEqual(nested.batch, {})
    const listed = Settings.gather({ env: {}, flags: { indexes: "statement", "embedding-model": "m" } })
    assert.deepStrictEqual(listed.build, { indexes: ["statement"], embeddingModel: "m" })
  })

  it("gather: unknown file keys and values that cannot be converted are reported with where they came from", () => {
    const gathered = Settings.gather({
      file: { bucket: "typo", tags: [{ key: "team", value: "graph" }] },
      env: { BATCH_EXTRACT_DELETE_ON_SUCCESS: "perhaps", BATCH_EXTRACT_CHUNK_SIZE: "big" },
      flags: { tags: "novalue" }
    })
    assert.deepStrictEqual([...gathered.issues].sort((a, b) => a.path.localeCompare(b.path)), [
      { path: "chunkSize", message: "must be a number, got \"big\" (from environment (BATCH_EXTRACT_CHUNK_SIZE))" },
      { path: "config.bucket", message: "is not a setting batch-extract knows" },
      {
        path: "deleteOnSuccess",
        message: "must be true or false, got \"perhaps\" (from environment (BATCH_EXTRACT_DELETE_ON_SUCCESS))"
      },
      { path: "tags", message: "must be KEY=VALUE pairs, got \"novalue\" (from --tags)" }
    ])
    // The reference's list of {key, value} tags is accepted in a file.
    const fromFile = Settings.gather({ file: { tags: [{ key: "team", value: "graph" }] }, env: {}, flags: {} })
    assert.deepStrictEqual(fromFile.batch, { tags: { team: "graph" } })
  })

  it.live("`extract --help` shows every setting's flag with its environment variables", () =>
    Effect.gen(function*() {
      const exit = yield* Cli.run(["extract", "--help"], { env: Cli.cleanEnv({}) })
      assert.strictEqual(exit.code, 0, Cli.describe(exit))
      for (const spec of Settings.specs) {
        if (spec.flag === undefined) continue
        const line = exit.stdout.split("\n").find((l) => l.trimStart().startsWith(`--${spec.flag} `))
        assert.isDefined(line, `--${spec.flag} is listed`)
        for (const name of Settings.envNames(spec)) assert.include(line, name, `--${spec.flag} names ${name}`)
      }
    }), 60_000)
})
