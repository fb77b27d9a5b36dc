/**
 * Every model family in batch, through the command: Amazon Nova and Meta Llama with their
 * native bodies, and the Converse invocation type, run on the emulator (the same model of the
 * service as the port-level simulation, which validates every body as the service documents
 * it). Both stages go as batch jobs; no body is refused; the chunks come out extracted.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import * as Cli from "./support/cli.ts"
import * as World from "./support/world.ts"

const cases = [
  { label: "Amazon Nova", flags: { model: "us.amazon.nova-lite-v1:0" }, invocationType: "InvokeModel" },
  { label: "Meta Llama", flags: { model: "us.meta.llama3-3-70b-instruct-v1:0" }, invocationType: "InvokeModel" },
  {
    label: "Converse",
    flags: { model: "us.anthropic.claude-3-5-haiku-20241022-v1:0", "invocation-type": "Converse" },
    invocationType: "Converse"
  }
] as const

describe("batch-extract extract with every model family", () => {
  for (const { flags, invocationType, label } of cases) {
    it.live(
      `${label}: both stages in batch jobs, every body accepted, every chunk extracted`,
      () =>
        Effect.gen(function*() {
          const world = yield* World.make({ emulator: { timings: {} } })
          const dir = yield* World.tempDir("families")
          const corpus = World.writeCorpus(join(dir, "corpus"), 40)
          const out = join(dir, "out")
          const exit = yield* Cli.run(
            ["extract", corpus, "--out", out, "--run-id", "fam", "--backend", "aws", ...World.flags(flags)],
            { env: world.env() }
          )
          assert.strictEqual(exit.code, 0, Cli.describe(exit))
          const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as {
            readonly chunks: number
            readonly extractedChunks: number
            readonly extraction: { readonly failedChunks: number }
            readonly jobs: { readonly byStatus: Readonly<Record<string, number>> }
          }
          assert.isAbove(summary.chunks, 100)
          assert.strictEqual(summary.extractedChunks, summary.chunks)
          assert.strictEqual(summary.extraction.failedChunks, 0)
          const counters = yield* world.local.bedrock.counters
          assert.strictEqual(counters.recordsRejected, 0, "the service accepted every body")
          const jobs = yield* world.local.bedrock.describedJobs
          assert.isAtLeast(jobs.length, 2, "both stages ran as batch jobs")
          assert.strictEqual(summary.jobs.byStatus.Completed, jobs.length)
          for (const job of jobs) {
            assert.strictEqual(job.modelId, flags.model)
            assert.strictEqual(job.modelInvocationType, invocationType)
          }
          assert.isAbove(counters.recordsAnswered, summary.chunks)
          // The answers were read in the family's shape: the chunks hold topics and statements.
          const chunks = [...World.readChunks(out).values()] as ReadonlyArray<{
            readonly metadata: {
              readonly "aws::graph::topics": {
                readonly topics: ReadonlyArray<{ readonly statements: ReadonlyArray<unknown> }>
              }
            }
          }>
          assert.strictEqual(chunks.length, summary.chunks)
          assert.isTrue(
            chunks.every((chunk) => chunk.metadata["aws::graph::topics"].topics.some((t) => t.statements.length > 0))
          )
        }).pipe(Effect.scoped),
      120_000
    )
  }
})
