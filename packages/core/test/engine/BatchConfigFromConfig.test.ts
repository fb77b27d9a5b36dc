/**
 * `BatchConfig.config` / `BatchConfig.layerConfig`: the batch settings read through Effect
 * `Config`, under the environment names their declarations give (`BATCH_EXTRACT_<SNAKE>`,
 * plus the reference's `AWS_REGION`, `EXTRACTION_MODEL`, `EXTRACTION_NUM_WORKERS`), validated
 * like `BatchConfig.decode`, every problem at once, each at its environment variable.
 */
import { BatchConfig, Setting } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Config, ConfigProvider, Effect } from "effect"

const required = {
  BATCH_EXTRACT_BUCKET_NAME: "extract-bucket",
  AWS_REGION: "eu-west-1",
  BATCH_EXTRACT_ROLE_ARN: "arn:aws:iam::123456789012:role/BedrockBatch"
}

/** The messages of a failed Config, one per problem, with the variable each is at. */
const problemsOf = (error: Config.ConfigError): ReadonlyArray<string> =>
  error.cause.message.split("\n").reduce<Array<string>>((lines, line) => {
    if (line.startsWith("  at ")) lines[lines.length - 1] += ` ${line.trim()}`
    else lines.push(line)
    return lines
  }, [])

describe("BatchConfig from Effect Config", () => {
  it.effect("reads every setting from the environment under its names, with the declared defaults", () =>
    Effect.gen(function*() {
      const provider = ConfigProvider.fromEnv({
        env: {
          ...required,
          BATCH_EXTRACT_MAX_BATCH_SIZE: "1000",
          EXTRACTION_NUM_WORKERS: "4",
          EXTRACTION_MODEL: "us.amazon.nova-pro-v1:0",
          BATCH_EXTRACT_TEMPERATURE: "0.5",
          BATCH_EXTRACT_DELETE_ON_SUCCESS: "false",
          BATCH_EXTRACT_SUBNET_IDS: "subnet-0abc1234, subnet-0abc5678",
          BATCH_EXTRACT_SECURITY_GROUP_IDS: "sg-0abc1234",
          BATCH_EXTRACT_TAGS: "team=graph,cost=research",
          BATCH_EXTRACT_POLL_INITIAL_SECONDS: "0.5",
          UNRELATED: "ignored"
        }
      })
      const config = yield* BatchConfig.config.parse(provider)
      assert.strictEqual(config.bucketName, "extract-bucket")
      assert.strictEqual(config.region, "eu-west-1")
      assert.strictEqual(config.maxBatchSize, 1000)
      assert.strictEqual(config.extractionNumWorkers, 4)
      assert.strictEqual(config.model.modelId, "us.amazon.nova-pro-v1:0")
      assert.strictEqual(config.model.temperature, 0.5)
      assert.strictEqual(config.deleteOnSuccess, false)
      assert.deepStrictEqual(config.subnetIds, ["subnet-0abc1234", "subnet-0abc5678"])
      assert.deepStrictEqual(config.tags, { team: "graph", cost: "research" })
      assert.strictEqual(config.pollInitialSeconds, 0.5)
      // Defaults from the declarations.
      assert.strictEqual(config.maxNumConcurrentBatches, BatchConfig.settings.maxNumConcurrentBatches.default)
      assert.strictEqual(config.model.maxTokens, BatchConfig.modelSettings.maxTokens.default)
      assert.strictEqual(config.timeoutDurationInHours, 24)
      // The same as decoding the values directly.
      const decoded = yield* BatchConfig.decode({
        bucketName: "extract-bucket",
        region: "eu-west-1",
        roleArn: required.BATCH_EXTRACT_ROLE_ARN,
        maxBatchSize: 1000,
        extractionNumWorkers: 4,
        deleteOnSuccess: false,
        subnetIds: ["subnet-0abc1234", "subnet-0abc5678"],
        securityGroupIds: ["sg-0abc1234"],
        tags: { team: "graph", cost: "research" },
        pollInitialSeconds: 0.5,
        model: { modelId: "us.amazon.nova-pro-v1:0", temperature: 0.5 }
      })
      assert.deepStrictEqual(config, decoded)
    }))

  it.effect("BATCH_EXTRACT_<NAME> wins over the reference's variable", () =>
    Effect.gen(function*() {
      const provider = ConfigProvider.fromUnknown({
        ...required,
        BATCH_EXTRACT_REGION: "us-west-2",
        BATCH_EXTRACT_MODEL_ID: "us.meta.llama3-3-70b-instruct-v1:0",
        EXTRACTION_MODEL: "us.amazon.nova-pro-v1:0",
        // Native values (not text) from ConfigProvider.fromUnknown work too.
        BATCH_EXTRACT_MAX_TOKENS: 1024,
        BATCH_EXTRACT_SECURITY_GROUP_IDS: ["sg-0abc1234"],
        BATCH_EXTRACT_SUBNET_IDS: ["subnet-0abc1234"]
      })
      const config = yield* BatchConfig.config.parse(provider)
      assert.strictEqual(config.region, "us-west-2")
      assert.strictEqual(config.model.modelId, "us.meta.llama3-3-70b-instruct-v1:0")
      assert.strictEqual(config.model.maxTokens, 1024)
      assert.deepStrictEqual(config.securityGroupIds, ["sg-0abc1234"])
    }))

  it.effect("fails with every problem at once, each at the environment variable that set it", () =>
    Effect.gen(function*() {
      const provider = ConfigProvider.fromEnv({
        env: {
          AWS_REGION: "mars-1",
          BATCH_EXTRACT_MAX_BATCH_SIZE: "50",
          BATCH_EXTRACT_DELETE_ON_SUCCESS: "perhaps",
          EXTRACTION_MODEL: "cohere.command-r-v1:0",
          BATCH_EXTRACT_SUBNET_IDS: "subnet-0abc1234"
        }
      })
      const error = yield* Effect.flip(BatchConfig.config.parse(provider))
      assert.strictEqual(error._tag, "ConfigError")
      const problems = problemsOf(error)
      const expected: ReadonlyArray<readonly [RegExp, string]> = [
        [/^bucketName: is required/, "BATCH_EXTRACT_BUCKET_NAME"],
        [/^deleteOnSuccess: must be true or false, got "perhaps"/, "BATCH_EXTRACT_DELETE_ON_SUCCESS"],
        [/^maxBatchSize: must be a whole number from 100 to 50000, got 50/, "BATCH_EXTRACT_MAX_BATCH_SIZE"],
        [/^model\.modelId: cannot tell the model family/, "EXTRACTION_MODEL"],
        [/^region: must be an AWS region/, "AWS_REGION"],
        [/^roleArn: is required/, "BATCH_EXTRACT_ROLE_ARN"],
        [/^securityGroupIds: .*both or neither/, "BATCH_EXTRACT_SECURITY_GROUP_IDS"]
      ]
      for (const [message, name] of expected) {
        const problem = problems.find((p) => message.test(p))
        assert.isDefined(problem, `${message} in:\n${problems.join("\n")}`)
        assert.include(problem!, `at ["${name}"]`)
      }
      assert.strictEqual(problems.length, expected.length, problems.join("\n"))
    }))

  it.effect("a missing setting names every variable that would set it", () =>
    Effect.gen(function*() {
      const { AWS_REGION: _, ...withoutRegion } = required
      const error = yield* Effect.flip(BatchConfig.config.parse(ConfigProvider.fromUnknown(withoutRegion)))
      assert.deepStrictEqual(problemsOf(error), [
        "region: is required (BATCH_EXTRACT_REGION or AWS_REGION) at [\"BATCH_EXTRACT_REGION\"]"
      ])
    }))

  it.effect("yielded, it reads the current ConfigProvider", () =>
    Effect.gen(function*() {
      const config = yield* BatchConfig.config
      assert.strictEqual(config.bucketName, "extract-bucket")
    }).pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromUnknown(required))))

  it.effect("layerConfig provides CurrentBatchConfig; overrides win over the provider", () =>
    Effect.gen(function*() {
      const config = yield* BatchConfig.CurrentBatchConfig
      assert.strictEqual(config.bucketName, "extract-bucket")
      assert.strictEqual(config.keyPrefix, "my-app")
      assert.strictEqual(config.maxBatchSize, 2000)
      // A group override merges with what the provider set.
      assert.strictEqual(config.model.modelId, "us.amazon.nova-pro-v1:0")
      assert.strictEqual(config.model.temperature, 0)
    }).pipe(
      Effect.provide(BatchConfig.layerConfig({
        keyPrefix: Config.String("MY_APP_PREFIX"),
        maxBatchSize: Config.succeed(2000),
        model: Config.succeed({ temperature: 0 })
      })),
      Effect.provideService(
        ConfigProvider.ConfigProvider,
        ConfigProvider.fromUnknown({
          ...required,
          MY_APP_PREFIX: "my-app",
          BATCH_EXTRACT_MAX_BATCH_SIZE: "not even a number",
          EXTRACTION_MODEL: "us.amazon.nova-pro-v1:0"
        })
      )
    ))

  it.effect("layerConfig fails with the ConfigError; layer from values fails with InvalidConfig", () =>
    Effect.gen(function*() {
      const current = Effect.gen(function*() {
        return yield* BatchConfig.CurrentBatchConfig
      })
      const fromConfig = yield* Effect.flip(
        Effect.provide(current, BatchConfig.layerConfig()).pipe(
          Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromUnknown({}))
        )
      )
      assert.strictEqual(fromConfig._tag, "ConfigError")
      assert.strictEqual(problemsOf(fromConfig).length, 3)
      const fromValues = yield* Effect.flip(
        Effect.provide(
          current,
          BatchConfig.layer({ bucketName: "extract-bucket", region: "x", roleArn: required.BATCH_EXTRACT_ROLE_ARN })
        )
      )
      assert.instanceOf(fromValues, Setting.InvalidConfig)
      assert.instanceOf(fromValues, BatchConfig.InvalidConfig)
      // An invalid value from code is reported at its setting, not at an environment variable.
      const fromCode = yield* Effect.flip(
        Effect.provide(current, BatchConfig.layerConfig({ maxBatchSize: Config.succeed(5) })).pipe(
          Effect.provideService(
            ConfigProvider.ConfigProvider,
            ConfigProvider.fromUnknown({ ...required, BATCH_EXTRACT_MAX_BATCH_SIZE: "1000" })
          )
        )
      )
      assert.deepStrictEqual(problemsOf(fromCode), [
        "maxBatchSize: must be a whole number from 100 to 50000, got 5 at [\"maxBatchSize\"]"
      ])
    }))

  it("each declared setting answers to its environment names", () => {
    const names = Setting.entries(BatchConfig.settings).map((entry) => [entry.name, entry.envNames] as const)
    assert.deepStrictEqual(names.find(([name]) => name === "model.modelId")?.[1], [
      "BATCH_EXTRACT_MODEL_ID",
      "EXTRACTION_MODEL"
    ])
    assert.deepStrictEqual(names.find(([name]) => name === "region")?.[1], ["BATCH_EXTRACT_REGION", "AWS_REGION"])
    assert.strictEqual(names.length, 31)
  })
})
