/**
 * SQL drivers for batch-extract's run state and, later, the embedded graph and vector store.
 *
 * @since 0.1.0
 */

/**
 * An Effect `SqlClient` over Node's built-in `node:sqlite`.
 *
 * @since 0.1.0
 */
export * as SqliteClient from "./SqliteClient.ts"
