/**
 * The proposition parser on the markdown models add: tilde fences, every bullet and numbering
 * style, and lines that only look like list items.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Propositions from "../../src/extraction/Propositions.ts"

describe("Propositions.parse on markdown", () => {
  it("ignores tilde fences and fences of more than three marks, but not shorter runs", () => {
    const parsed = Propositions.parse("~~~\nTitle\n````text\nAcme exists\n``\n~~~~")
    assert.strictEqual(parsed.title, "Title")
    assert.deepStrictEqual(parsed.propositions, ["Acme exists", "``"])
  })

  it("removes every bullet style and numbering of up to three digits", () => {
    const parsed = Propositions.parse(
      "Title\n• Acme makes widgets\n+ Acme sells widgets\n2) Acme was founded in 1990\n" +
        "10. Acme has ten plants\n999) Acme has many staff"
    )
    assert.deepStrictEqual(parsed.propositions, [
      "Acme makes widgets",
      "Acme sells widgets",
      "Acme was founded in 1990",
      "Acme has ten plants",
      "Acme has many staff"
    ])
  })

  it("keeps lines that only look like list items", () => {
    const parsed = Propositions.parse(
      "Title\n1.5 million widgets were sold\n-Acme is hyphenated\n2024. was a good year\n*emphasis* stays"
    )
    assert.deepStrictEqual(parsed.propositions, [
      "1.5 million widgets were sold",
      "-Acme is hyphenated",
      "2024. was a good year",
      "*emphasis* stays"
    ])
  })

  it("cleans the title of heading marks, emphasis and a Title label in any case", () => {
    assert.strictEqual(Propositions.parse("### __TITLE:__ Acme").title, "Acme")
    assert.strictEqual(Propositions.parse("#Acme history").title, "Acme history")
    assert.strictEqual(Propositions.parse("*Acme*").title, "Acme")
    assert.strictEqual(Propositions.parse("Title : Acme").title, "Acme")
    assert.strictEqual(Propositions.parse("Subtitle: Acme").title, "Subtitle: Acme")
  })

  it("numbers a duplicate by its line in the answer, blank lines counted", () => {
    const parsed = Propositions.parse("Title\r\n\r\nA fact\r\n\r\n- A fact")
    assert.deepStrictEqual(parsed.propositions, ["A fact"])
    assert.deepStrictEqual(parsed.diagnostics, [{ line: 5, text: "- A fact", reason: "Duplicate" }])
  })

  it("ignores fences only at the start of a line, and keeps marks that are not fences", () => {
    const parsed = Propositions.parse(
      "Title\nUse ``` to open a code block\n`code` is short\n~5 units were sold\nAcme - the company - grew"
    )
    assert.deepStrictEqual(parsed.propositions, [
      "Use ``` to open a code block",
      "`code` is short",
      "~5 units were sold",
      "Acme - the company - grew"
    ])
  })

  it("keeps marks inside a title, and a title that only starts with the word Title", () => {
    assert.strictEqual(Propositions.parse("C# in depth").title, "C# in depth")
    assert.strictEqual(Propositions.parse("The snake_case convention").title, "The snake_case convention")
    assert.strictEqual(Propositions.parse("Title of the report: Acme").title, "Title of the report: Acme")
    assert.strictEqual(Propositions.parse("Title **: Acme").title, "Acme")
  })

  it("removes a Title label with no space after its colon or spaced from it, but not a longer word", () => {
    assert.strictEqual(Propositions.parse("Title:Acme history").title, "Acme history")
    assert.strictEqual(Propositions.parse("**Title** : Acme").title, "Acme")
    assert.strictEqual(Propositions.parse("Titles: Acme").title, "Titles: Acme")
  })

  it("keeps every non-empty line after the title verbatim, whatever its wording", () => {
    const lines = ["Stryker was here!", "Nothing happened", "-", "1."]
    const parsed = Propositions.parse(["Title", ...lines].join("\n"))
    assert.deepStrictEqual(parsed.propositions, lines)
    assert.deepStrictEqual(parsed.diagnostics, [])
  })
})
