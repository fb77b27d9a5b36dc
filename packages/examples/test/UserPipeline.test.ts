/**
 * How a user tests their own pipeline offline: the test kit (`@batch-extract/core/testing`)
 * simulates S3, Bedrock batch and the runtime on Effect's Clock, and `TestClock` runs hours
 * of simulated batch jobs in milliseconds.
 */
import { BatchConfig, Document, Extraction } from "@batch-extract/core"
import { TestBackend } from "@batch-extract/core/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"

/** "My pipeline": the people each document mentions, from the extracted entities. */
const peopleByDocument = (documents: ReadonlyArray<Document.Document>, batch: BatchConfig.BatchConfig) =>
  Effect.gen(function*() {
    const extraction = yield* Extraction.decodeConfig({})
    const chunks = yield* Stream.runCollect(
      Extraction.extract(Stream.fromIterable(documents), { batch, extraction, runId: "people" })
    )
    const people = new Map<string, Set<string>>()
    for (const chunk of chunks) {
      const title = String(chunk.chunk.metadata.title)
      const names = people.get(title) ?? new Set<string>()
      for (const topic of chunk.topics.topics) {
        for (const entity of topic.entities) if (entity.classification === "Person") names.add(entity.value)
      }
      people.set(title, names)
    }
    return people
  })

const documents = Array.from({ length: 150 }, (_, i) =>
  Document.make(
    `Ada Lovelace met Charles Babbage in London in ${1830 + (i % 10)}. ` +
      `Lovelace wrote notes on the Analytical Engine. Babbage designed the Difference Engine.`,
    { metadata: { title: `letter-${i}` } }
  ))

describe("testing your own pipeline offline", () => {
  it.effect("runs both stages as simulated batch jobs, with faults, under TestClock", () =>
    Effect.gen(function*() {
      const batch = yield* BatchConfig.decode({
        bucketName: "my-bucket",
        region: "us-east-1",
        roleArn: "arn:aws:iam::123456789012:role/BedrockBatch"
      })
      const backend = yield* TestBackend.make({
        batch: { faults: { jobStatuses: ["PartiallyCompleted"], recordErrorRate: 0.05, throttleRate: 0.2 } }
      })
      const people = yield* TestBackend.runToCompletion(
        peopleByDocument(documents, batch).pipe(Effect.provide(backend.layer))
      )
      assert.strictEqual(people.size, 150)
      for (const names of people.values()) {
        assert.isTrue(names.has("Ada Lovelace") && names.has("Charles Babbage"))
      }
      const counters = yield* backend.batch.counters
      assert.isAtLeast(counters.jobsCreated, 2) // one job per stage, plus the retry of the partial one
    }))
})
