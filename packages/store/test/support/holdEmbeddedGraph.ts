/**
 * Opens an embedded store and holds it until killed: the other process of the lock tests.
 * Prints `open <pid>` once the store is open, or the error and exits 1.
 *
 * Usage: node --conditions=@batch-extract/source holdEmbeddedGraph.ts <dataDir>
 */
import { Effect } from "effect"
import * as EmbeddedGraph from "../../src/EmbeddedGraph.ts"

const dataDir = process.argv[2]
if (dataDir === undefined) {
  process.stderr.write("usage: holdEmbeddedGraph.ts <dataDir>\n")
  process.exit(2)
}

const program = Effect.scoped(Effect.gen(function*() {
  yield* EmbeddedGraph.make({ dataDir })
  process.stdout.write(`open ${process.pid}\n`)
  return yield* Effect.never
}))

Effect.runPromise(program).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
})
