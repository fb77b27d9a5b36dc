/**
 * batch-extract on AWS: live Layers for the ports (S3, Bedrock control plane, Bedrock
 * runtime, the account's quotas in Service Quotas) on the AWS SDK v3. The loopback emulation
 * of those services has its own entry point, `@batch-extract/aws/local`, so live use never
 * loads it.
 *
 * @since 0.1.0
 */
export * as AwsBackend from "./AwsBackend.ts"
export * as AwsClients from "./AwsClients.ts"
export * as BedrockBatchInference from "./BedrockBatchInference.ts"
export * as BedrockModelRuntime from "./BedrockModelRuntime.ts"
export * as S3ObjectStore from "./S3ObjectStore.ts"
export * as SdkError from "./SdkError.ts"
export * as ServiceQuotasAccountQuotas from "./ServiceQuotasAccountQuotas.ts"
