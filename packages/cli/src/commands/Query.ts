/**
 * `batch-extract query "<question>"`: the statements of a built graph nearest to a question.
 * The question is embedded on demand with the model the statement index was built with (read
 * from the index), the index searched (cosine), and each statement expanded through the graph
 * to its topic, the chunks that mention it and their sources (openCypher on the embedded store).
 *
 * Exit codes: 0 answered (even with no match); 2 invalid input, no store or no index (run
 * `build` first), or a store that cannot be opened; 1 the embedding call failed.
 */
import {
  BatchConfig,
  BuildConfig,
  type GraphStore,
  ModelFamily,
  ModelRuntime,
  ServiceError,
  VectorStore
} from "@batch-extract/core"
import { Console, Data, Effect, FileSystem, Option, Path, Result } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import * as Run from "../Run.ts"
import * as Stores from "../Stores.ts"
import * as Build from "./Build.ts"
import * as Options from "./Options.ts"

/** What `query` was asked. */
export interface Request {
  readonly question: string
  readonly out: string
  readonly top: number
  readonly backend: "local" | "aws"
  readonly json: boolean
  readonly configFile: string | undefined
  /** Raw setting flag values by flag name (`--graph-store`, `--vector-store`, …). */
  readonly flags: Readonly<Record<string, unknown>>
}

/** One statement found. */
export interface Answer {
  readonly rank: number
  readonly score: number
  readonly statementId: string
  readonly statement: string
  readonly topic: string | undefined
  readonly chunks: ReadonlyArray<{ readonly chunkId: string; readonly sourceId: string | undefined }>
}

/** The question could not be embedded. */
export class EmbeddingFailed extends Data.TaggedError("EmbeddingFailed")<{ readonly message: string }> {}

/** The statement index queries search. */
export const index = "statement"

const invalid = (path: string, message: string) => new Run.InvalidInput({ issues: [{ path, message }] })

const resolve = (request: Request) =>
  Effect.gen(function*() {
    const path = yield* Path.Path
    const { gathered, issues } = yield* Run.gatherSettings(request)
    // A query only calls the model on demand: no bucket or role is needed.
    const batch = yield* Effect.result(BatchConfig.decode({
      bucketName: "batch-extract-query",
      roleArn: "arn:aws:iam::000000000000:role/batch-extract-query",
      ...gathered.batch
    }))
    if (batch._tag === "Failure") issues.push(...batch.failure.issues)
    const build = yield* Effect.result(BuildConfig.decode(gathered.build))
    if (build._tag === "Failure") issues.push(...build.failure.issues)
    if (!Number.isInteger(request.top) || request.top < 1) {
      issues.push({ path: "top", message: `must be a positive integer, got ${request.top}` })
    }
    if (request.question.trim() === "") issues.push({ path: "question", message: "must not be empty" })
    if (issues.length > 0 || batch._tag === "Failure" || build._tag === "Failure") {
      return yield* new Run.InvalidInput({ issues })
    }
    const graphStore = build.success.graphStore ?? Build.defaultStoreOf(path.resolve(request.out))
    const vectorStore = build.success.vectorStore ?? graphStore
    return { batch: batch.success, graphStore, vectorStore }
  })

/** The embedding family of an index: its model, at its dimensions. */
const familyOf = (spec: VectorStore.IndexSpec) => {
  const resolved = ModelFamily.resolve({ modelId: spec.model })
  if (Result.isFailure(resolved) || !ModelFamily.isEmbedding(resolved.success)) return undefined
  const family = resolved.success
  return family.embedding.dimensions === spec.dimensions || ModelFamily.familyOfModelId(spec.model) !== "titan-embed"
    ? family
    : ModelFamily.titanEmbedWith(spec.dimensions as ModelFamily.TitanEmbedDimensions)
}

/** What ends a query before its answers (invalid input is exit 2, the rest exit 1). */
export type QueryError =
  | Run.InvalidInput
  | EmbeddingFailed
  | VectorStore.IndexNotFound
  | VectorStore.DimensionMismatch
  | VectorStore.VectorStoreError
  | GraphStore.GraphStoreError

/** Embed the question, search the statement index, expand each match through the graph. */
export const answers = (
  question: string,
  top: number
): Effect.Effect<
  ReadonlyArray<Answer>,
  QueryError,
  VectorStore.VectorStore | ModelRuntime.ModelRuntime | Stores.StatementContexts
> =>
  Effect.gen(function*() {
    const vectors = yield* VectorStore.VectorStore
    const spec = yield* vectors.describeIndex(index)
    if (spec === undefined) return yield* invalid("store", `no ${index} index: run build first`)
    const family = familyOf(spec)
    if (family?.embedding === undefined) {
      return yield* invalid(
        "store",
        `the ${index} index was built with ${spec.model}, which batch-extract cannot query`
      )
    }
    const runtime = yield* ModelRuntime.ModelRuntime
    const body = yield* ServiceError.retryTransient(runtime.invoke({
      modelId: spec.model,
      invocationType: "InvokeModel",
      body: family.embedding.buildEmbeddingRequest([question.slice(0, family.embedding.maxTextCharacters)], "query")
    })).pipe(
      Effect.mapError((error) =>
        new EmbeddingFailed({ message: `embedding the question failed: ${ServiceError.describe(error)}` })
      )
    )
    const output = family.readOutput(body)
    const vector = Result.isSuccess(output) ? output.success.vectors?.[0] : undefined
    if (vector === undefined) {
      return yield* new EmbeddingFailed({
        message: `embedding the question failed: ${Result.isFailure(output) ? output.failure : "no vector"}`
      })
    }
    const matches = yield* vectors.nearest(index, vector, top)
    const contexts = yield* (yield* Stores.StatementContexts).of(matches.map((m) => m.id))
    return matches.map((match, i): Answer => {
      const context = contexts.get(match.id)
      return {
        rank: i + 1,
        score: match.score,
        statementId: match.id,
        statement: context?.statement ?? String(match.metadata.value ?? ""),
        topic: context?.topic,
        chunks: context?.chunks ?? []
      }
    })
  })

/** Print the answers to stdout (and as JSON with `--json`). */
const print = (list: ReadonlyArray<Answer>, json: boolean) =>
  json
    ? Console.log(JSON.stringify(list, null, 2))
    : Effect.forEach(list, (a) =>
      Console.log(
        `${a.rank}. [${a.score.toFixed(3)}] ${a.statement}\n   topic: ${a.topic ?? "(none)"}\n` +
          a.chunks.map((c) => `   chunk ${c.chunkId} of source ${c.sourceId ?? "(unknown)"}`).join("\n")
      ), { discard: true }).pipe(
        Effect.andThen(list.length === 0 ? Console.error("no statement found") : Effect.void)
      )

/** `query`: the answers and the exit code. */
export const execute = (
  request: Request
): Effect.Effect<
  { readonly exitCode: number; readonly answers: ReadonlyArray<Answer> },
  Exclude<QueryError, Run.InvalidInput | EmbeddingFailed> | Run.BackendError,
  FileSystem.FileSystem | Path.Path
> =>
  Effect.gen(function*() {
    const resolved = yield* resolve(request)
    const list = yield* answers(request.question, request.top).pipe(
      Effect.provide(Stores.storesLayer(resolved.graphStore, resolved.vectorStore, { existing: true })),
      Effect.provide(Run.backendLayer({ backend: request.backend, faults: undefined }, resolved.batch)),
      Effect.catchTag("StoreUnavailable", (error) => Effect.fail(invalid("store", error.message)))
    )
    yield* print(list, request.json)
    return { exitCode: 0, answers: list }
  }).pipe(
    Effect.catchTag("EmbeddingFailed", (error) =>
      Effect.as(Console.error(`batch-extract: ${error.message}`), { exitCode: 1, answers: [] as Array<Answer> })),
    Run.withLogging,
    Run.reportInvalidInput,
    Effect.map((
      outcome
    ) => (typeof outcome === "number" ? { exitCode: outcome, answers: [] as Array<Answer> } : outcome))
  )

export const command = Command.make("query", {
  question: Argument.String("question").pipe(Argument.withDescription("the question, in words")),
  out: Options.out,
  top: Flag.Int("top").pipe(Flag.withDescription("statements to show"), Flag.withDefault(5)),
  backend: Build.backend,
  json: Flag.Boolean("json").pipe(Flag.withDescription("print the answers as JSON"), Flag.withDefault(false)),
  config: Build.config,
  ...Options.settingFlags
}, (input) =>
  execute({
    question: input.question,
    out: input.out,
    top: input.top,
    backend: input.backend,
    json: input.json,
    configFile: Option.getOrUndefined(input.config),
    flags: Options.settingValues(input)
  }).pipe(Effect.flatMap((outcome) => Options.exitWith(outcome.exitCode)))).pipe(
    Command.withDescription("find the statements of a built graph nearest to a question, with their topic and chunks")
  )
