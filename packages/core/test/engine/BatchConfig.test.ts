import { BatchConfig } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { baseConfig } from "../support.ts"

const issuesOf = (input: unknown) => Effect.map(Effect.flip(BatchConfig.decode(input)), (error) => error.issues)

describe("BatchConfig", () => {
  it.effect("applies the reference's defaults", () =>
    Effect.gen(function*() {
      const config = yield* BatchConfig.decode(baseConfig)
      assert.strictEqual(config.maxBatchSize, 25_000)
      assert.strictEqual(config.maxNumConcurrentBatches, 3)
      assert.strictEqual(config.extractionNumWorkers, 2)
      assert.strictEqual(config.deleteOnSuccess, true)
      assert.strictEqual(config.minRecordsPerJob, 100)
      assert.strictEqual(config.maxRecordsPerJob, 50_000)
      assert.strictEqual(config.timeoutDurationInHours, 24)
      assert.strictEqual(config.model.invocationType, "InvokeModel")
      assert.strictEqual(BatchConfig.runJobConcurrency(config), 6)
    }))

  const invalid: ReadonlyArray<readonly [string, Record<string, unknown>, string, RegExp]> = [
    ["bucket too short", { bucketName: "ab" }, "bucketName", /3 to 63/],
    ["bucket uppercase", { bucketName: "My-Bucket" }, "bucketName", /lowercase/],
    ["bucket as IP", { bucketName: "192.168.1.10" }, "bucketName", /IP address/],
    ["bucket adjacent dots", { bucketName: "a..b" }, "bucketName", /adjacent dots/],
    ["bucket reserved prefix", { bucketName: "xn--bucket" }, "bucketName", /xn--/],
    ["bucket reserved suffix", { bucketName: "bucket-s3alias" }, "bucketName", /-s3alias/],
    ["region", { region: "mars-1" }, "region", /AWS region/],
    ["role ARN", { roleArn: "arn:aws:iam::123:user/x" }, "roleArn", /IAM role ARN/],
    ["KMS key", { s3EncryptionKeyId: "my-key" }, "s3EncryptionKeyId", /KMS key/],
    ["key prefix traversal", { keyPrefix: "a/../b" }, "keyPrefix", /'\.\.'/],
    ["key prefix leading slash", { keyPrefix: "/abs" }, "keyPrefix", /must not start with '\/'/],
    ["key prefix control char", { keyPrefix: "a\u0007b" }, "keyPrefix", /control characters/],
    ["subnets without groups", { subnetIds: ["subnet-0abc1234"] }, "securityGroupIds", /both or neither/],
    ["groups without subnets", { securityGroupIds: ["sg-0abc1234"] }, "subnetIds", /both or neither/],
    [
      "too many subnets",
      {
        subnetIds: Array.from({ length: 17 }, (_, i) => `subnet-0abc${String(i).padStart(4, "0")}`),
        securityGroupIds: ["sg-0abc1234"]
      },
      "subnetIds",
      /1 to 16/
    ],
    [
      "too many groups",
      {
        subnetIds: ["subnet-0abc1234"],
        securityGroupIds: Array.from({ length: 6 }, (_, i) => `sg-0abc${String(i).padStart(4, "0")}`)
      },
      "securityGroupIds",
      /1 to 5/
    ],
    ["bad subnet id", { subnetIds: ["net-1"], securityGroupIds: ["sg-0abc1234"] }, "subnetIds[0]", /subnet id/],
    ["maxBatchSize low", { maxBatchSize: 99 }, "maxBatchSize", /100 to 50000/],
    ["maxBatchSize high", { maxBatchSize: 50_001 }, "maxBatchSize", /100 to 50000/],
    [
      "maxBatchSize above maxRecordsPerJob",
      { maxBatchSize: 30_000, maxRecordsPerJob: 20_000 },
      "maxBatchSize",
      /within/
    ],
    ["maxNumConcurrentBatches", { maxNumConcurrentBatches: 0 }, "maxNumConcurrentBatches", /at least 1/],
    ["workers", { extractionNumWorkers: 1.5 }, "extractionNumWorkers", /whole number/],
    ["maxConcurrentJobs", { maxConcurrentJobs: 0 }, "maxConcurrentJobs", /1 to 1000/],
    ["timeout low", { timeoutDurationInHours: 12 }, "timeoutDurationInHours", /24 to 168/],
    ["timeout high", { timeoutDurationInHours: 200 }, "timeoutDurationInHours", /24 to 168/],
    ["bucket owner", { s3BucketOwner: "12345" }, "s3BucketOwner", /12-digit/],
    ["reserved tag", { tags: { "aws:team": "x" } }, "tags.aws:team", /aws:/],
    ["long tag value", { tags: { team: "x".repeat(257) } }, "tags.team", /256/],
    [
      "too many tags",
      { tags: Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`k${i}`, "v"])) },
      "tags",
      /200/
    ],
    ["byte limits", { maxInputFileBytes: 10_000, maxJobBytes: 5_000 }, "maxInputFileBytes", /maxJobBytes/],
    ["temperature", { model: { temperature: 1.5 } }, "model.temperature", /0 to 1/],
    ["topP", { model: { topP: -0.1 } }, "model.topP", /0 to 1/],
    ["maxTokens", { model: { maxTokens: 0 } }, "model.maxTokens", /whole number/],
    ["unknown family", { model: { modelId: "cohere.command-r-v1:0" } }, "model.modelId", /model family/],
    [
      "application profile",
      {
        model: { modelId: "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123" }
      },
      "model.modelId",
      /model\.family/
    ],
    ["family literal", { model: { family: "gpt" } }, "model.family", /Expected/],
    ["invocation type", { model: { invocationType: "Stream" } }, "model.invocationType", /Expected/],
    ["unknown setting", { maxBatchSzie: 10 }, "maxBatchSzie", /excess/],
    ["wrong type", { deleteOnSuccess: "yes" }, "deleteOnSuccess", /Expected boolean/]
  ]

  for (const [name, override, path, message] of invalid) {
    it.effect(`rejects ${name}`, () =>
      Effect.gen(function*() {
        const issues = yield* issuesOf({ ...baseConfig, ...override })
        const issue = issues.find((i) => i.path === path)
        assert.isDefined(issue, `no issue at ${path}: ${JSON.stringify(issues)}`)
        assert.match(issue!.message, message)
      }))
  }

  it.effect("lists every problem at once, with paths", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(BatchConfig.decode({
        bucketName: "Bad_Bucket",
        region: "nowhere",
        subnetIds: ["subnet-0abc1234"],
        model: { temperature: 9 }
      }))
      const paths = error.issues.map((i) => i.path)
      for (const path of ["bucketName", "region", "roleArn", "securityGroupIds", "model.temperature"]) {
        assert.include(paths, path)
      }
      assert.match(error.message, /invalid configuration \(\d+ problems\)/)
      assert.match(error.message, /roleArn: is required/)
    }))

  it.effect("accepts every KMS key form and VPC lists together", () =>
    Effect.gen(function*() {
      for (
        const key of [
          "1234abcd-12ab-34cd-56ef-1234567890ab",
          "mrk-1234abcd12ab34cd56ef1234567890ab",
          "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
          "alias/my-key",
          "arn:aws:kms:us-east-1:123456789012:alias/my-key"
        ]
      ) {
        const config = yield* BatchConfig.decode({
          ...baseConfig,
          s3EncryptionKeyId: key,
          subnetIds: ["subnet-0abc1234"],
          securityGroupIds: ["sg-0abc1234"]
        })
        assert.strictEqual(config.s3EncryptionKeyId, key)
      }
    }))
})
