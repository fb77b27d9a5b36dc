import { assert, describe, it } from "@effect/vitest"
import * as Propositions from "../../src/extraction/Propositions.ts"

describe("Propositions.parse", () => {
  it("drops the title, empty lines and exact duplicates, keeping order (golden)", () => {
    const parsed = Propositions.parse(`Propositions about Amazon Neptune DB clusters

  Amazon Neptune DB cluster has one primary DB instance
The primary DB instance is responsible for writing graph database contents
Amazon Neptune DB cluster has one primary DB instance
The meeting starts at 10:30.\r
`)
    assert.strictEqual(parsed.title, "Propositions about Amazon Neptune DB clusters")
    assert.deepStrictEqual(parsed.propositions, [
      "Amazon Neptune DB cluster has one primary DB instance",
      "The primary DB instance is responsible for writing graph database contents",
      "The meeting starts at 10:30."
    ])
    assert.deepStrictEqual(parsed.diagnostics, [
      { line: 5, text: "Amazon Neptune DB cluster has one primary DB instance", reason: "Duplicate" }
    ])
  })

  it("tolerates markdown: heading title, code fences, bullets and numbering", () => {
    const parsed = Propositions.parse(
      "```\n## **Title:** Acme history\n1. Acme was founded in 1990\n- Acme makes widgets\n* Acme makes widgets\n```"
    )
    assert.strictEqual(parsed.title, "Acme history")
    assert.deepStrictEqual(parsed.propositions, ["Acme was founded in 1990", "Acme makes widgets"])
    assert.deepStrictEqual(parsed.diagnostics.map((d) => d.reason), ["Duplicate"])
  })

  it("reports an empty answer", () => {
    const parsed = Propositions.parse(" \n\n")
    assert.deepStrictEqual(parsed, {
      title: undefined,
      propositions: [],
      diagnostics: [{ line: 0, text: "", reason: "EmptyOutput" }]
    })
    assert.deepStrictEqual(Propositions.parse("Only a title").propositions, [])
  })

  it("feeds the topic stage the propositions, or the chunk text when there are none", () => {
    assert.strictEqual(Propositions.topicsInput(["a", "b"], "text"), "a\nb")
    assert.strictEqual(Propositions.topicsInput([], "text"), "text")
    assert.strictEqual(Propositions.topicsInput(undefined, "text"), "text")
  })
})
