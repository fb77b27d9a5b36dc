import { defineConfig } from "vitest/config"
import { BaseSequencer, type TestSpecification } from "vitest/node"

// The test suite of the mutation run (stryker.config.mjs): the core package's tests only, with
// the same source resolution as the workspace's own config (vitest.config.ts).
const sourceConditions = ["@batch-extract/source"]

/**
 * Runs the files that failed last first (they just killed a mutant, and are likely to kill
 * its neighbours), then the fastest first: the runner stops at the first failure, so a
 * mutant that a quick test kills never waits for the end-to-end ones. Vitest's default runs
 * the slowest first, which is right for a whole suite and wrong here.
 */
class FastFirstSequencer extends BaseSequencer {
  override async sort(files: Array<TestSpecification>): Promise<Array<TestSpecification>> {
    const results = new Map(files.map((spec) => [spec, this.ctx.cache.getTestSpecificationResult(spec)]))
    return [...files].sort((a, b) => {
      const left = results.get(a)
      const right = results.get(b)
      if (left?.failed !== right?.failed) return left?.failed === true ? -1 : 1
      return (left?.duration ?? 0) - (right?.duration ?? 0)
    })
  }
}

export default defineConfig({
  resolve: { conditions: sourceConditions },
  ssr: { resolve: { conditions: sourceConditions, externalConditions: sourceConditions } },
  test: {
    include: ["packages/core/test/**/*.test.ts"],
    // A 1,000-document end-to-end run (about 15 s): it would run for every mutant of the
    // extraction that the other tests let survive, the most expensive part of the run by far;
    // its checks are made on small inputs by the TextNode, Sink and Extraction tests.
    exclude: ["packages/core/test/extraction/ExtractToDirectory.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // One module graph for all the files of a run: each mutant run loads the sources once,
    // not once per test file (the tests keep no state between files).
    isolate: false,
    sequence: { sequencer: FastFirstSequencer }
  }
})
