import { assert, describe, it } from "@effect/vitest"
import * as GraphModel from "../../src/build/GraphModel.ts"
import * as OpenCypher from "../../src/build/OpenCypher.ts"
import { buildGraph, chunk, fixture } from "./support.ts"

describe("OpenCypher", () => {
  const graph = buildGraph([fixture])

  it("upserts nodes with UNWIND + MERGE by label and id, then SET per property", () => {
    const statements = OpenCypher.upsertNodes(graph.nodes.filter((n) => n.label === "__Statement__"))
    assert.strictEqual(statements.length, 2)
    assert.strictEqual(
      statements[0]!.query,
      "UNWIND $rows AS row\nMERGE (n:`__Statement__` {`statementId`: row.id})\nSET n.`details` = row.p0, n.`value` = row.p1"
    )
    assert.deepStrictEqual(statements.map((s) => s.parameters.rows.length), [25, 1])
    assert.deepStrictEqual(statements[0]!.parameters.rows[0], {
      id: "886c4ce7975b57ef7812bb70a282c850",
      p0: "primary DB instance PART OF DB cluster",
      p1: "Amazon Neptune DB cluster has one primary DB instance"
    })
  })

  it("upserts edges by MERGEing both endpoints, then the edge; __RELATION__ MERGEs on its value", () => {
    const relations = OpenCypher.upsertEdges(graph.edges.filter((e) => e.label === "__RELATION__"))
    assert.strictEqual(relations.length, 1)
    assert.strictEqual(
      relations[0]!.query,
      [
        "UNWIND $rows AS row",
        "MERGE (a:`__Entity__` {`entityId`: row.from})",
        "MERGE (b:`__Entity__` {`entityId`: row.to})",
        "MERGE (a)-[r:`__RELATION__` {value: row.value}]->(b)"
      ].join("\n")
    )
    assert.strictEqual(relations[0]!.parameters.rows.length, 11)
    const mentions = OpenCypher.upsertEdges(graph.edges.filter((e) => e.label === "__MENTIONED_IN__"))
    // Topic and statement mentions have different endpoint labels: two statements.
    assert.deepStrictEqual(mentions.map((q) => q.query.split("\n")[1]), [
      "MERGE (a:`__Topic__` {`topicId`: row.from})",
      "MERGE (a:`__Statement__` {`statementId`: row.from})",
      "MERGE (a:`__Statement__` {`statementId`: row.from})"
    ])
    assert.strictEqual(mentions[0]!.query.split("\n")[3], "MERGE (a)-[r:`__MENTIONED_IN__`]->(b)")
  })

  it("writes the whole fixture in batches of the given size, nodes first", () => {
    const queries = OpenCypher.upsertGraph(graph, { batchSize: 10 })
    const rows = (q: OpenCypher.CypherQuery) => q.parameters.rows.length
    assert.isTrue(queries.every((q) => rows(q) >= 1 && rows(q) <= 10))
    const total = queries.reduce((n, q) => n + rows(q), 0)
    assert.strictEqual(total, graph.nodes.length + graph.edges.length)
    const firstEdge = queries.findIndex((q) => q.query.includes("]->"))
    assert.isTrue(queries.slice(firstEdge).every((q) => q.query.includes("]->")))
  })

  it("§9.6: never puts ids, values or keys unquoted into the query text", () => {
    const nasty = "aws::evil'}) DETACH DELETE n //:0001"
    const g = buildGraph([
      chunk("c", "topic: Quote's `topic`\nproposition: it's `odd`", {
        source: nasty,
        sourceMetadata: { "last-modified:date": "2024-01-01", "a.b": "x'y", "we`ird": 1 }
      })
    ])
    const queries = OpenCypher.upsertGraph(g)
    const text = queries.map((q) => q.query).join("\n")
    assert.notInclude(text, "evil")
    assert.notInclude(text, "2024-01-01")
    assert.notInclude(text, "x'y")
    assert.notInclude(text, "Quote")
    const source = queries.find((q) => q.query.includes("`__Source__` {`sourceId`: row.id}"))!
    assert.include(source.query, "n.`last-modified:date` = row.")
    assert.include(source.query, "n.`a.b` = row.")
    assert.include(source.query, "n.`we``ird` = row.")
    assert.strictEqual(source.parameters.rows[0]!.id, nasty)
    // Every statement reads its rows from the one parameter.
    assert.isTrue(queries.every((q) => q.query.startsWith("UNWIND $rows AS row\n")))
  })

  it("groups sources with the same metadata keys into one statement (the reference sent one per source)", () => {
    const g = buildGraph([
      chunk("a", "topic: T\nproposition: p", { source: "aws::00000001:0001" }),
      chunk("b", "topic: T\nproposition: p", { source: "aws::00000002:0002" })
    ])
    const sources = OpenCypher.upsertNodes(g.nodes.filter((n) => n.label === "__Source__"))
    assert.strictEqual(sources.length, 1)
    assert.strictEqual(sources[0]!.parameters.rows.length, 2)
  })

  it("deletes nodes (with their edges) and edges by id, and counts by label", () => {
    const [deleteNodes] = OpenCypher.deleteNodes([{ label: "__Topic__", id: "t1" }])
    assert.strictEqual(
      deleteNodes!.query,
      "UNWIND $rows AS row\nMATCH (n:`__Topic__` {`topicId`: row.id})\nDETACH DELETE n"
    )
    assert.deepStrictEqual(deleteNodes!.parameters.rows, [{ id: "t1" }])
    const relation = graph.edges.find((e) => e.label === "__RELATION__")!
    const [deleteEdges] = OpenCypher.deleteEdges([relation])
    assert.strictEqual(
      deleteEdges!.query,
      "UNWIND $rows AS row\nMATCH (a:`__Entity__` {`entityId`: row.from})-[r:`__RELATION__` {value: row.value}]->(b:`__Entity__` {`entityId`: row.to})\nDELETE r"
    )
    assert.deepStrictEqual(deleteEdges!.parameters.rows, [
      { from: relation.from.id, to: relation.to.id, value: relation.value! }
    ])
    assert.strictEqual(OpenCypher.countNodes("__Fact__"), "MATCH (n:`__Fact__`) RETURN count(n) AS count")
    assert.strictEqual(
      OpenCypher.countEdges("__SUPPORTS__"),
      "MATCH ()-[r:`__SUPPORTS__`]->() RETURN count(r) AS count"
    )
  })

  it("MERGEs on another id key when asked (Neptune keys vertices by ~id)", () => {
    const [query] = OpenCypher.upsertNodes([{ label: "__Chunk__", id: "c", properties: {}, chunkIds: ["c"] }], {
      idKey: () => "~id"
    })
    assert.strictEqual(query!.query, "UNWIND $rows AS row\nMERGE (n:`__Chunk__` {`~id`: row.id})")
    assert.deepStrictEqual(GraphModel.idKeys.__SYS_Class__, "sysClassId")
  })
})
