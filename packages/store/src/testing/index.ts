/**
 * Test helpers of `@batch-extract/store`: a throwaway PostgreSQL cluster.
 *
 * @since 0.2.0
 */

/**
 * A throwaway PostgreSQL cluster for tests (Debian's `postgresql`), on 127.0.0.1 only.
 *
 * @since 0.2.0
 */
export * as PostgresCluster from "./PostgresCluster.ts"
