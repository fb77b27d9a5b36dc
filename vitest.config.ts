import { defineConfig } from "vitest/config"

// Inside the workspace, packages resolve to their TypeScript sources (no build step needed).
const sourceConditions = ["@batch-extract/source"]

export default defineConfig({
  resolve: { conditions: sourceConditions },
  ssr: { resolve: { conditions: sourceConditions, externalConditions: sourceConditions } },
  test: {
    include: ["packages/*/test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
