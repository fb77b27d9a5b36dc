/**
 * `Setting`: how a configuration declares each of its settings once — the value's schema, its
 * default, and where a user may set it (flag, environment variables, config-file names), with
 * a description and the reference's name for it. Everything else derives from the
 * declarations: the configuration's `Schema.Struct`, its Effect `Config` (read from the
 * current `ConfigProvider` under the environment names), the command's flags and `--help`,
 * config-file reading, and the README's configuration table.
 *
 * When to use: `BatchConfig` and `ExtractionConfig` declare their settings here; read
 * {@link entries} to list them (as the command line does). The schema checks ({@link rule},
 * {@link between}, {@link atLeast}, {@link matching}) are shared by every configuration.
 *
 * Details:
 * - A setting's key is its camelCase name. By default its flag is the key in kebab-case, its
 *   environment variable `BATCH_EXTRACT_<SNAKE_CASE>`, and its config-file names the key and
 *   its snake_case form; a declaration adds the reference's own names (`env`, `aliases`).
 * - Values from the environment are strings; {@link convert} turns them into the setting's
 *   {@link Kind}, and the configuration's decoder validates them with everything else, so a
 *   user sees every problem at once.
 *
 * Gotchas: a {@link group} (such as `model`) defaults to `{}`, so every setting in it must be
 * optional or defaulted.
 *
 * @since 0.1.0
 */
import { Config, Data, Effect, Option, Schema, SchemaIssue } from "effect"

// -----------------------------------------------------------------------------
// Schema checks shared by the configurations
// -----------------------------------------------------------------------------

/** A check from a function that says what is wrong with a value, or `undefined` when it is fine. */
export const rule = <A>(problem: (value: A) => string | undefined) =>
  Schema.makeFilter<A>((value) => problem(value) ?? true)

/** A string matching `pattern`; `what` names the expected form in the message. */
export const matching = (pattern: RegExp, what: string) =>
  rule<string>((value) => (pattern.test(value) ? undefined : `must be ${what}, got "${value}"`))

/** A whole number from `minimum` to `maximum`. */
export const between = (minimum: number, maximum: number) =>
  rule<number>((value) =>
    Number.isInteger(value) && value >= minimum && value <= maximum
      ? undefined
      : `must be a whole number from ${minimum} to ${maximum}, got ${value}`
  )

/** A whole number of at least `minimum`. */
export const atLeast = (minimum: number) =>
  rule<number>((value) =>
    Number.isInteger(value) && value >= minimum
      ? undefined
      : `must be a whole number of at least ${minimum}, got ${value}`
  )

// -----------------------------------------------------------------------------
// Problems
// -----------------------------------------------------------------------------

/** One configuration problem: where it is and what is wrong. */
export interface ConfigIssue {
  /** Dotted path of the setting, e.g. `"model.temperature"` or `"subnetIds[2]"`. */
  readonly path: string
  readonly message: string
}

/** The configuration is invalid; `issues` lists every problem found. */
export class InvalidConfig extends Data.TaggedError("InvalidConfig")<{
  readonly issues: ReadonlyArray<ConfigIssue>
}> {
  override get message(): string {
    return `invalid configuration (${this.issues.length} problem${this.issues.length === 1 ? "" : "s"}):\n` +
      this.issues.map((issue) => `  - ${issue.path}: ${issue.message}`).join("\n")
  }
}

const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (out, key) => typeof key === "number" ? `${out}[${key}]` : out === "" ? String(key) : `${out}.${String(key)}`,
    ""
  ) || "(root)"

const standardFormatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** The problems a Schema issue reports, as `{path, message}` pairs. */
export const issuesOf = (issue: SchemaIssue.Issue): Array<ConfigIssue> =>
  standardFormatter(issue).issues.map((leaf) => ({
    path: formatPath((leaf.path ?? []).map((s) => (typeof s === "object" ? s.key : s))),
    message: leaf.message === "Missing key" ? "is required" : leaf.message
  }))

// -----------------------------------------------------------------------------
// Declarations
// -----------------------------------------------------------------------------

/**
 * How a value written as text (a flag, an environment variable) becomes the setting's value:
 * `list` is comma-separated, `tags` is `KEY=VALUE,KEY=VALUE`; `object` is set in config files
 * or code only (no text form).
 */
export type Kind = "string" | "integer" | "number" | "boolean" | "list" | "tags" | "object"

/** What a declaration says besides its schema and default. */
export interface Documentation {
  readonly kind: Kind
  /** One line for `--help` and the README. */
  readonly description: string
  /**
   * The command-line flag (default: the key in kebab-case). `false`: no flag and no
   * environment variable — the setting is given in config files or code only.
   */
  readonly flag?: string | false | undefined
  /** Environment variables besides `BATCH_EXTRACT_<SNAKE_CASE>` (the reference's own), in order of precedence. */
  readonly env?: ReadonlyArray<string> | undefined
  /** Config-file names besides the camelCase key and its snake_case form. */
  readonly aliases?: ReadonlyArray<string> | undefined
  /**
   * The reference's name for the setting as it reads in the README's table (markdown), e.g.
   * "`BatchConfig.bucket_name`"; absent: the reference has none.
   */
  readonly reference?: string | undefined
  /** How the default reads in the docs when the value alone says too little ("the reference's 11"). */
  readonly defaultText?: string | undefined
}

/** Whether a setting must be given, may be left out, or has a default. */
export type Presence = "required" | "optional" | "defaulted"

/**
 * One declared setting: `schema` validates its value, `field` is what the configuration's
 * `Schema.Struct` holds for it (the schema, made optional or defaulted).
 */
export interface Setting<S extends Schema.Top = Schema.Top, F extends Schema.Top = Schema.Top, D = unknown>
  extends Documentation
{
  readonly _tag: "Setting"
  readonly presence: Presence
  readonly schema: S
  readonly field: F
  /** The default (as a user would write it), when `presence` is `"defaulted"`. */
  readonly default: D
}

/** A group of settings nested under one key (such as `model`); defaults to `{}`. */
export interface Group<D extends Settings = Settings> {
  readonly _tag: "Group"
  readonly settings: D
  /** The group's own struct schema. */
  readonly schema: Schema.Struct<FieldsOf<D>>
  readonly field: Schema.withDecodingDefaultKey<Schema.Struct<FieldsOf<D>>>
}

/** The declarations of a configuration, by key. */
export interface Settings {
  readonly [key: string]: Setting | AnyGroup
}

/** Any group, whatever its settings. */
export interface AnyGroup {
  readonly _tag: "Group"
  readonly settings: Settings
  readonly schema: Schema.Top
  readonly field: Schema.Top
}

/** The struct fields of declarations (what `Schema.Struct` takes). */
export type FieldsOf<D extends Settings> = { readonly [K in keyof D]: D[K]["field"] }

/** A setting that must be given. */
export const required = <S extends Schema.Top>(schema: S, documentation: Documentation): Setting<S, S, undefined> => ({
  _tag: "Setting",
  presence: "required",
  schema,
  field: schema,
  default: undefined,
  ...documentation
})

/** A setting that may be left out (and then has no value). */
export const optional = <S extends Schema.Top>(
  schema: S,
  documentation: Documentation
): Setting<S, Schema.optionalKey<S>, undefined> => ({
  _tag: "Setting",
  presence: "optional",
  schema,
  field: Schema.optionalKey(schema),
  default: undefined,
  ...documentation
})

/** A setting with a default, given as a user would write it. */
export const defaulted = <S extends Schema.Top>(
  schema: S,
  value: S["Encoded"],
  documentation: Documentation
): Setting<S, Schema.withDecodingDefaultKey<S>, S["Encoded"]> => ({
  _tag: "Setting",
  presence: "defaulted",
  schema,
  field: schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value))),
  default: value,
  ...documentation
})

/** The struct fields of declarations. */
export const fieldsOf = <D extends Settings>(settings: D): FieldsOf<D> =>
  Object.fromEntries(Object.entries(settings).map(([key, setting]) => [key, setting.field])) as FieldsOf<D>

/** Settings nested under one key; the group defaults to `{}` (so each of its settings must be optional or defaulted). */
export const group = <D extends Settings>(settings: D): Group<D> => {
  const schema = Schema.Struct(fieldsOf(settings))
  return {
    _tag: "Group",
    settings,
    schema,
    field: schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed({} as typeof schema.Encoded)))
  }
}

// -----------------------------------------------------------------------------
// Names
// -----------------------------------------------------------------------------

/** A declared setting with its place in the configuration and every name it answers to. */
export interface Entry {
  /** Keys from the configuration's root: `["maxBatchSize"]`, `["model", "modelId"]`. */
  readonly path: ReadonlyArray<string>
  /** The dotted path, as issues report it: `"model.modelId"`. */
  readonly name: string
  readonly setting: Setting
  /** The command-line flag (without `--`), if the setting has one. */
  readonly flag: string | undefined
  /** Environment variables, in order of precedence. */
  readonly envNames: ReadonlyArray<string>
  /** Names in a config file. */
  readonly fileNames: ReadonlyArray<string>
}

const snakeCase = (camel: string) => camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
const kebabCase = (camel: string) => camel.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)

/** Every setting of a configuration, groups flattened, in declaration order. */
export const entries = (settings: Settings, prefix: ReadonlyArray<string> = []): ReadonlyArray<Entry> =>
  Object.entries(settings).flatMap(([key, declared]): ReadonlyArray<Entry> => {
    const path = [...prefix, key]
    if (declared._tag === "Group") return entries(declared.settings, path)
    const flag = declared.flag === false ? undefined : (declared.flag ?? kebabCase(key))
    return [{
      path,
      name: path.join("."),
      setting: declared,
      flag,
      envNames: flag === undefined ? [] : [`BATCH_EXTRACT_${snakeCase(key).toUpperCase()}`, ...(declared.env ?? [])],
      fileNames: [...new Set([key, snakeCase(key), ...(declared.aliases ?? [])])]
    }]
  })

/** The entry a (possibly nested) issue path belongs to: `"subnetIds[2]"` → `subnetIds`. */
export const entryAt = (list: ReadonlyArray<Entry>, path: string): Entry | undefined =>
  list.find((entry) => path === entry.name || path.startsWith(`${entry.name}.`) || path.startsWith(`${entry.name}[`))

// -----------------------------------------------------------------------------
// Values written as text
// -----------------------------------------------------------------------------

/**
 * Convert a raw value to a setting's kind, or say why it cannot be. Text (flags, environment)
 * is converted; native values (a JSON config file, code) go to the decoder as they are,
 * except `tags` given as the reference's list of `{key, value}`.
 */
export const convert = (kind: Kind, raw: unknown): { readonly value: unknown } | { readonly problem: string } => {
  if (typeof raw !== "string") {
    if (kind === "tags" && Array.isArray(raw)) {
      return { value: Object.fromEntries(raw.map((t: { key?: unknown; value?: unknown }) => [t.key, t.value])) }
    }
    return { value: raw }
  }
  const text = raw.trim()
  switch (kind) {
    case "string":
      return { value: text }
    case "object":
      return { value: raw }
    case "integer":
    case "number": {
      const n = Number(text)
      if (text === "" || !Number.isFinite(n)) return { problem: `must be a number, got "${raw}"` }
      return { value: n }
    }
    case "boolean": {
      if (/^(true|1|yes|on)$/i.test(text)) return { value: true }
      if (/^(false|0|no|off)$/i.test(text)) return { value: false }
      return { problem: `must be true or false, got "${raw}"` }
    }
    case "list":
      return { value: text === "" ? [] : text.split(",").map((s) => s.trim()).filter((s) => s !== "") }
    case "tags": {
      const tags: Record<string, string> = {}
      for (const pair of text.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
        const eq = pair.indexOf("=")
        if (eq <= 0) return { problem: `must be KEY=VALUE pairs, got "${pair}"` }
        tags[pair.slice(0, eq)] = pair.slice(eq + 1)
      }
      return { value: tags }
    }
  }
}

/** Set `value` at `path` in `target`, creating the groups on the way. */
export const setPath = (target: Record<string, unknown>, path: ReadonlyArray<string>, value: unknown): void => {
  let node = target
  for (const key of path.slice(0, -1)) {
    const next = node[key]
    node = (typeof next === "object" && next !== null ? next : (node[key] = {})) as Record<string, unknown>
  }
  node[path[path.length - 1]!] = value
}

// -----------------------------------------------------------------------------
// Effect Config
// -----------------------------------------------------------------------------

/** What one environment name may hold: text, or (from `ConfigProvider.fromUnknown`) a list or a record. */
const RawValue = Schema.Union([Schema.String, Schema.Array(Schema.String), Schema.Record(Schema.String, Schema.String)])

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * A configuration as an Effect `Config`: every setting read from the current
 * `ConfigProvider` under its environment names (the first one set wins), converted, then
 * validated by `decode` with everything else; `overrides` (values in code) win over the
 * provider.
 *
 * Fails with one `ConfigError` whose `SchemaError` lists every problem, each at the
 * environment variable it came from (or the first one the setting answers to).
 */
export const config = <A>(options: {
  readonly settings: Settings
  readonly decode: (input: Record<string, unknown>) => Effect.Effect<A, InvalidConfig>
  /** What the decoder puts before its issue paths (e.g. `"extraction."`). */
  readonly issuePrefix?: string | undefined
  readonly overrides?: Config.Config<Readonly<Record<string, unknown>>> | undefined
}): Config.Config<A> => {
  const list = entries(options.settings)
  const readable = list.filter((entry) => entry.envNames.length > 0)
  const raw = Config.all(
    readable.map((entry) => Config.all(entry.envNames.map((name) => Config.option(Config.schema(RawValue, name)))))
  )
  const prefix = options.issuePrefix ?? ""
  const noOverrides: Config.Config<Readonly<Record<string, unknown>>> = Config.succeed({})
  return Config.all([raw, options.overrides ?? noOverrides]).pipe(
    Config.mapEffect(([values, overrides]) => {
      const overridden = (entry: Entry): boolean => {
        const value = overrides[entry.path[0]!]
        if (value === undefined) return false
        return options.settings[entry.path[0]!]?._tag !== "Group" || !isRecord(value) ||
          value[entry.path[1]!] !== undefined
      }
      const input: Record<string, unknown> = {}
      // Where each setting came from: the environment variable, or `undefined` for code (`overrides`).
      const origins = new Map<Entry, string | undefined>()
      for (const entry of list) if (overridden(entry)) origins.set(entry, undefined)
      const issues: Array<Located> = []
      readable.forEach((entry, index) => {
        const found = values[index]!.findIndex(Option.isSome)
        if (found < 0 || overridden(entry)) return
        origins.set(entry, entry.envNames[found]!)
        const converted = convert(entry.setting.kind, Option.getOrUndefined(values[index]![found]!))
        if ("problem" in converted) issues.push({ path: prefix + entry.name, message: converted.problem, entry })
        else setPath(input, entry.path, converted.value)
      })
      for (const [key, value] of Object.entries(overrides)) {
        if (value === undefined) continue
        input[key] = options.settings[key]?._tag === "Group" && isRecord(value) && isRecord(input[key])
          ? { ...input[key], ...value }
          : value
      }
      return Effect.matchEffect(options.decode(input), {
        onSuccess: (decoded) =>
          issues.length === 0 ? Effect.succeed(decoded) : Effect.fail(configError(issues, origins)),
        onFailure: (invalid) => {
          for (const issue of invalid.issues) {
            const path = issue.path.startsWith(prefix) ? issue.path.slice(prefix.length) : issue.path
            issues.push({ ...issue, entry: entryAt(list, path) })
          }
          return Effect.fail(configError(issues, origins))
        }
      })
    })
  )
}

/** An issue with the setting it is about. */
interface Located extends ConfigIssue {
  readonly entry: Entry | undefined
}

const configError = (
  issues: ReadonlyArray<Located>,
  origins: ReadonlyMap<Entry, string | undefined>
): Config.ConfigError => {
  const pointers = [...issues]
    .sort((a, b) => a.path.localeCompare(b.path))
    .map((issue) => {
      const fromCode = issue.entry !== undefined && origins.has(issue.entry) && origins.get(issue.entry) === undefined
      const origin = issue.entry === undefined ? undefined : origins.get(issue.entry)
      const names = fromCode ? [] : issue.entry?.envNames ?? []
      // Not set at all: name every variable that would set it.
      const also = origin === undefined && names.length > 1 ? ` (${names.join(" or ")})` : ""
      return new SchemaIssue.Pointer(
        [origin ?? names[0] ?? issue.path],
        new SchemaIssue.InvalidValue({ message: `${issue.path}: ${issue.message}${also}` })
      )
    })
  return new Config.ConfigError(
    new Schema.SchemaError(new SchemaIssue.Composite(Schema.Unknown.ast, [pointers[0]!, ...pointers.slice(1)]))
  )
}
