/**
 * batch-extract on AWS: live Layers for the ports (S3, Bedrock control plane, Bedrock
 * runtime) on the AWS SDK v3, and a loopback emulation of those services.
 *
 * @since 0.1.0
 */
export * as AwsBackend from "./AwsBackend.ts"
export * as AwsClients from "./AwsClients.ts"
export * as BedrockBatchInference from "./BedrockBatchInference.ts"
export * as BedrockEmulator from "./BedrockEmulator.ts"
export * as BedrockModelRuntime from "./BedrockModelRuntime.ts"
export * as LocalBackend from "./LocalBackend.ts"
export * as LocalS3 from "./LocalS3.ts"
export * as S3ObjectStore from "./S3ObjectStore.ts"
export * as SdkError from "./SdkError.ts"
