/**
 * Example: batch-extract composed into your own Effect program, on real AWS.
 *
 * `extractDirectory` is ordinary library code: it needs only the ports in its environment,
 * so the same function runs on AWS (below), on the local emulation, or on the test kit.
 *
 * Run it (real AWS, standard SDK credentials):
 *
 *   BATCH_EXTRACT_BUCKET_NAME=my-bucket BATCH_EXTRACT_ROLE_ARN=arn:aws:iam::123456789012:role/BedrockBatch \
 *   AWS_REGION=us-east-1 node packages/examples/src/examples/ExtractWithAws.ts ./docs ./extracted
 */
import { AwsBackend } from "@batch-extract/aws"
import {
  BatchConfig,
  type BatchRunner,
  Document,
  Extraction,
  ExtractionSummary,
  JobSlots,
  type RunState,
  RunStore,
  Sink
} from "@batch-extract/core"
import { EmbeddedState } from "@batch-extract/store"
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Config, Effect, type FileSystem, Layer, type Path, Stream } from "effect"
import { fileURLToPath } from "node:url"

/** Extract every document under `directory` into `out` (reference layout); returns the run's summary. */
export const extractDirectory: (options: {
  readonly directory: string
  readonly out: string
  readonly runId: string
  readonly batch: BatchConfig.BatchConfig
}) => Effect.Effect<
  ExtractionSummary.ExtractionSummary,
  Extraction.ExtractError | Sink.SinkError | Document.DocumentError | BatchConfig.InvalidConfig,
  BatchRunner.Services | FileSystem.FileSystem | Path.Path
> = Effect.fn("extractDirectory")(function*(options) {
  const extraction = yield* Extraction.decodeConfig({ preferredTopics: ["policy", "economy"] })
  const sink = yield* Sink.directory({ directory: options.out, collectionId: "docs" })
  const [, summary] = yield* ExtractionSummary.collect(
    Extraction.extract(Document.fromDirectory(options.directory), {
      batch: options.batch,
      extraction,
      runId: options.runId
    }).pipe(
      Stream.mapEffect((chunk) => sink.write(chunk), { concurrency: 8 }),
      Stream.runDrain
    )
  )
  return summary
})

/**
 * The run state: the embedded store under the output directory (SQLite; PostgreSQL with
 * `Postgres.layer(url)` instead), checked and migrated, as the engine's `RunState`. A run that
 * crashed resumes when started again with the same run id: its jobs are re-attached, its
 * answered records are not sent again. (`ExtractRun` makes the whole run a durable workflow.)
 */
export const runState = (
  out: string
): Layer.Layer<
  never,
  RunStore.ForeignStore | RunState.StateError | EmbeddedState.StoreLocked | EmbeddedState.StoreUnavailable
> =>
  RunStore.layerState.pipe(
    Layer.provideMerge(Layer.effectDiscard(RunStore.migrate)),
    Layer.provide(EmbeddedState.layer(EmbeddedState.directoryOf(out)))
  )

/** The whole program: settings from the environment, the live AWS Layers, a resumable run state. */
export const program = (directory: string, out: string) =>
  Effect.gen(function*() {
    // Every batch setting from the environment, under the names the library declares
    // (BATCH_EXTRACT_BUCKET_NAME, AWS_REGION, BATCH_EXTRACT_MAX_BATCH_SIZE…); this example's
    // own key prefix and model win. All problems are reported at once, each at its variable.
    const batch = yield* Effect.service(BatchConfig.CurrentBatchConfig).pipe(
      Effect.provide(BatchConfig.layerConfig({
        keyPrefix: Config.succeed("batch-extract-example"),
        model: Config.succeed({ modelId: "us.anthropic.claude-3-5-haiku-20241022-v1:0", temperature: 0 })
      }))
    )
    const summary = yield* extractDirectory({ directory, out, runId: "example", batch }).pipe(
      Effect.provide(Layer.mergeAll(AwsBackend.layer(batch), JobSlots.layerFromConfig(batch))),
      Effect.provide(runState(out))
    )
    yield* Effect.log(
      `${summary.extraction.extractedChunks} chunks extracted; ${summary.records.batch} records at batch price, ` +
        `${summary.records.onDemand} on demand, ${summary.records.failed} failed`
    )
  })

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [directory = "./docs", out = "./extracted"] = process.argv.slice(2)
  program(directory, out).pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain)
}
