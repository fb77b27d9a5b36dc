// Mutation testing of the core package's engine and extraction modules (`npm run mutation`).
// The mutants run against the core package's tests only (vitest.mutation.config.ts); the
// report goes to reports/mutation/. See TESTING.md for the method and the latest figures.
import { existsSync, mkdirSync, symlinkSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const root = dirname(fileURLToPath(import.meta.url))
const tempDirName = ".stryker-tmp"

// The mutants run in a sandbox, a copy of the files under .stryker-tmp/sandbox-<id>/, never in
// the working tree (others may be editing or testing it meanwhile). The workspace's
// node_modules folders (the root one and each package's, whose pnpm links are relative) are
// linked into the sandbox, so packages resolve there as here. One thing does not follow the
// copy: a test reads a reference fixture from the folder beside the repository
// (`<repo>/../shared/fixtures`, by a relative path), which from the sandbox lands in
// `.stryker-tmp/shared`; a link there makes it the same folder.
const shared = resolve(root, "..", "shared")
const sharedInTemp = join(root, tempDirName, "shared")
if (existsSync(shared) && !existsSync(sharedInTemp)) {
  mkdirSync(join(root, tempDirName), { recursive: true })
  symlinkSync(shared, sharedInTemp, "junction")
}

/** @type {import("@stryker-mutator/api/core").PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  // Named by its resolved location: with pnpm, Stryker's own folder does not hold the plugin, so
  // its default "@stryker-mutator/*" finds nothing.
  plugins: [import.meta.resolve("@stryker-mutator/vitest-runner")],
  vitest: { configFile: "vitest.mutation.config.ts" },
  mutate: [
    // engine
    "packages/core/src/engine/{Packer,BatchJob,BatchRunner,RunState,ModelFamily}.ts",
    // extraction (every module holds code; the internal sentence splitter is left out)
    "packages/core/src/extraction/*.ts"
  ],
  // Only what the core tests need goes into the sandbox: the root manifests and configs, and
  // the core package without its build output.
  ignorePatterns: [
    "/*",
    "!/package.json",
    "!/tsconfig*.json",
    "!/vitest.mutation.config.ts",
    "!/packages",
    "/packages/*",
    "!/packages/core",
    "/packages/core/dist",
    "/packages/core/.tsc"
  ],
  tempDirName,
  coverageAnalysis: "perTest",
  // A static mutant (a module-level value: a schema, a template, a constant) is executed once,
  // when the module loads, so no coverage can narrow its tests: every test runs for it, and
  // with vitest that means reloading the whole suite. They are left out (Stryker reports them
  // as ignored, outside the score) so that a run fits in about an hour on 2 cores; run them with
  // `npm run mutation -- --ignoreStatic false`. TESTING.md gives their count.
  ignoreStatic: true,
  // Two cores, shared: at most two test runners.
  concurrency: 2,
  timeoutMS: 60_000,
  timeoutFactor: 3,
  dryRunTimeoutMinutes: 15,
  reporters: ["html", "json", "clear-text", "progress"],
  htmlReporter: { fileName: "reports/mutation/index.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  clearTextReporter: { allowColor: false, reportScoreTable: true, reportMutants: true, logTests: false },
  thresholds: { high: 80, low: 70, break: null }
}
