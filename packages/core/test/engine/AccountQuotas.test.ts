/**
 * `AccountQuotas`: a model's batch quotas found among Bedrock's by the display name in the
 * quota names (listings shaped like Service Quotas', names as AWS spells them), the settings
 * given kept and never read, and every failure to read — a denial, an unreachable service, no
 * answer before the deadline on the `Clock` — falling back to the documented defaults with
 * one warning.
 */
import { AccountQuotas, ServiceError } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import { baseConfig } from "../support.ts"

let code = 0
const quota = (name: string, value: number, applied = true): AccountQuotas.ServiceQuota => ({
  code: `L-${String(++code).padStart(8, "0")}`,
  name,
  value,
  unit: "None",
  applied
})

/** Bedrock's batch quotas of a model, as Service Quotas names them. */
const batchQuotas = (
  model: string,
  values: { jobs: number; min: number; records: number; fileGb: number; jobGb: number }
) => [
  quota(`Sum of in-progress and submitted batch inference jobs using a base model for ${model}`, values.jobs),
  quota(`Minimum number of records per batch inference job for ${model}`, values.min),
  quota(`Records per batch inference job for ${model}`, values.records),
  quota(`Records per input file per batch inference job for ${model}`, values.records),
  quota(`Batch inference input file size (in GB) for ${model}`, values.fileGb),
  quota(`Batch inference job size (in GB) for ${model}`, values.jobGb)
]

const documentedQuotas = { jobs: 10, min: 100, records: 50_000, fileGb: 1, jobGb: 5 }

/** A listing with several models, other quotas between them. */
const listing = [
  quota("On-demand model inference requests per minute for Anthropic Claude 3.5 Haiku", 200),
  ...batchQuotas("Claude 3.5 Haiku", { jobs: 4, min: 50, records: 2_000, fileGb: 0.5, jobGb: 2 }),
  ...batchQuotas("Claude 3.5 Sonnet", documentedQuotas),
  ...batchQuotas("Claude 3.5 Sonnet v2", { jobs: 6, min: 100, records: 30_000, fileGb: 1, jobGb: 5 }),
  ...batchQuotas("Nova Lite V1", { jobs: 20, min: 100, records: 50_000, fileGb: 1, jobGb: 100 }),
  ...batchQuotas("Llama 4 Maverick", { jobs: 3, min: 100, records: 10_000, fileGb: 1, jobGb: 5 }),
  ...batchQuotas("Llama 3.2 1B Instruct", { jobs: 5, min: 100, records: 50_000, fileGb: 1, jobGb: 5 }),
  quota("Batch inference job size for Qwen3 235B (in GB)", 5),
  quota("Records per batch inference job for Qwen3 235B", 20_000),
  quota("Model units per provisioned model for Claude 3.5 Haiku", 0)
]

/** A port that fails the test if it is asked. */
const neverAsked = Layer.succeed(
  AccountQuotas.AccountQuotas,
  AccountQuotas.AccountQuotas.of({ listBedrock: Effect.die("the quotas were read") })
)

const failing = (error: ServiceError.ServiceError) =>
  Layer.succeed(AccountQuotas.AccountQuotas, AccountQuotas.AccountQuotas.of({ listBedrock: Effect.fail(error) }))

describe("AccountQuotas", () => {
  it("model ids become the words of their display names", () => {
    assert.deepStrictEqual(AccountQuotas.modelTokens("us.anthropic.claude-3-5-sonnet-20241022-v2:0"), [
      "anthropic",
      "claude",
      "3.5",
      "sonnet",
      "v2"
    ])
    assert.deepStrictEqual(AccountQuotas.modelTokens("meta.llama3-2-11b-instruct-v1:0"), [
      "meta",
      "llama",
      "3.2",
      "11b",
      "instruct",
      "v1"
    ])
    assert.deepStrictEqual(
      AccountQuotas.modelTokens("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"),
      ["amazon", "nova", "lite", "v1"]
    )
    assert.deepStrictEqual(
      AccountQuotas.modelTokens(
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/global.anthropic.claude-sonnet-4-5-20250929-v1:0"
      ),
      ["anthropic", "claude", "sonnet", "4.5", "v1"]
    )
    assert.isUndefined(
      AccountQuotas.modelTokens("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123")
    )
  })

  it("a model's quotas: by its display name, the most specific one, sizes in GB, records the lower of job and file", () => {
    const haiku = AccountQuotas.match(
      [...listing, quota("Records per input file per batch inference job for Claude 3.5 Haiku", 1_500)],
      "us.anthropic.claude-3-5-haiku-20241022-v1:0"
    )
    assert.strictEqual(haiku.displayName, "Claude 3.5 Haiku")
    assert.deepStrictEqual(haiku.values, {
      maxConcurrentJobs: 4,
      minRecordsPerJob: 50,
      maxRecordsPerJob: 1_500,
      maxInputFileBytes: 500_000_000,
      maxJobBytes: 2_000_000_000
    })
    assert.strictEqual(
      haiku.matched.find((m) => m.setting === "maxRecordsPerJob")?.quotaName,
      "Records per input file per batch inference job for Claude 3.5 Haiku"
    )
    // "Claude 3.5 Sonnet v2" for the v2 model; "Claude 3.5 Sonnet" for the first one.
    assert.strictEqual(
      AccountQuotas.match(listing, "anthropic.claude-3-5-sonnet-20241022-v2:0").values.maxRecordsPerJob,
      30_000
    )
    assert.strictEqual(
      AccountQuotas.match(listing, "us.anthropic.claude-3-5-sonnet-20240620-v1:0").displayName,
      "Claude 3.5 Sonnet"
    )
    // A name that leaves out the size (Llama 4), and "(in GB)" after the model name.
    assert.strictEqual(
      AccountQuotas.match(listing, "us.meta.llama4-maverick-17b-instruct-v1:0").values.maxRecordsPerJob,
      10_000
    )
    const qwen = AccountQuotas.match(listing, "qwen.qwen3-235b-a22b-2507-v1:0")
    assert.strictEqual(qwen.displayName, "Qwen3 235B")
    assert.deepStrictEqual(qwen.values, { maxJobBytes: 5_000_000_000, maxRecordsPerJob: 20_000 })
    assert.include(qwen.notes.join("\n"), "no quota for maxConcurrentJobs")
  })

  it("never another model's quotas: other numbers, another version, sizes that differ", () => {
    // Nova 2 Lite is not Nova Lite V1; Llama 3.2 11B is not 1B; Claude 3.7 Sonnet is not listed.
    for (
      const modelId of [
        "us.amazon.nova-2-lite-v1:0",
        "meta.llama3-2-11b-instruct-v1:0",
        "anthropic.claude-3-7-sonnet-20250219-v1:0"
      ]
    ) {
      const found = AccountQuotas.match(listing, modelId)
      assert.deepStrictEqual(found.matched, [], modelId)
      assert.isUndefined(found.displayName, modelId)
    }
    // Two names that fit equally: neither is used.
    const twins = AccountQuotas.match(
      [
        quota("Records per batch inference job for Nova Lite", 1),
        quota("Records per batch inference job for Lite V1", 2)
      ],
      "amazon.nova-lite-v1:0"
    )
    assert.deepStrictEqual(twins.values, {})
    assert.match(twins.notes.join("\n"), /several models/)
  })

  it.effect("settings given are kept and not read; the rest read; maxBatchSize kept within the account's", () =>
    Effect.gen(function*() {
      const all = yield* AccountQuotas.configure({
        ...baseConfig,
        maxConcurrentJobs: 2,
        minRecordsPerJob: 100,
        maxRecordsPerJob: 500,
        maxInputFileBytes: 10_000,
        maxJobBytes: 20_000,
        maxBatchSize: 400
      }).pipe(Effect.provide(neverAsked))
      assert.strictEqual(all.quotas.source, "settings")
      assert.strictEqual(all.config.maxBatchSize, 400)

      const some = yield* AccountQuotas.configure({ ...baseConfig, maxConcurrentJobs: 1 }).pipe(
        Effect.provide(AccountQuotas.layerStatic(listing))
      )
      assert.strictEqual(some.quotas.source, "service-quotas")
      assert.deepStrictEqual(some.quotas.values, {
        maxConcurrentJobs: 1,
        minRecordsPerJob: 50,
        maxRecordsPerJob: 2_000,
        maxInputFileBytes: 500_000_000,
        maxJobBytes: 2_000_000_000
      })
      assert.strictEqual(some.quotas.sources.maxConcurrentJobs, "settings")
      assert.strictEqual(some.quotas.sources.maxRecordsPerJob, "service-quotas")
      assert.strictEqual(some.config.maxBatchSize, 2_000)
      assert.strictEqual(some.input.maxRecordsPerJob, 2_000)
      assert.match(
        AccountQuotas.describe(some.quotas),
        /from Service Quotas \("Claude 3\.5 Haiku"\); maxConcurrentJobs as set/
      )
    }))

  it.effect("a given maxBatchSize above the account's records per job is refused, naming the quota", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        AccountQuotas.configure({ ...baseConfig, maxBatchSize: 5_000 }).pipe(
          Effect.provide(AccountQuotas.layerStatic(listing))
        )
      )
      assert.strictEqual(error._tag, "InvalidConfig")
      assert.deepStrictEqual(error.issues.map((issue) => issue.path), ["maxBatchSize"])
      assert.match(error.message, /50\.\.2000/)
      assert.include(
        error.message,
        `maxRecordsPerJob 2000: the account's quota "Records per batch inference job for Claude 3.5 Haiku"`
      )
    }))

  it.effect("denied, unreachable, throttled: the documented defaults with one warning naming the cause", () =>
    Effect.gen(function*() {
      const denied = yield* AccountQuotas.configure(baseConfig).pipe(
        Effect.provide(failing(
          new ServiceError.AccessDenied({
            operation: "ListServiceQuotas",
            message: "not authorized",
            exceptionName: "AccessDeniedException"
          })
        ))
      )
      assert.strictEqual(denied.quotas.source, "defaults")
      assert.deepStrictEqual(denied.quotas.values, AccountQuotas.defaults)
      assert.match(
        denied.quotas.warning ?? "",
        /access denied \(AccessDeniedException\): the credentials lack servicequotas:ListServiceQuotas/
      )
      assert.strictEqual(denied.config.maxBatchSize, 25_000)

      const unreachable = yield* AccountQuotas.configure(baseConfig).pipe(
        Effect.provide(
          failing(new ServiceError.Unavailable({ operation: "ListServiceQuotas", message: "connect ECONNREFUSED" }))
        )
      )
      assert.match(unreachable.quotas.warning ?? "", /could not be reached: connect ECONNREFUSED/)

      const throttled = yield* AccountQuotas.configure(baseConfig).pipe(
        Effect.provide(failing(new ServiceError.Throttled({ operation: "ListServiceQuotas", message: "slow down" })))
      )
      assert.match(throttled.quotas.warning ?? "", /throttled/)

      // Listed, but nothing of this model: the defaults, with a warning too.
      const unlisted = yield* AccountQuotas.configure({
        ...baseConfig,
        model: { modelId: "us.anthropic.claude-3-7-sonnet-20250219-v1:0" }
      }).pipe(Effect.provide(AccountQuotas.layerStatic(listing)))
      assert.strictEqual(unlisted.quotas.source, "defaults")
      assert.match(unlisted.quotas.warning ?? "", /is a batch-inference quota of this model/)
    }))

  it.effect("no answer: the defaults once the deadline passes on the Clock (5 seconds)", () =>
    Effect.gen(function*() {
      const hanging = Layer.succeed(
        AccountQuotas.AccountQuotas,
        AccountQuotas.AccountQuotas.of({ listBedrock: Effect.never })
      )
      const fiber = yield* Effect.forkChild(AccountQuotas.configure(baseConfig).pipe(Effect.provide(hanging)))
      yield* TestClock.adjust("4999 millis")
      assert.isUndefined(fiber.pollUnsafe(), "still waiting before the deadline")
      yield* TestClock.adjust("1 millis")
      const configured = yield* Fiber.join(fiber)
      assert.strictEqual(configured.quotas.source, "defaults")
      assert.match(configured.quotas.warning ?? "", /no answer within 5s/)
    }))

  it.effect("offline: the settings given, the defaults for the rest, nothing read", () =>
    Effect.gen(function*() {
      const offline = yield* AccountQuotas.configureOffline({ ...baseConfig, maxConcurrentJobs: 3 }, "local")
      assert.strictEqual(offline.quotas.source, "defaults")
      assert.strictEqual(offline.quotas.sources.maxConcurrentJobs, "settings")
      assert.strictEqual(offline.quotas.sources.maxJobBytes, "default")
      assert.isUndefined(offline.quotas.warning)
      assert.deepStrictEqual(offline.quotas.notes, ["local"])
      assert.deepStrictEqual(offline.quotas.values, { ...AccountQuotas.defaults, maxConcurrentJobs: 3 })
      // Recorded explicitly: a later version's defaults cannot change a recorded run.
      assert.strictEqual(offline.input.maxJobBytes, 5_000_000_000)
    }))
})
