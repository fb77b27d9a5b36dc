import { BatchConfig, BatchInference, ModelFamily, ModelRuntime, ObjectStore } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Redacted, Stream } from "effect"
import * as AwsBackend from "../src/AwsBackend.ts"
import * as AwsClients from "../src/AwsClients.ts"
import * as BedrockBatchInference from "../src/BedrockBatchInference.ts"
import * as LocalBackend from "../src/LocalBackend.ts"
import { awaitTerminal, bucket, createRequest, localLayer, stageRecords } from "./fixtures.ts"

const credentials: AwsClients.Credentials = { accessKeyId: "local", secretAccessKey: Redacted.make("very-secret") }

const withEnvironment = (env: Record<string, string>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromUnknown(env))

describe("configuration", () => {
  it.effect("reads the region and the per-service endpoints, the explicit region first", () =>
    Effect.gen(function*() {
      const fromEnvironment = yield* AwsClients.config().pipe(
        withEnvironment({
          AWS_REGION: "eu-west-1",
          AWS_ENDPOINT_URL: "http://127.0.0.1:1000",
          AWS_ENDPOINT_URL_BEDROCK_RUNTIME: "http://127.0.0.1:2000",
          AWS_ENDPOINT_URL_SERVICE_QUOTAS: "http://127.0.0.1:3000"
        })
      )
      assert.deepStrictEqual(fromEnvironment, {
        region: "eu-west-1",
        endpoints: {
          s3: "http://127.0.0.1:1000",
          bedrock: "http://127.0.0.1:1000",
          bedrockRuntime: "http://127.0.0.1:2000",
          serviceQuotas: "http://127.0.0.1:3000"
        }
      })
      const explicit = yield* AwsClients.config({ region: "us-west-2" }).pipe(
        withEnvironment({ AWS_REGION: "eu-west-1" })
      )
      assert.strictEqual(explicit.region, "us-west-2")
      const nothing = yield* AwsClients.config().pipe(withEnvironment({}))
      assert.deepStrictEqual(nothing, {
        region: undefined,
        endpoints: { s3: undefined, bedrock: undefined, bedrockRuntime: undefined, serviceQuotas: undefined }
      })
    }))

  it.effect("keeps secrets redacted", () =>
    Effect.sync(() => {
      const text = JSON.stringify({ credentials }) + String(credentials.secretAccessKey)
      assert.notInclude(text, "very-secret")
    }))

  it.live("AwsBackend from a BatchConfig reaches the endpoints the environment names", () =>
    Effect.gen(function*() {
      const local = yield* LocalBackend.LocalBackend
      const config = yield* BatchConfig.decode({
        bucketName: bucket,
        region: "us-east-1",
        roleArn: "arn:aws:iam::123456789012:role/BedrockBatch"
      }).pipe(Effect.orDie)
      const environment = {
        AWS_ENDPOINT_URL_S3: local.s3.endpoint,
        AWS_ENDPOINT_URL_BEDROCK: local.bedrock.endpoint,
        AWS_ENDPOINT_URL_BEDROCK_RUNTIME: local.bedrock.endpoint
      }
      const calls = yield* Effect.gen(function*() {
        yield* stageRecords("input/env.jsonl", 3)
        const { jobArn } = yield* BatchInference.BatchInference.use((b) =>
          b.createJob(createRequest("env", "input/env.jsonl"))
        )
        assert.strictEqual((yield* awaitTerminal(jobArn)).status, "Completed")
        yield* ModelRuntime.ModelRuntime.use((runtime) =>
          runtime.invoke({
            modelId: config.model.modelId,
            invocationType: "InvokeModel",
            body: ModelFamily.anthropic.buildRequest({ user: "Hello." }, { maxTokens: 10 })
          })
        )
        return (yield* local.bedrock.counters).callsByOperation
      }).pipe(
        Effect.provide(AwsBackend.layer(config, { client: { credentials } })),
        withEnvironment(environment)
      )
      assert.strictEqual(calls.CreateModelInvocationJob, 1)
      assert.strictEqual(calls.InvokeModel, 1)
      assert.isTrue(
        yield* ObjectStore.ObjectStore.use((s) =>
          Stream.runCollect(s.list(bucket, "input/")).pipe(Effect.map((objects) => objects.length === 1))
        )
      )
    }).pipe(Effect.provide(localLayer())))

  it.live("the SDK's own environment variables work unchanged (AWS_ENDPOINT_URL_BEDROCK)", () =>
    Effect.gen(function*() {
      const local = yield* LocalBackend.LocalBackend
      const previous = process.env.AWS_ENDPOINT_URL_BEDROCK
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          process.env.AWS_ENDPOINT_URL_BEDROCK = local.bedrock.endpoint
        }),
        () =>
          Effect.sync(() => {
            if (previous === undefined) delete process.env.AWS_ENDPOINT_URL_BEDROCK
            else process.env.AWS_ENDPOINT_URL_BEDROCK = previous
          })
      )
      // No endpoint given in code: the SDK client resolves it from the environment itself.
      const bedrock = yield* BedrockBatchInference.make({ client: { region: "us-east-1", credentials } })
      const error = yield* Effect.flip(bedrock.getJob("abcdefghijkl"))
      assert.strictEqual(error._tag, "NotFound")
      assert.strictEqual((yield* local.bedrock.counters).callsByOperation.GetModelInvocationJob, 1)
    }).pipe(Effect.provide(localLayer())))
})

describe("layers", () => {
  it.live("LocalBackend.layerFromBatchConfig takes the bucket, quotas and KMS key from the configuration", () =>
    Effect.gen(function*() {
      const config = yield* BatchConfig.decode({
        bucketName: "from-config",
        region: "eu-central-1",
        roleArn: "arn:aws:iam::123456789012:role/BedrockBatch",
        s3EncryptionKeyId: "alias/from-config",
        maxConcurrentJobs: 1,
        minRecordsPerJob: 1,
        maxBatchSize: 100
      }).pipe(Effect.orDie)
      yield* Effect.gen(function*() {
        const local = yield* LocalBackend.LocalBackend
        yield* ObjectStore.putString({ bucket: "from-config", key: "a.txt" }, "a")
        const encryption = yield* local.s3.encryptionOf("from-config", "a.txt")
        assert.strictEqual(encryption._tag === "Some" ? encryption.value.kmsKeyId : undefined, "alias/from-config")
        assert.strictEqual(local.bedrock.region, "eu-central-1")
        assert.strictEqual(local.clientSettings.region, "eu-central-1")
      }).pipe(Effect.provide(LocalBackend.layerFromBatchConfig(config)))
    }))
})
