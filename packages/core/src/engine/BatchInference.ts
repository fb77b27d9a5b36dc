/**
 * The Bedrock batch-inference control-plane port: create, describe, stop and list model
 * invocation jobs.
 *
 * Shapes follow the Bedrock API (`CreateModelInvocationJob` and friends) so the live Layer is
 * a thin mapping. Live Layer: `@batch-extract/aws`. For tests: `SimulatedBatchInference` in
 * `@batch-extract/core/testing`, which runs on Effect's `Clock`.
 *
 * @since 0.1.0
 */
import { Context, type Effect, type Stream } from "effect"
import type { ServiceError } from "./ServiceError.ts"

/** Every status a model invocation job can be in. */
export type JobStatus =
  | "Submitted"
  | "Validating"
  | "Scheduled"
  | "InProgress"
  | "Stopping"
  | "Completed"
  | "PartiallyCompleted"
  | "Failed"
  | "Stopped"
  | "Expired"

/** Every job status, in lifecycle order. */
export const jobStatuses: ReadonlyArray<JobStatus> = [
  "Submitted",
  "Validating",
  "Scheduled",
  "InProgress",
  "Stopping",
  "Completed",
  "PartiallyCompleted",
  "Failed",
  "Stopped",
  "Expired"
]

/** Whether a string is a job status. */
export const isJobStatus = (value: string): value is JobStatus => (jobStatuses as ReadonlyArray<string>).includes(value)

const uuid = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

/**
 * The patterns the service checks on a create (from the API model), shared by the
 * configuration's validation, the simulated service and the emulator.
 */
export const patterns = {
  jobName: /^[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9+\-.]){0,63}$/,
  roleArn: /^arn:aws(-[^:]+)?:iam::([0-9]{12})?:role\/.+$/,
  clientRequestToken: /^[a-zA-Z0-9]{1,256}(-*[a-zA-Z0-9]){0,256}$/,
  accountId: /^[0-9]{12}$/,
  /** A KMS key id, key ARN, alias or alias ARN. */
  kmsKey: [
    new RegExp(`^${uuid}$`),
    /^mrk-[0-9a-fA-F]{32}$/,
    new RegExp(`^arn:aws(-[^:]+)?:kms:[a-z0-9-]+:[0-9]{12}:key/(${uuid}|mrk-[0-9a-fA-F]{32})$`),
    /^alias\/[a-zA-Z0-9/_-]{1,250}$/,
    /^arn:aws(-[^:]+)?:kms:[a-z0-9-]+:[0-9]{12}:alias\/[a-zA-Z0-9/_-]{1,250}$/
  ]
} as const

/** Whether a string is a KMS key id, key ARN, alias or alias ARN. */
export const isKmsKey = (value: string): boolean => patterns.kmsKey.some((pattern) => pattern.test(value))

/** The statuses after which a job never changes again. */
export const terminalStatuses: ReadonlySet<JobStatus> = new Set<JobStatus>([
  "Completed",
  "PartiallyCompleted",
  "Failed",
  "Stopped",
  "Expired"
])

/** Whether a job in this status is finished. */
export const isTerminal = (status: JobStatus): boolean => terminalStatuses.has(status)

/** Statuses that count against the account's concurrent-job quota. */
export const quotaStatuses: ReadonlySet<JobStatus> = new Set<JobStatus>([
  "Submitted",
  "Validating",
  "Scheduled",
  "InProgress"
])

/** How `modelInput` is interpreted: the model's native body, or a Converse request. */
export type InvocationType = "InvokeModel" | "Converse"

/** A `CreateModelInvocationJob` request (only the fields batch-extract uses). */
export interface CreateJobRequest {
  readonly jobName: string
  readonly roleArn: string
  readonly modelId: string
  readonly clientRequestToken: string
  readonly inputDataConfig: {
    readonly s3InputDataConfig: {
      readonly s3Uri: string
      readonly s3InputFormat: "JSONL"
      readonly s3BucketOwner?: string | undefined
    }
  }
  readonly outputDataConfig: {
    readonly s3OutputDataConfig: {
      readonly s3Uri: string
      /** The KMS key belongs inside this object (the API rejects it anywhere else). */
      readonly s3EncryptionKeyId?: string | undefined
      readonly s3BucketOwner?: string | undefined
    }
  }
  readonly vpcConfig?: {
    readonly subnetIds: ReadonlyArray<string>
    readonly securityGroupIds: ReadonlyArray<string>
  } | undefined
  readonly timeoutDurationInHours?: number | undefined
  readonly tags?: ReadonlyArray<{ readonly key: string; readonly value: string }> | undefined
  readonly modelInvocationType?: InvocationType | undefined
}

/** What `GetModelInvocationJob` (or a listing) says about a job. */
export interface JobDescription {
  readonly jobArn: string
  readonly jobName: string
  readonly status: JobStatus
  readonly message?: string | undefined
  readonly modelId?: string | undefined
  readonly clientRequestToken?: string | undefined
  readonly submitTime?: Date | undefined
  readonly lastModifiedTime?: Date | undefined
  readonly endTime?: Date | undefined
  readonly jobExpirationTime?: Date | undefined
  readonly inputS3Uri?: string | undefined
  readonly outputS3Uri?: string | undefined
  readonly totalRecordCount?: number | undefined
  readonly processedRecordCount?: number | undefined
  readonly successRecordCount?: number | undefined
  readonly errorRecordCount?: number | undefined
}

/** Filters for listing jobs. */
export interface ListJobsRequest {
  readonly nameContains?: string | undefined
  readonly statusEquals?: JobStatus | undefined
  readonly submitTimeAfter?: Date | undefined
}

/**
 * The batch-inference control plane.
 *
 * Gotchas:
 * - `createJob` with a `clientRequestToken` already used returns the existing job's ARN
 *   instead of creating a second one (that is what makes creates safe to repeat).
 * - A create beyond the concurrent-job quota fails with `QuotaExceeded`; the engine waits
 *   for capacity and retries.
 */
export class BatchInference extends Context.Service<BatchInference, {
  readonly createJob: (request: CreateJobRequest) => Effect.Effect<{ readonly jobArn: string }, ServiceError>
  /** Describe a job by ARN or id. */
  readonly getJob: (jobIdentifier: string) => Effect.Effect<JobDescription, ServiceError>
  /** Ask a job to stop (it passes through `Stopping` to `Stopped`). */
  readonly stopJob: (jobIdentifier: string) => Effect.Effect<void, ServiceError>
  /** List jobs, following pagination. */
  readonly listJobs: (request: ListJobsRequest) => Stream.Stream<JobDescription, ServiceError>
}>()("@batch-extract/core/BatchInference") {}

/** The job id: the last segment of a job ARN (Bedrock names the output folder after it). */
export const jobIdFromArn = (jobArn: string): string => jobArn.slice(jobArn.lastIndexOf("/") + 1)
