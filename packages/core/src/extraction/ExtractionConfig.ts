/**
 * `ExtractionConfig`: the extraction's settings (the reference's `ExtractionConfig`, its
 * chunking and prompt templates, camelCase), each declared once with `Setting` — schema,
 * default, flag, environment and config-file names, description, the reference's name. The
 * schema, {@link decode}, {@link config} (Effect `Config`), the command's flags and the
 * README's table derive from {@link settings}.
 *
 * When to use: decode user input with {@link decode} (also `Extraction.decodeConfig`), or read
 * the settings from Effect `Config` with {@link config} / {@link layerConfig}.
 *
 * Gotchas: issue paths are under `extraction.` (`extraction.chunkSize`), so they read apart
 * from the batch settings' when both are reported together.
 *
 * @since 0.1.0
 */
import { Config, Context, Effect, Layer, Result, Schema } from "effect"
import * as Setting from "../engine/Setting.ts"
import * as Prompts from "./Prompts.ts"

const PromptTemplateSchema = Schema.Struct({
  system: Schema.optionalKey(Schema.String),
  user: Schema.String
})

/**
 * Every extraction setting, declared once: its schema, default, flag, environment variables,
 * config-file names, description and the reference's name.
 */
export const settings = {
  /** `sentence`: sentence-aware, token-bounded chunks; `none`: one chunk per document. */
  chunking: Setting.defaulted(Schema.Literals(["sentence", "none"]), "sentence", {
    kind: "string",
    description: "sentence (token-bounded) or none (one chunk per document)",
    reference: "`SentenceSplitter`"
  }),
  chunkSize: Setting.defaulted(Schema.Number.check(Setting.atLeast(16)), 256, {
    kind: "integer",
    description: "tokens per chunk",
    reference: "`SentenceSplitter(chunk_size=256)`"
  }),
  chunkOverlap: Setting.defaulted(Schema.Number.check(Setting.atLeast(0)), 25, {
    kind: "integer",
    description: "overlap tokens between chunks",
    reference: "`SentenceSplitter(chunk_overlap=25)`"
  }),
  enablePropositionExtraction: Setting.defaulted(Schema.Boolean, true, {
    kind: "boolean",
    flag: "propositions",
    description: "run stage 1 (--no-propositions to skip)",
    aliases: ["enableProposition"],
    reference: "`ExtractionConfig.enable_proposition_extraction`"
  }),
  preferredEntityClassifications: Setting.defaulted(
    Schema.Array(Schema.String),
    [...Prompts.defaultEntityClassifications],
    {
      kind: "list",
      flag: "entity-classifications",
      description: "preferred entity classifications",
      reference: "`ExtractionConfig.preferred_entity_classifications`",
      defaultText: "the reference's 11"
    }
  ),
  preferredTopics: Setting.defaulted(Schema.Array(Schema.String), [], {
    kind: "list",
    description: "preferred topics",
    reference: "`ExtractionConfig.preferred_topics`"
  }),
  /**
   * Infer the corpus's entity classifications once per run, before the topic stage needs them
   * (the reference's `InferClassifications`): see `ClassificationInference`.
   */
  inferEntityClassifications: Setting.defaulted(Schema.Boolean, false, {
    kind: "boolean",
    description: "infer entity classifications once per run from sampled chunks (on demand), before the topic stage",
    reference: "`ExtractionConfig.infer_entity_classifications`"
  }),
  inferNumSamples: Setting.defaulted(Schema.Number.check(Setting.atLeast(1)), 5, {
    kind: "integer",
    description: "chunks sampled per inference round (the first chunks of the run, in input order)",
    reference: "`InferClassificationsConfig.num_samples`"
  }),
  inferNumIterations: Setting.defaulted(Schema.Number.check(Setting.atLeast(1)), 1, {
    kind: "integer",
    description: "inference rounds, each an on-demand call on its own sample (then one call ranks them)",
    reference: "`InferClassificationsConfig.num_iterations`"
  }),
  inferNumClassifications: Setting.defaulted(Schema.Number.check(Setting.atLeast(1)), 15, {
    kind: "integer",
    description: "most inferred classifications kept, after ranking",
    reference: "`InferClassificationsConfig.num_classifications`"
  }),
  inferReplacePreferred: Setting.defaulted(Schema.Boolean, false, {
    kind: "boolean",
    description:
      "topic prompts get the inferred classifications only (else the inferred, then the preferred ones not among them)",
    reference: "`InferClassificationsConfig.replace_default_classifications`"
  }),
  /** Overrides the inference prompt (`{text_chunks}`, `{existing_classifications}`). */
  inferClassificationsPrompt: Setting.optional(PromptTemplateSchema, {
    kind: "object",
    flag: false,
    description: "inference prompt template {system?, user} with {text_chunks} and {existing_classifications}",
    reference: "`InferClassificationsConfig.prompt_template`",
    defaultText: "the reference's"
  }),
  /** Documents read ahead of the model stages (bounds memory, not job sizes). */
  extractionBatchSize: Setting.defaulted(Schema.Number.check(Setting.atLeast(1)), 100, {
    kind: "integer",
    description: "documents read ahead (bounds memory)",
    env: ["EXTRACTION_BATCH_SIZE"],
    reference: "`GraphRAGConfig.extraction_batch_size`"
  }),
  /** Overrides the stage-1 prompt (`{text}`, `{source_info}`). */
  propositionsPrompt: Setting.optional(PromptTemplateSchema, {
    kind: "object",
    flag: false,
    description: "stage-1 prompt template {system?, user} with {text} and {source_info}",
    reference: "(custom prompt templates)",
    defaultText: "built in"
  }),
  /** Overrides the stage-2 prompt (`{text}`, `{preferred_entity_classifications}`, `{preferred_topics}`). */
  topicsPrompt: Setting.optional(PromptTemplateSchema, {
    kind: "object",
    flag: false,
    description: "stage-2 prompt template {system?, user} with {text}, {preferred_entity_classifications} " +
      "and {preferred_topics}",
    reference: "(custom prompt templates)",
    defaultText: "built in"
  })
}

/** The extraction settings (the reference's `ExtractionConfig` and chunking, camelCase). */
export const ExtractionConfigSchema = Schema.Struct(Setting.fieldsOf(settings))

/** Decoded extraction settings. */
export type ExtractionConfig = typeof ExtractionConfigSchema.Type

/** What a user writes (every field optional). */
export type ExtractionConfigInput = typeof ExtractionConfigSchema.Encoded

/** Decode and validate extraction settings, listing every problem (paths under `extraction.`). */
export const decode = (input: unknown): Effect.Effect<ExtractionConfig, Setting.InvalidConfig> =>
  Effect.suspend(() => {
    const decoded = Schema.decodeUnknownResult(ExtractionConfigSchema)(input ?? {}, {
      errors: "all",
      onExcessProperty: "error"
    })
    const issues: Array<Setting.ConfigIssue> = []
    if (Result.isFailure(decoded)) {
      issues.push(
        ...Setting.issuesOf(decoded.failure.issue).map((issue) => ({ ...issue, path: `extraction.${issue.path}` }))
      )
    } else {
      const config = decoded.success
      if (config.chunking === "sentence" && config.chunkOverlap >= config.chunkSize) {
        issues.push({ path: "extraction.chunkOverlap", message: "must be smaller than chunkSize" })
      }
      for (
        const [key, template] of [["propositionsPrompt", config.propositionsPrompt], [
          "topicsPrompt",
          config.topicsPrompt
        ]] as const
      ) {
        const problem = template === undefined ? undefined : Prompts.templateProblem(template)
        if (problem !== undefined) issues.push({ path: `extraction.${key}`, message: problem })
      }
      const inference = config.inferClassificationsPrompt === undefined
        ? undefined
        : Prompts.inferenceTemplateProblem(config.inferClassificationsPrompt)
      if (inference !== undefined) issues.push({ path: "extraction.inferClassificationsPrompt", message: inference })
    }
    return issues.length > 0 || Result.isFailure(decoded)
      ? Effect.fail(new Setting.InvalidConfig({ issues }))
      : Effect.succeed(decoded.success)
  })

/** Like {@link decode}, for code that already holds a typed input. */
export const make = (input: ExtractionConfigInput): Effect.Effect<ExtractionConfig, Setting.InvalidConfig> =>
  decode(input)

/**
 * The extraction settings read from the current `ConfigProvider` (by default the process
 * environment), each under its environment names (`BATCH_EXTRACT_CHUNK_SIZE`,
 * `BATCH_EXTRACT_EXTRACTION_BATCH_SIZE` or `EXTRACTION_BATCH_SIZE`…); unset settings take
 * their defaults.
 *
 * Gotchas: the prompt templates have no environment variable (set them in code, e.g. through
 * {@link layerConfig}'s overrides). Fails with one `ConfigError` listing every problem, each
 * at the environment variable that set it.
 */
export const config: Config.Config<ExtractionConfig> = Setting.config({
  settings,
  decode,
  issuePrefix: "extraction."
})

/**
 * The extraction settings a program runs with, as a service.
 *
 * When to use: provide it once ({@link layer} from values, {@link layerConfig} from Effect
 * `Config`) and `yield*` it where `Extraction.extract` is called.
 */
export class CurrentExtractionConfig extends Context.Service<CurrentExtractionConfig, ExtractionConfig>()(
  "@batch-extract/core/ExtractionConfig/CurrentExtractionConfig"
) {}

/** {@link CurrentExtractionConfig} from values, validated like {@link decode}. */
export const layer = (input: ExtractionConfigInput): Layer.Layer<CurrentExtractionConfig, Setting.InvalidConfig> =>
  Layer.effect(CurrentExtractionConfig, make(input))

/**
 * {@link CurrentExtractionConfig} from Effect `Config` (see {@link config}), with `overrides`
 * (Effect `Config`s of your own, or `Config.succeed` values) taking precedence.
 */
export const layerConfig = (
  overrides: Config.Wrap<Partial<ExtractionConfigInput>> = {}
): Layer.Layer<CurrentExtractionConfig, Config.ConfigError> =>
  Layer.effect(
    CurrentExtractionConfig,
    Setting.config({
      settings,
      decode,
      issuePrefix: "extraction.",
      overrides: Config.unwrap<Partial<ExtractionConfigInput>>(overrides)
    })
  )
