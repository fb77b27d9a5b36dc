import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { TestClock } from "effect/testing"
import * as GraphModel from "../../src/build/GraphModel.ts"
import * as Chunker from "../../src/extraction/Chunker.ts"
import * as Document from "../../src/extraction/Document.ts"
import * as ExtractedChunk from "../../src/extraction/ExtractedChunk.ts"
import * as Topics from "../../src/extraction/Topics.ts"
import {
  buildGraph,
  buildTimestamp,
  chunk,
  contributionOf,
  fixture,
  idsOf,
  options,
  pairsOf,
  sourceId
} from "./support.ts"

const { EdgeLabel, NodeLabel } = GraphModel

// Ids of the worked example (BUILD.md §3), checked with md5sum.
const topicId = "7d1b70f10424d9c09167c21846f2cad8"
const firstStatementId = "886c4ce7975b57ef7812bb70a282c850"
const dbCluster = "ca7bbc36ecca2ff64436de9a37e9d1f0"
const amazonNeptune = "b7b08d2797f91823f0c4e736eec7ec7e"

const nodeOf = (graph: GraphModel.Graph, id: string) => {
  const node = graph.nodes.find((n) => n.id === id)
  assert.isDefined(node, id)
  return node!
}

describe("GraphModel on the reference's fixture (BUILD.md §8)", () => {
  const graph = buildGraph([fixture])

  it("has the expected 82 nodes by label", () => {
    const counts = GraphModel.counts(graph)
    assert.deepStrictEqual(counts.nodes, {
      __Source__: 1,
      __Chunk__: 1,
      __Topic__: 1,
      __Statement__: 26,
      __Fact__: 38,
      __Entity__: 11,
      __SYS_Class__: 4
    })
    assert.strictEqual(graph.nodes.length, 82)
    assert.deepStrictEqual(
      graph.nodes.filter((n) => n.label === NodeLabel.SysClass).map((n) => n.properties.value).sort(),
      ["Location", "Product", "Service", "Software"]
    )
  })

  it("has the expected edges by label (topic and statement __MENTIONED_IN__ apart)", () => {
    const counts = GraphModel.counts(graph)
    assert.deepStrictEqual(counts.edges, {
      __EXTRACTED_FROM__: 1,
      __PARENT__: 0,
      __CHILD__: 0,
      __PREVIOUS__: 25,
      __NEXT__: 0,
      __MENTIONED_IN__: 27,
      __BELONGS_TO__: 26,
      __SUPPORTS__: 43,
      __SUBJECT__: 21,
      __OBJECT__: 11,
      __RELATION__: 11,
      __SYS_RELATION__: 7
    })
    const mentions = graph.edges.filter((e) => e.label === EdgeLabel.MentionedIn)
    assert.strictEqual(mentions.filter((e) => e.from.label === NodeLabel.Topic).length, 1)
    assert.strictEqual(mentions.filter((e) => e.from.label === NodeLabel.Statement).length, 26)
    // Every __PREVIOUS__ here joins statements (the fixture has no chunk neighbours).
    assert.isTrue(
      graph.edges.filter((e) => e.label === EdgeLabel.Previous).every((e) => e.from.label === "__Statement__")
    )
  })

  it("has one vector row per chunk and statement, and the reference's embedded texts", () => {
    const byIndex = (index: GraphModel.EmbeddingIndex) => graph.embeddings.filter((e) => e.index === index)
    assert.strictEqual(byIndex("chunk").length, 1)
    assert.strictEqual(byIndex("statement").length, 26)
    assert.strictEqual(byIndex("topic").length, 1)
    assert.strictEqual(
      graph.embeddings.find((e) => e.id === firstStatementId)!.text,
      "Amazon Neptune DB cluster has one primary DB instance\n\nprimary DB instance PART OF DB cluster"
    )
    assert.strictEqual(byIndex("chunk")[0]!.text, fixture.text)
    assert.isTrue(
      byIndex("topic")[0]!.text.startsWith(
        "Amazon Neptune\n\nAmazon Neptune DB cluster has one primary DB instance (primary DB instance PART OF DB cluster) "
      )
    )
  })

  it("gives the source its formatted metadata and versioning properties", () => {
    const source = nodeOf(graph, "aws::abd5427c:6614")
    assert.deepStrictEqual(source.properties, {
      url: "https://docs.aws.amazon.com/neptune/latest/userguide/intro.html",
      pub_date: "2025-02-12T00:00:00",
      __aws__versioning__extract_timestamp__: buildTimestamp,
      __aws__versioning__build_timestamp__: buildTimestamp,
      __aws__versioning__valid_from__: buildTimestamp,
      __aws__versioning__valid_to__: 10_000_000_000_000,
      __aws__versioning__prev_versions__: ""
    })
  })

  it("pins the reference's ids and properties", () => {
    assert.strictEqual(GraphModel.topicId("aws::abd5427c:6614", "Amazon Neptune"), topicId)
    assert.strictEqual(
      GraphModel.statementId(topicId, "Amazon Neptune DB cluster has one primary DB instance"),
      firstStatementId
    )
    assert.strictEqual(GraphModel.factId("DB cluster PART OF Amazon Neptune"), "4792f0ff4d23f9aae8a1dc715769a6bc")
    assert.strictEqual(GraphModel.entityId("DB cluster", "Product"), dbCluster)
    assert.strictEqual(GraphModel.entityId("Amazon Neptune", "Service"), amazonNeptune)
    assert.strictEqual(
      GraphModel.localEntityId("aws::abd5427c:6614", "primary DB instance"),
      "fbb41c72d789c205d83ad296409f48e7"
    )
    assert.strictEqual(GraphModel.sysClassId("Product"), "sys_class::Product")
    assert.strictEqual(GraphModel.sysClassId(""), "sys_class::unknown")

    assert.deepStrictEqual(nodeOf(graph, topicId).properties, { value: "Amazon Neptune" })
    assert.deepStrictEqual(nodeOf(graph, firstStatementId).properties, {
      value: "Amazon Neptune DB cluster has one primary DB instance",
      details: "primary DB instance PART OF DB cluster"
    })
    assert.deepStrictEqual(nodeOf(graph, "4792f0ff4d23f9aae8a1dc715769a6bc").properties, {
      value: "DB cluster PART OF Amazon Neptune"
    })
    assert.deepStrictEqual(nodeOf(graph, dbCluster).properties, {
      value: "DB cluster",
      search_str: "db cluster",
      class: "Product"
    })
    assert.deepStrictEqual(nodeOf(graph, "sys_class::Product").properties, { value: "Product" })
    assert.deepStrictEqual(nodeOf(graph, fixture.id_).properties, { value: fixture.text })
    for (const node of graph.nodes) assert.deepStrictEqual(node.chunkIds, [fixture.id_])
  })

  it("pins edge ids: md5 of label, endpoints and value", () => {
    const belongs = graph.edges.find((e) => e.label === EdgeLabel.BelongsTo && e.from.id === firstStatementId)!
    assert.strictEqual(belongs.id, "2e4f403bca3387470bc698c19dba9b85")
    assert.strictEqual(belongs.to.id, topicId)
    const relation = graph.edges.find((e) =>
      e.label === EdgeLabel.Relation && e.from.id === dbCluster && e.to.id === amazonNeptune
    )!
    assert.strictEqual(relation.value, "PART OF")
    assert.strictEqual(relation.id, "bf30623049b72f34229f4c4e0df903bc")
    const summary = graph.edges.find((e) =>
      e.label === EdgeLabel.SysRelation && e.from.id === "sys_class::Product" && e.to.id === "sys_class::Service"
    )!
    assert.strictEqual(summary.value, "PART_OF")
    assert.strictEqual(new Set(graph.edges.map((e) => e.id)).size, graph.edges.length)
  })

  it("builds the same graph from an extracted chunk (the project's own sink output)", () =>
    Effect.gen(function*() {
      const document = Document.make("Neptune has replicas. They read.", { metadata: { pub_date: "2024-01-02" } })
      const [piece] = yield* Chunker.chunk(document)
      yield* TestClock.setTime(1_700_000_000_000)
      const extracted = yield* ExtractedChunk.make(piece!, {
        topics: Topics.parse(
          "topic: Neptune\nentities:\nNeptune|Service\nReplica|Product\nproposition: Neptune has replicas\nentity-entity relationships:\nNeptune|HAS|Replica"
        ).topics
      })
      const built = buildGraph([GraphModel.fromExtracted(extracted)])
      const source = built.nodes.find((n) => n.label === NodeLabel.Source)!
      assert.strictEqual(source.properties.pub_date, "2024-01-02T00:00:00")
      assert.strictEqual(source.properties.__aws__versioning__extract_timestamp__, 1_700_000_000_000)
      assert.strictEqual(GraphModel.counts(built).edges.__RELATION__, 1)
      assert.strictEqual(GraphModel.counts(built).nodes.__SYS_Class__, 2)
    }))
})

describe("GraphModel text helpers (the reference's graph_utils)", () => {
  it("normalises ids, search strings, labels and relationship names", () => {
    assert.strictEqual(GraphModel.normalise("A B\tC"), "a_b\tc")
    assert.strictEqual(GraphModel.searchString("Amazon  Neptune's (DB)_cluster!"), "amazon neptune s db cluster")
    assert.strictEqual(GraphModel.searchString("Zürich – Straße"), "zürich straße")
    assert.strictEqual(GraphModel.labelFrom("Sports Team"), "SportsTeam")
    assert.strictEqual(GraphModel.labelFrom("DB cluster"), "DbCluster")
    assert.strictEqual(GraphModel.labelFrom("__Local_Entity__"), "__Local_Entity__")
    assert.strictEqual(GraphModel.labelFrom("financial-instrument"), "FinancialInstrument")
    assert.strictEqual(GraphModel.relationshipName("PART OF"), "PART_OF")
    assert.strictEqual(GraphModel.relationshipName("is-a (kind)"), "IS_A__KIND_")
  })

  it("converts ISO dates under date keys only, and leaves other text alone", () => {
    assert.strictEqual(GraphModel.formatDatetime("2025-02-12"), "2025-02-12T00:00:00")
    assert.strictEqual(GraphModel.formatDatetime("2025-02-12T10:11:12.345Z"), "2025-02-12T10:11:12+00:00")
    assert.strictEqual(GraphModel.formatDatetime("2025-02-12 10:11"), "2025-02-12T10:11:00")
    assert.strictEqual(GraphModel.formatDatetime("2025-02-12T10:11:12+0530"), "2025-02-12T10:11:12+05:30")
    assert.isUndefined(GraphModel.formatDatetime("2025-02-30"))
    assert.isUndefined(GraphModel.formatDatetime("Feb 12 2025"))
    assert.deepStrictEqual(
      GraphModel.sourceProperties({
        " first name ": "Ada",
        created_date: "2024-02-29",
        modified_datetime: "yesterday",
        title_date_note: "2024-02-29",
        pages: 12,
        ratio: 0.5,
        tags: ["a"],
        nested: { k: "v" },
        sourceId: "spoof"
      }),
      {
        first_name: "Ada",
        created_date: "2024-02-29T00:00:00",
        modified_datetime: "yesterday",
        title_date_note: "2024-02-29",
        pages: 12,
        ratio: 0.5
      }
    )
  })
})

describe("GraphModel decisions on the reference's bugs (BUILD.md §9, README.md)", () => {
  const twoStatements = "topic: Neptune\nproposition: A is first\nproposition: B is second"
  const overlap = "topic: Neptune\nproposition: B is second\nproposition: C is third"

  it("§9.8: a statement is __MENTIONED_IN__ every chunk it appears in", () => {
    const graph = buildGraph([chunk("c1", twoStatements), chunk("c2", overlap, { start: 100 })])
    const topic = GraphModel.topicId(sourceId, "Neptune")
    const b = GraphModel.statementId(topic, "B is second")
    assert.deepStrictEqual(
      pairsOf(graph, EdgeLabel.MentionedIn).filter((pair) => pair.startsWith(b)),
      [`${b} -> ${sourceId}:c1`, `${b} -> ${sourceId}:c2`]
    )
    assert.strictEqual(GraphModel.counts(graph).nodes.__Statement__, 3)
    assert.deepStrictEqual(graph.nodes.find((n) => n.id === b)!.chunkIds, [`${sourceId}:c1`, `${sourceId}:c2`])
  })

  it("§9.8: __PREVIOUS__ follows each chunk's own statement order; repeats within a chunk do not move it", () => {
    const topic = GraphModel.topicId(sourceId, "Neptune")
    const [a, b, c] = ["A is first", "B is second", "C is third"].map((s) => GraphModel.statementId(topic, s))
    const graph = buildGraph([chunk("c1", twoStatements), chunk("c2", overlap, { start: 100 })])
    // The reference gives C no __PREVIOUS__: B was already seen in c1.
    assert.deepStrictEqual(pairsOf(graph, EdgeLabel.Previous), [`${b} -> ${a}`, `${c} -> ${b}`].sort())
    const repeated = buildGraph([
      chunk(
        "c3",
        "topic: Neptune\nproposition: A is first\nproposition: B is second\nproposition: A is first\nproposition: C is third"
      )
    ])
    assert.deepStrictEqual(pairsOf(repeated, EdgeLabel.Previous), [`${b} -> ${a}`, `${c} -> ${b}`].sort())
  })

  it("§9.8: chunk order is fixed (source, position, id), so input order does not matter; first occurrence wins", () => {
    const early = chunk("zz", "topic: Neptune\nproposition: Neptune is a database", { start: 0 })
    const late = chunk("aa", "topic: NEPTUNE\nproposition: neptune is a database", { start: 500 })
    const forward = buildGraph([early, late])
    const backward = buildGraph([late, early])
    assert.deepStrictEqual(backward, forward)
    const topic = GraphModel.topicId(sourceId, "Neptune")
    assert.strictEqual(topic, GraphModel.topicId(sourceId, "NEPTUNE"))
    assert.strictEqual(forward.nodes.find((n) => n.id === topic)!.properties.value, "Neptune")
    assert.deepStrictEqual(forward.nodes.find((n) => n.id === topic)!.chunkIds, [early.id_, late.id_])
    // Without positions, chunk ids decide.
    const unplaced = buildGraph([
      chunk("b", "topic: Neptune\nproposition: x", { start: null }),
      chunk("a", "topic: NEPTUNE\nproposition: x", { start: null })
    ])
    assert.strictEqual(unplaced.nodes.find((n) => n.id === topic)!.properties.value, "NEPTUNE")
  })

  it("§9.7: CHILD relationships are lists: one __CHILD__ per child; neighbours never built are bare chunks", () => {
    const graph = buildGraph([
      chunk("p", twoStatements, {
        relationships: {
          "2": { node_id: `${sourceId}:prev`, metadata: {} },
          "3": { node_id: `${sourceId}:next`, metadata: {} },
          "5": [{ node_id: `${sourceId}:k1`, metadata: {} }, { node_id: `${sourceId}:k2`, metadata: {} }]
        }
      })
    ])
    assert.deepStrictEqual(pairsOf(graph, EdgeLabel.Child), [
      `${sourceId}:p -> ${sourceId}:k1`,
      `${sourceId}:p -> ${sourceId}:k2`
    ])
    assert.deepStrictEqual(pairsOf(graph, EdgeLabel.Next), [`${sourceId}:p -> ${sourceId}:next`])
    assert.include(pairsOf(graph, EdgeLabel.Previous), `${sourceId}:p -> ${sourceId}:prev`)
    const bare = graph.nodes.find((n) => n.id === `${sourceId}:k1`)!
    assert.deepStrictEqual(bare, {
      label: NodeLabel.Chunk,
      id: `${sourceId}:k1`,
      properties: {},
      chunkIds: [`${sourceId}:p`]
    })
    // Built later, the neighbour gets its properties.
    const both = buildGraph([
      chunk("p", twoStatements, { relationships: { "3": { node_id: `${sourceId}:n`, metadata: {} } } }),
      chunk("n", overlap, { start: 50 })
    ])
    assert.deepStrictEqual(both.nodes.find((n) => n.id === `${sourceId}:n`)!.properties, { value: "text of n" })
  })

  it("§9.2 and §9.4: facts carry only value; classification nodes and edges carry no count", () => {
    const graph = buildGraph([fixture])
    for (const node of graph.nodes.filter((n) => n.label === NodeLabel.Fact || n.label === NodeLabel.SysClass)) {
      assert.deepStrictEqual(Object.keys(node.properties), ["value"])
    }
    for (const edge of graph.edges) {
      const valued = edge.label === EdgeLabel.Relation || edge.label === EdgeLabel.SysRelation
      assert.strictEqual(edge.value !== undefined, valued, edge.label)
    }
  })

  it("§9.5: identity is exact: HAS and has are two relations (one classification relation)", () => {
    const graph = buildGraph([
      chunk(
        "c",
        "topic: Neptune\nentities:\nNeptune|Service\nReplica|Product\nproposition: Neptune has replicas\nentity-entity relationships:\nNeptune|HAS|Replica\nNeptune|has|Replica"
      )
    ])
    assert.strictEqual(GraphModel.counts(graph).edges.__RELATION__, 2)
    assert.strictEqual(GraphModel.counts(graph).edges.__SYS_RELATION__, 1)
    // The fact id lower-cases its text, so both lines support one fact.
    assert.strictEqual(GraphModel.counts(graph).nodes.__Fact__, 1)
  })

  it("§9.9: a chunk without topics yields nothing but is reported; local subjects give facts without entity edges", () => {
    const graph = buildGraph([chunk("none", undefined), chunk("empty", "")])
    assert.deepStrictEqual(graph.skipped, [`${sourceId}:none`])
    assert.deepStrictEqual(idsOf(graph, NodeLabel.Chunk), [`${sourceId}:empty`])
    assert.strictEqual(GraphModel.counts(graph).nodes.__Source__, 1)
    const local = buildGraph([
      chunk(
        "l",
        "topic: Neptune\nentities:\nNeptune|Service\nproposition: replicas read\nentity-attributes:\nreplicas|READ|data"
      )
    ])
    assert.strictEqual(GraphModel.counts(local).nodes.__Fact__, 1)
    assert.strictEqual(GraphModel.counts(local).nodes.__Entity__, 0)
    assert.strictEqual(GraphModel.counts(local).edges.__SUBJECT__, 0)
    assert.strictEqual(GraphModel.counts(local).edges.__SUPPORTS__, 1)
    // "DB instance" is declared in the fixture but in no fact: no node.
    assert.isUndefined(
      buildGraph([fixture]).nodes.find((n) => n.id === GraphModel.entityId("DB instance", "Product"))
    )
  })

  it("§9.10: bad chunks fail the whole build, each one named; nothing is built", () => {
    const badTopics = chunk("bad1", undefined, { metadata: { [Topics.metadataKey]: { topics: [{ value: 1 }] } } })
    const noSource = Result.getOrThrow(
      GraphModel.decodeChunk({
        id_: "orphan",
        metadata: { [Topics.metadataKey]: Topics.empty },
        relationships: {},
        text: ""
      })
    )
    const result = GraphModel.build(
      [chunk("ok", twoStatements), badTopics, noSource, chunk("ok", twoStatements)],
      options
    )
    assert.isTrue(Result.isFailure(result))
    const error = Result.isFailure(result) ? result.failure : undefined
    assert.strictEqual(error?._tag, "InvalidInput")
    assert.deepStrictEqual(error?.problems.map((p) => p.chunkId), [badTopics.id_, "orphan", `${sourceId}:ok`])
    assert.include(error?.message ?? "", "aws::graph::topics")
    assert.isTrue(Result.isFailure(GraphModel.decodeChunk({ id_: "x", text: 3 })))
  })

  it("§9.10: null under a date key is dropped instead of crashing; booleans stay booleans", () => {
    const graph = buildGraph([
      chunk("c", twoStatements, { sourceMetadata: { pub_date: null, draft: true, title: "T" } })
    ])
    assert.deepStrictEqual(
      Object.entries(graph.nodes.find((n) => n.label === NodeLabel.Source)!.properties).filter(([k]) =>
        !k.startsWith("__aws__")
      ),
      [["draft", true], ["title", "T"]]
    )
  })

  it("§9.13: texts are embedded as they are (JSON is not rewritten as YAML); NULs are removed", () => {
    const graph = buildGraph([chunk("j", twoStatements, { text: "42\u0000" })])
    assert.strictEqual(graph.embeddings.find((e) => e.index === "chunk")!.text, "42")
    assert.deepStrictEqual(graph.nodes.find((n) => n.label === NodeLabel.Chunk)!.properties, { value: "42" })
  })

  it("takes versioning values from the chunk: extract timestamp, valid_from, sorted id fields", () => {
    const graph = buildGraph([
      chunk("v", twoStatements, {
        metadata: {
          __aws__versioning__extract_timestamp__: 5,
          __aws__versioning__valid_from__: 7,
          __aws__versioning__id_fields__: ["url", "title"]
        }
      })
    ])
    const source = graph.nodes.find((n) => n.label === NodeLabel.Source)!.properties
    assert.strictEqual(source.__aws__versioning__extract_timestamp__, 5)
    assert.strictEqual(source.__aws__versioning__valid_from__, 7)
    assert.strictEqual(source.__aws__versioning__id_fields__, "title;url")
    assert.strictEqual(source.__aws__versioning__build_timestamp__, buildTimestamp)
  })

  it("a contribution holds only what its chunk gives, and merging contributions gives the build", () => {
    const c1 = chunk("c1", twoStatements)
    const c2 = chunk("c2", overlap, { start: 100 })
    const parts = [contributionOf(c2), contributionOf(c1)]
    for (const part of parts) {
      for (const element of [...part.nodes, ...part.edges]) assert.deepStrictEqual(element.chunkIds, [part.chunkId])
    }
    assert.deepStrictEqual(GraphModel.merge(parts), buildGraph([c1, c2]))
  })
})
