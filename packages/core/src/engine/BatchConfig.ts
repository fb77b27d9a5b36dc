/**
 * `BatchConfig`: everything the engine needs to run Bedrock batch jobs, with the reference's
 * settings (camelCase), their defaults, and the limits Bedrock enforces.
 *
 * When to use: decode user input once, at the edge, with {@link decode}. It checks every
 * field Bedrock would reject (bucket-name rules, role ARN, region, KMS key, VPC lists,
 * ranges, tags) and fails with one {@link InvalidConfig} that lists every problem with its
 * path, before any call is made. Apps that read their settings from the environment use
 * {@link config} (an Effect `Config`) or {@link layerConfig} (provides {@link CurrentBatchConfig}).
 *
 * Details: each setting is declared once in {@link settings} (schema, default, flag,
 * environment and config-file names, description, the reference's name; see `Setting`); the
 * schema, the cross-field rules' defaults, {@link config}, the command's flags and the README's
 * table derive from it.
 *
 * Gotchas:
 * - `subnetIds` and `securityGroupIds` go together: both or neither.
 * - `maxBatchSize` must lie within `minRecordsPerJob`..`maxRecordsPerJob`.
 * - Quotas vary by model, region and account: the byte and count limits are settings.
 *
 * @since 0.1.0
 */
import { Config, Context, Effect, Layer, Schema } from "effect"
import * as BatchInference from "./BatchInference.ts"
import * as ModelFamily from "./ModelFamily.ts"
import * as Pricing from "./Pricing.ts"
import * as Setting from "./Setting.ts"
import { type ConfigIssue, InvalidConfig, issuesOf } from "./Setting.ts"

// Configuration problems are shared by every configuration (declared in `Setting`).
export { type ConfigIssue, InvalidConfig, issuesOf } from "./Setting.ts"

// -----------------------------------------------------------------------------
// Field rules
// -----------------------------------------------------------------------------

/** Why a bucket name breaks S3's naming rules, or `undefined` when it is valid. */
export const bucketNameProblem = (name: string): string | undefined => {
  if (name.length < 3 || name.length > 63) return "must be 3 to 63 characters long"
  if (!/^[a-z0-9.-]+$/.test(name)) return "may contain only lowercase letters, digits, dots and hyphens"
  if (!/^[a-z0-9].*[a-z0-9]$/.test(name)) return "must begin and end with a letter or digit"
  if (name.includes("..")) return "must not contain two adjacent dots"
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return "must not be formatted as an IP address"
  for (const prefix of ["xn--", "sthree-", "amzn-s3-demo-"]) {
    if (name.startsWith(prefix)) return `must not start with "${prefix}"`
  }
  for (const suffix of ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]) {
    if (name.endsWith(suffix)) return `must not end with "${suffix}"`
  }
  return undefined
}

/** Why a key prefix is unsafe, or `undefined` when it is fine. */
export const keyPrefixProblem = (prefix: string): string | undefined => {
  if (prefix.startsWith("/")) return "must not start with '/'"

  if (/[\u0000-\u001f\u007f]/.test(prefix)) return "must not contain control characters"
  if (prefix.split("/").some((segment) => segment === ".." || segment === ".")) {
    return "must not contain '.' or '..' path segments"
  }
  if (prefix.includes("//")) return "must not contain empty path segments ('//')"
  if (prefix.length > 512) return "must be at most 512 characters long"
  return undefined
}

const regionPattern = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$/

const { atLeast, between, matching, rule } = Setting

const seconds = rule<number>((value) =>
  value >= 0.01 && value <= 3600 ? undefined : `must be from 0.01 to 3600 seconds, got ${value}`
)

const fraction = rule<number>((value) => (value >= 0 && value <= 1 ? undefined : `must be from 0 to 1, got ${value}`))

const idList = (pattern: RegExp, what: string, maximum: number) =>
  Schema.Array(Schema.String.check(matching(pattern, what))).check(
    rule<ReadonlyArray<string>>((list) =>
      list.length >= 1 && list.length <= maximum ? undefined : `must hold 1 to ${maximum} ids, got ${list.length}`
    )
  )

/** The range of `maxBatchSize` (Bedrock's records per job). */
const batchSizeLimits = { minimum: 100, maximum: 50_000 } as const

// -----------------------------------------------------------------------------
// Settings
// -----------------------------------------------------------------------------

/** The model settings, declared once (schema, default, flag, environment and file names). */
export const modelSettings = {
  /** Foundation-model id or ARN, inference-profile id or ARN, or application-inference-profile ARN. */
  modelId: Setting.defaulted(
    Schema.String.check(rule((s: string) => (s.trim() === "" ? "must not be empty" : undefined))),
    "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
    {
      kind: "string",
      flag: "model",
      description: "model id, inference profile or ARN",
      env: ["EXTRACTION_MODEL"],
      aliases: ["model", "extraction_llm"],
      reference: "`GraphRAGConfig.extraction_llm`"
    }
  ),
  /** Overrides the family the model id names (required for application inference profiles). */
  family: Setting.optional(Schema.Literals(["anthropic", "nova", "llama"]), {
    kind: "string",
    flag: "model-family",
    description: "model family when the id does not say (anthropic, nova, llama)",
    defaultText: "from the model id"
  }),
  maxTokens: Setting.defaulted(Schema.Number.check(between(1, 1_000_000)), 4096, {
    kind: "integer",
    description: "answer token limit",
    reference: "(LLM settings)"
  }),
  temperature: Setting.optional(Schema.Number.check(fraction), {
    kind: "number",
    description: "sampling temperature (sent only when set)",
    reference: "(LLM settings)",
    defaultText: "not sent"
  }),
  topP: Setting.optional(Schema.Number.check(fraction), {
    kind: "number",
    description: "nucleus sampling (sent only when set)",
    reference: "(LLM settings)",
    defaultText: "not sent"
  }),
  invocationType: Setting.defaulted(Schema.Literals(["InvokeModel", "Converse"]), "InvokeModel", {
    kind: "string",
    description: "InvokeModel (native bodies) or Converse"
  })
}

/**
 * Every batch setting, declared once: its schema, default, flag, environment variables,
 * config-file names, description and the reference's name. {@link BatchConfigSchema},
 * {@link config}, the command's flags and the README's table derive from it.
 */
export const settings = {
  bucketName: Setting.required(Schema.String.check(rule(bucketNameProblem)), {
    kind: "string",
    description: "S3 bucket for job inputs and outputs",
    reference: "`BatchConfig.bucket_name`"
  }),
  region: Setting.required(Schema.String.check(matching(regionPattern, "an AWS region such as us-east-1")), {
    kind: "string",
    description: "AWS region of the bucket, the jobs and the model",
    env: ["AWS_REGION"],
    reference: "`BatchConfig.region`"
  }),
  roleArn: Setting.required(
    Schema.String.check(
      matching(BatchInference.patterns.roleArn, "an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
    ),
    {
      kind: "string",
      description: "service role Bedrock assumes to read and write the bucket",
      reference: "`BatchConfig.role_arn`"
    }
  ),
  keyPrefix: Setting.optional(Schema.String.check(rule(keyPrefixProblem)), {
    kind: "string",
    description: "key prefix for everything the run writes to the bucket",
    reference: "`BatchConfig.key_prefix`"
  }),
  maxBatchSize: Setting.defaulted(
    Schema.Number.check(between(batchSizeLimits.minimum, batchSizeLimits.maximum)),
    25_000,
    {
      kind: "integer",
      description: `records per job (${batchSizeLimits.minimum}..${batchSizeLimits.maximum})`,
      reference: "`BatchConfig.max_batch_size`"
    }
  ),
  maxNumConcurrentBatches: Setting.defaulted(Schema.Number.check(atLeast(1)), 3, {
    kind: "integer",
    description: "concurrent jobs per worker",
    reference: "`BatchConfig.max_num_concurrent_batches`"
  }),
  extractionNumWorkers: Setting.defaulted(Schema.Number.check(atLeast(1)), 2, {
    kind: "integer",
    flag: "workers",
    description: "workers (jobs in flight = workers x batches per worker)",
    env: ["EXTRACTION_NUM_WORKERS"],
    reference: "`GraphRAGConfig.extraction_num_workers`"
  }),
  s3EncryptionKeyId: Setting.optional(
    Schema.String.check(
      rule((value: string) =>
        BatchInference.isKmsKey(value)
          ? undefined
          : `must be a KMS key id, key ARN, alias (alias/<name>) or alias ARN, got "${value}"`
      )
    ),
    {
      kind: "string",
      description: "KMS key for the staged input and the job output",
      reference: "`BatchConfig.s3_encryption_key_id`"
    }
  ),
  subnetIds: Setting.optional(idList(/^subnet-[0-9a-f]{8,17}$/, "a subnet id (subnet-<hex>)", 16), {
    kind: "list",
    description: "VPC subnets of the jobs (comma-separated; with --security-group-ids)",
    reference: "`BatchConfig.subnet_ids`"
  }),
  securityGroupIds: Setting.optional(idList(/^sg-[0-9a-f]{8,17}$/, "a security group id (sg-<hex>)", 5), {
    kind: "list",
    description: "VPC security groups of the jobs (comma-separated)",
    reference: "`BatchConfig.security_group_ids`"
  }),
  deleteOnSuccess: Setting.defaulted(Schema.Boolean, true, {
    kind: "boolean",
    description: "delete staged inputs and outputs of completed jobs",
    reference: "`BatchConfig.delete_on_success`"
  }),
  /** The account quota of submitted + in-progress jobs, shared by everything in the process. */
  maxConcurrentJobs: Setting.defaulted(Schema.Number.check(between(1, 1000)), 10, {
    kind: "integer",
    description: "account quota of submitted + in-progress jobs"
  }),
  minRecordsPerJob: Setting.defaulted(Schema.Number.check(atLeast(1)), 100, {
    kind: "integer",
    description: "fewest records a job may hold (quota)"
  }),
  maxRecordsPerJob: Setting.defaulted(Schema.Number.check(atLeast(1)), 50_000, {
    kind: "integer",
    description: "most records a job may hold (quota)"
  }),
  /** Bytes per input file (one file per job here): about 1 GB on Bedrock. */
  maxInputFileBytes: Setting.defaulted(Schema.Number.check(atLeast(1024)), 1_000_000_000, {
    kind: "integer",
    description: "bytes per input file (quota)"
  }),
  /** Bytes per job: about 5 GB on Bedrock. */
  maxJobBytes: Setting.defaulted(Schema.Number.check(atLeast(1024)), 5_000_000_000, {
    kind: "integer",
    description: "bytes per job (quota)"
  }),
  timeoutDurationInHours: Setting.defaulted(Schema.Number.check(between(24, 168)), 24, {
    kind: "integer",
    description: "job timeout (24..168)"
  }),
  s3BucketOwner: Setting.optional(Schema.String.check(matching(/^[0-9]{12}$/, "a 12-digit AWS account id")), {
    kind: "string",
    description: "account that must own the bucket"
  }),
  /** Tags for every job (at most 200; keys 1-128 characters, not starting with `aws:`; values up to 256). */
  tags: Setting.optional(Schema.Record(Schema.String, Schema.String), {
    kind: "tags",
    description: "job tags, KEY=VALUE,KEY=VALUE"
  }),
  /** The model and its inference parameters (sent only when set). */
  model: Setting.group(modelSettings),
  /** Attempts per record, batch and on demand together, before it is reported failed. */
  maxRecordAttempts: Setting.defaulted(Schema.Number.check(between(1, 10)), 3, {
    kind: "integer",
    description: "attempts per record before it is reported failed"
  }),
  onDemandConcurrency: Setting.defaulted(Schema.Number.check(between(1, 256)), 4, {
    kind: "integer",
    description: "concurrent on-demand calls"
  }),
  /** Delay of the first status check after a create (fractions allowed, for local runs). */
  pollInitialSeconds: Setting.defaulted(Schema.Number.check(seconds), 15, {
    kind: "number",
    description: "delay of the first status check",
    reference: "(fixed 60 s)"
  }),
  pollMaxSeconds: Setting.defaulted(Schema.Number.check(seconds), 300, {
    kind: "number",
    description: "longest delay between status checks",
    reference: "(fixed 60 s)"
  }),
  /** Stop the jobs a run started when the run is interrupted (else leave them for a resume). */
  stopJobsOnInterrupt: Setting.defaulted(Schema.Boolean, true, {
    kind: "boolean",
    description: "stop remote jobs when interrupted (else leave them for a resume)"
  }),
  /**
   * Token prices per model over the built-in table (`Pricing`): what plans estimate and
   * summaries report costs with. Each entry replaces the built-in one of its model.
   */
  prices: Setting.optional(Pricing.PriceTable, {
    kind: "object",
    flag: false,
    description: "token prices per model over the built-in table: {modelId: {batch: {input, output}, " +
      "onDemand: {input, output}}}, US dollars per 1,000 tokens",
    defaultText: "the built-in table (`Pricing`)"
  })
}

// -----------------------------------------------------------------------------
// Schema
// -----------------------------------------------------------------------------

/** The model and its inference parameters (sent only when set). */
export const ModelSettings = settings.model.schema

/** The decoded model settings. */
export type ModelSettings = typeof ModelSettings.Type

/** The batch configuration schema (decode with {@link decode} to get every problem at once). */
export const BatchConfigSchema = Schema.Struct(Setting.fieldsOf(settings))

/** A decoded, validated batch configuration. */
export type BatchConfig = typeof BatchConfigSchema.Type

/** What a user writes (every defaulted field optional). */
export type BatchConfigInput = typeof BatchConfigSchema.Encoded

// -----------------------------------------------------------------------------
// Validation
// -----------------------------------------------------------------------------

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** The settings whose default is a number. */
type NumberSetting = {
  readonly [K in keyof typeof settings]: (typeof settings)[K] extends { readonly default: number } ? K : never
}[keyof typeof settings]

/** Rules that involve more than one field; they run on whatever the input holds (defaults from the declarations). */
const crossFieldIssues = (input: Record<string, unknown>): Array<ConfigIssue> => {
  const issues: Array<ConfigIssue> = []
  const hasSubnets = input.subnetIds !== undefined
  const hasGroups = input.securityGroupIds !== undefined
  if (hasSubnets !== hasGroups) {
    issues.push({
      path: hasSubnets ? "securityGroupIds" : "subnetIds",
      message: "subnetIds and securityGroupIds must be set together (both or neither)"
    })
  }
  const numberOr = (key: NumberSetting) => (typeof input[key] === "number" ? input[key] : settings[key].default)
  const min = numberOr("minRecordsPerJob")
  const max = numberOr("maxRecordsPerJob")
  const batch = numberOr("maxBatchSize")
  if (min > max) {
    issues.push({ path: "minRecordsPerJob", message: `must not exceed maxRecordsPerJob (${min} > ${max})` })
  }
  if ((batch < min || batch > max) && batch >= batchSizeLimits.minimum && batch <= batchSizeLimits.maximum) {
    issues.push({
      path: "maxBatchSize",
      message: `must lie within minRecordsPerJob..maxRecordsPerJob (${min}..${max}), got ${batch}`
    })
  }
  const fileBytes = numberOr("maxInputFileBytes")
  const jobBytes = numberOr("maxJobBytes")
  if (fileBytes > jobBytes) {
    issues.push({ path: "maxInputFileBytes", message: `must not exceed maxJobBytes (${fileBytes} > ${jobBytes})` })
  }
  const pollInitial = numberOr("pollInitialSeconds")
  const pollMax = numberOr("pollMaxSeconds")
  if (pollInitial > pollMax) {
    issues.push({ path: "pollInitialSeconds", message: `must not exceed pollMaxSeconds (${pollInitial} > ${pollMax})` })
  }
  if (isRecord(input.tags)) {
    const keys = Object.keys(input.tags)
    if (keys.length > 200) issues.push({ path: "tags", message: `at most 200 tags, got ${keys.length}` })
    for (const key of keys) {
      const value = input.tags[key]
      if (key.length < 1 || key.length > 128) {
        issues.push({ path: `tags.${key}`, message: "tag keys must be 1 to 128 characters long" })
      } else if (key.toLowerCase().startsWith("aws:")) {
        issues.push({ path: `tags.${key}`, message: "tag keys must not start with 'aws:' (reserved)" })
      }
      if (typeof value === "string" && value.length > 256) {
        issues.push({ path: `tags.${key}`, message: "tag values must be at most 256 characters long" })
      }
    }
  }
  const model = isRecord(input.model) ? input.model : {}
  if (typeof model.family !== "string" && model.invocationType !== "Converse") {
    const modelId = typeof model.modelId === "string" ? model.modelId : modelSettings.modelId.default
    if (modelId.trim() !== "" && ModelFamily.familyOfModelId(modelId) === undefined) {
      issues.push({
        path: "model.modelId",
        message: `cannot tell the model family of "${modelId}"; set model.family (anthropic, nova or llama) ` +
          `or model.invocationType "Converse"`
      })
    }
  }
  return issues
}

/**
 * Decode and validate a batch configuration, collecting every problem.
 *
 * Fails with {@link InvalidConfig} listing each problem with its path; nothing else is
 * attempted until the configuration is valid.
 */
export const decode = (input: unknown): Effect.Effect<BatchConfig, InvalidConfig> =>
  Effect.suspend(() => {
    const decoded = Schema.decodeUnknownResult(BatchConfigSchema)(input, { errors: "all", onExcessProperty: "error" })
    const issues: Array<ConfigIssue> = isRecord(input) ? crossFieldIssues(input) : []
    if (decoded._tag === "Failure") issues.unshift(...issuesOf(decoded.failure.issue))
    if (issues.length > 0 || decoded._tag === "Failure") {
      const seen = new Set<string>()
      const unique = issues.filter((issue) => {
        const key = `${issue.path}\u0000${issue.message}`
        return seen.has(key) ? false : (seen.add(key), true)
      })
      return Effect.fail(new InvalidConfig({ issues: unique.sort((a, b) => a.path.localeCompare(b.path)) }))
    }
    return Effect.succeed(decoded.success)
  })

/** Like {@link decode}, for code that already holds a typed input. */
export const make = (input: BatchConfigInput): Effect.Effect<BatchConfig, InvalidConfig> => decode(input)

// -----------------------------------------------------------------------------
// From Effect Config
// -----------------------------------------------------------------------------

/**
 * The batch configuration read from the current `ConfigProvider` (by default the process
 * environment), each setting under its environment names: `BATCH_EXTRACT_BUCKET_NAME`,
 * `BATCH_EXTRACT_REGION` or `AWS_REGION`, `BATCH_EXTRACT_MODEL_ID` or `EXTRACTION_MODEL`…
 * (see {@link settings}). Unset settings take their defaults.
 *
 * When to use: an app's settings from its environment, or from any provider
 * (`ConfigProvider.fromUnknown`, `fromDotEnv`…); {@link layerConfig} provides the result
 * as {@link CurrentBatchConfig}.
 *
 * Gotchas: fails with one `ConfigError` listing every problem at once, each at the
 * environment variable that set it (or, for a missing setting, the first name it answers to).
 */
export const config: Config.Config<BatchConfig> = Setting.config({ settings, decode })

/**
 * The batch configuration a program runs with, as a service.
 *
 * When to use: provide it once ({@link layer} from values, {@link layerConfig} from Effect
 * `Config`) and `yield*` it where the configuration is needed, instead of passing it around.
 */
export class CurrentBatchConfig extends Context.Service<CurrentBatchConfig, BatchConfig>()(
  "@batch-extract/core/BatchConfig/CurrentBatchConfig"
) {}

/** {@link CurrentBatchConfig} from values, validated like {@link decode}. */
export const layer = (input: BatchConfigInput): Layer.Layer<CurrentBatchConfig, InvalidConfig> =>
  Layer.effect(CurrentBatchConfig, make(input))

/**
 * {@link CurrentBatchConfig} from Effect `Config`: every setting from the current
 * `ConfigProvider` under its environment names (see {@link config}), with `overrides` (Effect
 * `Config`s of your own, or `Config.succeed` values) taking precedence.
 *
 * @example
 * ```ts
 * BatchConfig.layerConfig({ keyPrefix: Config.String("MY_APP_PREFIX") })
 * ```
 */
export const layerConfig = (
  overrides: Config.Wrap<Partial<BatchConfigInput>> = {}
): Layer.Layer<CurrentBatchConfig, Config.ConfigError> =>
  Layer.effect(
    CurrentBatchConfig,
    Setting.config({ settings, decode, overrides: Config.unwrap<Partial<BatchConfigInput>>(overrides) })
  )

/** The inference parameters the configuration sets (only those set). */
export const inferenceParameters = (config: BatchConfig, overrides?: { readonly maxTokens?: number }) => ({
  maxTokens: overrides?.maxTokens ?? config.model.maxTokens,
  ...(config.model.temperature !== undefined ? { temperature: config.model.temperature } : {}),
  ...(config.model.topP !== undefined ? { topP: config.model.topP } : {})
})

/** The model family of a decoded configuration (validated by {@link decode}, so it resolves). */
export const modelFamily = (config: BatchConfig) =>
  ModelFamily.resolve({
    modelId: config.model.modelId,
    family: config.model.family,
    invocationType: config.model.invocationType
  })

/** Job concurrency of one run: `maxNumConcurrentBatches` per worker × workers. */
export const runJobConcurrency = (config: BatchConfig): number =>
  config.maxNumConcurrentBatches * config.extractionNumWorkers
