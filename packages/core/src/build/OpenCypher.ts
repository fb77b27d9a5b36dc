/**
 * The openCypher a graph writer sends: batched, parameterised, idempotent upserts (and
 * deletes, and counts) of {@link GraphModel} nodes and edges, as `{ query, parameters }` values.
 * Pure and store-independent, so every openCypher store (the embedded Apache AGE store, later
 * Neptune or Neo4j adapters) sends the same statements.
 *
 * Every upsert is `UNWIND $rows AS row` then `MERGE` by id, as the reference writes (BUILD.md
 * §5), so a re-run adds nothing twice:
 *
 * ```
 * UNWIND $rows AS row
 * MERGE (n:`__Statement__` {`statementId`: row.id})
 * SET n.`value` = row.p0, n.`details` = row.p1
 * ```
 *
 * ```
 * UNWIND $rows AS row
 * MERGE (a:`__Entity__` {`entityId`: row.from})
 * MERGE (b:`__Entity__` {`entityId`: row.to})
 * MERGE (a)-[r:`__RELATION__` {value: row.value}]->(b)
 * ```
 *
 * Gotchas:
 * - Ids and values are never part of the query text (the reference inlined source ids and
 *   metadata keys, §9.6): they travel in `parameters.rows`. Labels, relationship types and
 *   property names are backtick-quoted (backticks doubled), so a metadata key such as
 *   `last-modified:date` is safe. Rows are grouped by query text: per label and property-key set
 *   for nodes, per type and endpoint labels for edges; every source of a corpus with the same
 *   metadata keys shares one query.
 * - Properties are set with a plain `SET` after `MERGE` (overwrite per key, what the
 *   reference's identical `ON CREATE SET … ON MATCH SET …` does), because Apache AGE accepts
 *   `ON CREATE`/`ON MATCH` only in recent releases. Constructs used: `UNWIND` over a parameter,
 *   `MERGE` of a node by label and one property, `MERGE` of an edge between bound nodes (with
 *   one property for `__RELATION__`/`__SYS_RELATION__`), `SET n.k = expr`, `MATCH … DETACH
 *   DELETE`, `MATCH … DELETE`, `count()`. These are the subset AGE documents; not yet run against
 *   a store here.
 * - An edge MERGEs its endpoints, so an edge to a node not written yet creates it bare (as in
 *   the reference); the model already lists such placeholders as nodes.
 * - Which chunks contributed an element is not written into the graph: a store keeps that
 *   ledger itself (list updates in openCypher are not portable across stores).
 * - §9.1: each statement is meant to be sent once (the reference's Neo4j store ran every query
 *   twice); nothing here depends on a second run.
 * - §9.14: no query text varies per row (no random variable names, no inlined ids), and every
 *   `MATCH` names a label and an id (no label-less scans).
 *
 * @since 0.1.0
 */
import { Array as Arr } from "effect"
import * as GraphModel from "./GraphModel.ts"

/** A parameterised openCypher statement. */
export interface CypherQuery {
  readonly query: string
  readonly parameters: { readonly rows: ReadonlyArray<Row> }
}

/** One row of `$rows`: ids and property values only. */
export type Row = { readonly [key: string]: GraphModel.PropertyValue }

/** Options of the emitter. */
export interface Options {
  /**
   * Rows per statement (the reference's `build_batch_write_size` is 25). Bigger batches mean
   * fewer round trips; an embedded store can take hundreds.
   */
  readonly batchSize?: number | undefined
  /**
   * The property a node's id is MERGEd on. Default: the reference's per-label keys
   * (`sourceId`, `chunkId`, …, {@link GraphModel.idKeys}); Neptune keys vertices by `~id`.
   */
  readonly idKey?: ((label: GraphModel.NodeLabel) => string) | undefined
}

/** The default batch size (the reference's). */
export const defaultBatchSize = 25

/** A name as an openCypher identifier: backtick-quoted, backticks doubled. */
export const quote = (name: string): string => `\`${name.replace(/`/g, "``")}\``

const idKeyOf = (options: Options) => options.idKey ?? ((label: GraphModel.NodeLabel) => GraphModel.idKeys[label])

const batches = <A>(rows: ReadonlyArray<A>, options: Options): Array<ReadonlyArray<A>> => {
  const size = Math.max(1, Math.floor(options.batchSize ?? defaultBatchSize))
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size))
  return out
}

const toQueries = (query: string, rows: ReadonlyArray<Row>, options: Options): Array<CypherQuery> =>
  batches(rows, options).map((batch) => ({ query, parameters: { rows: batch } }))

const mergeNode = (variable: string, label: GraphModel.NodeLabel, parameter: string, options: Options): string =>
  `MERGE (${variable}:${quote(label)} {${quote(idKeyOf(options)(label))}: row.${parameter}})`

/**
 * Upsert nodes: MERGE by label and id, then SET each property. Property keys become
 * positional parameters (`row.p0`, `row.p1`, …) so no value reaches the query text.
 */
export const upsertNodes = (
  nodes: Iterable<GraphModel.GraphNode>,
  options: Options = {}
): Array<CypherQuery> => {
  // Groups in first-seen order: a record keeps its keys in insertion order, and no key here looks
  // like an integer (labels are `__X__`, group keys JSON arrays), which a record would put first.
  const groups = Arr.groupBy(nodes, (node) => JSON.stringify([node.label, Object.keys(node.properties).sort()]))
  const queries: Array<CypherQuery> = []
  for (const group of Object.values(groups)) {
    const first = group[0]
    const keys = Object.keys(first.properties).sort()
    const lines = ["UNWIND $rows AS row", mergeNode("n", first.label, "id", options)]
    if (keys.length > 0) lines.push(`SET ${keys.map((key, i) => `n.${quote(key)} = row.p${i}`).join(", ")}`)
    const rows = group.map((node) => {
      const row: Record<string, GraphModel.PropertyValue> = { id: node.id }
      keys.forEach((key, i) => {
        row[`p${i}`] = node.properties[key]!
      })
      return row
    })
    queries.push(...toQueries(lines.join("\n"), rows, options))
  }
  return queries
}

const edgeGroupKey = (edge: GraphModel.GraphEdge): string =>
  JSON.stringify([edge.label, edge.from.label, edge.to.label, edge.value !== undefined])

const edgePattern = (edge: GraphModel.GraphEdge, variable: string): string =>
  `[${variable}:${quote(edge.label)}${edge.value !== undefined ? " {value: row.value}" : ""}]`

const edgeRow = (edge: GraphModel.GraphEdge): Row =>
  edge.value === undefined
    ? { from: edge.from.id, to: edge.to.id }
    : { from: edge.from.id, to: edge.to.id, value: edge.value }

/** Upsert edges: MERGE both endpoints by id, then the edge between them (with its `value`). */
export const upsertEdges = (
  edges: Iterable<GraphModel.GraphEdge>,
  options: Options = {}
): Array<CypherQuery> => {
  const queries: Array<CypherQuery> = []
  for (const group of Object.values(Arr.groupBy(edges, edgeGroupKey))) {
    const first = group[0]
    const query = [
      "UNWIND $rows AS row",
      mergeNode("a", first.from.label, "from", options),
      mergeNode("b", first.to.label, "to", options),
      `MERGE (a)-${edgePattern(first, "r")}->(b)`
    ].join("\n")
    queries.push(...toQueries(query, group.map(edgeRow), options))
  }
  return queries
}

/** Delete nodes by label and id, with every edge attached to them. */
export const deleteNodes = (
  nodes: Iterable<GraphModel.NodeRef>,
  options: Options = {}
): Array<CypherQuery> => {
  const queries: Array<CypherQuery> = []
  for (const group of Object.values(Arr.groupBy(nodes, (node) => node.label))) {
    const label = group[0].label
    const query = [
      "UNWIND $rows AS row",
      `MATCH (n:${quote(label)} {${quote(idKeyOf(options)(label))}: row.id})`,
      "DETACH DELETE n"
    ].join("\n")
    queries.push(...toQueries(query, group.map((node) => ({ id: node.id })), options))
  }
  return queries
}

/** Delete edges by type, endpoints and `value`; their endpoints stay. */
export const deleteEdges = (
  edges: Iterable<GraphModel.GraphEdge>,
  options: Options = {}
): Array<CypherQuery> => {
  const queries: Array<CypherQuery> = []
  for (const group of Object.values(Arr.groupBy(edges, edgeGroupKey))) {
    const first = group[0]
    const key = idKeyOf(options)
    const query = [
      "UNWIND $rows AS row",
      `MATCH (a:${quote(first.from.label)} {${quote(key(first.from.label))}: row.from})-${
        edgePattern(first, "r")
      }->(b:${quote(first.to.label)} {${quote(key(first.to.label))}: row.to})`,
      "DELETE r"
    ].join("\n")
    queries.push(...toQueries(query, group.map(edgeRow), options))
  }
  return queries
}

/** Count the nodes of a label (one row, column `count`). */
export const countNodes = (label: GraphModel.NodeLabel): string => `MATCH (n:${quote(label)}) RETURN count(n) AS count`

/** Count the edges of a type (one row, column `count`). */
export const countEdges = (label: GraphModel.EdgeLabel): string =>
  `MATCH ()-[r:${quote(label)}]->() RETURN count(r) AS count`

/**
 * Every statement that writes a graph, nodes first (so edges find their endpoints with their
 * properties already set), in batches.
 */
export const upsertGraph = (
  graph: Pick<GraphModel.Graph, "nodes" | "edges">,
  options: Options = {}
): Array<CypherQuery> => [...upsertNodes(graph.nodes, options), ...upsertEdges(graph.edges, options)]
