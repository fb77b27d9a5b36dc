#!/usr/bin/env node
/**
 * The `batch-extract` executable. Needs Node >= 22.19 (Effect 4): checked here, before
 * anything that needs it is loaded, so an older Node gets a clear message.
 */
const [major = 0, minor = 0] = process.versions.node.split(".").map(Number)
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(
    `batch-extract needs Node >= 22.19 (Effect 4), but this is Node ${process.versions.node} (${process.execPath})\n`
  )
  process.exit(1)
}

// Some dependencies use Node features still marked experimental; their notices are noise here.
process.removeAllListeners("warning")
process.on("warning", (warning) => {
  if (warning.name !== "ExperimentalWarning") process.stderr.write(`${warning.name}: ${warning.message}\n`)
})

const Cli = await import("./Cli.ts")
Cli.main()
