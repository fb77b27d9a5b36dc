/**
 * The whole local emulation in one Layer: a local S3 (`LocalS3`) and the Bedrock emulator
 * (`BedrockEmulator`, which also answers Service Quotas) on loopback, and the ports —
 * `ObjectStore`, `BatchInference`, `ModelRuntime`, `AccountQuotas` — provided by the *live*
 * Layers of this package, whose real SDK clients talk to them. No AWS account, no network
 * beyond 127.0.0.1.
 *
 * When to use: integration tests of anything built on the ports, and the offline default of
 * the node entrypoint. `LocalBackend` (the service) gives the endpoints, the emulator's
 * counters and fault settings, and the local S3's inspection helpers.
 *
 * Details:
 * - Everything starts in about a second (most of it loading the local S3; see benchmark 10,
 *   `local-lifecycle`) and stops when the Layer is released: SDK
 *   clients destroyed, servers closed, sockets destroyed, job fibers interrupted.
 * - The emulator reads job inputs and writes job outputs through its own S3 client (as
 *   Bedrock does), so outputs carry the job's KMS key exactly like on AWS.
 * - {@link layerFromBatchConfig} uses a `BatchConfig`'s bucket, region, KMS key and bucket
 *   owner, and sizes the emulator's quotas from it.
 * - {@link layerEmulation} is the two servers alone, wired the same way, for a process that
 *   serves them to others (the `batch-extract emulator` command).
 *
 * @example
 * ```ts
 * const program = Effect.gen(function*() {
 *   const local = yield* LocalBackend.LocalBackend
 *   yield* local.bedrock.setFaults({ recordErrorRate: 0.1 })
 *   // … run the engine …
 *   const counters = yield* local.bedrock.counters
 * }).pipe(Effect.provide(LocalBackend.layer({ buckets: ["my-bucket"] })))
 * ```
 *
 * @since 0.1.0
 */
import type { AccountQuotas, BatchConfig, BatchInference, ModelRuntime, ObjectStore } from "@batch-extract/core"
import { Context, Effect, Layer, Redacted } from "effect"
import type * as AwsClients from "./AwsClients.ts"
import * as BedrockBatchInference from "./BedrockBatchInference.ts"
import * as BedrockEmulator from "./BedrockEmulator.ts"
import * as BedrockModelRuntime from "./BedrockModelRuntime.ts"
import * as LocalS3 from "./LocalS3.ts"
import * as S3ObjectStore from "./S3ObjectStore.ts"
import * as ServiceQuotasAccountQuotas from "./ServiceQuotasAccountQuotas.ts"

/** Options of the local backend. */
export interface Options {
  /** Buckets to create at start. */
  readonly buckets?: ReadonlyArray<string> | undefined
  /** Region of the clients and of job ARNs (default `us-east-1`). */
  readonly region?: string | undefined
  /** SSE-KMS key for uploads through the provided `ObjectStore`. */
  readonly kmsKeyId?: string | undefined
  /** Account that owns the local buckets; sent as `ExpectedBucketOwner` by the provided `ObjectStore`. */
  readonly bucketOwner?: string | undefined
  /** Multipart part size of uploads through the provided `ObjectStore`. */
  readonly partSize?: number | undefined
  /** Bedrock emulator options (timings, quotas, faults, seed…). */
  readonly emulator?: BedrockEmulator.Options | undefined
  /** Local S3 options (port, fault rate…). */
  readonly s3?: Omit<LocalS3.Options, "buckets" | "accountId"> | undefined
}

/** The running local backend. */
export interface LocalBackendShape {
  readonly s3: LocalS3.LocalS3Shape
  readonly bedrock: BedrockEmulator.BedrockEmulatorShape
  /** Client settings that reach the emulation (for extra SDK clients in tests). */
  readonly clientSettings: AwsClients.ClientSettings
}

/** The local backend as a service (provided by {@link layer}). */
export class LocalBackend extends Context.Service<LocalBackend, LocalBackendShape>()(
  "@batch-extract/aws/LocalBackend"
) {}

/** The ports and services the local backend provides. */
export type Services =
  | ObjectStore.ObjectStore
  | BatchInference.BatchInference
  | ModelRuntime.ModelRuntime
  | AccountQuotas.AccountQuotas
  | LocalBackend
  | LocalS3.LocalS3
  | BedrockEmulator.BedrockEmulator

/** Dummy credentials: the emulation accepts any, and none are real. */
const localCredentials: AwsClients.Credentials = {
  accessKeyId: "LOCALEMULATION",
  secretAccessKey: Redacted.make("local-emulation-secret")
}

/** The emulated Bedrock's own credentials for S3 (exempt from injected S3 faults). */
const serviceCredentials: AwsClients.Credentials = {
  accessKeyId: "LOCALBEDROCKSERVICE",
  secretAccessKey: Redacted.make("local-emulation-service-secret")
}

/** Client settings that reach a running local S3 and emulator. */
export const clientSettings = (
  s3: LocalS3.LocalS3Shape,
  bedrock: BedrockEmulator.BedrockEmulatorShape,
  region: string
): AwsClients.ClientSettings => ({
  region,
  credentials: localCredentials,
  forcePathStyle: true,
  endpoints: {
    s3: s3.endpoint,
    bedrock: bedrock.endpoint,
    bedrockRuntime: bedrock.endpoint,
    serviceQuotas: bedrock.endpoint
  }
})

/** Options of {@link layerEmulation}: those of {@link layer} that shape the servers, not the ports. */
export type EmulationOptions = Pick<Options, "buckets" | "region" | "bucketOwner" | "emulator" | "s3">

/**
 * The local S3 and the Bedrock emulator wired together as {@link layer} wires them — the
 * emulator reads inputs and writes outputs through its own S3 client, with the service's
 * credentials, whose requests the local S3 never faults — without the ports.
 *
 * When to use: a process that only serves the emulation to other processes (the
 * `batch-extract emulator` command); they reach it with {@link clientSettings}' endpoints
 * and credentials.
 */
export const layerEmulation = (
  options: EmulationOptions = {}
): Layer.Layer<
  LocalS3.LocalS3 | BedrockEmulator.BedrockEmulator,
  LocalS3.LocalS3Error | BedrockEmulator.EmulatorError
> => {
  const region = options.region ?? "us-east-1"
  const localS3 = LocalS3.layer({
    ...options.s3,
    exemptAccessKeyIds: [serviceCredentials.accessKeyId, ...(options.s3?.exemptAccessKeyIds ?? [])],
    buckets: options.buckets,
    accountId: options.bucketOwner
  })
  const emulator = Layer.unwrap(
    Effect.gen(function*() {
      const s3 = yield* LocalS3.LocalS3
      // Bedrock's own access to S3: a separate client, like the service's, whose requests the
      // local S3 never faults (injected S3 faults are the caller's).
      const serviceStore = S3ObjectStore.layer({
        client: { region, credentials: serviceCredentials, forcePathStyle: true, endpoints: { s3: s3.endpoint } }
      })
      return BedrockEmulator.layer({
        region,
        s3AccountId: s3.accountId,
        ...options.emulator
      }).pipe(Layer.provide(serviceStore))
    })
  )
  return emulator.pipe(Layer.provideMerge(localS3))
}

/** The local S3, the emulator and the ports on them. */
export const layer = (
  options: Options = {}
): Layer.Layer<Services, LocalS3.LocalS3Error | BedrockEmulator.EmulatorError> => {
  const region = options.region ?? "us-east-1"
  const ports = Layer.unwrap(
    Effect.gen(function*() {
      const s3 = yield* LocalS3.LocalS3
      const bedrock = yield* BedrockEmulator.BedrockEmulator
      const client = clientSettings(s3, bedrock, region)
      return Layer.mergeAll(
        S3ObjectStore.layer({
          client,
          kmsKeyId: options.kmsKeyId,
          bucketOwner: options.bucketOwner,
          partSize: options.partSize
        }),
        BedrockBatchInference.layer({ client }),
        BedrockModelRuntime.layer({ client }),
        ServiceQuotasAccountQuotas.layer({ client }),
        Layer.succeed(LocalBackend, { s3, bedrock, clientSettings: client })
      )
    })
  )
  return ports.pipe(Layer.provideMerge(layerEmulation(options)))
}

/**
 * The local backend for a batch configuration: its bucket, region, KMS key and bucket
 * owner; the emulator's record and byte quotas and concurrent-job quota are the
 * configuration's (unless `options.emulator.quotas` says otherwise).
 */
export const layerFromBatchConfig = (
  config: BatchConfig.BatchConfig,
  options: Options = {}
): Layer.Layer<Services, LocalS3.LocalS3Error | BedrockEmulator.EmulatorError> =>
  layer({
    ...options,
    buckets: [config.bucketName, ...(options.buckets ?? [])],
    region: options.region ?? config.region,
    kmsKeyId: options.kmsKeyId ?? config.s3EncryptionKeyId,
    bucketOwner: options.bucketOwner ?? config.s3BucketOwner,
    emulator: {
      ...options.emulator,
      quotas: {
        maxConcurrentJobs: config.maxConcurrentJobs,
        minRecordsPerJob: config.minRecordsPerJob,
        maxRecordsPerJob: config.maxRecordsPerJob,
        maxInputFileBytes: config.maxInputFileBytes,
        maxJobBytes: config.maxJobBytes,
        ...options.emulator?.quotas
      }
    }
  })
