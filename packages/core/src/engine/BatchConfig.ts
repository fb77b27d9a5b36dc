/**
 * `BatchConfig`: everything the engine needs to run Bedrock batch jobs, with the reference's
 * settings (camelCase), their defaults, and the limits Bedrock enforces.
 *
 * When to use: decode user input once, at the edge, with {@link decode}. It checks every
 * field Bedrock would reject (bucket-name rules, role ARN, region, KMS key, VPC lists,
 * ranges, tags) and fails with one {@link InvalidConfig} that lists every problem with its
 * path, before any call is made.
 *
 * Gotchas:
 * - `subnetIds` and `securityGroupIds` go together: both or neither.
 * - `maxBatchSize` must lie within `minRecordsPerJob`..`maxRecordsPerJob`.
 * - Quotas vary by model, region and account: the byte and count limits are settings.
 *
 * @since 0.1.0
 */
import { Data, Effect, Schema, SchemaIssue } from "effect"
import * as BatchInference from "./BatchInference.ts"
import * as ModelFamily from "./ModelFamily.ts"

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

const rule = <A>(problem: (value: A) => string | undefined) => Schema.makeFilter<A>((value) => problem(value) ?? true)

const matching = (pattern: RegExp, what: string) =>
  rule<string>((value) => (pattern.test(value) ? undefined : `must be ${what}, got "${value}"`))

const between = (minimum: number, maximum: number) =>
  rule<number>((value) =>
    Number.isInteger(value) && value >= minimum && value <= maximum
      ? undefined
      : `must be a whole number from ${minimum} to ${maximum}, got ${value}`
  )

const atLeast = (minimum: number) =>
  rule<number>((value) =>
    Number.isInteger(value) && value >= minimum
      ? undefined
      : `must be a whole number of at least ${minimum}, got ${value}`
  )

const seconds = rule<number>((value) =>
  value >= 0.01 && value <= 3600 ? undefined : `must be from 0.01 to 3600 seconds, got ${value}`
)

const fraction = rule<number>((value) => (value >= 0 && value <= 1 ? undefined : `must be from 0 to 1, got ${value}`))

const defaulted = <S extends Schema.Top>(schema: S, value: S["Encoded"]) =>
  schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)))

const idList = (pattern: RegExp, what: string, maximum: number) =>
  Schema.Array(Schema.String.check(matching(pattern, what))).check(
    rule<ReadonlyArray<string>>((list) =>
      list.length >= 1 && list.length <= maximum ? undefined : `must hold 1 to ${maximum} ids, got ${list.length}`
    )
  )

// -----------------------------------------------------------------------------
// Schema
// -----------------------------------------------------------------------------

/** The model and its inference parameters (sent only when set). */
export const ModelSettings = Schema.Struct({
  /** Foundation-model id or ARN, inference-profile id or ARN, or application-inference-profile ARN. */
  modelId: defaulted(
    Schema.String.check(rule((s: string) => (s.trim() === "" ? "must not be empty" : undefined))),
    "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
  ),
  /** Overrides the family the model id names (required for application inference profiles). */
  family: Schema.optionalKey(Schema.Literals(["anthropic", "nova", "llama"])),
  maxTokens: defaulted(Schema.Number.check(between(1, 1_000_000)), 4096),
  temperature: Schema.optionalKey(Schema.Number.check(fraction)),
  topP: Schema.optionalKey(Schema.Number.check(fraction)),
  invocationType: defaulted(Schema.Literals(["InvokeModel", "Converse"]), "InvokeModel")
})

/** The decoded model settings. */
export type ModelSettings = typeof ModelSettings.Type

/** The batch configuration schema (decode with {@link decode} to get every problem at once). */
export const BatchConfigSchema = Schema.Struct({
  bucketName: Schema.String.check(rule(bucketNameProblem)),
  region: Schema.String.check(matching(regionPattern, "an AWS region such as us-east-1")),
  roleArn: Schema.String.check(
    matching(BatchInference.patterns.roleArn, "an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
  ),
  keyPrefix: Schema.optionalKey(Schema.String.check(rule(keyPrefixProblem))),
  maxBatchSize: defaulted(Schema.Number.check(between(100, 50_000)), 25_000),
  maxNumConcurrentBatches: defaulted(Schema.Number.check(atLeast(1)), 3),
  extractionNumWorkers: defaulted(Schema.Number.check(atLeast(1)), 2),
  s3EncryptionKeyId: Schema.optionalKey(
    Schema.String.check(
      rule((value: string) =>
        BatchInference.isKmsKey(value)
          ? undefined
          : `must be a KMS key id, key ARN, alias (alias/<name>) or alias ARN, got "${value}"`
      )
    )
  ),
  subnetIds: Schema.optionalKey(idList(/^subnet-[0-9a-f]{8,17}$/, "a subnet id (subnet-<hex>)", 16)),
  securityGroupIds: Schema.optionalKey(idList(/^sg-[0-9a-f]{8,17}$/, "a security group id (sg-<hex>)", 5)),
  deleteOnSuccess: defaulted(Schema.Boolean, true),
  /** The account quota of submitted + in-progress jobs, shared by everything in the process. */
  maxConcurrentJobs: defaulted(Schema.Number.check(between(1, 1000)), 10),
  minRecordsPerJob: defaulted(Schema.Number.check(atLeast(1)), 100),
  maxRecordsPerJob: defaulted(Schema.Number.check(atLeast(1)), 50_000),
  /** Bytes per input file (one file per job here): about 1 GB on Bedrock. */
  maxInputFileBytes: defaulted(Schema.Number.check(atLeast(1024)), 1_000_000_000),
  /** Bytes per job: about 5 GB on Bedrock. */
  maxJobBytes: defaulted(Schema.Number.check(atLeast(1024)), 5_000_000_000),
  timeoutDurationInHours: defaulted(Schema.Number.check(between(24, 168)), 24),
  s3BucketOwner: Schema.optionalKey(Schema.String.check(matching(/^[0-9]{12}$/, "a 12-digit AWS account id"))),
  /** Tags for every job (at most 200; keys 1-128 characters, not starting with `aws:`; values up to 256). */
  tags: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  model: defaulted(ModelSettings, {}),
  /** Attempts per record, batch and on demand together, before it is reported failed. */
  maxRecordAttempts: defaulted(Schema.Number.check(between(1, 10)), 3),
  /** Concurrent on-demand calls. */
  onDemandConcurrency: defaulted(Schema.Number.check(between(1, 256)), 4),
  /** Delay of the first status check after a create (fractions allowed, for local runs). */
  pollInitialSeconds: defaulted(Schema.Number.check(seconds), 15),
  /** Longest delay between two status checks. */
  pollMaxSeconds: defaulted(Schema.Number.check(seconds), 300),
  /** Stop the jobs a run started when the run is interrupted (else leave them for a resume). */
  stopJobsOnInterrupt: defaulted(Schema.Boolean, true)
})

/** A decoded, validated batch configuration. */
export type BatchConfig = typeof BatchConfigSchema.Type

/** What a user writes (every defaulted field optional). */
export type BatchConfigInput = typeof BatchConfigSchema.Encoded

// -----------------------------------------------------------------------------
// Validation
// -----------------------------------------------------------------------------

/** One configuration problem: where it is and what is wrong. */
export interface ConfigIssue {
  /** Dotted path of the setting, e.g. `"model.temperature"` or `"subnetIds[2]"`. */
  readonly path: string
  readonly message: string
}

/** The configuration is invalid; `issues` lists every problem found. */
export class InvalidConfig extends Data.TaggedError("InvalidConfig")<{
  readonly issues: ReadonlyArray<ConfigIssue>
}> {
  override get message(): string {
    return `invalid configuration (${this.issues.length} problem${this.issues.length === 1 ? "" : "s"}):\n` +
      this.issues.map((issue) => `  - ${issue.path}: ${issue.message}`).join("\n")
  }
}

const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (out, key) => typeof key === "number" ? `${out}[${key}]` : out === "" ? String(key) : `${out}.${String(key)}`,
    ""
  ) || "(root)"

const standardFormatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** The problems a Schema issue reports, as `{path, message}` pairs. */
export const issuesOf = (issue: SchemaIssue.Issue): Array<ConfigIssue> =>
  standardFormatter(issue).issues.map((leaf) => ({
    path: formatPath((leaf.path ?? []).map((s) => (typeof s === "object" ? s.key : s))),
    message: leaf.message === "Missing key" ? "is required" : leaf.message
  }))

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** Rules that involve more than one field; they run on whatever the input holds. */
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
  const numberOr = (key: string, fallback: number) => (typeof input[key] === "number" ? input[key] : fallback)
  const min = numberOr("minRecordsPerJob", 100)
  const max = numberOr("maxRecordsPerJob", 50_000)
  const batch = numberOr("maxBatchSize", 25_000)
  if (min > max) {
    issues.push({ path: "minRecordsPerJob", message: `must not exceed maxRecordsPerJob (${min} > ${max})` })
  }
  if ((batch < min || batch > max) && batch >= 100 && batch <= 50_000) {
    issues.push({
      path: "maxBatchSize",
      message: `must lie within minRecordsPerJob..maxRecordsPerJob (${min}..${max}), got ${batch}`
    })
  }
  const fileBytes = numberOr("maxInputFileBytes", 1_000_000_000)
  const jobBytes = numberOr("maxJobBytes", 5_000_000_000)
  if (fileBytes > jobBytes) {
    issues.push({ path: "maxInputFileBytes", message: `must not exceed maxJobBytes (${fileBytes} > ${jobBytes})` })
  }
  const pollInitial = numberOr("pollInitialSeconds", 15)
  const pollMax = numberOr("pollMaxSeconds", 300)
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
    const modelId = typeof model.modelId === "string" ? model.modelId : "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
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
