import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import * as ModelFamily from "../../src/engine/ModelFamily.ts"
import * as Chunker from "../../src/extraction/Chunker.ts"
import * as Document from "../../src/extraction/Document.ts"
import * as Prompts from "../../src/extraction/Prompts.ts"
import * as Propositions from "../../src/extraction/Propositions.ts"
import * as Topics from "../../src/extraction/Topics.ts"
import * as OfflineModel from "../../src/testing/OfflineModel.ts"

const chunk = {
  id: "aws::12345678:abcd:87654321",
  text: "Amazon Neptune is a graph database service. It supports Gremlin and SPARQL.",
  metadata: { title: "Neptune", url: "https://example.com/neptune", year: 2025, draft: false }
}

const between = (text: string, open: string, close: string) => {
  assert.strictEqual(text.split(open).length, 2, `${open} appears once`)
  return text.slice(text.indexOf(open) + open.length, text.indexOf(close))
}

describe("Prompts", () => {
  it("stage 1 holds the chunk text between <text> tags and the source information", () => {
    const prompt = Prompts.propositionsPrompt(chunk)
    assert.strictEqual(between(prompt.user, "<text>", "</text>").trim(), chunk.text)
    assert.include(prompt.user, "Neptune\nhttps://example.com/neptune\n2025\nFalse")
    assert.isString(prompt.system)
    assert.notInclude(`${prompt.system}${prompt.user}`, "<propositions>")
    assert.notInclude(prompt.system!, "<text>")
  })

  it("stage 2 holds the propositions one per line, the 11 default classifications and no preferred topics", () => {
    const prompt = Prompts.topicsPrompt(chunk, ["Amazon Neptune is a service", "Amazon Neptune supports Gremlin"])
    assert.strictEqual(
      between(prompt.user, "<propositions>", "</propositions>").trim(),
      "Amazon Neptune is a service\nAmazon Neptune supports Gremlin"
    )
    assert.include(prompt.user, Prompts.defaultEntityClassifications.join("\n"))
    assert.strictEqual(Prompts.defaultEntityClassifications.length, 11)
    assert.include(prompt.user, "Preferred topics:\nnone")
    assert.notInclude(`${prompt.system}${prompt.user}`, "<text>")
  })

  it("stage 2 runs on the chunk text when there are no propositions, with the given preferences", () => {
    const prompt = Prompts.topicsPrompt(chunk, undefined, {
      preferredEntityClassifications: ["Database"],
      preferredTopics: ["Graph databases", "Query languages"]
    })
    assert.strictEqual(between(prompt.user, "<propositions>", "</propositions>").trim(), chunk.text)
    assert.include(prompt.user, "Preferred topics:\nGraph databases\nQuery languages")
    assert.notInclude(prompt.user, "Financial Instrument")
  })

  it("renders overriding templates in one pass and checks they have {text}", () => {
    const template = { user: "Info: {source_info}\nText: {text}\nKeep {braces} and {unknown}." }
    const prompt = Prompts.propositionsPrompt({ ...chunk, text: "literal {source_info} in text" }, { template })
    assert.deepStrictEqual(prompt, {
      user:
        "Info: Neptune\nhttps://example.com/neptune\n2025\nFalse\nText: literal {source_info} in text\nKeep {braces} and {unknown}."
    })
    assert.isUndefined(Prompts.templateProblem(template))
    assert.isString(Prompts.templateProblem({ user: "no placeholder" }))
  })

  it("builds batch records keyed by chunk id in the family's body shape", () => {
    const record = Prompts.propositionsRecord(chunk, ModelFamily.anthropic, { maxTokens: 4096, temperature: 0 })
    assert.strictEqual(record.recordId, chunk.id)
    assert.strictEqual(record.modelInput.max_tokens, 4096)
    assert.isString(record.modelInput.system)
    const nova = Prompts.topicsRecord(chunk, ["p"], ModelFamily.nova, { maxTokens: 2048 })
    assert.strictEqual(nova.recordId, chunk.id)
    assert.deepStrictEqual(nova.modelInput.inferenceConfig, { maxTokens: 2048 })
  })
})

/** One model call through the offline model, as the simulated services make it. */
const call = (family: ModelFamily.ModelFamily, record: Prompts.StageRecord): string => {
  const response = Result.getOrThrow(OfflineModel.respond(family, record.modelInput))
  return Result.getOrThrow(family.readOutput(response)).text
}

describe("the offline model answers our prompts in a shape our parsers read", () => {
  const text =
    `Amazon Neptune is a fast, reliable, fully managed graph database service. It supports the Gremlin and SPARQL query languages. Neptune stores data in a cluster volume across three Availability Zones in an AWS Region. Mr. Smith of the U.S. Department of Energy said Neptune processed 1,000 queries at 10:30 on Monday.`

  for (const family of [ModelFamily.anthropic, ModelFamily.nova, ModelFamily.llama, ModelFamily.converse]) {
    it.effect(`round trip through both stages (${family.name})`, () =>
      Effect.gen(function*() {
        const [first] = yield* Chunker.chunk(Document.make(text, { metadata: { title: "Neptune" } }))
        const parameters = { maxTokens: 4096, temperature: 0 }
        const propositions = Propositions.parse(call(family, Prompts.propositionsRecord(first!, family, parameters)))
        assert.deepStrictEqual(propositions.diagnostics, [])
        assert.strictEqual(propositions.propositions.length, 4)
        assert.include(propositions.propositions, "Amazon Neptune supports the Gremlin and SPARQL query languages.")
        const topics = Topics.parse(
          call(family, Prompts.topicsRecord(first!, propositions.propositions, family, parameters))
        )
        assert.deepStrictEqual(topics.diagnostics, [])
        const [topic] = topics.topics.topics
        assert.strictEqual(topic!.statements.length, 4)
        assert.isAbove(topic!.entities.length, 3)
        const facts = topic!.statements.flatMap((s) => s.facts)
        assert.isTrue(facts.some((f) => f.object !== null && f.object.value === "Gremlin"))
        assert.isTrue(facts.some((f) => f.complement?.value === "1,000"))
        // Without propositions the topic stage reads the chunk text, sentence by sentence.
        const fromText = Topics.parse(call(family, Prompts.topicsRecord(first!, undefined, family, parameters)))
        assert.deepStrictEqual(fromText.diagnostics, [])
        assert.strictEqual(fromText.topics.topics[0]!.statements.length, 4)
      }))
  }
})
