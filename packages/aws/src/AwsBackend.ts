/**
 * All three ports on real AWS in one Layer: `ObjectStore` on S3, `BatchInference` on the
 * Bedrock control plane and `ModelRuntime` on Bedrock runtime, configured from a
 * `BatchConfig`.
 *
 * When to use: the production wiring of an app (`Effect.provide(AwsBackend.layer(config))`).
 * For offline runs and integration tests use `LocalBackend`, which provides the same three
 * ports on the local emulation.
 *
 * Details: the region is `BatchConfig.region` for all three clients (the batch and the
 * on-demand path hit the same region and model); the KMS key and bucket owner of the
 * configuration apply to every S3 upload and request; endpoints and credentials follow the
 * standard SDK environment (see `AwsClients`).
 *
 * @since 0.1.0
 */
import type { BatchConfig, BatchInference, ModelRuntime, ObjectStore } from "@batch-extract/core"
import { type Config, Layer } from "effect"
import type * as AwsClients from "./AwsClients.ts"
import * as BedrockBatchInference from "./BedrockBatchInference.ts"
import * as BedrockModelRuntime from "./BedrockModelRuntime.ts"
import * as S3ObjectStore from "./S3ObjectStore.ts"

/** The services the AWS backend provides. */
export type Services = ObjectStore.ObjectStore | BatchInference.BatchInference | ModelRuntime.ModelRuntime

/** Options beyond the `BatchConfig`. */
export interface Options {
  /** Client settings that override the environment (the region defaults to `BatchConfig.region`). */
  readonly client?: AwsClients.ClientSettings | undefined
  /** Multipart tuning of uploads. */
  readonly partSize?: number | undefined
  readonly queueSize?: number | undefined
}

/** The three live ports for a batch configuration. */
export const layer = (
  config: BatchConfig.BatchConfig,
  options: Options = {}
): Layer.Layer<Services, Config.ConfigError> => {
  const client: AwsClients.ClientSettings = { ...options.client, region: options.client?.region ?? config.region }
  return Layer.mergeAll(
    S3ObjectStore.layerConfig({
      ...S3ObjectStore.optionsFromBatchConfig(config),
      client,
      partSize: options.partSize,
      queueSize: options.queueSize
    }),
    BedrockBatchInference.layerConfig({ client }),
    BedrockModelRuntime.layerConfig({ client })
  )
}
