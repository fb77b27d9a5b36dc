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
  RunLedger,
  Sink
} from "@batch-extract/core"
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Config, Effect, type FileSystem, Layer, Path, Stream } from "effect"
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

/** The whole program: settings from the environment, the live AWS Layers, a resumable ledger. */
export const program = (directory: string, out: string) =>
  Effect.gen(function*() {
    const path = yield* Path.Path
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
      Effect.provide(RunLedger.layerFileSystem(path.join(out, ".batch-extract", "runs")))
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
