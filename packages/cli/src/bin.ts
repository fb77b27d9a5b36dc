#!/usr/bin/env node
/**
 * The `batch-extract` executable. Needs Node >= 22.19: run it through the workspace's
 * scripts (`npm run batch-extract -- …`), which use the Node the workspace installs.
 */
const [major = 0, minor = 0] = process.versions.node.split(".").map(Number)
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(`batch-extract needs Node >= 22.19 (Effect 4), this is Node ${process.versions.node}\n`)
  process.exit(1)
}

// Some dependencies use Node features still marked experimental; their notices are noise here.
process.removeAllListeners("warning")
process.on("warning", (warning) => {
  if (warning.name !== "ExperimentalWarning") process.stderr.write(`${warning.name}: ${warning.message}\n`)
})

const Cli = await import("./Cli.ts")
Cli.main()
