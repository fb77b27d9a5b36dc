/**
 * The command's settings: every `BatchConfig` and extraction setting, as the library declares
 * them (`BatchConfig.settings`, `ExtractionConfig.settings`) — read from a JSON config file
 * (camelCase or the reference's snake_case names), from environment variables, and from
 * flags; flags win over the environment, which wins over the file, which wins over the
 * command's defaults.
 *
 * Values are collected raw here and validated once by the library's decoders, so the user
 * sees every problem at once, each with its path. The README's configuration table is
 * rendered from the same declarations ({@link readmeTable}).
 */
import { BatchConfig, BuildConfig, ExtractionConfig, Setting } from "@batch-extract/core"

/** How a raw string becomes a value. */
export type Kind = Setting.Kind

/** One setting: where it goes, its flag, and the other names it answers to. */
export interface Spec {
  /** Path in the merged settings: `batch.maxBatchSize`, `batch.model.modelId`, `extraction.chunkSize`. */
  readonly path: ReadonlyArray<string>
  /** The library's declaration, with every name it answers to. */
  readonly entry: Setting.Entry
  /** The flag (without `--`); absent for settings given in config files only. */
  readonly flag: string | undefined
  readonly kind: Kind
  readonly description: string
}

/** The groups settings belong to: the engine's, the extraction's and the build's. */
export type Scope = "batch" | "extraction" | "build"

const specsOf = (scope: Scope, settings: Setting.Settings): ReadonlyArray<Spec> =>
  Setting.entries(settings).map((entry) => ({
    path: [scope, ...entry.path],
    entry,
    flag: entry.flag,
    kind: entry.setting.kind,
    description: entry.setting.description
  }))

/** Every setting of `BatchConfig`, of the extraction and of the build, in declaration order. */
export const specs: ReadonlyArray<Spec> = [
  ...specsOf("batch", BatchConfig.settings),
  ...specsOf("extraction", ExtractionConfig.settings),
  ...specsOf("build", BuildConfig.settings)
]

/** Every name a spec answers to in a config file. */
export const fileNames = (spec: Spec): ReadonlyArray<string> => spec.entry.fileNames

/** The environment variables of a spec, in order of precedence. */
export const envNames = (spec: Spec): ReadonlyArray<string> => spec.entry.envNames

/** Convert a raw value to a spec's kind, or say why it cannot be. */
export const convert = (spec: Spec, raw: unknown): { value: unknown } | { problem: string } =>
  Setting.convert(spec.kind, raw)

/**
 * The command's own defaults: an interrupted run leaves its jobs running for `resume`
 * (`--stop-jobs-on-interrupt` stops them instead).
 */
export const commandDefaults: Readonly<Record<string, unknown>> = { "batch.stopJobsOnInterrupt": false }

/** Settings the local backend supplies when the user did not. */
export const localDefaults: Readonly<Record<string, unknown>> = {
  ...commandDefaults,
  "batch.bucketName": "batch-extract-local",
  "batch.region": "us-east-1",
  "batch.roleArn": "arn:aws:iam::000000000000:role/batch-extract-local",
  "batch.pollInitialSeconds": 0.05,
  "batch.pollMaxSeconds": 0.5
}

/** Settings without a flag of their own that the command reads from a file named by a flag. */
export const promptFileFlags = {
  propositionsPrompt: "propositions-prompt",
  topicsPrompt: "topics-prompt",
  inferClassificationsPrompt: "infer-classifications-prompt"
} as const

/**
 * Every setting without a flag of its own that the command reads from a file named by a flag:
 * the prompt templates, and the token prices (`--prices FILE`, a JSON price table).
 */
export const settingFileFlags = { ...promptFileFlags, prices: "prices" } as const

/** The settings gathered from every source, ready for the library's decoders. */
export interface Gathered {
  readonly batch: Record<string, unknown>
  readonly extraction: Record<string, unknown>
  readonly build: Record<string, unknown>
  readonly issues: ReadonlyArray<BatchConfig.ConfigIssue>
}

/** A raw value and where it came from. */
interface Raw {
  readonly value: unknown
  readonly origin: string
}

/** Groups a config file may nest settings in. */
const fileGroups = new Set(["model", "extraction", "batch", "batch_config", "batchConfig", "build"])

/**
 * Merge the sources: `defaults` < config file < environment < flags. Unknown config-file
 * keys and values that cannot be converted are reported as issues.
 */
export const gather = (sources: {
  readonly defaults?: Readonly<Record<string, unknown>> | undefined
  readonly file?: unknown
  readonly env: Readonly<Record<string, string | undefined>>
  readonly flags: Readonly<Record<string, unknown>>
}): Gathered => {
  const issues: Array<BatchConfig.ConfigIssue> = []
  const chosen = new Map<Spec, Raw>()
  const byFileName = new Map<string, Spec>()
  for (const spec of specs) for (const name of fileNames(spec)) byFileName.set(name, spec)

  for (const spec of specs) {
    const value = sources.defaults?.[spec.path.join(".")]
    if (value !== undefined) chosen.set(spec, { value, origin: "default" })
  }
  if (sources.file !== undefined) {
    if (typeof sources.file !== "object" || sources.file === null || Array.isArray(sources.file)) {
      issues.push({ path: "(config file)", message: "must be a JSON object" })
    } else {
      // Accept flat settings, and the nested `model` / `extraction` / `batch` / `build` groups.
      const flat: Array<[string, unknown]> = []
      for (const [key, value] of Object.entries(sources.file)) {
        if (fileGroups.has(key) && typeof value === "object" && value !== null && !Array.isArray(value)) {
          for (const [inner, innerValue] of Object.entries(value)) flat.push([inner, innerValue])
        } else {
          flat.push([key, value])
        }
      }
      for (const [key, value] of flat) {
        const spec = byFileName.get(key)
        if (spec !== undefined) chosen.set(spec, { value, origin: `config file (${key})` })
        else issues.push({ path: `config.${key}`, message: "is not a setting batch-extract knows" })
      }
    }
  }
  for (const spec of specs) {
    for (const name of envNames(spec)) {
      const value = sources.env[name]
      if (value !== undefined && value !== "") {
        chosen.set(spec, { value, origin: `environment (${name})` })
        break
      }
    }
  }
  for (const spec of specs) {
    const value = spec.flag === undefined ? undefined : sources.flags[spec.flag]
    if (value !== undefined) chosen.set(spec, { value, origin: `--${spec.flag}` })
  }

  const batch: Record<string, unknown> = {}
  const extraction: Record<string, unknown> = {}
  const build: Record<string, unknown> = {}
  const groups: Record<Scope, Record<string, unknown>> = { batch, extraction, build }
  for (const [spec, raw] of chosen) {
    const converted = convert(spec, raw.value)
    if ("problem" in converted) {
      issues.push({ path: spec.path.slice(1).join("."), message: `${converted.problem} (from ${raw.origin})` })
      continue
    }
    Setting.setPath(groups[spec.path[0] as Scope], spec.path.slice(1), converted.value)
  }
  return { batch, extraction, build, issues }
}

// -----------------------------------------------------------------------------
// Documentation
// -----------------------------------------------------------------------------

const formatValue = (value: unknown, code: (text: string) => string): string => {
  if (typeof value === "number") return value.toLocaleString("en-US")
  if (typeof value === "string") return code(value)
  if (Array.isArray(value)) return value.length === 0 ? "none" : value.map((item) => code(String(item))).join(", ")
  if (typeof value === "object" && value !== null) return code(JSON.stringify(value))
  return String(value)
}

/** A spec's default in the library (its declaration), as text. */
const libraryDefault = (spec: Spec, code: (text: string) => string): string => {
  const setting = spec.entry.setting
  if (setting.defaultText !== undefined) return setting.defaultText
  if (setting.presence === "required") return "required"
  return setting.presence === "optional" ? "none" : formatValue(setting.default, code)
}

/** The local backend's default for a spec, when it has its own. */
const localDefault = (spec: Spec): unknown => {
  const key = spec.path.join(".")
  return localDefaults[key] !== commandDefaults[key] ? localDefaults[key] : undefined
}

/** A setting flag's `--help` text: what it sets, its environment variables, the command's default. */
export const flagDescription = (spec: Spec): string => {
  const plain = (text: string) => text
  const command = commandDefaults[spec.path.join(".")]
  const fallback = command !== undefined
    ? `default ${formatValue(command, plain)}`
    : spec.entry.setting.presence === "required"
    ? "required"
    : `default ${libraryDefault(spec, plain)}`
  const local = localDefault(spec)
  const localText = local === undefined ? "" : `; --backend local: ${formatValue(local, plain)}`
  return `${spec.description} (env ${envNames(spec).join(", ")}; ${fallback}${localText})`
}

const cell = (text: string) => text.replace(/\|/g, "\\|")
const code = (text: string) => `\`${text}\``

/** The header of the README's configuration table. */
export const readmeHeader = "| reference (Python) | batch-extract | flag | default |"

/**
 * The README's configuration table (markdown), one row per setting, rendered from the
 * library's declarations and the command's defaults. `packages/cli/test/Settings.test.ts`
 * checks README.md against it (`vitest run packages/cli/test/Settings.test.ts --update` rewrites it).
 */
export const readmeTable = (): string => {
  const rows = specs.map((spec) => {
    const setting = spec.entry.setting
    const promptFlag = settingFileFlags[spec.entry.name as keyof typeof settingFileFlags] as string | undefined
    const flag = spec.flag === undefined
      ? promptFlag === undefined ? "(config file)" : `${code(`--${promptFlag} FILE`)} (or the config file)`
      : spec.kind === "boolean"
      ? `${code(`--${spec.flag}`)} / ${code(`--no-${spec.flag}`)}`
      : code(`--${spec.flag}`)
    const env = envNames(spec).length === 0 ? "" : ` (${envNames(spec).map(code).join(", ")})`
    const command = commandDefaults[spec.path.join(".")]
    const local = localDefault(spec)
    const library = libraryDefault(spec, code)
    const fallback = (command === undefined ? library : `library: ${library}; command: ${formatValue(command, code)}`) +
      (local === undefined ? "" : ` (local: ${formatValue(local, code)})`)
    const name = `${code(spec.entry.name)}: ${setting.description}`
    return `| ${[setting.reference ?? "(none)", name, flag + env, fallback].map(cell).join(" | ")} |`
  })
  return [readmeHeader, "|---|---|---|---|", ...rows].join("\n")
}
