/**
 * Prompt rendering in the small: a template's system part filled like its user turn, a
 * template without one left without one, and the source information of a chunk without
 * metadata.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Prompts from "../../src/extraction/Prompts.ts"

const chunk = { id: "aws::a:b:c", text: "Acme makes widgets.", metadata: {} }

describe("Prompts rendering", () => {
  it("fills the system part as the user turn, and leaves a missing system part out", () => {
    const prompt = Prompts.render(
      { system: "About {source_info}.", user: "{text} / {preferred_topics} / {other}" },
      { source_info: "the source", text: "the text" }
    )
    assert.deepStrictEqual(prompt, { system: "About the source.", user: "the text / {preferred_topics} / {other}" })
    assert.notProperty(Prompts.render({ user: "{text}" }, { text: "x" }), "system")
  })

  it("prints no source information for a chunk without metadata, and nested values as Python does", () => {
    assert.include(Prompts.propositionsPrompt(chunk).user, "Source information:\n\n")
    assert.strictEqual(Prompts.sourceInfo({ tags: ["a", 1], ok: true }), "['a', 1]\nTrue")
  })

  it("offers no preferred classifications as none, not as an empty line", () => {
    const prompt = Prompts.topicsPrompt(chunk, ["Acme makes widgets"], { preferredEntityClassifications: [] })
    assert.notInclude(prompt.user, "Financial Instrument")
    assert.match(prompt.user, /Prefer these classifications:\nnone\n/)
  })

  it("uses a template given for a stage, with the stage's values", () => {
    const propositions = Prompts.propositionsPrompt({ ...chunk, metadata: { title: "T" } }, {
      template: { user: "[{source_info}] {text}" }
    })
    assert.deepStrictEqual(propositions, { user: "[T] Acme makes widgets." })
    const topics = Prompts.topicsPrompt(chunk, [], {
      template: { system: "{preferred_entity_classifications}", user: "{text}|{preferred_topics}" },
      preferredEntityClassifications: ["Company", "Product"],
      preferredTopics: ["Manufacturing"]
    })
    assert.deepStrictEqual(topics, { system: "Company\nProduct", user: "Acme makes widgets.|Manufacturing" })
  })

  it("offers the reference's eleven default entity classifications", () => {
    assert.strictEqual(
      Prompts.defaultEntityClassifications.join(", "),
      "Company, Location, Event, Sports Team, Person, Role, Product, Service, Creative Work, Software, Financial Instrument"
    )
  })

  it("gives both stages a system part that states the task", () => {
    assert.isAbove(Prompts.propositionsPrompt(chunk).system!.length, 20)
    assert.isAbove(Prompts.topicsPrompt(chunk, ["p"]).system!.length, 20)
  })

  it("names the stage placeholders an inference template may not use, one or several", () => {
    assert.match(Prompts.inferenceTemplateProblem({ user: "{text_chunks} {text}" })!, /^\{text\} is not filled in/)
    assert.match(
      Prompts.inferenceTemplateProblem({ system: "{source_info}", user: "{text_chunks} {text}" })!,
      /^\{text\}, \{source_info\} are not filled in/
    )
    assert.isUndefined(Prompts.inferenceTemplateProblem({ user: "{text_chunks} {existing_classifications}" }))
  })
})
