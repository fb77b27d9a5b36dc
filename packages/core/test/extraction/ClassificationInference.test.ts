/**
 * Entity-classification inference (the reference's `InferClassifications`), through
 * `Extraction.extract` on the simulated backend under TestClock: the inferred classifications
 * reach every topic prompt and the extracted entities; nothing usable falls back to the
 * preferred ones with a warning; a sample size above the run's chunks samples every chunk with
 * a note; bad settings are refused before anything is sent.
 */
import {
  Chunker,
  ClassificationInference,
  Document,
  Extraction,
  ExtractionConfig,
  ExtractionSummary,
  type ModelFamily,
  Prompts
} from "@batch-extract/core"
import { OfflineModel } from "@batch-extract/core/testing"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Result, Stream } from "effect"
import { config, makeEnv, runOnTestClock } from "../support.ts"

const agencies = ["Department of Energy", "Department of Labor", "Federal Reserve Board"]
const laws = ["Clean Air Act", "Social Security Act", "Patriot Act"]
const countries = ["Canada", "Mexico", "Japan"]

/** A document about agencies, laws and countries (classifications the defaults do not have). */
const policyDocument = (i: number): Document.Document =>
  Document.make(
    Array.from({ length: 4 }, (_, s) => {
      const n = i + s
      return `The ${agencies[n % agencies.length]} enforced the ${laws[n % laws.length]} in ${
        countries[n % countries.length]
      } during ${2000 + n}. ` +
        `Senator Alice Smith praised the ${laws[(n + 1) % laws.length]} before the Senate.`
    }).join(" "),
    { metadata: { title: `Policy ${i}` } }
  )

const documents = (n: number) => Stream.fromIterable(Array.from({ length: n }, (_, i) => policyDocument(i)))

/** The prompts the on-demand runtime was asked, by kind. */
interface Asked {
  readonly inference: Array<string>
  readonly ranking: Array<string>
  readonly topics: Array<string>
}

/** A runtime answer that records every prompt, then answers as the offline model (or `answer`). */
const recording = (asked: Asked, answer?: (prompt: string) => string | undefined) =>
(
  family: ModelFamily.ModelFamily,
  body: unknown
): Result.Result<unknown, string> => {
  const request = OfflineModel.readRequest(family, body)
  if (Result.isFailure(request)) return request
  const prompt = request.success.prompt
  if (prompt.includes("<chunk>")) asked.inference.push(prompt)
  else if (prompt.includes("<classifications>")) asked.ranking.push(prompt)
  else if (prompt.includes("<propositions>")) asked.topics.push(prompt)
  const replaced = answer?.(prompt)
  if (replaced === undefined) return OfflineModel.respond(family, body)
  return Result.succeed(
    OfflineModel.toResponse(family, replaced, { inputTokens: 10, outputTokens: 5 }, false)
  )
}

const extract = (options: {
  readonly documents: number
  readonly extraction?: Extraction.ExtractionConfigInput
  readonly classifications?: ReadonlyArray<string>
  readonly answer?: (prompt: string) => string | undefined
  readonly batch?: Parameters<typeof config>[0]
}) =>
  Effect.gen(function*() {
    const asked: Asked = { inference: [], ranking: [], topics: [] }
    const batch = yield* config({ maxBatchSize: 500, deleteOnSuccess: false, ...options.batch })
    const extraction = yield* Extraction.decodeConfig({ chunkSize: 48, chunkOverlap: 0, ...options.extraction })
    const env = yield* makeEnv({ runtime: { respond: recording(asked, options.answer) } })
    const [chunks, summary] = yield* runOnTestClock(
      ExtractionSummary.collect(
        Stream.runCollect(
          Extraction.extract(documents(options.documents), {
            batch,
            extraction,
            runId: "infer",
            classifications: options.classifications
          })
        )
      ).pipe(Effect.provide(env.layer))
    )
    return { chunks, summary, env, asked }
  })

/** The classifications a topic prompt offers (the lines of its "Prefer these classifications" list). */
const offered = (prompt: string): Array<string> => {
  const start = prompt.indexOf("Prefer these classifications:\n") + "Prefer these classifications:\n".length
  const end = prompt.indexOf("\n- When none of them fits", start)
  return prompt.slice(start, end).split("\n")
}

const entityClassifications = (chunks: ReadonlyArray<Extraction.ExtractedChunk>) =>
  new Set(chunks.flatMap((c) => c.topics.topics.flatMap((t) => t.entities.map((e) => e.classification ?? ""))))

describe("ClassificationInference", () => {
  it.effect("inferred classifications reach every topic prompt and the extracted entities (on demand)", () =>
    Effect.gen(function*() {
      const { asked, chunks, env, summary } = yield* extract({
        documents: 6,
        extraction: { inferEntityClassifications: true }
      })
      const inference = summary.classifications!
      assert.isDefined(inference)
      assert.isFalse(inference.fellBack)
      assert.deepStrictEqual(inference.warnings, [])
      assert.deepStrictEqual(inference.notes, [])
      for (const name of ["Government Body", "Legislation", "Country"]) assert.include(inference.inferred, name)
      // Merged: the inferred ones, then the preferred ones not among them.
      assert.deepStrictEqual(
        inference.classifications,
        ClassificationInference.merge(inference.inferred, Prompts.defaultEntityClassifications)
      )
      // One round of 5 chunks, one ranking call: the reference's defaults.
      // The sample: the run's first five chunks, in input order.
      const inOrder = yield* Effect.forEach(
        Array.from({ length: 6 }, (_, i) => policyDocument(i)),
        (document) => Chunker.chunk(document, { chunkSize: 48, chunkOverlap: 0 })
      )
      assert.deepStrictEqual(inference.sampledChunkIds, inOrder.flat().slice(0, 5).map((chunk) => chunk.id))
      assert.strictEqual(inference.calls, 2)
      assert.strictEqual(asked.inference.length, 1)
      assert.strictEqual(asked.ranking.length, 1)
      // The round prompt: the reference's, with the sample and the preferred classifications.
      assert.include(asked.inference[0]!, "identify the 5 most significant entity classifications for this domain")
      assert.include(
        asked.inference[0]!,
        `<existing_classifications>\n${Prompts.defaultEntityClassifications.join("\n")}\n</existing_classifications>`
      )
      // Every topic prompt offers exactly the run's classifications.
      assert.strictEqual(asked.topics.length, chunks.length)
      for (const prompt of asked.topics) assert.deepStrictEqual(offered(prompt), [...inference.classifications])
      // The extracted entities carry them (the defaults have none of these).
      const found = entityClassifications(chunks)
      for (const name of ["Government Body", "Legislation", "Country"]) assert.isTrue(found.has(name), name)
      const act = chunks.flatMap((c) => c.topics.topics.flatMap((t) => t.entities))
        .find((e) => e.value === "Clean Air Act")
      assert.strictEqual(act?.classification, "Legislation")
      // Every record on demand (fewer than 100 chunks), plus the two inference calls.
      assert.strictEqual(yield* env.runtime.calls, chunks.length * 2 + 2)
      assert.deepStrictEqual(ExtractionSummary.toJson(summary).classifications, inference)
    }))

  it.effect("inferred classifications reach the topic records of batch jobs and their entities", () =>
    Effect.gen(function*() {
      const { chunks, env, summary } = yield* extract({
        documents: 60,
        extraction: { inferEntityClassifications: true, inferNumIterations: 2, inferNumSamples: 3 }
      })
      assert.isAtLeast(chunks.length, 100)
      const inference = summary.classifications!
      // Two rounds of three chunks (the first six of the run), then the ranking call.
      assert.strictEqual(inference.sampledChunkIds.length, 6)
      assert.strictEqual(inference.calls, 3)
      assert.strictEqual(summary.records.onDemand, 0, "every record in a batch job")
      const counters = yield* env.sim.counters
      assert.strictEqual(counters.jobsCreated, 2)
      // The staged topic records (kept: deleteOnSuccess false) offer the inferred classifications.
      const staged = [...(yield* env.store.objects).entries()]
        .filter(([key]) => key.includes("/input/"))
        .map(([, object]) => new TextDecoder().decode(object.bytes))
        .filter((text) => text.includes("<propositions>"))
      const lines = staged.flatMap((text) => text.split("\n").filter((line) => line !== ""))
      assert.strictEqual(lines.length, chunks.length)
      for (const line of lines) {
        const body = JSON.parse(line) as { modelInput: { messages: ReadonlyArray<{ content: string }> } }
        const prompt = JSON.stringify(body.modelInput)
        for (const name of inference.classifications) assert.include(prompt, `\\n${name}\\n`)
      }
      const found = entityClassifications(chunks)
      for (const name of inference.inferred.filter((name) => name !== "Role" && name !== "Person")) {
        assert.isTrue(found.has(name), name)
      }
    }))

  it.effect("off (the default): no inference call, the preferred classifications, none of the inferred", () =>
    Effect.gen(function*() {
      const { asked, chunks, env, summary } = yield* extract({ documents: 6 })
      assert.isUndefined(summary.classifications)
      assert.notProperty(ExtractionSummary.toJson(summary), "classifications")
      assert.strictEqual(asked.inference.length + asked.ranking.length, 0)
      assert.strictEqual(yield* env.runtime.calls, chunks.length * 2)
      for (const prompt of asked.topics) {
        assert.deepStrictEqual(offered(prompt), [...Prompts.defaultEntityClassifications])
      }
      const found = entityClassifications(chunks)
      for (const name of ["Government Body", "Legislation", "Country"]) assert.isFalse(found.has(name), name)
    }))

  it.effect("classifications given (inferred before, e.g. by a durable run) are used without asking", () =>
    Effect.gen(function*() {
      const given = ["Legislation", "Country"]
      const { asked, summary } = yield* extract({
        documents: 3,
        extraction: { inferEntityClassifications: true },
        classifications: given
      })
      assert.strictEqual(asked.inference.length + asked.ranking.length, 0)
      assert.isUndefined(summary.classifications)
      for (const prompt of asked.topics) assert.deepStrictEqual(offered(prompt), given)
    }))

  it.effect("the model answering nothing usable: the preferred classifications and a warning; the run goes on", () =>
    Effect.gen(function*() {
      const { asked, chunks, summary } = yield* extract({
        documents: 4,
        extraction: {
          inferEntityClassifications: true,
          preferredEntityClassifications: ["Person", "Location"]
        },
        answer: (prompt) => prompt.includes("<chunk>") ? "I cannot tell which classifications fit." : undefined
      })
      const inference = summary.classifications!
      assert.isTrue(inference.fellBack)
      assert.deepStrictEqual(inference.inferred, [])
      assert.deepStrictEqual(inference.classifications, ["Person", "Location"])
      assert.strictEqual(inference.calls, 1, "nothing to rank: no ranking call")
      assert.strictEqual(asked.ranking.length, 0)
      assert.strictEqual(inference.warnings.length, 2)
      assert.match(inference.warnings[0]!, /no classifications between <entity_classifications> tags/)
      assert.match(inference.warnings[1]!, /use the preferred ones \(Person, Location\)/)
      for (const prompt of asked.topics) assert.deepStrictEqual(offered(prompt), ["Person", "Location"])
      assert.isAbove(chunks.length, 0)
      assert.isTrue(chunks.every((c) => c.failures.length === 0 && c.topics.topics.length > 0))
      assert.strictEqual(summary.records.failed, 0)
    }))

  it.effect("a failing inference call: the preferred classifications and a warning naming the error", () =>
    Effect.gen(function*() {
      const env = yield* makeEnv({
        runtime: {
          respond: (family, body) => {
            const request = OfflineModel.readRequest(family, body)
            return Result.isSuccess(request) && request.success.prompt.includes("<chunk>")
              ? Result.fail("the model refused the request")
              : OfflineModel.respond(family, body)
          }
        }
      })
      const batch = yield* config()
      const extraction = yield* Extraction.decodeConfig({ inferEntityClassifications: true })
      const [chunks, summary] = yield* runOnTestClock(
        ExtractionSummary.collect(
          Stream.runCollect(Extraction.extract(documents(2), { batch, extraction, runId: "refused" }))
        ).pipe(Effect.provide(env.layer))
      )
      const inference = summary.classifications!
      assert.isTrue(inference.fellBack)
      assert.deepStrictEqual(inference.classifications, Prompts.defaultEntityClassifications)
      // Not retryable (a validation error): asked once.
      assert.strictEqual(inference.calls, 1)
      assert.match(inference.warnings[0]!, /the on-demand call failed: InvalidRequest.*the model refused the request/)
      assert.isTrue(chunks.every((c) => c.failures.length === 0))
    }))

  it.effect("a sample size above the run's chunks samples every chunk, with a note", () =>
    Effect.gen(function*() {
      const { asked, chunks, summary } = yield* extract({
        documents: 1,
        extraction: { inferEntityClassifications: true, inferNumSamples: 50, inferNumIterations: 2 }
      })
      const inference = summary.classifications!
      assert.isBelow(chunks.length, 50)
      assert.sameMembers([...inference.sampledChunkIds], chunks.map((c) => c.chunk.id))
      assert.deepStrictEqual(inference.notes, [
        `the sample size (50) is above the run's ${chunks.length} chunks: every round sampled every chunk`
      ])
      // Both rounds sampled every chunk, each chunk once per round.
      assert.strictEqual(asked.inference.length, 2)
      for (const prompt of asked.inference) {
        assert.strictEqual(prompt.split("<chunk>").length - 1, chunks.length)
        for (const chunk of chunks) assert.include(prompt, `<chunk>${chunk.chunk.text}</chunk>`)
      }
      assert.isFalse(inference.fellBack)
    }))

  it.effect("bad input: a sample size of zero or below, a malformed prompt template — refused before anything is sent", () =>
    Effect.gen(function*() {
      const refused = (input: Extraction.ExtractionConfigInput) =>
        Effect.map(Effect.flip(Extraction.decodeConfig(input)), (error) => error.issues)
      for (const inferNumSamples of [0, -3, 2.5]) {
        const issues = yield* refused({ inferEntityClassifications: true, inferNumSamples })
        assert.deepStrictEqual(issues, [{
          path: "extraction.inferNumSamples",
          message: `must be a whole number of at least 1, got ${inferNumSamples}`
        }])
      }
      assert.deepStrictEqual(yield* refused({ inferNumIterations: 0, inferNumClassifications: 0 }), [
        { path: "extraction.inferNumIterations", message: "must be a whole number of at least 1, got 0" },
        { path: "extraction.inferNumClassifications", message: "must be a whole number of at least 1, got 0" }
      ])
      assert.deepStrictEqual(
        yield* refused({ inferClassificationsPrompt: { user: "Name the classifications of {text}." } }),
        [{
          path: "extraction.inferClassificationsPrompt",
          message: "the template has no {text_chunks} placeholder (the sampled chunks)"
        }]
      )
      assert.deepStrictEqual(
        yield* refused({ inferClassificationsPrompt: { user: "{text_chunks} {preferred_topics} {text}" } }),
        [{
          path: "extraction.inferClassificationsPrompt",
          message: "{text}, {preferred_topics} are not filled in in this prompt (its placeholders are {text_chunks} " +
            "and {existing_classifications})"
        }]
      )
      // From the environment too, under the names the declarations derive.
      const fromEnv = yield* Effect.flip(ExtractionConfig.config.parse(ConfigProvider.fromUnknown({
        BATCH_EXTRACT_INFER_ENTITY_CLASSIFICATIONS: "true",
        BATCH_EXTRACT_INFER_NUM_SAMPLES: "0"
      })))
      assert.match(
        fromEnv.cause.message,
        /extraction\.inferNumSamples: must be a whole number of at least 1, got 0\n {2}at \["BATCH_EXTRACT_INFER_NUM_SAMPLES"\]/
      )
      const malformed = yield* refused({ inferClassificationsPrompt: { system: "no user turn" } as never })
      assert.strictEqual(malformed[0]?.path, "extraction.inferClassificationsPrompt.user")
      // A custom template that is fine is used as given.
      const extraction = yield* Extraction.decodeConfig({
        inferEntityClassifications: true,
        inferClassificationsPrompt: {
          user: "Known: {existing_classifications}\n{text_chunks}\nAnswer between <entity_classifications> tags."
        }
      })
      const prompt = ClassificationInference.roundPrompt(
        [{ id: "c1", text: "The Senate met." }],
        ClassificationInference.optionsOf(extraction)
      )
      assert.strictEqual(
        prompt.user,
        `Known: ${
          Prompts.defaultEntityClassifications.join("\n")
        }\n<chunk>The Senate met.</chunk>\nAnswer between <entity_classifications> tags.`
      )
    }))

  it("parses the reference's format: the lines between the first tags, trimmed, deduplicated, title-cased", () => {
    assert.deepStrictEqual(
      ClassificationInference.parse(
        "Here they are:\n<entity_classifications>\n  government_body \n\n- Legislation\n2. country\n" +
          "**Political Party**\nlegislation\n</entity_classifications>\n<entity_classifications>\nIgnored\n" +
          "</entity_classifications>"
      ),
      ["Government Body", "Legislation", "Country", "Political Party"]
    )
    assert.deepStrictEqual(ClassificationInference.parse("Person\nPlace"), [])
    assert.deepStrictEqual(ClassificationInference.parse("<entity_classifications>\n</entity_classifications>"), [])
  })

  it("rounds take N chunks each from chunk i·N on, wrapping around when the run has fewer", () => {
    const chunks = Array.from({ length: 7 }, (_, i) => ({ id: `c${i}`, text: `text ${i}` }))
    const ids = (rounds: ReadonlyArray<ReadonlyArray<{ readonly id: string }>>) =>
      rounds.map((round) => round.map((chunk) => chunk.id))
    assert.deepStrictEqual(ids(ClassificationInference.rounds(chunks, { numSamples: 3, numIterations: 2 })), [
      ["c0", "c1", "c2"],
      ["c3", "c4", "c5"]
    ])
    assert.deepStrictEqual(ids(ClassificationInference.rounds(chunks, { numSamples: 3, numIterations: 3 })), [
      ["c0", "c1", "c2"],
      ["c3", "c4", "c5"],
      ["c6", "c0", "c1"]
    ])
    assert.deepStrictEqual(
      ids(ClassificationInference.rounds(chunks.slice(0, 2), { numSamples: 5, numIterations: 2 })),
      [
        ["c0", "c1"],
        ["c0", "c1"]
      ]
    )
    assert.deepStrictEqual(ClassificationInference.rounds([], { numSamples: 5, numIterations: 1 }), [])
  })

  it("the offline model answers the inference and ranking prompts in the reference's format", () => {
    const sample = ["The Department of Energy enforced the Clean Air Act in Canada. Senator Alice Smith spoke."]
    const inferred = OfflineModel.answer(
      ClassificationInference.roundPrompt(sample.map((text, i) => ({ id: `c${i}`, text })), {
        preferred: ["role", "Location"]
      }).user
    )
    // Most frequent first, ties in rule order; an existing classification keeps its spelling.
    assert.strictEqual(
      inferred,
      "<entity_classifications>\nLegislation\nGovernment Body\nCountry\nrole\n</entity_classifications>"
    )
    const ranked = OfflineModel.answer(
      ClassificationInference.rankPrompt(["Country", "Laws", "Law", "country"]).user
    )
    assert.strictEqual(ranked, "<entity_classifications>\nCountry\nLaw\n</entity_classifications>")
    assert.deepStrictEqual(ClassificationInference.parse(ranked), ["Country", "Law"])
  })
})
