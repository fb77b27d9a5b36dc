/**
 * The topic parser on the variations models produce: values on header lines, header
 * spellings, horizontal rules, empty topic names, repeated entities, half-filled fact lines,
 * and Python's title case.
 */
import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as Topics from "../../src/extraction/Topics.ts"

const fixture = JSON.parse(readFileSync(
  fileURLToPath(new URL("../../../../../shared/fixtures/graphrag-toolkit-extracted-chunk.json", import.meta.url)),
  "utf8"
)) as { metadata: Record<string, unknown> }

const e = Topics.entity
const local = Topics.localEntity

describe("Topics.parse variations", () => {
  it("reads an entity or a fact written on its header line", () => {
    const parsed = Topics.parse(
      "topic: T\nentities: Acme|company\nproposition: Acme makes widgets\nentity-attributes: Acme|MAKES|widgets"
    )
    assert.deepStrictEqual(parsed.diagnostics, [])
    const [topic] = parsed.topics.topics
    assert.deepStrictEqual(topic!.entities, [e("Acme", "Company")])
    assert.deepStrictEqual(topic!.statements[0]!.facts.map((f) => [f.subject, f.predicate.value, f.complement]), [
      [e("Acme", "Company"), "MAKES", local("widgets")]
    ])
  })

  it("accepts relationship headers spelled with spaces, and quoted or bulleted headers", () => {
    const parsed = Topics.parse(
      "> topic: T\n+ entities:\nAcme|Company\nWidget|Product\n• proposition: Acme makes Widget\n" +
        "entity entity relationships:\n+ Acme|MAKES|Widget\n~~proposition:~~ Widget is blue\n" +
        "Entity Attributes:\nWidget|COLOUR|blue"
    )
    assert.deepStrictEqual(parsed.diagnostics, [])
    const statements = parsed.topics.topics[0]!.statements
    assert.deepStrictEqual(statements.map((s) => s.value), ["Acme makes Widget", "Widget is blue"])
    assert.deepStrictEqual(statements[0]!.facts[0]!.object, e("Widget", "Product"))
    assert.deepStrictEqual(statements[1]!.facts[0]!.complement, local("blue"))
  })

  it("strips markdown around header values", () => {
    const parsed = Topics.parse("**Topic:** __Acme history__\nproposition: `Acme exists`  \nentities: ")
    assert.strictEqual(parsed.topics.topics[0]!.value, "Acme history")
    assert.strictEqual(parsed.topics.topics[0]!.statements[0]!.value, "Acme exists")
  })

  it("skips horizontal rules of any of their marks", () => {
    const parsed = Topics.parse("topic: T\n***\n___\n===\n----\nentities:\nAcme|Company\n~~~yaml\n```")
    assert.deepStrictEqual(parsed.diagnostics, [])
    assert.deepStrictEqual(parsed.topics.topics[0]!.entities, [e("Acme", "Company")])
  })

  it("puts a topic without a name in the context topic, and says so", () => {
    const parsed = Topics.parse("topic: \nentities:\nAcme|Company\ntopic: .\nproposition: P")
    assert.deepStrictEqual(parsed.topics.topics.map((t) => t.value), ["context", "context"])
    assert.deepStrictEqual(parsed.diagnostics, [
      { line: 1, text: "topic:", reason: "EmptyValue" },
      { line: 4, text: "topic: .", reason: "EmptyValue" }
    ])
  })

  it("keeps the first classification of an entity declared twice in a topic", () => {
    const parsed = Topics.parse("topic: T\nentities:\nAcme|Company\nAcme|Person\nThe Acme|Place")
    assert.deepStrictEqual(parsed.topics.topics[0]!.entities, [e("Acme", "Company")])
  })

  it("makes a detail of a fact line with a missing part, and reports a line with nothing in it", () => {
    const parsed = Topics.parse("topic: T\nproposition: P\nAcme||Widget\nAcme|MAKES\n | | \n-")
    const statement = parsed.topics.topics[0]!.statements[0]!
    assert.deepStrictEqual(statement.facts, [])
    assert.deepStrictEqual(statement.details, ["Acme Widget", "Acme MAKES", "-"])
    assert.deepStrictEqual(parsed.diagnostics, [{ line: 5, text: "| |", reason: "NoStatement" }])
  })

  it("normalises the parts of a fact line: underscores and runs of spaces", () => {
    const parsed = Topics.parse("topic: T\nentities:\nAcme  Corp|Company\nproposition: P\nAcme_Corp|HAS__A|big   plant")
    const [fact] = parsed.topics.topics[0]!.statements[0]!.facts
    assert.deepStrictEqual(fact!.subject, e("Acme Corp", "Company"))
    assert.strictEqual(fact!.predicate.value, "HAS A")
    assert.deepStrictEqual(fact!.complement, local("big plant"))
  })

  it("keeps a topic that has statements but no entities, and one that has entities only", () => {
    const parsed = Topics.parse("topic: A\nproposition: P\ntopic: B\nentities:\nAcme|Company")
    assert.deepStrictEqual(parsed.topics.topics.map((t) => t.value), ["A", "B"])
    assert.deepStrictEqual(parsed.diagnostics, [])
  })

  it("reports an answer of only blank lines as empty, not as unexpected", () => {
    assert.deepStrictEqual(Topics.parse("  \n\t\n").diagnostics, [{ line: 0, text: "", reason: "EmptyOutput" }])
  })

  it("cleans entity values: one leading article of any case, a trailing parenthesis, spaces", () => {
    assert.strictEqual(Topics.cleanEntity("AN   apple (fruit) "), "apple")
    assert.strictEqual(Topics.cleanEntity("The the_thing"), "the thing")
    assert.strictEqual(Topics.cleanEntity("Theatre"), "Theatre")
    assert.strictEqual(Topics.cleanEntity("a"), "a")
    assert.strictEqual(Topics.cleanEntity("Anna (x) y"), "Anna (x) y")
  })

  it("title-cases as Python does around apostrophes, digits and non-Latin letters", () => {
    assert.strictEqual(Topics.pythonTitle("they're bill's friends"), "They'Re Bill'S Friends")
    assert.strictEqual(Topics.pythonTitle("hELLO wORLD"), "Hello World")
    assert.strictEqual(Topics.pythonTitle("élan vital"), "Élan Vital")
    assert.strictEqual(Topics.formatClassification("  sports_team "), "Sports Team")
  })

  it("decodes the reference's topics field for field, local entities classified as the reference does", () => {
    const topics = fixture.metadata[Topics.metadataKey]
    assert.deepStrictEqual(Schema.decodeUnknownSync(Topics.TopicCollection)(topics), topics)
    const classifications = new Set(
      (topics as Topics.TopicCollection).topics.flatMap((t) =>
        t.statements.flatMap((s) => s.facts.flatMap((f) => f.complement === null ? [] : [f.complement.classification]))
      )
    )
    assert.deepStrictEqual([...classifications], [Topics.localEntityClassification])
  })

  it("reads a header only at the start of a line, with or without spaces around its colon", () => {
    const parsed = Topics.parse(
      "topic:Acme\nentities :\nAcme|Company\nproposition: Acme grew\nIts main topic: growth\ntopic : Second\nproposition: B"
    )
    assert.deepStrictEqual(parsed.topics.topics.map((t) => t.value), ["Acme", "Second"])
    assert.deepStrictEqual(parsed.topics.topics[0]!.statements[0]!.details, ["Its main topic: growth"])
    assert.deepStrictEqual(parsed.diagnostics, [])
  })

  it("ignores only whole lines of fences and rules, and strips a bullet only at the start", () => {
    const parsed = Topics.parse(
      "topic: T\nentities:\nAcme - Corp|Company\nproposition: P\nAcme - Corp|RATING|***\n=== note\n`x` is code\n~x is approximate"
    )
    const [topic] = parsed.topics.topics
    assert.deepStrictEqual(topic!.entities, [e("Acme - Corp", "Company")])
    const statement = topic!.statements[0]!
    assert.deepStrictEqual(statement.facts[0]!.complement, local("***"))
    assert.deepStrictEqual(statement.details, ["=== note", "`x` is code", "~x is approximate"])
  })

  it("refuses an entity line without a classification", () => {
    const parsed = Topics.parse("topic: T\nentities:\nAcme|\nBolt|Product")
    assert.deepStrictEqual(parsed.diagnostics, [{ line: 3, text: "Acme|", reason: "UnparseableEntity" }])
    assert.deepStrictEqual(parsed.topics.topics[0]!.entities, [e("Bolt", "Product")])
  })

  it("cleans an entity with its parenthesis attached, and spaces around it", () => {
    assert.strictEqual(Topics.cleanEntity("Acme(x)"), "Acme")
    assert.strictEqual(Topics.cleanEntity("  Acme  "), "Acme")
  })
})
