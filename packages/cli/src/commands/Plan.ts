/**
 * `batch-extract plan <paths...>` (and `extract --dry-run`): what a run of these inputs would
 * send and cost, before anything is sent. The inputs are read and chunked, the records built and
 * packed into jobs by the code a run uses (the library's `Plan`), with the run's settings and
 * parts; the plan prints per stage the records, the jobs with their record counts and bytes,
 * what would go on demand and why, the tokens (input counted offline, output estimated) and the
 * estimated cost at batch and at on-demand prices — and with `--json`, the plan as one JSON
 * object on stdout.
 *
 * It makes no Bedrock or S3 call (but reading `s3://` inputs), writes nothing and records no
 * run: no run state, no summary, nothing under `--out`. Invalid settings (a bad `--prices`
 * file among them) exit 2, as for `extract`.
 */
import { S3ObjectStore } from "@batch-extract/aws"
import {
  type BatchConfig,
  type Document,
  type Extraction,
  type ModelFamily,
  ObjectStore,
  Plan as ExtractionPlan,
  RunStore,
  ServiceError
} from "@batch-extract/core"
import { Console, Effect, type FileSystem, Layer, Option, type Path, Stream } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import * as Inputs from "../Inputs.ts"
import * as Run from "../Run.ts"
import * as Settings from "../Settings.ts"
import * as Options from "./Options.ts"

/**
 * The object store a plan reads `s3://` inputs with: S3 with `--backend aws`; none with the
 * local backend (its emulation is not started for a plan, and `resolve` refuses `s3://` inputs
 * there), where any call fails.
 */
const inputStore = (
  recorded: Run.RecordedRun,
  batch: BatchConfig.BatchConfig
): Layer.Layer<ObjectStore.ObjectStore, Run.BackendError> =>
  recorded.backend === "aws"
    ? S3ObjectStore.layerConfig(S3ObjectStore.optionsFromBatchConfig(batch))
    : Layer.succeed(ObjectStore.ObjectStore, {
      put: () => Effect.fail(refused("put")),
      get: () => Stream.fail(refused("get")),
      list: () => Stream.fail(refused("list")),
      head: () => Effect.fail(refused("head")),
      deleteMany: () => Effect.fail(refused("deleteMany"))
    })

const refused = (operation: string) =>
  new ServiceError.InvalidRequest({
    operation: `ObjectStore.${operation}`,
    message: "a plan on the local backend reads local inputs only"
  })

/** The settings of a run, resolved and validated (`Run.resolve`). */
export interface Resolved {
  readonly recorded: Run.RecordedRun
  readonly batch: BatchConfig.BatchConfig
  readonly extraction: Extraction.ExtractionConfig
}

/** Why a plan could not be made (an input that cannot be listed, S3 client settings). */
export type PlanError = Document.DocumentError | ModelFamily.UnknownModelFamily | Run.BackendError

/**
 * The plan of a run with these settings: its inputs listed and split into parts as the run
 * would split them (`RunStore.partitioner`), each part read and planned (`Plan.plan`).
 */
export const planOf = (
  resolved: Resolved
): Effect.Effect<ExtractionPlan.Plan, PlanError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const { batch, extraction, recorded } = resolved
    const files = yield* Stream.runCollect(Inputs.list(recorded.paths))
    const partOf = RunStore.partitioner(recorded.partBytes ?? Run.defaultPartBytes)
    const parts: Array<Array<Inputs.InputFile>> = []
    for (const file of files) {
      const part = partOf(file.size)
      ;(parts[part] ??= []).push(file)
    }
    const readerOptions = Run.readerOptionsOf(recorded)
    const context = yield* Effect.context<FileSystem.FileSystem | Path.Path | ObjectStore.ObjectStore>()
    const plan = yield* ExtractionPlan.plan(
      Stream.fromIterable(parts).pipe(
        Stream.map((inPart) => Inputs.read(inPart, readerOptions).pipe(Stream.provideContext(context)))
      ),
      { batch, extraction }
    )
    return recorded.backend === "aws"
      ? {
        ...plan,
        notes: [
          ...plan.notes,
          "the plan reads no quotas: it packs with the quota settings given and the documented defaults; a run " +
          "on AWS reads the account's quotas for the ones not given, which can change its jobs"
        ]
      }
      : plan
  }).pipe(Effect.provide(inputStore(resolved.recorded, resolved.batch)))

const count = (n: number) => n.toLocaleString("en-US")

const usd = (amount: number) => `$${amount.toFixed(amount !== 0 && Math.abs(amount) < 0.01 ? 4 : 2)}`

const costText = (cost: ExtractionPlan.PlannedCost | null) =>
  cost === null ? "unknown (no price)" : `${usd(cost.batch)} as planned (batch), ${usd(cost.onDemand)} all on demand`

/** The plan as the command prints it (stderr), line by line. */
export const lines = (plan: ExtractionPlan.Plan): Array<string> => {
  const out: Array<string> = [
    `plan: ${count(plan.documents)} documents, ${count(plan.chunks)} chunks` +
    (plan.duplicateChunks > 0 ? ` (${count(plan.duplicateChunks)} repeated, not sent again)` : "") +
    `, ${count(plan.parts)} part${plan.parts === 1 ? "" : "s"}; model ${plan.model}`
  ]
  for (const skip of plan.skippedDocuments) out.push(`  skipped ${skip.path}: ${skip.reason}`)
  if (plan.classifications !== undefined) {
    const c = plan.classifications
    out.push(
      `classifications (estimated): ${c.calls} on-demand calls on ${c.sampledChunks} sampled chunks, ` +
        `${count(c.tokens.input)} input and ${count(c.tokens.output)} output tokens, cost ${
          c.cost === null ? "unknown" : usd(c.cost.onDemand)
        }`
    )
  }
  for (const stage of plan.stages) {
    const estimated = stage.estimated.includes("bytes") ? " (estimated from stage 1's expected answers)" : ""
    out.push(`stage ${stage.stage}${estimated}: ${count(stage.records)} records, ${count(stage.bytes)} bytes`)
    const shown = stage.jobs.slice(0, 20)
    out.push(
      `  jobs: ${count(stage.jobs.length)}` +
        (shown.length === 0 ? "" : ` — ${
          shown.map((job) => `${count(job.records)} records / ${count(job.bytes)} bytes`)
            .join(", ")
        }`) +
        (stage.jobs.length > shown.length ? `, … and ${stage.jobs.length - shown.length} more` : "")
    )
    for (const set of stage.onDemand) {
      out.push(`  on demand: ${count(set.records)} records of part ${set.part}: ${set.reason}`)
    }
    if (stage.rejected.length > 0) {
      out.push(`  refused: ${count(stage.rejected.length)} records (first: ${stage.rejected[0]!.reason})`)
    }
    out.push(
      `  tokens: ${count(stage.tokens.input)} input (${
        stage.estimated.includes("tokens.input") ? "estimated" : "counted"
      }), ${count(stage.tokens.output)} output (estimated)`
    )
    out.push(`  cost (estimated): ${costText(stage.cost)}`)
  }
  out.push(
    `total: ${count(plan.tokens.input)} input and ${count(plan.tokens.output)} output tokens; ` +
      `cost (estimated): ${costText(plan.cost)}` +
      (plan.cost === null ? "" : `, ${usd(plan.cost.onDemand - plan.cost.batch)} less with batch`)
  )
  if (plan.prices !== null) {
    const p = plan.prices
    out.push(
      `prices (US dollars per 1,000 input / output tokens) of ${p.pricedAs}: batch ${p.batch.input} / ` +
        `${p.batch.output}, on demand ${p.onDemand.input} / ${p.onDemand.output}; from ${p.source}` +
        (p.read === undefined ? "" : `, read ${p.read}`)
    )
  }
  for (const note of plan.notes) out.push(`  note: ${note}`)
  out.push("nothing was sent, written or recorded")
  return out
}

/** Print a plan (and its JSON on stdout with `--json`); the exit code is 0. */
export const report = (
  resolved: Resolved,
  json: boolean
): Effect.Effect<number, PlanError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const plan = yield* planOf(resolved)
    yield* Console.error(lines(plan).join("\n"))
    if (json) yield* Console.log(JSON.stringify(plan, null, 2))
    return 0
  })

/** `plan`: validate the settings as `extract` does, then plan; nothing is sent, written or recorded. */
export const run = (request: Run.Request): Effect.Effect<number, Run.RunError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const resolved = yield* Run.resolve(request)
    return yield* report(resolved, request.json)
  }).pipe(Run.withLogging, Run.reportInvalidInput)

export const command = Command.make("plan", {
  paths: Argument.String("paths").pipe(
    Argument.withDescription("files (.txt .md .json .jsonl) or directories to plan the extraction of"),
    Argument.variadic()
  ),
  out: Options.out,
  backend: Flag.Literals("backend", ["local", "aws"]).pipe(
    Flag.withDescription("the backend the run would use (the plan calls neither)"),
    Flag.withDefault("local")
  ),
  json: Flag.Boolean("json").pipe(
    Flag.withDescription("also print the plan as one JSON object on stdout"),
    Flag.withDefault(false)
  ),
  config: Flag.String("config").pipe(
    Flag.withDescription("JSON settings file (camelCase or the reference's snake_case names)"),
    Flag.optional
  ),
  prices: Options.prices,
  partMb: Flag.Finite("part-mb").pipe(
    Flag.withDescription("megabytes of input per part of the run (each part packs its own jobs; default 64)"),
    Flag.optional
  ),
  textField: Flag.String("text-field").pipe(
    Flag.withDescription("JSON field(s) holding the text, comma-separated (default text,body,content)"),
    Flag.optional
  ),
  propositionsPrompt: Flag.String(Settings.promptFileFlags.propositionsPrompt).pipe(
    Flag.withDescription("stage-1 prompt template: a JSON file {system?, user} or a text file (the user turn)"),
    Flag.optional
  ),
  topicsPrompt: Flag.String(Settings.promptFileFlags.topicsPrompt).pipe(
    Flag.withDescription("stage-2 prompt template: a JSON file {system?, user} or a text file (the user turn)"),
    Flag.optional
  ),
  inferClassificationsPrompt: Flag.String(Settings.promptFileFlags.inferClassificationsPrompt).pipe(
    Flag.withDescription("entity-classification inference prompt template: a JSON file {system?, user} or a text file"),
    Flag.optional
  ),
  collectionId: Flag.String("collection-id").pipe(
    Flag.withDescription("sub-directory of --out the run would write its chunks to (the plan writes nothing)"),
    Flag.withDefault("default")
  ),
  pathMetadataKey: Flag.String("path-metadata-key").pipe(
    Flag.withDescription("metadata key that records each document's file path (empty: none)"),
    Flag.withDefault("file_path")
  ),
  ...Options.settingFlags
}, (input) =>
  run({
    paths: input.paths,
    out: input.out,
    backend: input.backend,
    runId: undefined,
    json: input.json,
    configFile: Option.getOrUndefined(input.config),
    faultsFile: undefined,
    promptFiles: {
      propositionsPrompt: Option.getOrUndefined(input.propositionsPrompt),
      topicsPrompt: Option.getOrUndefined(input.topicsPrompt),
      inferClassificationsPrompt: Option.getOrUndefined(input.inferClassificationsPrompt)
    },
    pricesFile: Option.getOrUndefined(input.prices),
    force: false,
    database: undefined,
    partMb: Option.getOrUndefined(input.partMb),
    collectionId: input.collectionId,
    textField: Option.getOrUndefined(Option.map(input.textField, (s) => s.split(",").map((f) => f.trim()))),
    pathMetadataKey: input.pathMetadataKey === "" ? undefined : input.pathMetadataKey,
    flags: Options.settingValues(input)
  }).pipe(Effect.flatMap(Options.exitWith))).pipe(
    Command.withDescription(
      "plan an extraction: jobs, records, bytes, tokens and estimated cost per stage; nothing is sent or written"
    )
  )
