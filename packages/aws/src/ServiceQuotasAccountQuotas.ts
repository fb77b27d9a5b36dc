/**
 * The live `AccountQuotas` on AWS Service Quotas (`@aws-sdk/client-service-quotas`): every
 * quota of Amazon Bedrock (service code `bedrock`) in the client's region — the account's
 * applied values (`ListServiceQuotas`) over the service's defaults
 * (`ListAWSDefaultServiceQuotas`, for the quotas without an applied value, which
 * `ListServiceQuotas` leaves out), both listings paginated and read at once.
 *
 * When to use: before a run on AWS, through `AccountQuotas.configure` of
 * `@batch-extract/core` (the command does it for `--backend aws`). The local emulation's
 * Bedrock emulator answers the same two calls.
 *
 * Details: the identity needs `servicequotas:ListServiceQuotas` and
 * `servicequotas:ListAWSDefaultServiceQuotas`. Exceptions become `ServiceError`s through
 * `SdkError` (a denial is `AccessDenied`, with the operation that was denied); the client never
 * retries (`maxAttempts: 1`): a failure makes the caller fall back to the documented defaults.
 *
 * Gotchas: Service Quotas is regional; the client's region must be the run's (the Layer takes
 * it from the options, else `AWS_REGION`). The endpoint follows `AWS_ENDPOINT_URL_SERVICE_QUOTAS`.
 *
 * @since 0.3.0
 */
import {
  ListAWSDefaultServiceQuotasCommand,
  ListServiceQuotasCommand,
  type ServiceQuota,
  type ServiceQuotasClient
} from "@aws-sdk/client-service-quotas"
import { AccountQuotas } from "@batch-extract/core"
import { type Config, Effect, Layer, Option, type Scope, Stream } from "effect"
import * as AwsClients from "./AwsClients.ts"
import * as SdkError from "./SdkError.ts"

/** Options of the live quotas. */
export interface Options {
  /** Client settings (region, endpoint, credentials). */
  readonly client?: AwsClients.ClientSettings | undefined
}

/** Bedrock's service code in Service Quotas. */
export const serviceCode = "bedrock"

/** Quotas per page (the most Service Quotas gives). */
const pageSize = 100

/** A bound on pages, so a service that kept answering with a next token could not loop forever. */
const maxPages = 200

interface Page {
  readonly Quotas?: ReadonlyArray<ServiceQuota> | undefined
  readonly NextToken?: string | undefined
}

/** Every quota of a listing, page after page. */
const listAll = (
  operation: "ListServiceQuotas" | "ListAWSDefaultServiceQuotas",
  send: (nextToken: string | undefined, signal: AbortSignal) => Promise<Page>
) =>
  Stream.paginate(
    { nextToken: undefined as string | undefined, page: 0 },
    ({ nextToken, page }) =>
      SdkError.attempt(operation, (signal) => send(nextToken, signal)).pipe(
        Effect.map((answer) =>
          [
            answer.Quotas ?? [],
            answer.NextToken !== undefined && answer.NextToken !== "" && page + 1 < maxPages
              ? Option.some({ nextToken: answer.NextToken as string | undefined, page: page + 1 })
              : Option.none()
          ] as const
        )
      )
  ).pipe(Stream.runCollect)

const toQuota = (quota: ServiceQuota, applied: boolean): AccountQuotas.ServiceQuota | undefined =>
  quota.QuotaCode === undefined || quota.QuotaName === undefined || typeof quota.Value !== "number"
    ? undefined
    : { code: quota.QuotaCode, name: quota.QuotaName, value: quota.Value, unit: quota.Unit, applied }

/** The port on an existing client (the caller owns and destroys it). */
export const fromClient = (client: ServiceQuotasClient): AccountQuotas.AccountQuotas["Service"] => {
  const applied = listAll("ListServiceQuotas", (nextToken, signal) =>
    client.send(
      new ListServiceQuotasCommand({ ServiceCode: serviceCode, MaxResults: pageSize, NextToken: nextToken }),
      { abortSignal: signal }
    ))
  const defaults = listAll("ListAWSDefaultServiceQuotas", (nextToken, signal) =>
    client.send(
      new ListAWSDefaultServiceQuotasCommand({ ServiceCode: serviceCode, MaxResults: pageSize, NextToken: nextToken }),
      { abortSignal: signal }
    ))
  return AccountQuotas.AccountQuotas.of({
    listBedrock: Effect.all([applied, defaults], { concurrency: 2 }).pipe(
      Effect.map(([appliedQuotas, defaultQuotas]) => {
        const byCode = new Map<string, AccountQuotas.ServiceQuota>()
        for (const quota of defaultQuotas) {
          const read = toQuota(quota, false)
          if (read !== undefined) byCode.set(read.code, read)
        }
        // The account's applied value wins over the default.
        for (const quota of appliedQuotas) {
          const read = toQuota(quota, true)
          if (read !== undefined) byCode.set(read.code, read)
        }
        return [...byCode.values()]
      })
    )
  })
}

/** The port with its own client, destroyed when the scope closes. */
export const make = (
  options: Options = {}
): Effect.Effect<AccountQuotas.AccountQuotas["Service"], never, Scope.Scope> =>
  Effect.map(AwsClients.serviceQuotasClient(options.client), fromClient)

/** The port as a Layer, with exactly the given settings. */
export const layer = (options: Options = {}): Layer.Layer<AccountQuotas.AccountQuotas> =>
  Layer.effect(AccountQuotas.AccountQuotas, make(options))

/**
 * The port as a Layer whose client settings come from `Config` (`AWS_REGION`,
 * `AWS_ENDPOINT_URL_SERVICE_QUOTAS`…), with explicit `options.client` settings taking precedence.
 */
export const layerConfig = (
  options: Options = {}
): Layer.Layer<AccountQuotas.AccountQuotas, Config.ConfigError> =>
  Layer.effect(
    AccountQuotas.AccountQuotas,
    Effect.flatMap(AwsClients.config({ region: options.client?.region }), (settings) =>
      make({ ...options, client: AwsClients.merge(settings, options.client ?? {}) }))
  )
