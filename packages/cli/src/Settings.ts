/**
 * The command's settings: every `BatchConfig` and extraction setting, from a JSON config
 * file (camelCase or the reference's snake_case names), from environment variables, and from
 * flags — flags win over the environment, which wins over the file.
 *
 * Values are collected raw here and validated once by the library's decoders, so the user
 * sees every problem at once, each with its path.
 */
import type { BatchConfig } from "@batch-extract/core"

/** How a raw string becomes a value. */
export type Kind = "string" | "integer" | "number" | "boolean" | "list" | "tags"

/** One setting: where it goes, its flag, and the other names it answers to. */
export interface Spec {
  /** Path in the merged settings: `batch.maxBatchSize`, `batch.model.modelId`, `extraction.chunkSize`. */
  readonly path: ReadonlyArray<string>
  readonly flag: string
  readonly kind: Kind
  readonly description: string
  /** Extra names in a config file (besides the camelCase and snake_case of the last path segment). */
  readonly aliases?: ReadonlyArray<string> | undefined
  /** Extra environment variables (besides `BATCH_EXTRACT_<SNAKE_CASE>`). */
  readonly env?: ReadonlyArray<string> | undefined
}

const b = (key: string, flag: string, kind: Kind, description: string, extra: Partial<Spec> = {}): Spec => ({
  path: ["batch", ...key.split(".")],
  flag,
  kind,
  description,
  ...extra
})
const x = (key: string, flag: string, kind: Kind, description: string, extra: Partial<Spec> = {}): Spec => ({
  path: ["extraction", key],
  flag,
  kind,
  description,
  ...extra
})

/** Every setting of `BatchConfig` and of the extraction, with its flag. */
export const specs: ReadonlyArray<Spec> = [
  b("bucketName", "bucket-name", "string", "S3 bucket for job inputs and outputs"),
  b("region", "region", "string", "AWS region of the bucket, the jobs and the model", { env: ["AWS_REGION"] }),
  b("roleArn", "role-arn", "string", "service role Bedrock assumes to read and write the bucket"),
  b("keyPrefix", "key-prefix", "string", "key prefix for everything the run writes to the bucket"),
  b("maxBatchSize", "max-batch-size", "integer", "records per job (100..50000)"),
  b("maxNumConcurrentBatches", "max-num-concurrent-batches", "integer", "concurrent jobs per worker"),
  b("extractionNumWorkers", "workers", "integer", "workers (jobs in flight = workers x batches per worker)", {
    env: ["EXTRACTION_NUM_WORKERS"]
  }),
  b("maxConcurrentJobs", "max-concurrent-jobs", "integer", "account quota of submitted + in-progress jobs"),
  b("s3EncryptionKeyId", "s3-encryption-key-id", "string", "KMS key for the staged input and the job output"),
  b("subnetIds", "subnet-ids", "list", "VPC subnets of the jobs (comma-separated; with --security-group-ids)"),
  b("securityGroupIds", "security-group-ids", "list", "VPC security groups of the jobs (comma-separated)"),
  b("deleteOnSuccess", "delete-on-success", "boolean", "delete staged inputs and outputs of completed jobs"),
  b("minRecordsPerJob", "min-records-per-job", "integer", "fewest records a job may hold (quota)"),
  b("maxRecordsPerJob", "max-records-per-job", "integer", "most records a job may hold (quota)"),
  b("maxInputFileBytes", "max-input-file-bytes", "integer", "bytes per input file (quota)"),
  b("maxJobBytes", "max-job-bytes", "integer", "bytes per job (quota)"),
  b("timeoutDurationInHours", "timeout-duration-in-hours", "integer", "job timeout (24..168)"),
  b("s3BucketOwner", "s3-bucket-owner", "string", "account that must own the bucket"),
  b("tags", "tags", "tags", "job tags, KEY=VALUE,KEY=VALUE"),
  b("model.modelId", "model", "string", "model id, inference profile or ARN", {
    aliases: ["model", "modelId", "model_id", "extraction_llm"],
    env: ["EXTRACTION_MODEL"]
  }),
  b("model.family", "model-family", "string", "model family when the id does not say (anthropic, nova, llama)"),
  b("model.maxTokens", "max-tokens", "integer", "answer token limit"),
  b("model.temperature", "temperature", "number", "sampling temperature (sent only when set)"),
  b("model.topP", "top-p", "number", "nucleus sampling (sent only when set)"),
  b("model.invocationType", "invocation-type", "string", "InvokeModel (native bodies) or Converse"),
  b("maxRecordAttempts", "max-record-attempts", "integer", "attempts per record before it is reported failed"),
  b("onDemandConcurrency", "on-demand-concurrency", "integer", "concurrent on-demand calls"),
  b("pollInitialSeconds", "poll-initial-seconds", "number", "delay of the first status check"),
  b("pollMaxSeconds", "poll-max-seconds", "number", "longest delay between status checks"),
  b("stopJobsOnInterrupt", "stop-jobs-on-interrupt", "boolean", "stop remote jobs when interrupted"),
  x("chunking", "chunking", "string", "sentence (token-bounded) or none (one chunk per document)"),
  x("chunkSize", "chunk-size", "integer", "tokens per chunk"),
  x("chunkOverlap", "chunk-overlap", "integer", "overlap tokens between chunks"),
  x("enablePropositionExtraction", "propositions", "boolean", "run stage 1 (--no-propositions to skip)", {
    aliases: ["enable_proposition_extraction", "enableProposition"]
  }),
  x("preferredEntityClassifications", "entity-classifications", "list", "preferred entity classifications"),
  x("preferredTopics", "preferred-topics", "list", "preferred topics"),
  x("extractionBatchSize", "extraction-batch-size", "integer", "documents read ahead (bounds memory)", {
    env: ["EXTRACTION_BATCH_SIZE"]
  })
]

/** The camelCase name of a spec's last path segment. */
const leaf = (spec: Spec) => spec.path[spec.path.length - 1]!
const snake = (camel: string) => camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)

/** Every name a spec answers to in a config file. */
export const fileNames = (spec: Spec): ReadonlyArray<string> => {
  const names = new Set([leaf(spec), snake(leaf(spec)), ...(spec.aliases ?? [])])
  return [...names]
}

/** The environment variables of a spec. */
export const envNames = (spec: Spec): ReadonlyArray<string> => [
  `BATCH_EXTRACT_${snake(leaf(spec)).toUpperCase()}`,
  ...(spec.env ?? [])
]

/** A raw value and where it came from. */
interface Raw {
  readonly value: unknown
  readonly origin: string
}

/** Convert a raw value to a spec's kind, or say why it cannot be. */
export const convert = (spec: Spec, raw: unknown): { value: unknown } | { problem: string } => {
  if (typeof raw !== "string") {
    // Native JSON values (from a config file) go to the decoder as they are.
    if (spec.kind === "tags" && Array.isArray(raw)) {
      return { value: Object.fromEntries(raw.map((t: { key?: unknown; value?: unknown }) => [t.key, t.value])) }
    }
    return { value: raw }
  }
  const text = raw.trim()
  switch (spec.kind) {
    case "string":
      return { value: text }
    case "integer":
    case "number": {
      const n = Number(text)
      if (text === "" || !Number.isFinite(n)) return { problem: `must be a number, got "${raw}"` }
      return { value: n }
    }
    case "boolean": {
      if (/^(true|1|yes|on)$/i.test(text)) return { value: true }
      if (/^(false|0|no|off)$/i.test(text)) return { value: false }
      return { problem: `must be true or false, got "${raw}"` }
    }
    case "list":
      return { value: text === "" ? [] : text.split(",").map((s) => s.trim()).filter((s) => s !== "") }
    case "tags": {
      const tags: Record<string, string> = {}
      for (const pair of text.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
        const eq = pair.indexOf("=")
        if (eq <= 0) return { problem: `must be KEY=VALUE pairs, got "${pair}"` }
        tags[pair.slice(0, eq)] = pair.slice(eq + 1)
      }
      return { value: tags }
    }
  }
}

/** The settings gathered from every source, ready for the library's decoders. */
export interface Gathered {
  readonly batch: Record<string, unknown>
  readonly extraction: Record<string, unknown>
  readonly issues: ReadonlyArray<BatchConfig.ConfigIssue>
}

const setPath = (target: Record<string, unknown>, path: ReadonlyArray<string>, value: unknown) => {
  let node = target
  for (const key of path.slice(0, -1)) {
    const next = node[key]
    node = (typeof next === "object" && next !== null ? next : (node[key] = {})) as Record<string, unknown>
  }
  node[path[path.length - 1]!] = value
}

/** Keys a config file may hold besides the settings (they are handled by the command). */
const fileOnlyKeys: Readonly<Record<string, ReadonlyArray<string>>> = {
  propositionsPrompt: ["extraction", "propositionsPrompt"],
  propositions_prompt: ["extraction", "propositionsPrompt"],
  topicsPrompt: ["extraction", "topicsPrompt"],
  topics_prompt: ["extraction", "topicsPrompt"]
}

/**
 * Merge the sources: `defaults` < config file < environment < flags. Unknown config-file
 * keys and values that cannot be converted are reported as issues.
 */
export const gather = (sources: {
  readonly defaults?: Readonly<Record<string, unknown>> | undefined
  readonly file?: unknown
  readonly env: Readonly<Record<string, string | undefined>>
  readonly flags: Readonly<Record<string, unknown>>
}): Gathered => {
  const issues: Array<BatchConfig.ConfigIssue> = []
  const chosen = new Map<Spec, Raw>()
  const byFileName = new Map<string, Spec>()
  for (const spec of specs) for (const name of fileNames(spec)) byFileName.set(name, spec)

  for (const spec of specs) {
    const value = sources.defaults?.[spec.path.join(".")]
    if (value !== undefined) chosen.set(spec, { value, origin: "default" })
  }
  const fileExtras: Array<[ReadonlyArray<string>, unknown]> = []
  if (sources.file !== undefined) {
    if (typeof sources.file !== "object" || sources.file === null || Array.isArray(sources.file)) {
      issues.push({ path: "(config file)", message: "must be a JSON object" })
    } else {
      // Accept flat settings, and the nested `model` / `extraction` / `batch` groups.
      const flat: Array<[string, unknown]> = []
      for (const [key, value] of Object.entries(sources.file)) {
        if (
          (key === "model" || key === "extraction" || key === "batch" || key === "batch_config" ||
            key === "batchConfig") && typeof value === "object" && value !== null && !Array.isArray(value)
        ) {
          for (const [inner, innerValue] of Object.entries(value)) flat.push([inner, innerValue])
        } else {
          flat.push([key, value])
        }
      }
      for (const [key, value] of flat) {
        const spec = byFileName.get(key)
        if (spec !== undefined) chosen.set(spec, { value, origin: `config file (${key})` })
        else if (fileOnlyKeys[key] !== undefined) fileExtras.push([fileOnlyKeys[key]!, value])
        else issues.push({ path: `config.${key}`, message: "is not a setting batch-extract knows" })
      }
    }
  }
  for (const spec of specs) {
    for (const name of envNames(spec)) {
      const value = sources.env[name]
      if (value !== undefined && value !== "") {
        chosen.set(spec, { value, origin: `environment (${name})` })
        break
      }
    }
  }
  for (const spec of specs) {
    const value = sources.flags[spec.flag]
    if (value !== undefined) chosen.set(spec, { value, origin: `--${spec.flag}` })
  }

  const batch: Record<string, unknown> = {}
  const extraction: Record<string, unknown> = {}
  for (const [spec, raw] of chosen) {
    const converted = convert(spec, raw.value)
    if ("problem" in converted) {
      issues.push({ path: spec.path.slice(1).join("."), message: `${converted.problem} (from ${raw.origin})` })
      continue
    }
    setPath(spec.path[0] === "batch" ? batch : extraction, spec.path.slice(1), converted.value)
  }
  for (const [path, value] of fileExtras) setPath(extraction, path.slice(1), value)
  return { batch, extraction, issues }
}
