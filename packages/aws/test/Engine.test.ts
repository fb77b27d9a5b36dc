import { BatchConfig, BatchRecord, BatchRunner, JobSlots, ModelFamily, ObjectStore } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Stream } from "effect"
import type * as BedrockEmulator from "../src/BedrockEmulator.ts"
import * as LocalBackend from "../src/LocalBackend.ts"

const kmsKey = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

const config = (overrides: Partial<BatchConfig.BatchConfigInput> = {}) =>
  BatchConfig.decode({
    bucketName: "engine-bucket",
    region: "us-east-1",
    roleArn: "arn:aws:iam::123456789012:role/BedrockBatch",
    model: { modelId: "us.anthropic.claude-3-5-haiku-20241022-v1:0", maxTokens: 2000, temperature: 0 },
    pollInitialSeconds: 0.05,
    pollMaxSeconds: 0.2,
    ...overrides
  }).pipe(Effect.orDie)

const records = (count: number, prefix: string) =>
  Stream.range(0, count - 1).pipe(
    Stream.map((i): BatchRecord.BatchRecord => ({
      recordId: `${prefix}:c${i}`,
      modelInput: ModelFamily.anthropic.buildRequest(
        {
          system: "Extract propositions.",
          user: `<text>Record ${i} was written in Boston. It mentions Alice Smith.</text>`
        },
        { maxTokens: 2000, temperature: 0 }
      )
    }))
  )

/** The local backend for a configuration, plus the process-wide job slots. */
const backend = (cfg: BatchConfig.BatchConfig, options: LocalBackend.Options = {}) =>
  Layer.merge(LocalBackend.layerFromBatchConfig(cfg, options), JobSlots.layerFromConfig(cfg))

describe("the engine on the local emulation (real SDK clients)", () => {
  it.live("runs a full job cycle: stage, create, await, read, retry what failed on demand; KMS on input and output", () =>
    Effect.gen(function*() {
      const cfg = yield* config({ deleteOnSuccess: false, s3EncryptionKeyId: kmsKey, keyPrefix: "corpora/x" })
      const faults: BedrockEmulator.Faults = { recordErrorRate: 0.04, recordMissingRate: 0.04, malformedRate: 0.04 }
      yield* Effect.gen(function*() {
        const { outcomes, summary } = yield* BatchRunner.runCollect(records(250, "doc"), {
          config: cfg,
          runId: "run1",
          stage: "propositions"
        })
        assert.strictEqual(outcomes.length, 250)
        assert.strictEqual(new Set(outcomes.map((o) => o.recordId)).size, 250)
        assert.isTrue(outcomes.every((o) => o._tag === "Succeeded"))
        const onDemand = outcomes.filter((o) => o._tag === "Succeeded" && o.via === "onDemand").length
        assert.isAbove(onDemand, 10, "errored, missing and malformed records were answered on demand")
        assert.strictEqual(summary.records.batch, 250 - onDemand)
        assert.deepStrictEqual(summary.jobs.byStatus, { Completed: 1 })
        const first = outcomes.find((o) => o._tag === "Succeeded" && o.via === "batch")
        assert.isTrue(first?._tag === "Succeeded" && first.output.text.startsWith("Propositions about"))

        const local = yield* LocalBackend.LocalBackend
        const counters = yield* local.bedrock.counters
        assert.strictEqual(counters.jobsCreated, 1)
        assert.strictEqual(counters.callsByOperation.InvokeModel, onDemand)
        // The staged input carries the configured key, the job's outputs the key inside s3OutputDataConfig.
        const objects = yield* ObjectStore.ObjectStore.use((s) =>
          Stream.runCollect(s.list(cfg.bucketName, "corpora/x/"))
        )
        const input = objects.find((o) => o.key.endsWith(".jsonl"))!
        const outputs = objects.filter((o) => o.key.endsWith(".out"))
        assert.strictEqual(outputs.length, 2)
        for (const object of [input, ...outputs]) {
          const encryption = yield* local.s3.encryptionOf(cfg.bucketName, object.key)
          assert.strictEqual(Option.getOrThrow(encryption).kmsKeyId, kmsKey, object.key)
        }
      }).pipe(Effect.provide(backend(cfg, { emulator: { faults, seed: 3 } })))
    }))

  it.live("embeds texts with Titan Text Embeddings V2 in a batch job end to end: one vector per record", () =>
    Effect.gen(function*() {
      const cfg = yield* config({ model: { modelId: "amazon.titan-embed-text-v2:0" } })
      const family = yield* Effect.fromResult(BatchConfig.modelFamily(cfg))
      const input = Stream.range(0, 119).pipe(
        Stream.map((i): BatchRecord.BatchRecord => ({
          recordId: `emb:c${i}`,
          modelInput: family.embedding!.buildEmbeddingRequest([`Record ${i} was written in Boston.`], "document")
        }))
      )
      yield* Effect.gen(function*() {
        const { outcomes, summary } = yield* BatchRunner.runCollect(input, {
          config: cfg,
          runId: "embeddings",
          stage: "embeddings"
        })
        assert.strictEqual(outcomes.length, 120)
        for (const outcome of outcomes) {
          assert.isTrue(outcome._tag === "Succeeded" && outcome.via === "batch", outcome.recordId)
          if (outcome._tag === "Succeeded") {
            assert.strictEqual(outcome.output.vectors?.length, 1)
            assert.strictEqual(outcome.output.vectors?.[0]?.length, 1024)
          }
        }
        assert.strictEqual(summary.records.batch, 120)
        const local = yield* LocalBackend.LocalBackend
        const counters = yield* local.bedrock.counters
        assert.strictEqual(counters.jobsCreated, 1)
        assert.strictEqual(counters.recordsRejected, 0, "no body refused")
      }).pipe(Effect.provide(backend(cfg, { emulator: { seed: 5 } })))
    }))

  const families = [
    { label: "Anthropic (InvokeModel)", model: { modelId: "us.anthropic.claude-3-5-haiku-20241022-v1:0" } },
    { label: "Amazon Nova (InvokeModel)", model: { modelId: "us.amazon.nova-lite-v1:0" } },
    { label: "Meta Llama (InvokeModel)", model: { modelId: "us.meta.llama3-3-70b-instruct-v1:0" } },
    {
      label: "Converse",
      model: { modelId: "us.amazon.nova-pro-v1:0", invocationType: "Converse" as const }
    }
  ]
  for (const { label, model } of families) {
    it.live(`runs a batch job of ${label} bodies end to end; the service accepts every body`, () =>
      Effect.gen(function*() {
        const cfg = yield* config({ model: { ...model, maxTokens: 2000, temperature: 0 } })
        const family = yield* Effect.fromResult(BatchConfig.modelFamily(cfg))
        const input = Stream.range(0, 149).pipe(
          Stream.map((i): BatchRecord.BatchRecord => ({
            recordId: `fam:c${i}`,
            modelInput: family.buildRequest(
              { system: "Extract propositions.", user: `<text>Record ${i} was written in Boston.</text>` },
              { maxTokens: 2000, temperature: 0 }
            )
          }))
        )
        yield* Effect.gen(function*() {
          const { outcomes, summary } = yield* BatchRunner.runCollect(input, {
            config: cfg,
            runId: "families",
            stage: "propositions",
            reaskCutOff: true
          })
          assert.strictEqual(outcomes.length, 150)
          assert.isTrue(outcomes.every((o) => o._tag === "Succeeded" && o.partialReason === undefined))
          assert.isTrue(
            outcomes.every((o) => o._tag === "Succeeded" && o.output.text.startsWith("Propositions about")),
            "answers read in the family's shape"
          )
          const local = yield* LocalBackend.LocalBackend
          const counters = yield* local.bedrock.counters
          assert.strictEqual(counters.jobsCreated, 1)
          assert.strictEqual(counters.recordsRejected, 0, "no body refused")
          assert.isAbove(counters.recordsTruncated, 0)
          assert.isAbove(counters.recordsErrored, 0)
          // Errored records went on demand, cut-off ones were asked again there: the same body shape.
          assert.strictEqual(
            counters.callsByOperation[model.invocationType === "Converse" ? "Converse" : "InvokeModel"],
            counters.recordsTruncated + counters.recordsErrored
          )
          assert.strictEqual(summary.records.succeeded, 150)
          const [job] = yield* local.bedrock.describedJobs
          assert.strictEqual(job!.modelInvocationType, model.invocationType ?? "InvokeModel")
          assert.strictEqual(job!.modelId, model.modelId)
        }).pipe(Effect.provide(backend(cfg, {
          emulator: { faults: { recordErrorRate: 0.05, truncatedRate: 0.05 }, seed: 4 }
        })))
      }))
  }

  it.live("ten concurrent runs share the emulator's job quota without a refused create reaching them", () =>
    Effect.gen(function*() {
      const cfg = yield* config({ maxConcurrentJobs: 3 })
      yield* Effect.gen(function*() {
        const runs = yield* Effect.forEach(
          Array.from({ length: 10 }, (_, i) => i),
          (i) =>
            BatchRunner.runCollect(records(120, `run${i}`), { config: cfg, runId: `run${i}`, stage: "propositions" }),
          { concurrency: "unbounded" }
        )
        for (const { outcomes, summary } of runs) {
          assert.strictEqual(outcomes.length, 120)
          assert.isTrue(outcomes.every((o) => o._tag === "Succeeded" && o.via === "batch"))
          assert.strictEqual(summary.records.failed, 0)
          assert.deepStrictEqual(summary.jobs.byStatus, { Completed: 1 })
        }
        const local = yield* LocalBackend.LocalBackend
        const counters = yield* local.bedrock.counters
        assert.strictEqual(counters.jobsCreated, 10)
        assert.strictEqual(counters.createsRefused, 0)
        assert.isAtMost(counters.peakConcurrentJobs, 3)
        const slots = yield* JobSlots.JobSlots
        assert.strictEqual(yield* slots.peak, 3)
      }).pipe(Effect.provide(backend(cfg)))
    }))
})
