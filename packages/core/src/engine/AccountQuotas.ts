/**
 * `AccountQuotas`: the account's Amazon Bedrock batch-inference quotas, as AWS Service Quotas
 * lists them — the port that reads them, how a model's quotas are found among the service's,
 * and how the quota settings a user did not give are filled from them.
 *
 * When to use: before a run, to size it to the account instead of the documented defaults:
 * {@link configure} decodes a `BatchConfig` input, reads (through the port) the quotas whose
 * settings the input leaves out, and returns the configuration with them, and a
 * {@link Resolution} that says which values were used and where each came from. Record the
 * returned input with the run, so a resumed run and every worker use the same values instead
 * of reading again (the command does). {@link configureOffline} is the same without a read.
 *
 * Details:
 * - The quota settings are `maxConcurrentJobs`, `minRecordsPerJob`, `maxRecordsPerJob`,
 *   `maxInputFileBytes` and `maxJobBytes` ({@link quotaSettings}); a setting the input gives
 *   wins and is never read. Their defaults are `BatchConfig`'s (the documented quotas).
 * - Bedrock's batch quotas are per model (service code `bedrock`), named for the model's
 *   display name: "Records per batch inference job for Claude 3.5 Haiku", "Minimum number of
 *   records per batch inference job for …", "Records per input file per batch inference job
 *   for …", "Batch inference input file size (in GB) for …", "Batch inference job size (in GB)
 *   for …" (some names put "(in GB)" after the model), "Sum of in-progress and submitted
 *   batch inference jobs using a base model for …". {@link match} finds a model's by comparing
 *   the display name with the model id ({@link modelTokens}): `us.anthropic.claude-3-5-haiku-
 *   20241022-v1:0` is "Claude 3.5 Haiku". Sizes in GB are 10^9 bytes; a job's records are
 *   capped by both records per job and records per input file (one input file per job here).
 * - Any failure to read (access denied, unreachable, throttled, no answer within
 *   {@link defaultTimeout} on the `Clock`) and a listing with no batch quota of the model fall
 *   back to the defaults with one warning that names the cause (for a denial, the missing
 *   permission). It never fails the run.
 *
 * Gotchas:
 * - A model whose id does not name it (an application inference profile ARN) has no display
 *   name: its quotas are the defaults, with a warning.
 * - When `maxBatchSize` is not given, it is kept within the account's records per job (and at
 *   least its minimum); a given `maxBatchSize` outside them is refused like any invalid setting.
 * - The quota names are matched as AWS spelled them when this was written; a renamed quota is
 *   not found (its setting keeps the default, and the resolution's notes say so).
 *
 * @since 0.3.0
 */
import { Context, Duration, Effect, Layer } from "effect"
import * as BatchConfig from "./BatchConfig.ts"
import * as ServiceError from "./ServiceError.ts"
import type { ConfigIssue } from "./Setting.ts"

// -----------------------------------------------------------------------------
// The port
// -----------------------------------------------------------------------------

/** One quota as Service Quotas lists it. */
export interface ServiceQuota {
  /** The quota code, e.g. `"L-1F644C2A"`. */
  readonly code: string
  /** The quota name, e.g. `"Records per batch inference job for Claude 3 Haiku"`. */
  readonly name: string
  readonly value: number
  /** The unit Service Quotas gives (`"None"` for most; sizes say "(in GB)" in their names). */
  readonly unit?: string | undefined
  /** The account's applied value (`true`), or the service's default (the account has none applied). */
  readonly applied: boolean
}

/**
 * The account's Bedrock quotas in one region (the Layer's): every quota of service code
 * `bedrock`, the applied value where the account has one, else the default.
 *
 * When to use: through {@link configure}; the live Layer is `ServiceQuotasAccountQuotas` of
 * `@batch-extract/aws`, the emulation's answers the same calls.
 */
export class AccountQuotas extends Context.Service<AccountQuotas, {
  readonly listBedrock: Effect.Effect<ReadonlyArray<ServiceQuota>, ServiceError.ServiceError>
}>()("@batch-extract/core/AccountQuotas") {}

/** A port that answers with a fixed list (tests, or an app that knows its quotas). */
export const layerStatic = (quotas: ReadonlyArray<ServiceQuota>): Layer.Layer<AccountQuotas> =>
  Layer.succeed(AccountQuotas, AccountQuotas.of({ listBedrock: Effect.succeed(quotas) }))

// -----------------------------------------------------------------------------
// The quota settings
// -----------------------------------------------------------------------------

/** The settings that are account quotas (read when not given). */
export const quotaSettings = [
  "maxConcurrentJobs",
  "minRecordsPerJob",
  "maxRecordsPerJob",
  "maxInputFileBytes",
  "maxJobBytes"
] as const

/** One of the {@link quotaSettings}. */
export type QuotaSetting = (typeof quotaSettings)[number]

/** A value for each quota setting. */
export type Values = { readonly [K in QuotaSetting]: number }

/** The documented quotas: `BatchConfig`'s defaults for the quota settings. */
export const defaults: Values = {
  maxConcurrentJobs: BatchConfig.settings.maxConcurrentJobs.default,
  minRecordsPerJob: BatchConfig.settings.minRecordsPerJob.default,
  maxRecordsPerJob: BatchConfig.settings.maxRecordsPerJob.default,
  maxInputFileBytes: BatchConfig.settings.maxInputFileBytes.default,
  maxJobBytes: BatchConfig.settings.maxJobBytes.default
}

/** How long the read may take before the defaults are used (on the `Clock`). */
export const defaultTimeout: Duration.Duration = Duration.seconds(5)

/** The permissions reading needs (for messages and the README). */
export const permissions = ["servicequotas:ListServiceQuotas", "servicequotas:ListAWSDefaultServiceQuotas"] as const

// -----------------------------------------------------------------------------
// Matching a model's quotas
// -----------------------------------------------------------------------------

/** What a Bedrock quota limits. */
type QuotaKind = "minRecords" | "recordsPerJob" | "recordsPerFile" | "inputFileSize" | "jobSize" | "concurrentJobs"

/** The quota names batch-extract reads; the model's display name follows "for". */
const namePatterns: ReadonlyArray<{ readonly kind: QuotaKind; readonly pattern: RegExp }> = [
  { kind: "minRecords", pattern: /^minimum number of records per batch inference job(?: for (.+))?$/i },
  { kind: "recordsPerFile", pattern: /^records per input file per batch inference job(?: for (.+))?$/i },
  { kind: "recordsPerJob", pattern: /^records per batch inference job(?: for (.+))?$/i },
  { kind: "inputFileSize", pattern: /^batch inference input file size(?: for (.+))?$/i },
  { kind: "jobSize", pattern: /^batch inference job size(?: for (.+))?$/i },
  {
    kind: "concurrentJobs",
    pattern: /^sum of in-progress and submitted batch inference jobs using a base model(?: for (.+))?$/i
  },
  // Not seen in Service Quotas' listings, but named so in some accounts' documents: an
  // account-wide quota of live jobs (a model's own quota wins over it).
  {
    kind: "concurrentJobs",
    pattern:
      /^(?:number of )?(?:concurrent )?batch inference jobs (?:submitted and in[- ]progress|in[- ]progress and submitted)(?: \([^)]*\))?(?: for (.+))?$/i
  }
]

/** A quota name read: what it limits, the model it names (if any), whether it is in GB. */
const parseName = (
  name: string
): { readonly kind: QuotaKind; readonly model: string | undefined; readonly gigabytes: boolean } | undefined => {
  const gigabytes = /\(in gb\)/i.test(name)
  const plain = name.replace(/\s*\(in gb\)\s*/gi, " ").replace(/\s+/g, " ").trim()
  for (const { kind, pattern } of namePatterns) {
    const found = pattern.exec(plain)
    if (found !== null) return { kind, model: found[1]?.trim(), gigabytes }
  }
  return undefined
}

const isVersionNumber = (token: string) => /^\d{1,2}(?:\.\d{1,2})*$/.test(token)

/**
 * Words of a model name, normalised so an id and a display name compare: lower case,
 * `llama3` → `llama 3`, consecutive small numbers joined (`3 5` → `3.5`).
 */
const words = (parts: ReadonlyArray<string>): Array<string> => {
  const split = parts.flatMap((part) => {
    const glued = /^([a-z]{3,})(\d{1,2})$/.exec(part)
    return glued === null ? [part] : [glued[1]!, glued[2]!]
  })
  const merged: Array<string> = []
  for (const token of split) {
    const last = merged[merged.length - 1]
    if (last !== undefined && /^\d{1,2}$/.test(token) && isVersionNumber(last)) {
      merged[merged.length - 1] = `${last}.${token}`
    } else merged.push(token)
  }
  return merged
}

/**
 * The words of a model id, for matching display names: its provider, name, numbers and
 * version, without region prefix, date or revision (`us.anthropic.claude-3-5-sonnet-20241022-
 * v2:0` → `anthropic claude 3.5 sonnet v2`). `undefined` when the id does not name its model
 * (an application inference profile, a provisioned or custom model).
 */
export const modelTokens = (modelId: string): ReadonlyArray<string> | undefined => {
  let id = modelId.trim().toLowerCase()
  if (id.startsWith("arn:")) {
    const resource = id.split(":").slice(5).join(":")
    const slash = resource.indexOf("/")
    const kind = slash < 0 ? resource : resource.slice(0, slash)
    if (kind !== "foundation-model" && kind !== "inference-profile") return undefined
    id = resource.slice(slash + 1)
  }
  const parts = id.split(".")
  // `us.anthropic.claude-…`: a (cross-)region inference profile's prefix.
  const [provider, name] = parts.length >= 3 ? [parts[1]!, parts.slice(2).join(".")] : [parts[0]!, parts[1]]
  if (name === undefined || name === "") return undefined
  const base = name.split(":")[0]!
  const tokens = base.split("-").filter((token) => token !== "" && !/^\d{8}$/.test(token))
  return [provider, ...words(tokens)]
}

/** The words of a display name ("Claude 3.5 Sonnet v2" → `claude 3.5 sonnet v2`). */
const displayTokens = (display: string): Array<string> =>
  words(display.toLowerCase().split(/[\s-]+/).filter((token) => token !== ""))

/** Whether `needle` is `haystack` with some of its words left out (order kept). */
const isSubsequence = (needle: ReadonlyArray<string>, haystack: ReadonlyArray<string>) => {
  let at = 0
  for (const token of haystack) if (at < needle.length && needle[at] === token) at++
  return at === needle.length
}

/**
 * Whether a display name names the model: its words are the id's, some left out (the
 * provider, the size of a Llama 4), but none of the id's version numbers (`3.5`, `4`) and no
 * version but `v1`.
 */
const names = (display: ReadonlyArray<string>, model: ReadonlyArray<string>) =>
  isSubsequence(display, model) &&
  model.every((token) =>
    !(isVersionNumber(token) || (/^v\d+$/.test(token) && token !== "v1")) || display.includes(token)
  )

/** A quota used for a setting. */
export interface Matched {
  readonly setting: QuotaSetting
  readonly quotaCode: string
  readonly quotaName: string
  /** The quota's value as listed (GB for sizes). */
  readonly quotaValue: number
  /** The account's applied value (else the service's default). */
  readonly applied: boolean
}

/** A model's quotas among a listing. */
export interface Match {
  /** The setting values the listing gives for the model (those it has no quota for are absent). */
  readonly values: Partial<Values>
  readonly matched: ReadonlyArray<Matched>
  /** The display name the quotas were found under (absent: none found). */
  readonly displayName: string | undefined
  /** What was left out and why (a quota not listed, two names that fit, a unit not understood). */
  readonly notes: ReadonlyArray<string>
}

const settingOf: Readonly<Record<QuotaKind, QuotaSetting>> = {
  minRecords: "minRecordsPerJob",
  recordsPerJob: "maxRecordsPerJob",
  recordsPerFile: "maxRecordsPerJob",
  inputFileSize: "maxInputFileBytes",
  jobSize: "maxJobBytes",
  concurrentJobs: "maxConcurrentJobs"
}

/**
 * The setting's value for a quota (sizes in GB, as their names say, or in the unit given;
 * counts whole, limits rounded to the safe side).
 */
const settingValue = (kind: QuotaKind, quota: ServiceQuota, gigabytes: boolean): number | undefined => {
  const value = quota.value
  switch (kind) {
    case "minRecords":
      return Math.ceil(value)
    case "recordsPerJob":
    case "recordsPerFile":
      return Math.floor(value)
    case "concurrentJobs":
      return Math.min(Math.floor(value), 1000)
    case "inputFileSize":
    case "jobSize":
      if (gigabytes || /^gigabytes?$/i.test(quota.unit ?? "")) return Math.round(value * 1e6) * 1e3
      return /^bytes?$/i.test(quota.unit ?? "") ? Math.floor(value) : undefined
  }
}

/**
 * A model's batch quotas among a listing of Bedrock's: for each kind, the quota whose name
 * names the model (the most specific name when several do; none when two fit equally), else
 * an account-wide one. Records per job are the lower of records per job and per input file.
 */
export const match = (quotas: ReadonlyArray<ServiceQuota>, modelId: string): Match => {
  const model = modelTokens(modelId)
  const notes: Array<string> = []
  const found = new Map<QuotaKind, Array<{ readonly quota: ServiceQuota; readonly gigabytes: boolean }>>()
  const wide = new Map<QuotaKind, { readonly quota: ServiceQuota; readonly gigabytes: boolean }>()
  let best = 0
  const candidates: Array<{ kind: QuotaKind; quota: ServiceQuota; gigabytes: boolean; display: string; size: number }> =
    []
  for (const quota of quotas) {
    const parsed = parseName(quota.name)
    if (parsed === undefined) continue
    if (parsed.model === undefined) {
      if (!wide.has(parsed.kind)) wide.set(parsed.kind, { quota, gigabytes: parsed.gigabytes })
      continue
    }
    if (model === undefined) continue
    const display = displayTokens(parsed.model)
    if (!names(display, model)) continue
    candidates.push({
      kind: parsed.kind,
      quota,
      gigabytes: parsed.gigabytes,
      display: parsed.model,
      size: display.length
    })
    best = Math.max(best, display.length)
  }
  // The most specific display name wins for every kind ("Claude 3.5 Sonnet v2" over "Claude 3.5 Sonnet").
  const displays = new Set(candidates.filter((c) => c.size === best).map((c) => c.display.toLowerCase()))
  const displayName = displays.size === 1 ? candidates.find((c) => c.size === best)!.display : undefined
  if (displays.size > 1) {
    notes.push(`quotas of several models fit ${modelId} (${[...displays].join("; ")}): none of them used`)
  }
  for (const candidate of candidates) {
    if (displayName === undefined || candidate.display.toLowerCase() !== displayName.toLowerCase()) continue
    found.set(candidate.kind, [...(found.get(candidate.kind) ?? []), candidate])
  }
  const values: { -readonly [K in QuotaSetting]?: number } = {}
  const matched: Array<Matched> = []
  const use = (kind: QuotaKind, entry: { readonly quota: ServiceQuota; readonly gigabytes: boolean }) => {
    const setting = settingOf[kind]
    const value = settingValue(kind, entry.quota, entry.gigabytes)
    if (value === undefined) {
      notes.push(`"${entry.quota.name}" (${entry.quota.code}) gives no unit batch-extract understands: not used`)
      return
    }
    const previous = values[setting]
    // Records per job and per input file both cap a job's records: the lower wins.
    if (previous !== undefined && previous <= value) return
    if (previous !== undefined) matched.splice(matched.findIndex((m) => m.setting === setting), 1)
    values[setting] = value
    matched.push({
      setting,
      quotaCode: entry.quota.code,
      quotaName: entry.quota.name,
      quotaValue: entry.quota.value,
      applied: entry.quota.applied
    })
  }
  const kinds: ReadonlyArray<QuotaKind> = [
    "concurrentJobs",
    "minRecords",
    "recordsPerJob",
    "recordsPerFile",
    "inputFileSize",
    "jobSize"
  ]
  for (const kind of kinds) {
    const own = found.get(kind) ?? []
    if (own.length > 0) { for (const entry of own) use(kind, entry) }
    else if (wide.has(kind)) use(kind, wide.get(kind)!)
  }
  if (model === undefined) {
    notes.push(`${modelId} does not name its model (an application inference profile?): no quota of its own found`)
  } else if (displayName !== undefined) {
    for (const setting of quotaSettings) {
      if (values[setting] === undefined) notes.push(`no quota for ${setting} of "${displayName}": the default`)
    }
  }
  return { values, matched, displayName, notes }
}

// -----------------------------------------------------------------------------
// Resolution
// -----------------------------------------------------------------------------

/** Where the values of a run's quotas came from. */
export type Source = "settings" | "service-quotas" | "defaults"

/** Where one setting's value came from. */
export type SettingSource = "settings" | "service-quotas" | "default"

/**
 * The quotas a run uses and where they came from — recorded with the run and written in its
 * summary (plain data).
 */
export interface Resolution {
  readonly modelId: string
  readonly region: string
  readonly values: Values
  /** `settings`: every quota was given; `service-quotas`: read; `defaults`: not read (see `warning`). */
  readonly source: Source
  readonly sources: { readonly [K in QuotaSetting]: SettingSource }
  /** The display name the model's quotas are listed under. */
  readonly displayName?: string | undefined
  /** The quotas the values were read from. */
  readonly matched: ReadonlyArray<Matched>
  /** Why the quotas could not be read, and what was used instead. */
  readonly warning?: string | undefined
  readonly notes: ReadonlyArray<string>
}

/** The quota settings an input gives (a setting given is never read). */
export const givenIn = (input: Readonly<Record<string, unknown>>): Partial<Values> =>
  Object.fromEntries(
    quotaSettings.flatMap((key) => typeof input[key] === "number" ? [[key, input[key]]] : [])
  ) as Partial<Values>

const compose = (
  given: Partial<Values>,
  read: Partial<Values>,
  readSource: SettingSource
): Pick<Resolution, "values" | "sources"> => {
  const values = {} as { -readonly [K in QuotaSetting]: number }
  const sources = {} as { -readonly [K in QuotaSetting]: SettingSource }
  for (const key of quotaSettings) {
    const own = given[key]
    const fromRead = read[key]
    values[key] = own ?? fromRead ?? defaults[key]
    sources[key] = own !== undefined ? "settings" : fromRead !== undefined ? readSource : "default"
  }
  return { values, sources }
}

const allGiven = (given: Partial<Values>) => quotaSettings.every((key) => given[key] !== undefined)

/** The values as text: `maxConcurrentJobs 2, minRecordsPerJob 100, …`. */
export const formatValues = (values: Values): string =>
  quotaSettings.map((key) => `${key} ${values[key].toLocaleString("en-US")}`).join(", ")

/** Why a read failed, as a warning says it (a denial names the permission). */
export const describeFailure = (error: ServiceError.ServiceError): string => {
  const name = error.exceptionName === undefined ? "" : ` (${error.exceptionName})`
  switch (error._tag) {
    case "AccessDenied":
      return `access denied${name}: the credentials lack servicequotas:${error.operation}`
    case "Unavailable":
      return `Service Quotas could not be reached${name}: ${error.message}`
    case "Throttled":
      return `Service Quotas throttled the request${name}: ${error.message}`
    default:
      return `Service Quotas refused the request${name}: ${error.message}`
  }
}

/** The resolution without a read: the settings given, the defaults for the rest. */
export const fromSettings = (options: {
  readonly given: Partial<Values>
  readonly modelId: string
  readonly region: string
  readonly warning?: string | undefined
  readonly notes?: ReadonlyArray<string> | undefined
}): Resolution => ({
  modelId: options.modelId,
  region: options.region,
  ...compose(options.given, {}, "default"),
  source: allGiven(options.given) ? "settings" : "defaults",
  matched: [],
  ...(options.warning === undefined ? {} : { warning: options.warning }),
  notes: options.notes ?? []
})

/**
 * The quotas of a run: the settings given, the rest read from the account (through
 * {@link AccountQuotas}) for the model, or the defaults with one warning when they cannot be
 * read within `timeout` (default {@link defaultTimeout}) or the account lists none for the
 * model. Never fails; nothing is read when every quota is given.
 */
export const resolve = Effect.fn("AccountQuotas.resolve")(function*(options: {
  readonly given: Partial<Values>
  readonly modelId: string
  readonly region: string
  readonly timeout?: Duration.Input | undefined
}) {
  const { given, modelId, region } = options
  if (allGiven(given)) return fromSettings({ given, modelId, region })
  const port = yield* AccountQuotas
  const timeout = Duration.fromInputUnsafe(options.timeout ?? defaultTimeout)
  const listed = yield* port.listBedrock.pipe(Effect.timeoutOption(timeout), Effect.result)
  const fallBack = (cause: string, notes: ReadonlyArray<string> = []) =>
    fromSettings({
      given,
      modelId,
      region,
      warning: `could not read the account's quotas for ${modelId} in ${region} from Service Quotas: ${cause}; ` +
        `used the documented defaults (${formatValues(defaults)}) for the quotas not set`,
      notes
    })
  if (listed._tag === "Failure") return fallBack(describeFailure(listed.failure))
  if (listed.success._tag === "None") {
    return fallBack(`no answer within ${Duration.format(timeout)}`)
  }
  const found = match(listed.success.value, modelId)
  if (found.matched.length === 0) {
    return fallBack(
      found.displayName === undefined
        ? `none of its ${listed.success.value.length} Bedrock quotas is a batch-inference quota of this model`
        : `no batch-inference quota of "${found.displayName}" could be used`,
      found.notes
    )
  }
  return {
    modelId,
    region,
    ...compose(given, found.values, "service-quotas"),
    source: "service-quotas" as const,
    ...(found.displayName === undefined ? {} : { displayName: found.displayName }),
    matched: found.matched,
    notes: found.notes
  }
})

// -----------------------------------------------------------------------------
// Configuration
// -----------------------------------------------------------------------------

/** A configuration with its quotas: the input to record, the decoded configuration, the resolution. */
export interface Configured {
  /** The input with every quota setting set (and `maxBatchSize` kept within them when not given). */
  readonly input: Readonly<Record<string, unknown>>
  readonly config: BatchConfig.BatchConfig
  readonly quotas: Resolution
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** The input with the resolution's values; `maxBatchSize`, when not given, kept within them. */
export const applyTo = (input: Readonly<Record<string, unknown>>, quotas: Resolution): Record<string, unknown> => {
  const applied: Record<string, unknown> = { ...input, ...quotas.values }
  if (input.maxBatchSize === undefined) {
    const preferred = BatchConfig.settings.maxBatchSize.default
    const lowest = Math.max(100, quotas.values.minRecordsPerJob)
    const highest = Math.min(50_000, quotas.values.maxRecordsPerJob)
    if (lowest <= highest) applied.maxBatchSize = Math.min(Math.max(preferred, lowest), highest)
  }
  return applied
}

/**
 * Problems of the configuration once the quotas are in: each that is about a quota not set (its
 * path, or a rule naming it) says where that value came from.
 */
const located = (issues: ReadonlyArray<ConfigIssue>, quotas: Resolution): Array<ConfigIssue> =>
  issues.map((issue) => {
    const about = quotaSettings.filter((key) =>
      quotas.sources[key] !== "settings" && (issue.path === key || issue.message.includes(key))
    )
    if (about.length === 0) return issue
    const origins = about.map((key) => {
      const quota = quotas.matched.find((m) => m.setting === key)
      return `${key} ${quotas.values[key]}: ` + (quota === undefined
        ? "the documented default"
        : `the account's quota "${quota.quotaName}" (${quota.quotaCode}) in Service Quotas`)
    })
    return { ...issue, message: `${issue.message} (${origins.join("; ")})` }
  })

const finish = (input: Readonly<Record<string, unknown>>, quotas: Resolution) => {
  const applied = applyTo(input, quotas)
  return BatchConfig.decode(applied).pipe(
    Effect.mapError((invalid) => new BatchConfig.InvalidConfig({ issues: located(invalid.issues, quotas) })),
    Effect.map((config): Configured => ({ input: applied, config, quotas }))
  )
}

/**
 * Decode a `BatchConfig` input and fill its quota settings: those it gives are kept, the
 * others read from the account's quotas for its model and region ({@link resolve}), or the
 * documented defaults (with the resolution's warning) when they cannot be read. Fails only
 * with invalid settings — the input's own, or a given setting that the account's quotas make
 * invalid (a `maxBatchSize` above its records per job), each saying where its value came from.
 */
export const configure = Effect.fn("AccountQuotas.configure")(function*(
  input: unknown,
  options: { readonly timeout?: Duration.Input | undefined } = {}
) {
  const config = yield* BatchConfig.decode(input)
  const raw = isRecord(input) ? input : {}
  const quotas = yield* resolve({
    given: givenIn(raw),
    modelId: config.model.modelId,
    region: config.region,
    timeout: options.timeout
  })
  return yield* finish(raw, quotas)
})

/**
 * {@link configure} without a read: the quota settings given, the documented defaults for the
 * rest (`note` says why, e.g. the local emulation takes its quotas from the settings).
 */
export const configureOffline = Effect.fn("AccountQuotas.configureOffline")(function*(
  input: unknown,
  note?: string
) {
  const config = yield* BatchConfig.decode(input)
  const raw = isRecord(input) ? input : {}
  const quotas = fromSettings({
    given: givenIn(raw),
    modelId: config.model.modelId,
    region: config.region,
    notes: note === undefined ? [] : [note]
  })
  return yield* finish(raw, quotas)
})

/** One line on the quotas a run uses, for logs: the values, then where they came from. */
export const describe = (quotas: Resolution): string => {
  const from = quotas.source === "service-quotas"
    ? `from Service Quotas${quotas.displayName === undefined ? "" : ` ("${quotas.displayName}")`}` +
      (quotaSettings.some((key) => quotas.sources[key] !== "service-quotas")
        ? `; ${
          quotaSettings.filter((key) => quotas.sources[key] !== "service-quotas").map((key) =>
            `${key} ${quotas.sources[key] === "settings" ? "as set" : "the default"}`
          ).join(", ")
        }`
        : "")
    : quotas.source === "settings"
    ? "as set"
    : quotaSettings.some((key) => quotas.sources[key] === "settings")
    ? "the documented defaults for those not set"
    : "the documented defaults"
  return `quotas for ${quotas.modelId} in ${quotas.region}: ${formatValues(quotas.values)} (${from})`
}
