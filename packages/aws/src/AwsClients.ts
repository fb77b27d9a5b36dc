/**
 * The AWS SDK v3 clients of batch-extract (S3, Bedrock control plane, Bedrock runtime,
 * Service Quotas) as scoped resources, and their settings read through Effect `Config`.
 *
 * When to use: the live Layers of this package build their clients here; use these
 * constructors directly when you need a raw client with the same settings (e.g. a test that
 * inspects S3).
 *
 * Details:
 * - Every client is created in `Effect.acquireRelease` and `destroy()`-ed when its scope
 *   closes, so no keep-alive socket outlives the Layer that made it.
 * - Every client has `maxAttempts: 1`: the SDK never retries. The engine retries with an
 *   Effect `Schedule`, in one place, so SDK and Effect retries never multiply.
 * - The region is the one given (from `BatchConfig.region`), else `AWS_REGION`, else the
 *   SDK's own resolution (the profile's region).
 * - Endpoints follow the standard variables (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_BEDROCK`,
 *   `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, `AWS_ENDPOINT_URL_SERVICE_QUOTAS`, `AWS_ENDPOINT_URL`); credentials follow the SDK's
 *   default chain (`AWS_PROFILE`, environment, SSO, instance roles…) unless given here.
 *
 * Gotchas: explicit credentials are `Redacted`; they are unwrapped only inside the SDK's
 * credential provider, never logged. S3 uses path-style addressing when its endpoint is a
 * loopback host or IP address (a local emulator), where bucket sub-domains do not resolve.
 *
 * @since 0.1.0
 */
import { BedrockClient } from "@aws-sdk/client-bedrock"
import { BedrockRuntimeClient } from "@aws-sdk/client-bedrock-runtime"
import { S3Client } from "@aws-sdk/client-s3"
import { ServiceQuotasClient } from "@aws-sdk/client-service-quotas"
import { Config, Effect, Option, Redacted, type Scope } from "effect"

/** Static credentials (the secret parts are `Redacted`). */
export interface Credentials {
  readonly accessKeyId: string
  readonly secretAccessKey: Redacted.Redacted<string>
  readonly sessionToken?: Redacted.Redacted<string> | undefined
}

/** Endpoint overrides per service (absent: the service's regional endpoint). */
export interface Endpoints {
  readonly s3?: string | undefined
  readonly bedrock?: string | undefined
  readonly bedrockRuntime?: string | undefined
  readonly serviceQuotas?: string | undefined
}

/** Settings shared by the clients. */
export interface ClientSettings {
  /** The AWS region (absent: the SDK resolves it from the profile). */
  readonly region?: string | undefined
  readonly endpoints?: Endpoints | undefined
  /** Static credentials (absent: the SDK's default credential chain). */
  readonly credentials?: Credentials | undefined
  /** Force path-style S3 addressing (default: only for loopback endpoints). */
  readonly forcePathStyle?: boolean | undefined
}

const optionalString = (name: string) => Config.option(Config.String(name))

/**
 * Client settings from `Config`: `region` when given (from `BatchConfig.region`) else
 * `AWS_REGION`; endpoints from `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_BEDROCK`,
 * `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, `AWS_ENDPOINT_URL_SERVICE_QUOTAS`, falling back to
 * `AWS_ENDPOINT_URL`.
 */
export const config = (overrides: { readonly region?: string | undefined } = {}): Config.Config<ClientSettings> =>
  Config.all({
    region: optionalString("AWS_REGION"),
    any: optionalString("AWS_ENDPOINT_URL"),
    s3: optionalString("AWS_ENDPOINT_URL_S3"),
    bedrock: optionalString("AWS_ENDPOINT_URL_BEDROCK"),
    bedrockRuntime: optionalString("AWS_ENDPOINT_URL_BEDROCK_RUNTIME"),
    serviceQuotas: optionalString("AWS_ENDPOINT_URL_SERVICE_QUOTAS")
  }).pipe(
    Config.map((env): ClientSettings => {
      const endpoint = (specific: Option.Option<string>) =>
        Option.getOrUndefined(Option.orElse(specific, () => env.any))
      return {
        region: overrides.region ?? Option.getOrUndefined(env.region),
        endpoints: {
          s3: endpoint(env.s3),
          bedrock: endpoint(env.bedrock),
          bedrockRuntime: endpoint(env.bedrockRuntime),
          serviceQuotas: endpoint(env.serviceQuotas)
        }
      }
    })
  )

/** Whether an endpoint names a loopback host or an IP address. */
export const isLocalEndpoint = (endpoint: string): boolean => {
  const host = URL.canParse(endpoint) ? new URL(endpoint).hostname : ""
  return host === "localhost" || host.endsWith(".localhost") || /^\d+\.\d+\.\d+\.\d+$/.test(host) ||
    host.startsWith("[")
}

const credentialProvider = (credentials: Credentials) => () =>
  Promise.resolve({
    accessKeyId: credentials.accessKeyId,
    secretAccessKey: Redacted.value(credentials.secretAccessKey),
    ...(credentials.sessionToken !== undefined ? { sessionToken: Redacted.value(credentials.sessionToken) } : {})
  })

const common = (settings: ClientSettings, endpoint: string | undefined) => ({
  maxAttempts: 1,
  ...(settings.region !== undefined ? { region: settings.region } : {}),
  ...(endpoint !== undefined ? { endpoint } : {}),
  ...(settings.credentials !== undefined ? { credentials: credentialProvider(settings.credentials) } : {})
})

const scoped = <C extends { destroy(): void }>(make: () => C): Effect.Effect<C, never, Scope.Scope> =>
  Effect.acquireRelease(Effect.sync(make), (client) => Effect.sync(() => client.destroy()))

/** An S3 client, destroyed when the scope closes. */
export const s3Client = (settings: ClientSettings = {}): Effect.Effect<S3Client, never, Scope.Scope> =>
  scoped(() => {
    const endpoint = settings.endpoints?.s3
    return new S3Client({
      ...common(settings, endpoint),
      forcePathStyle: settings.forcePathStyle ?? (endpoint !== undefined && isLocalEndpoint(endpoint))
    })
  })

/** A Bedrock control-plane client, destroyed when the scope closes. */
export const bedrockClient = (settings: ClientSettings = {}): Effect.Effect<BedrockClient, never, Scope.Scope> =>
  scoped(() => new BedrockClient(common(settings, settings.endpoints?.bedrock)))

/** A Bedrock runtime client (HTTP/2), destroyed when the scope closes. */
export const bedrockRuntimeClient = (
  settings: ClientSettings = {}
): Effect.Effect<BedrockRuntimeClient, never, Scope.Scope> =>
  scoped(() => new BedrockRuntimeClient(common(settings, settings.endpoints?.bedrockRuntime)))

/** A Service Quotas client, destroyed when the scope closes. */
export const serviceQuotasClient = (
  settings: ClientSettings = {}
): Effect.Effect<ServiceQuotasClient, never, Scope.Scope> =>
  scoped(() => new ServiceQuotasClient(common(settings, settings.endpoints?.serviceQuotas)))

/** Merge explicit settings over settings read from the environment (explicit wins). */
export const merge = (fromEnvironment: ClientSettings, explicit: ClientSettings): ClientSettings => ({
  region: explicit.region ?? fromEnvironment.region,
  endpoints: {
    s3: explicit.endpoints?.s3 ?? fromEnvironment.endpoints?.s3,
    bedrock: explicit.endpoints?.bedrock ?? fromEnvironment.endpoints?.bedrock,
    bedrockRuntime: explicit.endpoints?.bedrockRuntime ?? fromEnvironment.endpoints?.bedrockRuntime,
    serviceQuotas: explicit.endpoints?.serviceQuotas ?? fromEnvironment.endpoints?.serviceQuotas
  },
  credentials: explicit.credentials ?? fromEnvironment.credentials,
  forcePathStyle: explicit.forcePathStyle ?? fromEnvironment.forcePathStyle
})
