/**
 * Embedding models as model families of the engine: the exact bodies Titan Text Embeddings V2
 * and Cohere Embed v3 families build, the vectors (and token counts) they read from answers,
 * malformed answers refused with a reason, the model ids that name them; and the engine
 * embedding texts with them — Titan in a batch job, Cohere on demand (batch refuses it).
 */
import { BatchConfig, BatchInference, type BatchRecord, BatchRunner, ModelFamily } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, Stream } from "effect"
import { config, makeEnv, runOnTestClock } from "../support.ts"

const read = (family: ModelFamily.ModelFamily, body: unknown): ModelFamily.ModelOutput =>
  Result.getOrThrow(family.readOutput(body))

const failure = (family: ModelFamily.ModelFamily, body: unknown): string => {
  const result = family.readOutput(body)
  return Result.isFailure(result) ? result.failure : "read"
}

describe("embedding families", () => {
  it("names embedding models by id, inference profile and ARN; other embedding models name none", () => {
    const cases: ReadonlyArray<readonly [string, ModelFamily.FamilyName | undefined]> = [
      ["amazon.titan-embed-text-v2:0", "titan-embed"],
      ["us.amazon.titan-embed-text-v2:0", "titan-embed"],
      ["arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0", "titan-embed"],
      ["cohere.embed-english-v3", "cohere-embed"],
      ["cohere.embed-multilingual-v3", "cohere-embed"],
      ["eu.cohere.embed-english-v3", "cohere-embed"],
      ["arn:aws:bedrock:eu-central-1::foundation-model/cohere.embed-multilingual-v3", "cohere-embed"],
      ["arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.titan-embed-text-v2:0", "titan-embed"],
      // Other bodies: Titan G1 takes no dimensions, Cohere v4 other truncate values.
      ["amazon.titan-embed-text-v1", undefined],
      ["amazon.titan-embed-image-v1", undefined],
      ["cohere.embed-v4:0", undefined],
      ["arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/emb1", undefined]
    ]
    for (const [id, family] of cases) assert.strictEqual(ModelFamily.familyOfModelId(id), family, id)
    const resolved = ModelFamily.resolve({ modelId: "us.amazon.titan-embed-text-v2:0" })
    assert.strictEqual(Result.getOrThrow(resolved), ModelFamily.titanEmbed)
    assert.strictEqual(ModelFamily.families["titan-embed"], ModelFamily.titanEmbed)
    assert.strictEqual(ModelFamily.families["cohere-embed"], ModelFamily.cohereEmbed)
    assert.isTrue(ModelFamily.isEmbedding(ModelFamily.cohereEmbed))
    assert.isFalse(ModelFamily.isEmbedding(ModelFamily.anthropic))
    assert.isUndefined(ModelFamily.anthropic.embedding)
  })

  it("describes each model: dimensions, texts and characters a request, batch support", () => {
    assert.deepInclude(ModelFamily.titanEmbed.embedding!, {
      dimensions: 1024,
      maxTextsPerRequest: 1,
      maxTextCharacters: 50_000,
      batch: true
    })
    assert.deepInclude(ModelFamily.cohereEmbed.embedding!, {
      dimensions: 1024,
      maxTextsPerRequest: 96,
      maxTextCharacters: 2048,
      batch: false
    })
    assert.strictEqual(ModelFamily.titanEmbedWith(256).embedding!.dimensions, 256)
  })

  it("builds Titan bodies: one text, 1,024 normalised dimensions, no query/document distinction (golden)", () => {
    const embedding = ModelFamily.titanEmbed.embedding!
    const golden = { inputText: "Alice lives in Paris.", dimensions: 1024, normalize: true }
    assert.deepStrictEqual(embedding.buildEmbeddingRequest(["Alice lives in Paris."], "document"), golden)
    assert.deepStrictEqual(embedding.buildEmbeddingRequest(["Alice lives in Paris."], "query"), golden)
    assert.deepStrictEqual(
      ModelFamily.titanEmbedWith(512).embedding!.buildEmbeddingRequest(["x"], "document"),
      { inputText: "x", dimensions: 512, normalize: true }
    )
    // The text-family entry point embeds the user turn as a document.
    const body = ModelFamily.titanEmbed.buildRequest({ system: "ignored", user: "Alice lives in Paris." }, {
      maxTokens: 100,
      temperature: 0
    })
    assert.deepStrictEqual(body, golden)
    assert.isUndefined(ModelFamily.titanEmbed.maxTokensOf(body))
    assert.strictEqual(ModelFamily.titanEmbed.withMaxTokens(body, 4096), body)
    // Two texts are not silently merged or dropped: the body is one the service refuses.
    assert.deepStrictEqual(embedding.buildEmbeddingRequest(["a", "b"], "document").inputText, ["a", "b"])
  })

  it("builds Cohere bodies: up to 96 texts cut to 2,048 characters, search_document or search_query (golden)", () => {
    const embedding = ModelFamily.cohereEmbed.embedding!
    assert.deepStrictEqual(embedding.buildEmbeddingRequest(["one", "two"], "document"), {
      texts: ["one", "two"],
      input_type: "search_document",
      truncate: "END"
    })
    assert.deepStrictEqual(embedding.buildEmbeddingRequest(["where?"], "query"), {
      texts: ["where?"],
      input_type: "search_query",
      truncate: "END"
    })
    const long = "é".repeat(2000) + "😀".repeat(100)
    const [cut] = embedding.buildEmbeddingRequest([long], "document").texts as Array<string>
    assert.strictEqual(Array.from(cut!).length, 2048, "cut to 2,048 characters")
    assert.isTrue(cut!.endsWith("😀"), "no surrogate pair split")
    assert.deepStrictEqual(ModelFamily.cohereEmbed.buildRequest({ user: "Alice." }, { maxTokens: 10 }), {
      texts: ["Alice."],
      input_type: "search_document",
      truncate: "END"
    })
    assert.isUndefined(ModelFamily.cohereEmbed.maxTokensOf({ texts: ["x"] }))
  })

  it("reads Titan answers: one vector, the token count, no text (golden)", () => {
    assert.deepStrictEqual(read(ModelFamily.titanEmbed, { embedding: [0.6, -0.8], inputTextTokenCount: 7 }), {
      text: "",
      stopReason: undefined,
      truncated: false,
      usage: { inputTokens: 7, outputTokens: 0 },
      vectors: [[0.6, -0.8]]
    })
    // embeddingsByType.float when `embedding` is absent.
    const byType = read(ModelFamily.titanEmbed, { embeddingsByType: { float: [1, 0] }, inputTextTokenCount: 2 })
    assert.deepStrictEqual(byType.vectors, [[1, 0]])
    assert.strictEqual(read(ModelFamily.titanEmbed, { embedding: [1] }).usage.inputTokens, 0)
  })

  it("reads Cohere answers: one vector per text in order, tokens estimated at 4 characters each (golden)", () => {
    const answer = {
      id: "a1",
      texts: ["abcde", "", "abcd"],
      embeddings: [[1, 0], [0, 1], [0.6, 0.8]],
      response_type: "embeddings_floats"
    }
    assert.deepStrictEqual(read(ModelFamily.cohereEmbed, answer), {
      text: "",
      stopReason: undefined,
      truncated: false,
      // ceil(5/4) + ceil(0/4) + ceil(4/4)
      usage: { inputTokens: 3, outputTokens: 0 },
      vectors: [[1, 0], [0, 1], [0.6, 0.8]]
    })
    const typed = read(ModelFamily.cohereEmbed, {
      id: "a2",
      texts: ["x"],
      embeddings: { float: [[0.5, 0.5]] },
      response_type: "embeddings_by_type"
    })
    assert.deepStrictEqual(typed.vectors, [[0.5, 0.5]])
    assert.strictEqual(ModelFamily.estimateCohereTokens(["a".repeat(9), "bb"]), 4)
  })

  it("refuses malformed embedding answers with a reason", () => {
    const cases: ReadonlyArray<readonly [ModelFamily.ModelFamily, unknown, RegExp]> = [
      [ModelFamily.titanEmbed, null, /not an object/],
      [ModelFamily.titanEmbed, [[0.1]], /not an object/],
      [ModelFamily.titanEmbed, { inputTextTokenCount: 3 }, /no embedding/],
      [ModelFamily.titanEmbed, { embedding: [] }, /no embedding/],
      [ModelFamily.titanEmbed, { embedding: [0.1, "0.2"] }, /no embedding/],
      [ModelFamily.titanEmbed, { embedding: [0.1, Number.NaN] }, /no embedding/],
      [ModelFamily.titanEmbed, { content: [{ type: "text", text: "an Anthropic answer" }] }, /no embedding/],
      [ModelFamily.cohereEmbed, "embeddings", /not an object/],
      [ModelFamily.cohereEmbed, { texts: ["x"] }, /no embeddings/],
      [ModelFamily.cohereEmbed, { embeddings: [[0.1], "x"] }, /no embeddings/],
      [ModelFamily.cohereEmbed, { embeddings: { int8: [[1]] } }, /no embeddings/],
      [ModelFamily.cohereEmbed, { embeddings: [0.1, 0.2] }, /no embeddings/],
      [ModelFamily.cohereEmbed, { texts: ["a", "b"], embeddings: [[0.1]] }, /1 embeddings for 2 texts/]
    ]
    for (const [family, body, reason] of cases) {
      assert.match(failure(family, body), reason, `${family.name} ${JSON.stringify(body)}`)
    }
    // A text family does not read an embedding answer.
    assert.isTrue(Result.isFailure(ModelFamily.anthropic.readOutput({ embedding: [0.1] })))
  })

  it.effect("a configuration whose model is an embedding model decodes, and resolves to its family", () =>
    Effect.gen(function*() {
      for (
        const [modelId, name] of [
          ["amazon.titan-embed-text-v2:0", "titan-embed"],
          ["cohere.embed-multilingual-v3", "cohere-embed"]
        ] as const
      ) {
        const cfg = yield* BatchConfig.decode({
          bucketName: "extract-bucket",
          region: "us-east-1",
          roleArn: "arn:aws:iam::123456789012:role/BedrockBatch",
          model: { modelId }
        })
        assert.strictEqual(Result.getOrThrow(BatchConfig.modelFamily(cfg)).name, name)
      }
    }))
})

/** Embedding records: `count` records of `textsPerRecord` texts each, built by the family. */
const embeddingRecords = (
  family: ModelFamily.ModelFamily,
  count: number,
  textsPerRecord: number
): ReadonlyArray<BatchRecord.BatchRecord> =>
  Array.from({ length: count }, (_, i) => ({
    recordId: `emb:c${i}`,
    modelInput: family.embedding!.buildEmbeddingRequest(
      Array.from({ length: textsPerRecord }, (_, t) => `Chunk ${i} text ${t} was written in Boston by Alice Smith.`),
      "document"
    )
  }))

const norm = (vector: ReadonlyArray<number>) => Math.sqrt(vector.reduce((sum, x) => sum + x * x, 0))

describe("the engine with embedding models", () => {
  it.effect("embeds Titan records in a batch job: one 1,024-dimension unit vector per record, input tokens counted", () =>
    Effect.gen(function*() {
      const cfg = yield* config({ model: { modelId: "amazon.titan-embed-text-v2:0" } })
      const family = yield* Effect.fromResult(BatchConfig.modelFamily(cfg))
      assert.strictEqual(family.name, "titan-embed")
      const env = yield* makeEnv()
      const records = embeddingRecords(family, 120, 1)
      const { outcomes, summary } = yield* runOnTestClock(
        BatchRunner.runCollect(Stream.fromIterable(records), { config: cfg, runId: "emb", stage: "embeddings" }).pipe(
          Effect.provide(env.layer)
        )
      )
      assert.strictEqual(outcomes.length, 120)
      for (const outcome of outcomes) {
        assert.isTrue(outcome._tag === "Succeeded" && outcome.via === "batch", outcome.recordId)
        if (outcome._tag !== "Succeeded") continue
        const vectors = outcome.output.vectors!
        assert.strictEqual(vectors.length, 1)
        assert.strictEqual(vectors[0]!.length, 1024)
        assert.closeTo(norm(vectors[0]!), 1, 1e-9)
        assert.strictEqual(outcome.output.text, "")
        assert.isAbove(outcome.output.usage.inputTokens, 0)
        assert.strictEqual(outcome.output.usage.outputTokens, 0)
      }
      assert.strictEqual(summary.records.batch, 120)
      const counters = yield* env.sim.counters
      assert.strictEqual(counters.jobsCreated, 1)
      assert.strictEqual(counters.recordsRejected, 0, "the service accepts every body")
    }))

  it.effect("embeds Cohere records on demand: 3 texts → 3 vectors in order; a batch job for Cohere is refused", () =>
    Effect.gen(function*() {
      const cfg = yield* config({ model: { modelId: "cohere.embed-english-v3" } })
      const family = yield* Effect.fromResult(BatchConfig.modelFamily(cfg))
      assert.strictEqual(family.name, "cohere-embed")
      const env = yield* makeEnv()
      const [record] = embeddingRecords(family, 1, 3)
      const { outcomes } = yield* runOnTestClock(
        BatchRunner.runCollect(Stream.make(record!), { config: cfg, runId: "emb", stage: "embeddings" }).pipe(
          Effect.provide(env.layer)
        )
      )
      const [outcome] = outcomes
      assert.isTrue(outcome?._tag === "Succeeded" && outcome.via === "onDemand")
      if (outcome?._tag !== "Succeeded") return
      const vectors = outcome.output.vectors!
      assert.strictEqual(vectors.length, 3)
      for (const vector of vectors) {
        assert.strictEqual(vector.length, 1024)
        assert.closeTo(norm(vector), 1, 1e-9)
      }
      assert.notDeepEqual(vectors[0], vectors[1], "one vector per text")
      const texts = record!.modelInput.texts as Array<string>
      assert.strictEqual(outcome.output.usage.inputTokens, ModelFamily.estimateCohereTokens(texts))
      assert.strictEqual(yield* env.runtime.calls, 1)

      // Bedrock batch inference does not take Cohere Embed: the service refuses the job.
      const refused = yield* BatchInference.BatchInference.use((bedrock) =>
        bedrock.createJob({
          jobName: "cohere-batch",
          roleArn: "arn:aws:iam::123456789012:role/BedrockBatch",
          modelId: "cohere.embed-english-v3",
          clientRequestToken: "cohere-batch-token",
          inputDataConfig: { s3InputDataConfig: { s3Uri: "s3://extract-bucket/in.jsonl", s3InputFormat: "JSONL" } },
          outputDataConfig: { s3OutputDataConfig: { s3Uri: "s3://extract-bucket/out/" } }
        })
      ).pipe(Effect.provide(env.layer), Effect.flip)
      assert.strictEqual(refused._tag, "InvalidRequest")
      assert.match(refused.message, /does not support batch inference/)
    }))
})
