/**
 * The emulation of AWS Service Quotas for Amazon Bedrock: `ListServiceQuotas` (the emulated
 * account's applied values) and `ListAWSDefaultServiceQuotas` (the documented defaults) for
 * service code `bedrock`, on the awsJson1_1 wire the SDK's client speaks (`POST /` with
 * `X-Amz-Target: ServiceQuotasV20190624.<operation>`), paginated like the service.
 *
 * It lists, for each model of a catalog of Bedrock's display names, the batch-inference
 * quotas as AWS names them (records per job, minimum records, records per input file, input
 * file and job size in GB, submitted and in-progress jobs), and some unrelated quotas. Quota
 * codes are the emulation's own (derived from the names), not AWS's. A denied account answers
 * `AccessDeniedException`, as a policy without `servicequotas:<operation>` would.
 *
 * @internal
 */
import { AccountQuotas } from "@batch-extract/core"
import { createHash } from "node:crypto"
import type { WireRequest, WireResponse } from "./wireServer.ts"

/** The operations served. */
export type Operation = "ListServiceQuotas" | "ListAWSDefaultServiceQuotas"

/** The awsJson1_1 target prefix of Service Quotas. */
const targetPrefix = "ServiceQuotasV20190624."

/** The operation a request asks for, or `undefined` when it is not a Service Quotas call. */
export const operationOf = (request: WireRequest): Operation | "unknown" | undefined => {
  const target = request.headers["x-amz-target"]
  if (request.method !== "POST" || request.path !== "/" || target === undefined) return undefined
  if (!target.startsWith(targetPrefix)) return undefined
  const name = target.slice(targetPrefix.length)
  return name === "ListServiceQuotas" || name === "ListAWSDefaultServiceQuotas" ? name : "unknown"
}

/** Options of the emulation. */
export interface Options {
  /** The quotas the account's applied values give (default: the documented ones). */
  readonly quotas?: Partial<AccountQuotas.Values> | undefined
  /** Answer every call with `AccessDeniedException`. */
  readonly denied?: boolean | undefined
  readonly region: string
  readonly accountId: string
}

/**
 * Bedrock's display names, as Service Quotas names its models' batch quotas (a quota of a
 * model this catalog lacks is not listed: a run of that model falls back to the defaults).
 */
export const modelNames: ReadonlyArray<string> = [
  "Claude 3 Haiku",
  "Claude 3 Sonnet",
  "Claude 3 Opus",
  "Claude 3.5 Haiku",
  "Claude 3.5 Sonnet",
  "Claude 3.5 Sonnet v2",
  "Claude 3.7 Sonnet",
  "Claude Sonnet 4",
  "Claude Sonnet 4.5",
  "Claude Haiku 4.5",
  "Claude Opus 4.1",
  "Nova Micro V1",
  "Nova Lite V1",
  "Nova Pro V1",
  "Llama 3.1 8B Instruct",
  "Llama 3.1 70B Instruct",
  "Llama 3.1 405B Instruct",
  "Llama 3.2 1B Instruct",
  "Llama 3.2 3B Instruct",
  "Llama 3.2 11B Instruct",
  "Llama 3.2 90B Instruct",
  "Llama 3.3 70B Instruct",
  "Llama 4 Maverick",
  "Llama 4 Scout",
  "Mistral Small",
  "Mistral Large 2 (24.07)"
]

interface Listed {
  readonly name: string
  readonly value: (quotas: AccountQuotas.Values) => number
  readonly adjustable: boolean
}

const gigabytes = (bytes: number) => bytes / 1e9

/** Every quota listed, in the service's order (by code). */
const catalog: ReadonlyArray<Listed & { readonly code: string }> = modelNames.flatMap((model): Array<Listed> => [
  { name: `Records per batch inference job for ${model}`, value: (q) => q.maxRecordsPerJob, adjustable: true },
  {
    name: `Records per input file per batch inference job for ${model}`,
    value: (q) => q.maxRecordsPerJob,
    adjustable: true
  },
  {
    name: `Minimum number of records per batch inference job for ${model}`,
    value: (q) => q.minRecordsPerJob,
    adjustable: false
  },
  {
    name: `Batch inference input file size (in GB) for ${model}`,
    value: (q) => gigabytes(q.maxInputFileBytes),
    adjustable: false
  },
  { name: `Batch inference job size (in GB) for ${model}`, value: (q) => gigabytes(q.maxJobBytes), adjustable: false },
  {
    name: `Sum of in-progress and submitted batch inference jobs using a base model for ${model}`,
    value: (q) => q.maxConcurrentJobs,
    adjustable: true
  },
  // Not a batch quota: the listing holds others, which a reader must pass over.
  { name: `On-demand model inference requests per minute for ${model}`, value: () => 200, adjustable: true }
]).map((quota) => ({
  ...quota,
  code: `L-${createHash("sha256").update(quota.name).digest("hex").slice(0, 8).toUpperCase()}`
})).sort((a, b) => a.code.localeCompare(b.code))

const json = (status: number, body: unknown, headers: Record<string, string> = {}): WireResponse => ({
  status,
  headers: { "content-type": "application/x-amz-json-1.1", ...headers },
  body: JSON.stringify(body)
})

/** An exception in the awsJson1_1 shape (`__type` and `Message`, and the error-type header). */
const exception = (name: string, message: string, status = 400): WireResponse =>
  json(status, { __type: name, Message: message }, { "x-amzn-errortype": name })

const decoder = new TextDecoder()

/** The running emulation. */
export interface ServiceQuotasEmulation {
  /** Answer a call of `operation` (from {@link operationOf}). */
  readonly handle: (operation: Operation | "unknown", request: WireRequest) => WireResponse
  /** Change the applied values or the denial while running. */
  readonly set: (
    options: { readonly quotas?: Partial<AccountQuotas.Values> | undefined; readonly denied?: boolean | undefined }
  ) => void
  /** Calls answered (denials and invalid requests included). */
  readonly calls: () => number
  readonly resetCalls: () => void
}

/** Start the emulation (plain state; the Bedrock emulator serves it on its port). */
export const make = (options: Options): ServiceQuotasEmulation => {
  let applied: AccountQuotas.Values = { ...AccountQuotas.defaults, ...options.quotas }
  let denied = options.denied === true
  let calls = 0

  const list = (operation: Operation, request: WireRequest): WireResponse => {
    let body: Record<string, unknown>
    try {
      const text = decoder.decode(request.body)
      body = text.trim() === "" ? {} : JSON.parse(text) as Record<string, unknown>
    } catch {
      return exception("SerializationException", "The request body is not JSON.")
    }
    if (typeof body.ServiceCode !== "string" || body.ServiceCode === "") {
      return exception("IllegalArgumentException", "ServiceCode is required.")
    }
    if (body.ServiceCode !== "bedrock") {
      return exception(
        "NoSuchResourceException",
        `The emulation lists the quotas of bedrock only, not of ${body.ServiceCode}.`
      )
    }
    const maxResults = body.MaxResults === undefined ? 100 : body.MaxResults
    if (typeof maxResults !== "number" || !Number.isInteger(maxResults) || maxResults < 1 || maxResults > 100) {
      return exception("IllegalArgumentException", "MaxResults must be a whole number from 1 to 100.")
    }
    let offset = 0
    if (typeof body.NextToken === "string") {
      offset = Number(Buffer.from(body.NextToken, "base64url").toString("utf8").replace(/^quotas:/, ""))
      if (!Number.isInteger(offset) || offset < 0) return exception("InvalidPaginationTokenException", "Invalid token.")
    }
    const values = operation === "ListServiceQuotas" ? applied : AccountQuotas.defaults
    const page = catalog.slice(offset, offset + maxResults).map((quota) => ({
      ServiceCode: "bedrock",
      ServiceName: "Amazon Bedrock",
      QuotaArn: `arn:aws:servicequotas:${options.region}:${
        operation === "ListServiceQuotas" ? options.accountId : ""
      }:bedrock/${quota.code}`,
      QuotaCode: quota.code,
      QuotaName: quota.name,
      Value: quota.value(values),
      Unit: "None",
      Adjustable: quota.adjustable,
      GlobalQuota: false
    }))
    const next = offset + maxResults < catalog.length
      ? Buffer.from(`quotas:${offset + maxResults}`, "utf8").toString("base64url")
      : undefined
    return json(200, { Quotas: page, ...(next === undefined ? {} : { NextToken: next }) })
  }

  return {
    handle: (operation, request) => {
      calls += 1
      if (operation === "unknown") {
        return exception(
          "UnknownOperationException",
          `The emulation does not serve ${request.headers["x-amz-target"]}.`
        )
      }
      if (denied) {
        return exception(
          "AccessDeniedException",
          `User: arn:aws:iam::${options.accountId}:user/emulated is not authorized to perform: ` +
            `servicequotas:${operation} because no identity-based policy allows the servicequotas:${operation} action`,
          403
        )
      }
      return list(operation, request)
    },
    set: (next) => {
      if (next.quotas !== undefined) applied = { ...applied, ...next.quotas }
      if (next.denied !== undefined) denied = next.denied
    },
    calls: () => calls,
    resetCalls: () => {
      calls = 0
    }
  }
}
