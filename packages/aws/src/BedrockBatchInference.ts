/**
 * The live `BatchInference` on the Amazon Bedrock control plane (`@aws-sdk/client-bedrock`):
 * `CreateModelInvocationJob`, `GetModelInvocationJob`, `StopModelInvocationJob` and
 * `ListModelInvocationJobs` (paginated, as a `Stream`).
 *
 * When to use: production runs ({@link layerConfig}), and the local emulation, where the
 * same client talks to the project's Bedrock emulator on loopback.
 *
 * Details: requests are passed through field by field (the KMS key inside
 * `s3OutputDataConfig`, VPC lists, tags, the client request token); responses become
 * `JobDescription`s. Exceptions map to `ServiceError`s (`ServiceQuotaExceededException` →
 * `QuotaExceeded`, `ThrottlingException` → `Throttled`, …) with the request id kept.
 *
 * Gotchas: the client never retries (`maxAttempts: 1`); the engine does. Interrupting a call
 * aborts its HTTP request — a create that reached the service may still have created the
 * job, which is why the engine always sends a deterministic client request token.
 *
 * @since 0.1.0
 */
import {
  type BedrockClient,
  CreateModelInvocationJobCommand,
  GetModelInvocationJobCommand,
  ListModelInvocationJobsCommand,
  type ModelInvocationJobSummary,
  StopModelInvocationJobCommand
} from "@aws-sdk/client-bedrock"
import { BatchInference } from "@batch-extract/core"
import { type Config, Effect, Layer, Option, type Scope, Stream } from "effect"
import * as AwsClients from "./AwsClients.ts"
import * as SdkError from "./SdkError.ts"

/** Options of the live control plane. */
export interface Options {
  /** Client settings (region, endpoint, credentials). */
  readonly client?: AwsClients.ClientSettings | undefined
  /** Jobs per listing page (1..1000; default 100). */
  readonly pageSize?: number | undefined
}

const toStatus = (status: string | undefined): BatchInference.JobStatus =>
  status !== undefined && BatchInference.isJobStatus(status) ? status : "Submitted"

type JobFields = Pick<
  ModelInvocationJobSummary,
  | "jobArn"
  | "jobName"
  | "status"
  | "message"
  | "modelId"
  | "clientRequestToken"
  | "submitTime"
  | "lastModifiedTime"
  | "endTime"
  | "jobExpirationTime"
  | "inputDataConfig"
  | "outputDataConfig"
  | "totalRecordCount"
  | "processedRecordCount"
  | "successRecordCount"
  | "errorRecordCount"
>

/** A job as the SDK describes it → the port's `JobDescription`. */
export const toJobDescription = (job: Partial<JobFields>): BatchInference.JobDescription => ({
  jobArn: job.jobArn ?? "",
  jobName: job.jobName ?? "",
  status: toStatus(job.status),
  message: job.message,
  modelId: job.modelId,
  clientRequestToken: job.clientRequestToken,
  submitTime: job.submitTime,
  lastModifiedTime: job.lastModifiedTime,
  endTime: job.endTime,
  jobExpirationTime: job.jobExpirationTime,
  inputS3Uri: job.inputDataConfig?.s3InputDataConfig?.s3Uri,
  outputS3Uri: job.outputDataConfig?.s3OutputDataConfig?.s3Uri,
  totalRecordCount: job.totalRecordCount,
  processedRecordCount: job.processedRecordCount,
  successRecordCount: job.successRecordCount,
  errorRecordCount: job.errorRecordCount
})

const defined = <T extends Record<string, unknown>>(fields: T): T => {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) out[key] = value
  return out as T
}

/** The SDK input for a port `CreateJobRequest` (only the fields that are set). */
export const toCreateInput = (request: BatchInference.CreateJobRequest) => {
  const input = request.inputDataConfig.s3InputDataConfig
  const output = request.outputDataConfig.s3OutputDataConfig
  return defined({
    jobName: request.jobName,
    roleArn: request.roleArn,
    modelId: request.modelId,
    clientRequestToken: request.clientRequestToken,
    inputDataConfig: {
      s3InputDataConfig: defined({
        s3Uri: input.s3Uri,
        s3InputFormat: input.s3InputFormat,
        s3BucketOwner: input.s3BucketOwner
      })
    },
    outputDataConfig: {
      s3OutputDataConfig: defined({
        s3Uri: output.s3Uri,
        s3EncryptionKeyId: output.s3EncryptionKeyId,
        s3BucketOwner: output.s3BucketOwner
      })
    },
    vpcConfig: request.vpcConfig === undefined ? undefined : {
      subnetIds: [...request.vpcConfig.subnetIds],
      securityGroupIds: [...request.vpcConfig.securityGroupIds]
    },
    timeoutDurationInHours: request.timeoutDurationInHours,
    tags: request.tags?.map((tag) => ({ key: tag.key, value: tag.value })),
    modelInvocationType: request.modelInvocationType
  })
}

/** Build the control plane on an existing client (the caller owns the client's lifetime). */
export const fromClient = (client: BedrockClient, options: Options = {}): BatchInference.BatchInference["Service"] => {
  const pageSize = Math.min(1000, Math.max(1, options.pageSize ?? 100))

  const createJob = Effect.fn("BatchInference.createJob")(function*(request: BatchInference.CreateJobRequest) {
    const response = yield* SdkError.attempt(
      "BatchInference.createJob",
      (signal) => client.send(new CreateModelInvocationJobCommand(toCreateInput(request)), { abortSignal: signal })
    )
    return { jobArn: response.jobArn ?? "" }
  })

  const getJob = Effect.fn("BatchInference.getJob")(function*(jobIdentifier: string) {
    const response = yield* SdkError.attempt(
      "BatchInference.getJob",
      (signal) => client.send(new GetModelInvocationJobCommand({ jobIdentifier }), { abortSignal: signal })
    )
    return toJobDescription(response)
  })

  const stopJob = Effect.fn("BatchInference.stopJob")(function*(jobIdentifier: string) {
    yield* SdkError.attempt(
      "BatchInference.stopJob",
      (signal) => client.send(new StopModelInvocationJobCommand({ jobIdentifier }), { abortSignal: signal })
    )
  })

  const listJobs = (request: BatchInference.ListJobsRequest) =>
    Stream.paginate(
      undefined as string | undefined,
      (nextToken) =>
        SdkError.attempt("BatchInference.listJobs", (signal) =>
          client.send(
            new ListModelInvocationJobsCommand(defined({
              nameContains: request.nameContains,
              statusEquals: request.statusEquals,
              submitTimeAfter: request.submitTimeAfter,
              maxResults: pageSize,
              nextToken
            })),
            { abortSignal: signal }
          )).pipe(
            Effect.map((page) =>
              [
                (page.invocationJobSummaries ?? []).map(toJobDescription),
                page.nextToken !== undefined && page.nextToken !== ""
                  ? Option.some<string | undefined>(page.nextToken)
                  : Option.none()
              ] as const
            )
          )
    )

  return BatchInference.BatchInference.of({ createJob, getJob, stopJob, listJobs })
}

/** Build the control plane with its own client, destroyed when the scope closes. */
export const make = (
  options: Options = {}
): Effect.Effect<BatchInference.BatchInference["Service"], never, Scope.Scope> =>
  Effect.map(AwsClients.bedrockClient(options.client), (client) => fromClient(client, options))

/** The control plane as a Layer, with exactly the given settings. */
export const layer = (options: Options = {}): Layer.Layer<BatchInference.BatchInference> =>
  Layer.effect(BatchInference.BatchInference, make(options))

/**
 * The control plane as a Layer whose client settings come from `Config` (`AWS_REGION`,
 * `AWS_ENDPOINT_URL_BEDROCK`…), with explicit `options.client` settings taking precedence.
 */
export const layerConfig = (
  options: Options = {}
): Layer.Layer<BatchInference.BatchInference, Config.ConfigError> =>
  Layer.effect(
    BatchInference.BatchInference,
    Effect.flatMap(AwsClients.config({ region: options.client?.region }), (settings) =>
      make({ ...options, client: AwsClients.merge(settings, options.client ?? {}) }))
  )
