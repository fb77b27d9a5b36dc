/**
 * Classification inference in the small, against a scripted model runtime: how far the
 * sample reads (and what it passes over), what each call's failure leaves in the warnings, what
 * the notes say of the sample, how the result merges with the preferred classifications,
 * inferring straight from documents, and the parser's edges.
 */
import { ClassificationInference, Document, ExtractionConfig, ModelRuntime, ServiceError } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Ref, Stream } from "effect"
import { capturingLogs, config, runOnTestClock } from "../support.ts"

const chunking = { chunkSize: 40, chunkOverlap: 0 } as const
const doc = (topic: string) => Document.make(`The ${topic} grew a lot. Its leaders met in Boston.`)
const chunks = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `c${i}`, text: `Text ${i}.` }))

const answer = (text: string) => ({
  content: [{ type: "text", text }],
  stop_reason: "end_turn",
  usage: { input_tokens: 7, output_tokens: 3 }
})
const tagged = (...names: ReadonlyArray<string>) =>
  `<entity_classifications>\n${names.join("\n")}\n</entity_classifications>`

/** A model runtime that answers the `n`th call (1-based) with `respond(n, prompt)`, and counts them. */
const scripted = (respond: (call: number, prompt: string) => Effect.Effect<unknown, ServiceError.ServiceError>) => {
  const counter = { calls: 0 }
  const layer = Layer.succeed(ModelRuntime.ModelRuntime, {
    invoke: (request) => Effect.suspend(() => respond(++counter.calls, JSON.stringify(request.body)))
  })
  return { counter, layer }
}

/** Infer with a runtime that answers the `n`th call (1-based) with `respond(n, prompt)`. */
const inferWith = (
  sample: ReadonlyArray<ClassificationInference.SampleChunk>,
  options: Partial<ClassificationInference.Options>,
  respond: (call: number, prompt: string) => Effect.Effect<unknown, ServiceError.ServiceError>,
  batchOverrides: Parameters<typeof config>[0] = {}
) =>
  Effect.gen(function*() {
    const batch = yield* config({ maxRecordAttempts: 2, ...batchOverrides })
    const runtime = scripted(respond)
    const inference = yield* runOnTestClock(
      ClassificationInference.infer(sample, {
        numSamples: 3,
        numIterations: 1,
        numClassifications: 10,
        preferred: ["Person", "Company"],
        replacePreferred: false,
        ...options
      }, batch).pipe(Effect.provide(runtime.layer))
    )
    return { inference, calls: runtime.counter.calls }
  })

const denied = () => Effect.fail(new ServiceError.AccessDenied({ operation: "ModelRuntime.invoke", message: "no" }))

describe("ClassificationInference sampling", () => {
  it.effect("reads documents only as far as the sample needs, passing over skips and repeats", () =>
    Effect.gen(function*() {
      const first = doc("harbour")
      const inputs = Stream.concat(
        Stream.make<ReadonlyArray<Extraction>>(
          { _tag: "Skipped", path: "x.bin", reason: "Binary", message: "binary" },
          { _tag: "Read", path: "a.txt", document: first },
          first,
          Document.make("   "),
          doc("railway"),
          doc("airport")
        ),
        Stream.fail("read past the sample" as const)
      )
      const sampled = yield* ClassificationInference.sample(inputs, chunking, 2)
      const expected = [
        ...(yield* ClassificationInference.sample(Stream.make(first), chunking, 1)),
        ...(yield* ClassificationInference.sample(Stream.make(doc("railway")), chunking, 1))
      ]
      assert.deepStrictEqual(sampled, expected)
    }))

  it.effect("takes exactly the sample size, even from one long document", () =>
    Effect.gen(function*() {
      const long = Document.make(Array.from({ length: 12 }, (_, i) => `Sentence ${i} is about the harbour.`).join(" "))
      const sampled = yield* ClassificationInference.sample(Stream.make(long, doc("x")), {
        chunkSize: 12,
        chunkOverlap: 0
      }, 3)
      assert.strictEqual(sampled.length, 3)
      assert.strictEqual(new Set(sampled.map((c) => c.id)).size, 3)
    }))

  it.effect("samples documents and read results' documents, never a skip, whatever either carries", () =>
    Effect.gen(function*() {
      const read = doc("harbour")
      // A document of the caller's own with a `_tag` field is still a document.
      const memo = { ...doc("railway"), _tag: "Memo" }
      // A skip is passed over, even one that carries a document.
      const skipped = {
        _tag: "Skipped" as const,
        path: "b.txt",
        reason: "Empty" as const,
        message: "empty",
        document: doc("airport")
      }
      const inputs = Stream.make<ReadonlyArray<Extraction>>(
        { _tag: "Read", path: "a.txt", document: read },
        skipped,
        memo
      )
      const sampled = yield* ClassificationInference.sample(inputs, chunking, 5)
      const expected = yield* ClassificationInference.sample(Stream.make(read, doc("railway")), chunking, 5)
      assert.strictEqual(expected.length, 2)
      assert.deepStrictEqual(sampled, expected)
    }))

  it.effect("passes over a document that cannot be chunked and samples the ones after it", () =>
    Effect.gen(function*() {
      const unfit = Document.make("Some text.", { metadata: { summary: "word ".repeat(60) } })
      const sampled = yield* ClassificationInference.sample(Stream.make(unfit, doc("harbour")), chunking, 3)
      assert.deepStrictEqual(sampled, yield* ClassificationInference.sample(Stream.make(doc("harbour")), chunking, 3))
      assert.strictEqual(sampled.length, 1)
    }))

  it("puts each sampled chunk on its own line between chunk tags", () => {
    assert.strictEqual(
      ClassificationInference.formatChunks(chunks(2)),
      "<chunk>Text 0.</chunk>\n<chunk>Text 1.</chunk>"
    )
  })

  it("gives every round every chunk when there are exactly as many as a round takes", () => {
    const rounds = ClassificationInference.rounds(chunks(3), { numSamples: 3, numIterations: 2 })
    assert.deepStrictEqual(rounds.map((round) => round.map((c) => c.id)), [["c0", "c1", "c2"], ["c0", "c1", "c2"]])
  })
})

describe("ClassificationInference parsing", () => {
  it("removes list markers only at the start, quotes and emphasis around, and repeats in any case", () => {
    assert.deepStrictEqual(
      ClassificationInference.parse(
        tagged("10) Port Authority", "`Vessel`", "\"Crew Member\"", "Cargo - Bulk", "VESSEL")
      ),
      ["Port Authority", "Vessel", "Crew Member", "Cargo - Bulk"]
    )
  })

  it("trims a line before removing its list marker and the emphasis around it", () => {
    assert.deepStrictEqual(
      ClassificationInference.parse(tagged("  - Port Authority", "\t2. Vessel", "  **Crew Member**  ")),
      ["Port Authority", "Vessel", "Crew Member"]
    )
  })

  it("merges without repeats, whatever their case", () => {
    assert.deepStrictEqual(ClassificationInference.merge(["Vessel", "Port"], ["port", "CREW", "vessel"]), [
      "Vessel",
      "Port",
      "CREW"
    ])
  })
})

describe("ClassificationInference.infer", () => {
  it.effect("ranks what the rounds proposed, keeps the most it may, then the preferred ones, and counts its calls", () =>
    Effect.gen(function*() {
      const { calls, inference } = yield* inferWith(
        chunks(3),
        { numClassifications: 2 },
        (call) =>
          Effect.succeed(answer(call === 1 ? tagged("Vessel", "Port", "Crew") : tagged("Port", "Vessel", "Crew")))
      )
      assert.deepStrictEqual(inference.inferred, ["Port", "Vessel"])
      assert.deepStrictEqual(inference.classifications, ["Port", "Vessel", "Person", "Company"])
      assert.isFalse(inference.fellBack)
      assert.strictEqual(calls, 2)
      assert.strictEqual(inference.calls, 2)
      assert.deepStrictEqual(inference.tokens, { input: 14, output: 6 })
      assert.deepStrictEqual(inference.warnings, [])
      assert.deepStrictEqual(inference.sampledChunkIds, ["c0", "c1", "c2"])
    }))

  it.effect("offers the inferred classifications alone when told to replace the preferred ones", () =>
    Effect.gen(function*() {
      const { inference } = yield* inferWith(
        chunks(3),
        { replacePreferred: true },
        () => Effect.succeed(answer(tagged("Vessel")))
      )
      assert.deepStrictEqual(inference.classifications, ["Vessel"])
    }))

  it.effect("keeps the rounds' order when the ranking answers nothing usable, and says so", () =>
    Effect.gen(function*() {
      const { inference } = yield* inferWith(
        chunks(3),
        {},
        (call) => Effect.succeed(answer(call === 1 ? tagged("Vessel", "Port") : "I cannot rank these."))
      )
      assert.deepStrictEqual(inference.inferred, ["Vessel", "Port"])
      assert.deepStrictEqual(inference.warnings, [
        "ranking: the answer held no classifications between <entity_classifications> tags; " +
        "the classifications are kept in the order the rounds proposed them"
      ])
    }))

  it.effect("keeps the rounds' order when the ranking call fails, and says why", () =>
    Effect.gen(function*() {
      const { calls, inference } = yield* inferWith(
        chunks(3),
        {},
        (call) => call === 1 ? Effect.succeed(answer(tagged("Vessel", "Port"))) : denied()
      )
      assert.strictEqual(calls, 2)
      assert.isFalse(inference.fellBack)
      assert.deepStrictEqual(inference.inferred, ["Vessel", "Port"])
      assert.strictEqual(inference.warnings.length, 1)
      assert.match(
        inference.warnings[0]!,
        /^ranking: the on-demand call failed: AccessDenied.*; the classifications are kept in the order the rounds proposed them$/
      )
    }))

  it.effect("names the round whose call failed or answered nothing, and falls back to the preferred ones", () =>
    Effect.gen(function*() {
      const { calls, inference } = yield* inferWith(
        chunks(6),
        { numIterations: 2 },
        (call) => call === 1 ? denied() : Effect.succeed(answer("nothing tagged"))
      )
      assert.strictEqual(calls, 2)
      assert.isTrue(inference.fellBack)
      assert.deepStrictEqual(inference.classifications, ["Person", "Company"])
      assert.deepStrictEqual(inference.inferred, [])
      assert.strictEqual(inference.warnings.length, 3)
      assert.match(inference.warnings[0]!, /^inference round 1: the on-demand call failed: AccessDenied/)
      assert.strictEqual(
        inference.warnings[1],
        "inference round 2: the answer held no classifications between <entity_classifications> tags"
      )
      assert.strictEqual(
        inference.warnings[2],
        "no entity classifications could be inferred: the topic prompts use the preferred ones (Person, Company)"
      )
    }))

  it.effect("asks again, up to the attempt budget, a call out of quota or answered unreadably", () =>
    Effect.gen(function*() {
      const quota = yield* inferWith(
        chunks(1),
        { preferred: [] },
        () => Effect.fail(new ServiceError.QuotaExceeded({ operation: "ModelRuntime.invoke", message: "busy" }))
      )
      assert.strictEqual(quota.calls, 2)
      assert.match(quota.inference.warnings[0]!, /^the inference round: the on-demand call failed: QuotaExceeded/)
      assert.strictEqual(
        quota.inference.warnings.at(-1),
        "no entity classifications could be inferred: the topic prompts use the preferred ones (none)"
      )
      const unreadable = yield* inferWith(
        chunks(1),
        {},
        (call) => Effect.succeed(call <= 2 ? { nothing: true } : answer(tagged("Vessel")))
      )
      assert.strictEqual(unreadable.calls, 2)
      assert.match(unreadable.inference.warnings[0]!, /^the inference round: unreadable model output: /)
      const late = yield* inferWith(
        chunks(1),
        {},
        (call) => Effect.succeed(call === 1 ? { nothing: true } : answer(tagged("Vessel")))
      )
      assert.deepStrictEqual(late.inference.inferred, ["Vessel"])
    }))

  it.effect("says when the sample is smaller than a round, or than all rounds, and when there is none", () =>
    Effect.gen(function*() {
      const respond = () => Effect.succeed(answer(tagged("Vessel")))
      const one = yield* inferWith(chunks(1), { numSamples: 3 }, respond)
      assert.deepStrictEqual(one.inference.notes, [
        "the sample size (3) is above the run's 1 chunk: every round sampled every chunk"
      ])
      const two = yield* inferWith(chunks(2), { numSamples: 3 }, respond)
      assert.deepStrictEqual(two.inference.notes, [
        "the sample size (3) is above the run's 2 chunks: every round sampled every chunk"
      ])
      const shared = yield* inferWith(chunks(4), { numSamples: 3, numIterations: 2 }, respond)
      assert.deepStrictEqual(shared.inference.notes, [
        "2 rounds of 3 chunks need 6 chunks and the run has 4: the rounds share chunks"
      ])
      for (const n of [3, 6]) {
        const enough = yield* inferWith(chunks(n), { numSamples: 3, numIterations: 2 }, respond)
        assert.deepStrictEqual(enough.inference.notes, [], String(n))
      }
      const none = yield* inferWith([], {}, respond)
      assert.strictEqual(none.calls, 0)
      assert.deepStrictEqual(none.inference.warnings[0], "the run has no chunk to sample")
      assert.isTrue(none.inference.fellBack)
    }))

  it.effect("infers straight from documents, sampling them with the extraction's settings", () =>
    Effect.gen(function*() {
      const batch = yield* config({ maxRecordAttempts: 2 })
      const extraction = yield* ExtractionConfig.make({
        inferNumSamples: 2,
        preferredEntityClassifications: ["Person"]
      })
      const documents = Stream.make(doc("harbour"), doc("railway"), doc("airport"))
      const runtime = scripted(() => Effect.succeed(answer(tagged("Vessel"))))
      const inference = yield* runOnTestClock(
        ClassificationInference.inferFrom(documents, extraction, chunking, batch).pipe(Effect.provide(runtime.layer))
      )
      const expected = yield* ClassificationInference.sample(documents, chunking, 2)
      assert.deepStrictEqual(inference.sampledChunkIds, expected.map((c) => c.id))
      assert.deepStrictEqual(inference.classifications, ["Vessel", "Person"])
      assert.strictEqual(inference.calls, 2)
      assert.strictEqual(runtime.counter.calls, 2)
    }))
})

describe("ClassificationInference.infer, further", () => {
  it.effect("with no chunk to sample: no call, no note on the sample size, only the warnings", () =>
    Effect.gen(function*() {
      const { calls, inference } = yield* inferWith(
        [],
        { numSamples: 3 },
        () => Effect.succeed(answer(tagged("Vessel")))
      )
      assert.strictEqual(calls, 0)
      assert.deepStrictEqual(inference.notes, [])
      assert.strictEqual(inference.warnings[0], "the run has no chunk to sample")
    }))

  it.effect("asks the rounds concurrently, at most the on-demand concurrency at a time", () =>
    Effect.gen(function*() {
      const inFlight = yield* Ref.make(0)
      const most = yield* Ref.make(0)
      const slow = () =>
        Effect.gen(function*() {
          const now = yield* Ref.updateAndGet(inFlight, (n) => n + 1)
          yield* Ref.update(most, (m) => Math.max(m, now))
          yield* Effect.sleep("1 second")
          yield* Ref.update(inFlight, (n) => n - 1)
          return answer(tagged("Vessel"))
        })
      const { calls, inference } = yield* inferWith(
        chunks(3),
        { numSamples: 1, numIterations: 3 },
        slow,
        { onDemandConcurrency: 2 }
      )
      assert.strictEqual(calls, 4)
      assert.deepStrictEqual(inference.inferred, ["Vessel"])
      assert.strictEqual(yield* Ref.get(most), 2)
    }))

  it.effect("says a round was not asked when the settings allow no attempt", () =>
    Effect.gen(function*() {
      const batch = yield* config()
      const runtime = scripted(() => Effect.succeed(answer(tagged("Vessel"))))
      const inference = yield* runOnTestClock(
        ClassificationInference.infer(chunks(1), {
          numSamples: 1,
          numIterations: 1,
          numClassifications: 10,
          preferred: [],
          replacePreferred: false
        }, { ...batch, maxRecordAttempts: 0 }).pipe(Effect.provide(runtime.layer))
      )
      assert.strictEqual(runtime.counter.calls, 0)
      assert.strictEqual(inference.warnings[0], "the inference round: not asked")
    }))

  it.effect("logs the classifications it inferred, or why it fell back with every warning", () =>
    Effect.gen(function*() {
      const inferred = yield* capturingLogs
      yield* inferred.capture(inferWith(chunks(3), {}, () => Effect.succeed(answer(tagged("Vessel", "Port")))))
      assert.deepStrictEqual(inferred.logs.map((log) => log.message), [
        "entity classifications inferred from 3 chunks: Vessel, Port"
      ])
      const fellBack = yield* capturingLogs
      const { inference } = yield* fellBack.capture(
        inferWith(chunks(6), { numIterations: 2 }, (call) => call === 1 ? denied() : Effect.succeed(answer("none")))
      )
      assert.strictEqual(inference.warnings.length, 3)
      assert.deepStrictEqual(fellBack.logs.map((log) => log.message), [
        `entity classifications: none inferred, using the preferred ones (${inference.warnings[0]}; ${
          inference.warnings[1]
        }; ${inference.warnings[2]})`
      ])
    }))
})

type Extraction = Document.Document | Document.ReadResult
