import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as Topics from "../../src/extraction/Topics.ts"

const fixturePath = fileURLToPath(
  new URL("../../../../../shared/fixtures/graphrag-toolkit-extracted-chunk.json", import.meta.url)
)

const e = Topics.entity
const local = Topics.localEntity
const fact = (
  subject: Topics.Entity,
  predicate: string,
  object: Topics.Entity | null,
  complement: Topics.Entity | null
) => ({
  factId: null,
  statementId: null,
  subject,
  predicate: { value: predicate },
  object,
  complement
})
const statement = (value: string, facts: ReadonlyArray<Topics.Fact> = [], details: ReadonlyArray<string> = []) => ({
  statementId: null,
  topicId: null,
  chunkId: null,
  value,
  details,
  facts
})
const topic = (value: string, entities: ReadonlyArray<Topics.Entity>, statements: ReadonlyArray<Topics.Statement>) => ({
  topicId: null,
  chunkIds: [],
  value,
  entities,
  statements
})

describe("Topics.parse", () => {
  it("parses the grammar into topics, entities, statements and facts (golden)", () => {
    const raw = `topic: Amazon Neptune

entities:
Amazon Neptune|Service
DB cluster|Product
the Availability_Zone (AZ)|location

proposition: Amazon Neptune DB cluster has one primary DB instance
entity-entity relationships:
DB cluster|PART_OF|Amazon Neptune
DB cluster|HAS|primary DB instance
primary DB instance|PART OF|DB cluster

proposition: Neptune data is replicated across Availability Zones
entity-attributes:
Availability Zone|COUNT|three
replicated across zones

topic: Founders
entities:
John_Doe (CEO)|person
proposition: John Doe founded Acme
entity-entity relationships:
John Doe|FOUNDER_OF|Acme
`
    const parsed = Topics.parse(raw)
    const neptune = e("Amazon Neptune", "Service")
    const cluster = e("DB cluster", "Product")
    const zone = e("Availability Zone", "Location")
    const john = e("John Doe", "Person")
    assert.deepStrictEqual(parsed.diagnostics, [])
    assert.deepStrictEqual(parsed.topics, {
      topics: [
        topic("Amazon Neptune", [neptune, cluster, zone], [
          statement("Amazon Neptune DB cluster has one primary DB instance", [
            fact(cluster, "PART OF", neptune, null),
            fact(cluster, "HAS", null, local("primary DB instance")),
            fact(local("primary DB instance"), "PART OF", null, local("DB cluster"))
          ], ["primary DB instance PART OF DB cluster"]),
          statement("Neptune data is replicated across Availability Zones", [
            fact(zone, "COUNT", null, local("three"))
          ], ["replicated across zones"])
        ]),
        topic("Founders", [john], [
          statement("John Doe founded Acme", [fact(john, "FOUNDER OF", null, local("Acme"))])
        ])
      ]
    })
    // The result is the Schema model.
    assert.isTrue(Schema.is(Topics.TopicCollection)(parsed.topics))
  })

  it("keeps colons after the first one (the reference turned 10:30 into 1030)", () => {
    const parsed = Topics.parse(
      "topic: Acme Inc. history: 1990s.\nentities:\nAcme|Company\nproposition: The meeting starts at 10:30 a.m.\n"
    )
    const [only] = parsed.topics.topics
    assert.strictEqual(only!.value, "Acme Inc. history: 1990s")
    assert.strictEqual(only!.statements[0]!.value, "The meeting starts at 10:30 a.m.")
  })

  it("recognises headers case-insensitively and through markdown", () => {
    const raw = `## **Topic:** Amazon Neptune
**Entities:**
- Amazon Neptune|Service
- Gremlin|software
**Proposition:** Amazon Neptune supports Gremlin
**Entity-Entity Relationships:**
- Amazon Neptune|SUPPORTS|Gremlin
TOPIC: Second
ENTITIES:
Acme|Company
PROPOSITION: Acme exists
`
    const parsed = Topics.parse(raw)
    assert.deepStrictEqual(parsed.diagnostics, [])
    const neptune = e("Amazon Neptune", "Service")
    const gremlin = e("Gremlin", "Software")
    assert.deepStrictEqual(parsed.topics.topics, [
      topic("Amazon Neptune", [neptune, gremlin], [
        statement("Amazon Neptune supports Gremlin", [fact(neptune, "SUPPORTS", gremlin, null)])
      ]),
      topic("Second", [e("Acme", "Company")], [statement("Acme exists")])
    ])
  })

  it("keeps statements without facts or details (the reference dropped them)", () => {
    const parsed = Topics.parse("topic: T\nproposition: First\nproposition: Second\nentity-attributes:\n")
    assert.deepStrictEqual(parsed.topics.topics[0]!.statements, [statement("First"), statement("Second")])
  })

  it("drops a topic with neither entities nor statements, and reports it", () => {
    const parsed = Topics.parse("topic: Empty\nentities:\ntopic: Full\nentities:\nAcme|Company\n")
    assert.deepStrictEqual(parsed.topics.topics.map((t) => t.value), ["Full"])
    assert.deepStrictEqual(parsed.diagnostics, [{ line: 1, text: "topic: Empty", reason: "EmptyTopic" }])
  })

  it("puts statements before any topic in the context topic", () => {
    const parsed = Topics.parse("proposition: Orphan statement\ntopic: Later\nproposition: Placed\n")
    assert.deepStrictEqual(parsed.topics.topics.map((t) => [t.value, t.statements.map((s) => s.value)]), [
      ["context", ["Orphan statement"]],
      ["Later", ["Placed"]]
    ])
  })

  it("reports every line it cannot place, and never throws", () => {
    const raw = `Here is the extraction you asked for:
topic: T
stray line before entities
entities:
Acme
Acme|Company|extra
|Company
Acme|Company
entity-entity relationships:
Acme|OWNS|Widget
proposition:
Acme|MAKES|Widget
proposition: Acme makes widgets
\`\`\`
---
`
    const parsed = Topics.parse(raw)
    assert.deepStrictEqual(parsed.diagnostics, [
      { line: 1, text: "Here is the extraction you asked for:", reason: "UnexpectedLine" },
      { line: 3, text: "stray line before entities", reason: "UnexpectedLine" },
      { line: 5, text: "Acme", reason: "UnparseableEntity" },
      { line: 6, text: "Acme|Company|extra", reason: "UnparseableEntity" },
      { line: 7, text: "|Company", reason: "UnparseableEntity" },
      { line: 10, text: "Acme|OWNS|Widget", reason: "NoStatement" },
      { line: 11, text: "proposition:", reason: "EmptyValue" },
      { line: 12, text: "Acme|MAKES|Widget", reason: "NoStatement" }
    ])
    assert.deepStrictEqual(parsed.topics.topics, [
      topic("T", [e("Acme", "Company")], [statement("Acme makes widgets")])
    ])
    assert.deepStrictEqual(Topics.parse("").diagnostics, [{ line: 0, text: "", reason: "EmptyOutput" }])
    assert.deepStrictEqual(Topics.parse("").topics, Topics.empty)
  })

  it("cleans entities as the reference does, minus its greedy parenthesis bug", () => {
    const parsed = Topics.parse(`topic: T
entities:
The John_Doe (CEO)|person
Alpha (x) and Beta (y)|thing
an Apple|sports_team
John Doe|Company
proposition: The John Doe (CEO) leads an apple
entity-entity relationships:
the John Doe|LEADS|Apple
Widget|USED_BY|John Doe
`)
    const john = e("John Doe", "Person")
    const apple = e("Apple", "Sports Team")
    assert.deepStrictEqual(parsed.topics.topics[0]!.entities, [john, e("Alpha (x) and Beta", "Thing"), apple])
    assert.deepStrictEqual(parsed.topics.topics[0]!.statements[0]!.facts, [
      fact(john, "LEADS", apple, null),
      // The object is declared but the subject is not: both sides are local, and a detail.
      fact(local("Widget"), "USED BY", null, local("John Doe"))
    ])
    assert.deepStrictEqual(parsed.topics.topics[0]!.statements[0]!.details, ["Widget USED BY John Doe"])
  })

  it("title-cases classifications as Python's str.title()", () => {
    assert.strictEqual(Topics.formatClassification("financial_instrument"), "Financial Instrument")
    assert.strictEqual(Topics.formatClassification("AWS service"), "Aws Service")
    assert.strictEqual(Topics.formatClassification("3d model"), "3D Model")
  })

  it("has the model of the reference's output (the fixture decodes with the Schema)", () => {
    const fixture = JSON.parse(readFileSync(fixturePath, "utf8")) as { metadata: Record<string, unknown> }
    const decoded = Schema.decodeUnknownSync(Topics.TopicCollection)(fixture.metadata[Topics.metadataKey])
    assert.strictEqual(decoded.topics[0]!.value, "Amazon Neptune")
    assert.isAbove(decoded.topics[0]!.statements.length, 20)
  })
})
