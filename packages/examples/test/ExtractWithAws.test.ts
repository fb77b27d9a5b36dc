/**
 * The library-composition example, run on the local emulation: the live AWS Layers against
 * loopback S3 and Bedrock (no account needed).
 */
import { LocalBackend } from "@batch-extract/aws/local"
import { BatchConfig, JobSlots, Sink } from "@batch-extract/core"
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Layer, Path, Stream } from "effect"
import { extractDirectory } from "../src/examples/ExtractWithAws.ts"

describe("example: compose the library into an Effect program", () => {
  it.live("extracts a directory through the live Layers on the local emulation", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const docs = yield* fs.makeTempDirectoryScoped({ prefix: "be-example-docs-" })
      const out = yield* fs.makeTempDirectoryScoped({ prefix: "be-example-out-" })
      for (let i = 0; i < 30; i++) {
        yield* fs.writeFileString(
          path.join(docs, `doc-${String(i).padStart(2, "0")}.txt`),
          `Grace Hopper joined the Navy in ${1940 + i}. She worked on the Mark I computer at Harvard University. ` +
            `Hopper later led the team behind COBOL in ${1950 + i}.`
        )
      }
      const batch = yield* BatchConfig.decode({
        bucketName: "example-bucket",
        region: "us-east-1",
        roleArn: "arn:aws:iam::123456789012:role/BedrockBatch",
        minRecordsPerJob: 10,
        pollInitialSeconds: 0.05,
        pollMaxSeconds: 0.2
      })
      const summary = yield* extractDirectory({ directory: docs, out, runId: "example", batch }).pipe(
        Effect.provide(Layer.mergeAll(
          LocalBackend.layerFromBatchConfig(batch, { emulator: { quotas: { minRecordsPerJob: 10 } } }),
          JobSlots.layerFromConfig(batch)
        ))
      )
      assert.strictEqual(summary.extraction.documents, 30)
      assert.strictEqual(summary.records.failed, 0)
      assert.strictEqual(summary.records.batch, 60)
      assert.deepStrictEqual(summary.jobs.byStatus, { Completed: 2 })
      const sources = yield* Stream.runCollect(Sink.readDirectory({ directory: out, collectionId: "docs" }))
      assert.strictEqual(sources.length, 30)
      assert.isTrue(sources.every((s) => s.chunks.every((c) => c.topics.topics.length > 0)))
    }).pipe(Effect.provide(NodeServices.layer), Effect.scoped), 60_000)
})
