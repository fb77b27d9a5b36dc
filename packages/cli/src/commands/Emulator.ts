/**
 * `batch-extract emulator`: the local emulation — a local S3 and the Bedrock emulator, both on
 * 127.0.0.1 — as a process of its own, for other processes (workers on this host or others
 * that reach it, tests) to share with `--backend aws` and the standard SDK environment. Not
 * AWS: nothing leaves the machine, no signature check, no IAM but the denials of `--deny`,
 * state in memory only.
 *
 * It prints one JSON line on stdout — the environment that reaches it (`AWS_ENDPOINT_URL_S3`,
 * `AWS_ENDPOINT_URL_BEDROCK`, `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`,
 * `AWS_ENDPOINT_URL_SERVICE_QUOTAS`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`)
 * and the URL of its inspection endpoint — and how to
 * use it on stderr, then serves until SIGINT or SIGTERM (exit 130, like every interrupted
 * command), when every server closes and every job fiber is interrupted.
 *
 * `--deny ACCESS_KEY_ID:BUCKET[:METHODS]` refuses an access key id a bucket (every request, or
 * only those with the given HTTP methods) with `403 AccessDenied`, as an IAM policy that does
 * not grant it would: a process whose `AWS_ACCESS_KEY_ID` is that key (any secret) cannot use
 * the bucket, while the announced credentials can.
 *
 * The emulated account's quotas (`--max-concurrent-jobs`, `--min-records-per-job`,
 * `--max-records-per-job`, `--max-input-file-bytes`, `--max-job-bytes`) are both what the
 * emulated Bedrock enforces and what its Service Quotas answers (on the Bedrock port), as on an
 * account; `--deny-service-quotas` makes Service Quotas answer `AccessDeniedException`, as for
 * credentials without `servicequotas:ListServiceQuotas`.
 *
 * The inspection endpoint (`GET /inspect` on a loopback port of its own) answers
 * {@link Inspection}: the emulator's counters and every job it created, so a test can check
 * that no input had two jobs and that live jobs never exceeded the quota.
 *
 * Gotchas: the emulation (`@batch-extract/aws/local`, which loads fauxqs) is imported only
 * when this command runs, so the other commands never load it. The credentials it announces
 * are dummies: the local S3 accepts any (it reads the access key id of a request's
 * `Credential`, for `--deny`, and never checks a signature); the emulated Bedrock reaches S3
 * with credentials of its own, as the service does, which a denial never names.
 */
import type * as Local from "@batch-extract/aws/local"
import { AccountQuotas, type BatchConfig, BatchInference } from "@batch-extract/core"
import { NodeHttpServer } from "@effect/platform-node"
import { Console, Context, Data, Duration, Effect, Layer, Option, Redacted, Schema, type Scope } from "effect"
import { Command, Flag } from "effect/cli"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import { createServer } from "node:http"
import * as Run from "../Run.ts"
import * as Options from "./Options.ts"

// -----------------------------------------------------------------------------
// What it prints and serves
// -----------------------------------------------------------------------------

/** The standard AWS SDK environment that reaches the emulation (every value a plain string). */
export const Environment = Schema.Struct({
  AWS_ENDPOINT_URL_S3: Schema.String,
  AWS_ENDPOINT_URL_BEDROCK: Schema.String,
  AWS_ENDPOINT_URL_BEDROCK_RUNTIME: Schema.String,
  AWS_ENDPOINT_URL_SERVICE_QUOTAS: Schema.String,
  AWS_ACCESS_KEY_ID: Schema.String,
  AWS_SECRET_ACCESS_KEY: Schema.String,
  AWS_REGION: Schema.String
})
export type Environment = typeof Environment.Type

/** The JSON line the command prints on stdout once it serves. */
export const Announcement = Schema.Struct({
  env: Environment,
  /** `http://127.0.0.1:<port>/inspect`: GET it for an {@link Inspection}. */
  inspect: Schema.String
})
export type Announcement = typeof Announcement.Type

/** The emulator's counters (`BedrockEmulator.Counters`) as JSON. */
export const Counters = Schema.Struct({
  jobsCreated: Schema.Number,
  /** Creates refused with `ServiceQuotaExceededException`. */
  createsRefused: Schema.Number,
  /** Creates that repeated a client request token (answered with the first job). */
  repeatedTokens: Schema.Number,
  throttled: Schema.Number,
  /** The most jobs in Submitted/Validating/Scheduled/InProgress at once. */
  peakConcurrentJobs: Schema.Number,
  requestsAborted: Schema.Number,
  callsByOperation: Schema.Record(Schema.String, Schema.Number),
  /** Calls answered with an exception queued by the emulator's `failNext`. */
  injectedErrors: Schema.Number,
  /** Service Quotas calls answered (denials included). */
  serviceQuotaCalls: Schema.Number,
  /** Jobs that ended with an imposed status, by status. */
  statusesImposed: Schema.Record(Schema.String, Schema.Number),
  /** Records answered normally, and those each injected fault (or refusal) shaped. */
  recordsAnswered: Schema.Number,
  recordsErrored: Schema.Number,
  recordsMissing: Schema.Number,
  recordsMalformed: Schema.Number,
  recordsTruncated: Schema.Number,
  recordsRejected: Schema.Number,
  recordsUnanswered: Schema.Number
})
export type Counters = typeof Counters.Type

/** A job the emulator created, as JSON (times ISO 8601; `null` when not known or not yet). */
export const InspectedJob = Schema.Struct({
  jobName: Schema.String,
  jobArn: Schema.String,
  status: Schema.Literals(BatchInference.jobStatuses),
  message: Schema.NullOr(Schema.String),
  modelId: Schema.NullOr(Schema.String),
  inputS3Uri: Schema.NullOr(Schema.String),
  outputS3Uri: Schema.NullOr(Schema.String),
  clientRequestToken: Schema.NullOr(Schema.String),
  submitTime: Schema.NullOr(Schema.String),
  endTime: Schema.NullOr(Schema.String),
  totalRecordCount: Schema.Number,
  processedRecordCount: Schema.Number
})
export type InspectedJob = typeof InspectedJob.Type

/** What `GET /inspect` answers: the counters and every job, newest first. */
export const Inspection = Schema.Struct({
  counters: Counters,
  jobs: Schema.Array(InspectedJob)
})
export type Inspection = typeof Inspection.Type

const inspectedJob = (job: BatchInference.JobDescription): InspectedJob => ({
  jobName: job.jobName,
  jobArn: job.jobArn,
  status: job.status,
  message: job.message ?? null,
  modelId: job.modelId ?? null,
  inputS3Uri: job.inputS3Uri ?? null,
  outputS3Uri: job.outputS3Uri ?? null,
  clientRequestToken: job.clientRequestToken ?? null,
  submitTime: job.submitTime?.toISOString() ?? null,
  endTime: job.endTime?.toISOString() ?? null,
  totalRecordCount: job.totalRecordCount ?? 0,
  processedRecordCount: job.processedRecordCount ?? 0
})

/** The emulator's state as an {@link Inspection}. */
export const inspect = (emulator: Local.BedrockEmulator.BedrockEmulatorShape): Effect.Effect<Inspection> =>
  Effect.map(
    Effect.all([emulator.counters, emulator.jobs]),
    ([counters, jobs]): Inspection => ({ counters, jobs: jobs.map(inspectedJob) })
  )

// -----------------------------------------------------------------------------
// Serving
// -----------------------------------------------------------------------------

/** Options of the emulation (the command's flags, decoded). */
export interface EmulatorOptions {
  /** Port of the local S3 on 127.0.0.1 (0: a free one). */
  readonly s3Port: number
  /** Port of the Bedrock emulator, control plane and runtime (0: a free one). */
  readonly bedrockPort: number
  /** Buckets created at start. */
  readonly buckets: ReadonlyArray<string>
  /**
   * The emulated account's quota of jobs in Submitted/Validating/Scheduled/InProgress (default
   * 10). This and the other quotas are both enforced and answered by Service Quotas.
   */
  readonly maxConcurrentJobs?: number | undefined
  /** Fewest records a job may hold (default 100). */
  readonly minRecordsPerJob?: number | undefined
  /** Most records a job may hold, in all and per input file (default 50,000). */
  readonly maxRecordsPerJob?: number | undefined
  /** Bytes per input file (default 1,000,000,000). */
  readonly maxInputFileBytes?: number | undefined
  /** Bytes per job (default 5,000,000,000). */
  readonly maxJobBytes?: number | undefined
  /** Service Quotas answers `AccessDeniedException`. */
  readonly denyServiceQuotas?: boolean | undefined
  /** Least time a job spends InProgress, in seconds (default 0.02). */
  readonly jobSeconds?: number | undefined
  /** InProgress time per record, in milliseconds (a job takes the longer of the two; default 0). */
  readonly perRecordMs?: number | undefined
  /** Region of the environment and of job ARNs. */
  readonly region: string
  /** Seed of the emulator's random choices (job ids, output order). */
  readonly seed?: number | undefined
  /** Requests the local S3 refuses with `403 AccessDenied` (per access key id and bucket). */
  readonly deniedAccess?: ReadonlyArray<Local.LocalS3.AccessDenial> | undefined
}

/** The bucket created when none is named: the local backend's default `--bucket-name`. */
export const defaultBucket = "batch-extract-local"

/** Part of the emulation could not start (a port in use, most often); the message names it. */
export class EmulatorStartError extends Data.TaggedError("EmulatorStartError")<{
  readonly component: "local S3" | "Bedrock emulator" | "inspection endpoint"
  readonly message: string
  readonly cause: unknown
}> {}

/** The running emulation. */
export interface Running {
  readonly announcement: Announcement
  readonly s3: Local.LocalS3.LocalS3Shape
  readonly bedrock: Local.BedrockEmulator.BedrockEmulatorShape
}

const bucketPattern = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/

/** The HTTP methods a denial may name (those S3 requests use). */
export const deniableMethods: ReadonlyArray<string> = ["GET", "HEAD", "PUT", "POST", "DELETE"]

const accessKeyIdPattern = /^[A-Za-z0-9]{1,128}$/

const denialIssues = (denial: Local.LocalS3.AccessDenial): ReadonlyArray<BatchConfig.ConfigIssue> => {
  const named = `"${denial.accessKeyId}:${denial.bucket}"`
  return [
    ...(accessKeyIdPattern.test(denial.accessKeyId) ?
      [] :
      [{ path: "deny", message: `${named}: the access key id must be 1 to 128 letters or digits` }]),
    ...(bucketPattern.test(denial.bucket) ?
      [] :
      [{ path: "deny", message: `${named}: "${denial.bucket}" is not a valid S3 bucket name` }]),
    ...(denial.methods ?? []).filter((method) => !deniableMethods.includes(method)).map((method) => ({
      path: "deny",
      message: `${named}: "${method}" is not one of ${deniableMethods.join(", ")}`
    })),
    ...(denial.methods !== undefined && denial.methods.length === 0 ?
      [{ path: "deny", message: `${named}: the methods after the second ':' are empty (leave them out: all)` }] :
      [])
  ]
}

const portIssue = (flag: string, port: number): ReadonlyArray<BatchConfig.ConfigIssue> =>
  Number.isInteger(port) && port >= 0 && port <= 65_535 ? [] : [{
    path: flag,
    message: `must be a port from 0 (a free one) to 65535, got ${port}`
  }]

const quotaIssue = (
  flag: string,
  value: number | undefined,
  minimum: number
): ReadonlyArray<BatchConfig.ConfigIssue> =>
  value === undefined || (Number.isInteger(value) && value >= minimum) ?
    [] :
    [{ path: flag, message: `must be a whole number >= ${minimum}, got ${value}` }]

/** The emulated account's quotas the options set (enforced, and answered by Service Quotas). */
const quotasOf = (options: EmulatorOptions) => ({
  ...(options.maxConcurrentJobs !== undefined ? { maxConcurrentJobs: options.maxConcurrentJobs } : {}),
  ...(options.minRecordsPerJob !== undefined ? { minRecordsPerJob: options.minRecordsPerJob } : {}),
  ...(options.maxRecordsPerJob !== undefined ? { maxRecordsPerJob: options.maxRecordsPerJob } : {}),
  ...(options.maxInputFileBytes !== undefined ? { maxInputFileBytes: options.maxInputFileBytes } : {}),
  ...(options.maxJobBytes !== undefined ? { maxJobBytes: options.maxJobBytes } : {})
})

/** Every problem with the options (none: they are valid). */
export const validate = (options: EmulatorOptions): ReadonlyArray<BatchConfig.ConfigIssue> => [
  ...portIssue("s3-port", options.s3Port),
  ...portIssue("bedrock-port", options.bedrockPort),
  ...(options.s3Port !== 0 && options.s3Port === options.bedrockPort ?
    [{ path: "bedrock-port", message: `must differ from --s3-port (both ${options.s3Port})` }] :
    []),
  ...options.buckets.filter((name) => !bucketPattern.test(name)).map((name) => ({
    path: "bucket",
    message: `"${name}" is not a valid S3 bucket name (3 to 63 lowercase letters, digits, '.' or '-')`
  })),
  ...quotaIssue("max-concurrent-jobs", options.maxConcurrentJobs, 1),
  ...quotaIssue("min-records-per-job", options.minRecordsPerJob, 1),
  ...quotaIssue("max-records-per-job", options.maxRecordsPerJob, 1),
  ...quotaIssue("max-input-file-bytes", options.maxInputFileBytes, 1),
  ...quotaIssue("max-job-bytes", options.maxJobBytes, 1),
  ...((options.minRecordsPerJob ?? 100) > (options.maxRecordsPerJob ?? 50_000) ?
    [{ path: "min-records-per-job", message: "must not exceed --max-records-per-job" }] :
    []),
  ...(options.jobSeconds === undefined || options.jobSeconds >= 0 ?
    [] :
    [{ path: "job-seconds", message: `must be >= 0, got ${options.jobSeconds}` }]),
  ...(options.perRecordMs === undefined || options.perRecordMs >= 0 ?
    [] :
    [{ path: "per-record-ms", message: `must be >= 0, got ${options.perRecordMs}` }]),
  ...(options.deniedAccess ?? []).flatMap(denialIssues)
]

/** `GET /inspect` on a loopback port of its own; its URL. */
const inspectionEndpoint = (
  emulator: Local.BedrockEmulator.BedrockEmulatorShape
): Effect.Effect<string, EmulatorStartError, Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* NodeHttpServer.make(() => createServer(), {
      port: 0,
      host: "127.0.0.1",
      // A test's keep-alive connection must not hold the shutdown.
      gracefulShutdownTimeout: Duration.seconds(1)
    })
    yield* server.serve(Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const path = new URL(request.url, "http://127.0.0.1").pathname
      if (request.method !== "GET" || path !== "/inspect") {
        return HttpServerResponse.jsonUnsafe({ message: `only GET /inspect is served here` }, { status: 404 })
      }
      return HttpServerResponse.jsonUnsafe(yield* inspect(emulator))
    }))
    const port = "port" in server.address ? server.address.port : 0
    return `http://127.0.0.1:${port}/inspect`
  }).pipe(
    Effect.mapError((cause) =>
      new EmulatorStartError({
        component: "inspection endpoint",
        message: `the inspection endpoint could not start: ${cause.message}`,
        cause
      })
    )
  )

/**
 * Start the emulation (the local S3, the Bedrock emulator and the inspection endpoint); it
 * stops when the scope closes.
 */
export const start = Effect.fn("Emulator.start")(function*(options: EmulatorOptions) {
  const Local = yield* Effect.promise(() => import("@batch-extract/aws/local"))
  const context = yield* Layer.build(Local.LocalBackend.layerEmulation({
    buckets: options.buckets,
    region: options.region,
    emulator: {
      seed: options.seed,
      timings: {
        ...(options.jobSeconds !== undefined ? { inProgressMs: options.jobSeconds * 1000 } : {}),
        ...(options.perRecordMs !== undefined ? { perRecordMs: options.perRecordMs } : {})
      },
      quotas: quotasOf(options),
      serviceQuotas: { quotas: quotasOf(options), denied: options.denyServiceQuotas === true },
      port: options.bedrockPort
    },
    s3: { port: options.s3Port, seed: options.seed, deniedAccess: options.deniedAccess }
  })).pipe(
    Effect.mapError((error) =>
      new EmulatorStartError({
        component: error._tag === "LocalS3Error" ? "local S3" : "Bedrock emulator",
        message: error.message,
        cause: error
      })
    )
  )
  const s3 = Context.get(context, Local.LocalS3.LocalS3)
  const bedrock = Context.get(context, Local.BedrockEmulator.BedrockEmulator)
  const inspectUrl = yield* inspectionEndpoint(bedrock)
  // The settings of the emulation's own clients: its endpoints and its dummy client credentials.
  const client = Local.LocalBackend.clientSettings(s3, bedrock, options.region)
  const announcement: Announcement = {
    env: {
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_ENDPOINT_URL_BEDROCK: bedrock.endpoint,
      AWS_ENDPOINT_URL_BEDROCK_RUNTIME: bedrock.endpoint,
      AWS_ENDPOINT_URL_SERVICE_QUOTAS: bedrock.endpoint,
      AWS_ACCESS_KEY_ID: client.credentials?.accessKeyId ?? "",
      AWS_SECRET_ACCESS_KEY: client.credentials === undefined ? "" : Redacted.value(client.credentials.secretAccessKey),
      AWS_REGION: options.region
    },
    inspect: inspectUrl
  }
  return { announcement, s3, bedrock } satisfies Running
})

const quotasText = (quotas: Partial<AccountQuotas.Values>) =>
  AccountQuotas.formatValues({ ...AccountQuotas.defaults, ...quotas })

/** How to use a running emulation, for a person (stderr). */
export const usage = (
  running: Running,
  buckets: ReadonlyArray<string>,
  denials: ReadonlyArray<Local.LocalS3.AccessDenial> = [],
  quotas: Partial<AccountQuotas.Values> = {},
  denyServiceQuotas = false
): string => {
  const { env } = running.announcement
  return [
    `batch-extract emulator: a local S3 on ${env.AWS_ENDPOINT_URL_S3} and a Bedrock emulator on ` +
    `${env.AWS_ENDPOINT_URL_BEDROCK} (not AWS: loopback only, in memory), buckets ${buckets.join(", ")}, ` +
    `jobs inspected at ${running.announcement.inspect}; Ctrl-C or SIGTERM stops it.`,
    `Service Quotas (on the Bedrock port) answers the emulated account's quotas, which its Bedrock enforces: ` +
    `${quotasText(quotas)}${denyServiceQuotas ? " — no: it denies access (AccessDeniedException)" : ""}.`,
    `Point workers at it with this environment and \`extract … --backend aws --bucket-name ${buckets[0]} ` +
    `--role-arn arn:aws:iam::123456789012:role/any\`:`,
    `  export ${Object.entries(env).map(([name, value]) => `${name}=${value}`).join(" ")}`,
    ...denials.map((denial) =>
      `The local S3 refuses access key id ${denial.accessKeyId} ${
        denial.methods === undefined ? "every request" : `${denial.methods.join(",")} requests`
      } on bucket ${denial.bucket} (403 AccessDenied).`
    )
  ].join("\n")
}

/**
 * `emulator`: start the emulation, announce it (the JSON line on stdout, usage on stderr) and
 * serve until interrupted. Exit 2 on invalid flags (`flagIssues`: those found while decoding
 * the command line, reported with the others), 1 when it cannot start.
 */
export const run = (
  options: EmulatorOptions,
  flagIssues: ReadonlyArray<BatchConfig.ConfigIssue> = []
): Effect.Effect<number> =>
  Effect.gen(function*() {
    const issues = [...flagIssues, ...validate(options)]
    if (issues.length > 0) return yield* new Run.InvalidInput({ issues })
    const running = yield* start(options)
    yield* Console.log(JSON.stringify(running.announcement))
    yield* Console.error(
      usage(running, options.buckets, options.deniedAccess, quotasOf(options), options.denyServiceQuotas === true)
    )
    return yield* Effect.never
  }).pipe(
    Effect.scoped,
    Run.reportInvalidInput,
    Effect.catchTag("EmulatorStartError", (error) =>
      Effect.as(Console.error(`batch-extract emulator: ${error.message}`), 1))
  )

// -----------------------------------------------------------------------------
// The command
// -----------------------------------------------------------------------------

const portFlag = (name: string, what: string) =>
  Flag.Int(name).pipe(Flag.withDescription(`port of ${what} on 127.0.0.1 (default 0: a free one)`), Flag.withDefault(0))

/** The command's flags. */
export const flags = {
  s3Port: portFlag("s3-port", "the local S3"),
  bedrockPort: portFlag("bedrock-port", "the Bedrock emulator (control plane and runtime)"),
  bucket: Flag.String("bucket").pipe(
    Flag.withDescription(`bucket to create at start; repeat it or give a comma list (default ${defaultBucket})`),
    Flag.atLeast(0)
  ),
  maxConcurrentJobs: Flag.Int("max-concurrent-jobs").pipe(
    Flag.withDescription(
      "the emulated account's quota of live jobs: creates beyond it are refused, Service Quotas answers it (default 10)"
    ),
    Flag.optional
  ),
  minRecordsPerJob: Flag.Int("min-records-per-job").pipe(
    Flag.withDescription("the emulated account's fewest records per job, enforced and answered (default 100)"),
    Flag.optional
  ),
  maxRecordsPerJob: Flag.Int("max-records-per-job").pipe(
    Flag.withDescription(
      "the emulated account's most records per job and input file, enforced and answered (default 50000)"
    ),
    Flag.optional
  ),
  maxInputFileBytes: Flag.Int("max-input-file-bytes").pipe(
    Flag.withDescription("the emulated account's bytes per input file, enforced and answered (default 1000000000)"),
    Flag.optional
  ),
  maxJobBytes: Flag.Int("max-job-bytes").pipe(
    Flag.withDescription("the emulated account's bytes per job, enforced and answered (default 5000000000)"),
    Flag.optional
  ),
  denyServiceQuotas: Flag.Boolean("deny-service-quotas").pipe(
    Flag.withDescription("Service Quotas answers AccessDeniedException (credentials without servicequotas:List*)"),
    Flag.withDefault(false)
  ),
  jobSeconds: Flag.Finite("job-seconds").pipe(
    Flag.withDescription("least time a job spends InProgress, in seconds (default 0.02)"),
    Flag.optional
  ),
  perRecordMs: Flag.Finite("per-record-ms").pipe(
    Flag.withDescription("InProgress time per record, in milliseconds; a job takes the longer (default 0)"),
    Flag.optional
  ),
  region: Flag.String("region").pipe(
    Flag.withDescription("AWS_REGION announced, and the region of job ARNs (default us-east-1)"),
    Flag.withDefault("us-east-1")
  ),
  seed: Flag.Int("seed").pipe(
    Flag.withDescription("seed of the emulator's random choices: job ids, output order (default 1)"),
    Flag.optional
  ),
  deny: Flag.String("deny").pipe(
    Flag.withDescription(
      "ACCESS_KEY_ID:BUCKET[:METHODS]: the local S3 refuses that access key id the bucket (403 AccessDenied), " +
        "for every request or only the comma list of HTTP methods (GET,HEAD,PUT,POST,DELETE); repeatable"
    ),
    Flag.atLeast(0)
  )
}

/** The buckets named by `--bucket` (repeated, or comma lists), else {@link defaultBucket}. */
export const bucketsOf = (values: ReadonlyArray<string>): ReadonlyArray<string> => {
  const named = values.flatMap((value) => value.split(",")).map((name) => name.trim()).filter((name) => name !== "")
  return named.length === 0 ? [defaultBucket] : [...new Set(named)]
}

/**
 * The denials named by `--deny ACCESS_KEY_ID:BUCKET[:METHODS]` (methods a comma list, in any
 * case), or the values that do not have that shape. Each value is checked further by
 * {@link validate}.
 */
export const deniedAccessOf = (
  values: ReadonlyArray<string>
): {
  readonly denials: ReadonlyArray<Local.LocalS3.AccessDenial>
  readonly issues: ReadonlyArray<BatchConfig.ConfigIssue>
} => {
  const denials: Array<Local.LocalS3.AccessDenial> = []
  const issues: Array<BatchConfig.ConfigIssue> = []
  for (const value of values) {
    const fields = value.split(":").map((field) => field.trim())
    if (fields.length < 2 || fields.length > 3 || fields[0] === "" || fields[1] === "") {
      issues.push({
        path: "deny",
        message: `expected ACCESS_KEY_ID:BUCKET or ACCESS_KEY_ID:BUCKET:METHODS, got "${value}"`
      })
      continue
    }
    const [accessKeyId, bucket, methods] = fields as [string, string, string | undefined]
    denials.push({
      accessKeyId,
      bucket,
      ...(methods === undefined ?
        {} :
        { methods: methods.split(",").map((method) => method.trim().toUpperCase()).filter((method) => method !== "") })
    })
  }
  return { denials, issues }
}

/** `emulator`: serve the local emulation until SIGINT or SIGTERM. */
export const command = Command.make(
  "emulator",
  flags,
  (input) => {
    const denied = deniedAccessOf(input.deny)
    return run({
      s3Port: input.s3Port,
      bedrockPort: input.bedrockPort,
      buckets: bucketsOf(input.bucket),
      maxConcurrentJobs: Option.getOrUndefined(input.maxConcurrentJobs),
      minRecordsPerJob: Option.getOrUndefined(input.minRecordsPerJob),
      maxRecordsPerJob: Option.getOrUndefined(input.maxRecordsPerJob),
      maxInputFileBytes: Option.getOrUndefined(input.maxInputFileBytes),
      maxJobBytes: Option.getOrUndefined(input.maxJobBytes),
      denyServiceQuotas: input.denyServiceQuotas,
      jobSeconds: Option.getOrUndefined(input.jobSeconds),
      perRecordMs: Option.getOrUndefined(input.perRecordMs),
      region: input.region,
      seed: Option.getOrUndefined(input.seed),
      deniedAccess: denied.denials
    }, denied.issues).pipe(Effect.flatMap(Options.exitWith))
  }
).pipe(
  Command.withDescription(
    "serve a local S3 and Bedrock emulator on 127.0.0.1 (not AWS) for workers using --backend aws, and tests"
  )
)
