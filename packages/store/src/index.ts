/**
 * SQL drivers for batch-extract's run state, and the embedded graph and vector store.
 *
 * @since 0.1.0
 */

/**
 * An Effect `SqlClient` over Node's built-in `node:sqlite`.
 *
 * @since 0.1.0
 */
export * as SqliteClient from "./SqliteClient.ts"

/**
 * A `SqlClient` on PostgreSQL from a `postgres://` URL (over `@effect/sql-pg`), checked when
 * its Layer is built.
 *
 * @since 0.2.0
 */
export * as Postgres from "./Postgres.ts"

/**
 * The embedded run state of an output directory (`<out>/.batch-extract/state`).
 *
 * @since 0.2.0
 */
export * as EmbeddedState from "./EmbeddedState.ts"

/**
 * The workflow engine of one runner of a cluster on a shared database (socket runners).
 *
 * @since 0.3.0
 */
export * as Cluster from "./Cluster.ts"

/**
 * The embedded graph and vector store: one PGlite database (Apache AGE and pgvector) in a
 * directory (`pglite://<dir>`), providing the `GraphStore` and `VectorStore` ports.
 *
 * @since 0.4.0
 */
export * as EmbeddedGraph from "./EmbeddedGraph.ts"
