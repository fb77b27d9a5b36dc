/**
 * Resume at the library level (simulated service, TestClock): the jobs an interrupted
 * extraction left running can finish before a resumed extraction has read its documents
 * again. Their outcomes must wait for their chunks (they once arrived first, and the
 * extraction died on a chunk it did not know yet), and a record no longer among the inputs
 * gets no outcome.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Option, Stream } from "effect"
import { TestClock } from "effect/testing"
import { BatchConfig, Document, Extraction, RunState } from "../../src/index.ts"
import { TestBackend } from "../../src/testing/index.ts"

const people = ["Alice Smith", "Bob Jones", "Carol White", "Dave Brown", "Erin Green"]
const places = ["Paris", "Boston", "Berlin", "Lisbon", "Oslo", "Lima"]

const documents = (count: number) =>
  Array.from({ length: count }, (_, d) =>
    Document.make(
      Array.from({ length: 9 }, (_, s) => {
        const n = d * 9 + s
        return `${people[n % people.length]} met ${people[(n + 2) % people.length]} in ${places[n % places.length]} ` +
          `on day ${n}.`
      }).join(" "),
      { id: `doc-${d}`, metadata: { title: `Report ${d}` } }
    ))

const settings = Effect.gen(function*() {
  const batch = yield* BatchConfig.decode({
    bucketName: "reattach-bucket",
    region: "us-east-1",
    roleArn: "arn:aws:iam::123456789012:role/BedrockBatch",
    maxBatchSize: 100,
    stopJobsOnInterrupt: false
  })
  const extraction = yield* Extraction.decodeConfig({ chunkSize: 48, chunkOverlap: 0 })
  return { batch, extraction }
}).pipe(Effect.orDie)

describe("durable runs: re-attached jobs and the resumed input", () => {
  it.effect("outcomes of jobs that finished before the documents were read again wait for their chunks", () =>
    Effect.gen(function*() {
      const { batch, extraction } = yield* settings
      const backend = yield* TestBackend.make()
      const state = yield* RunState.makeMemory
      const input = documents(50)
      const extract = (docs: Stream.Stream<Document.Document>) =>
        Extraction.extract(docs, { batch, extraction, runId: "reattach" }).pipe(
          Stream.runCollect,
          Effect.provide(backend.layer),
          Effect.provideService(RunState.RunState, state)
        )

      // The first attempt dies once its first jobs are created (its jobs keep running).
      const first = yield* Effect.forkChild(extract(Stream.fromIterable(input)))
      for (let i = 0; i < 600; i++) {
        const { jobs } = yield* state.contents
        if (jobs.some((job) => job.runId === "reattach" && job.jobArn !== undefined)) break
        yield* TestClock.adjust(Duration.seconds(1))
      }
      yield* Fiber.interrupt(first)
      const open = (yield* state.contents).jobs.filter((job) => job.runId === "reattach" && !job.finished)
      assert.isAbove(open.length, 0)
      // Their records, from the input files they were staged with.
      const reattachedIds = new Set<string>()
      for (const job of open) {
        const staged = Option.getOrThrow(yield* backend.store.read({ bucket: job.bucket, key: job.inputKey }))
        for (const line of staged.split("\n")) {
          if (line.trim() !== "") reattachedIds.add((JSON.parse(line) as { recordId: string }).recordId)
        }
      }
      assert.strictEqual(reattachedIds.size, open.reduce((n, job) => n + job.records, 0))
      // Long after: the jobs are done on the service.
      yield* TestClock.adjust(Duration.hours(3))

      // The resume reads its documents only after the re-attached jobs have been seen finished.
      const late = Stream.fromEffect(Effect.sleep(Duration.minutes(30))).pipe(
        Stream.flatMap(() => Stream.fromIterable(input))
      )
      const chunks = yield* TestBackend.runToCompletion(extract(late))
      const all = yield* TestBackend.runToCompletion(
        extract(Stream.fromIterable(input)).pipe(
          Effect.provideService(RunState.RunState, yield* RunState.makeMemory)
        )
      )
      assert.strictEqual(chunks.length, all.length)
      assert.isTrue(chunks.every((chunk) => chunk.failures.length === 0))
      assert.isTrue(chunks.some((chunk) => reattachedIds.has(chunk.chunk.id)))
      // The jobs were re-attached, not staged again: without faults every record of the two
      // attempts went into one batch job or one on-demand call, the re-attached ones included.
      const jobs = (yield* backend.batch.jobs).filter((job) => job.jobName.includes("reattach"))
      assert.isAbove(jobs.length, open.length)
      const inJobs = jobs.reduce((n, job) => n + (job.totalRecordCount ?? 0), 0)
      assert.strictEqual(inJobs + (yield* backend.runtime.calls), chunks.length * 2)
      assert.strictEqual((yield* backend.batch.counters).repeatedTokens, 0)
    }))

  it.effect("records of re-attached jobs that are no longer among the inputs get no outcome", () =>
    Effect.gen(function*() {
      const { batch, extraction } = yield* settings
      const backend = yield* TestBackend.make()
      const state = yield* RunState.makeMemory
      const input = documents(50)
      const extract = (docs: ReadonlyArray<Document.Document>) =>
        Extraction.extract(Stream.fromIterable(docs), { batch, extraction, runId: "shrunk" }).pipe(
          Stream.runCollect,
          Effect.provide(backend.layer),
          Effect.provideService(RunState.RunState, state)
        )
      const first = yield* Effect.forkChild(extract(input))
      for (let i = 0; i < 600; i++) {
        const { jobs } = yield* state.contents
        if (jobs.some((job) => job.runId === "shrunk" && job.jobArn !== undefined)) break
        yield* TestClock.adjust(Duration.seconds(1))
      }
      yield* Fiber.interrupt(first)
      // Resumed with half the documents: only their chunks come out.
      const half = input.slice(0, 25)
      const chunks = yield* TestBackend.runToCompletion(extract(half))
      const sources = new Set(chunks.map((chunk) => chunk.chunk.source.documentId))
      assert.deepStrictEqual([...sources].sort(), half.map((d) => d.id!).sort())
    }))
})
