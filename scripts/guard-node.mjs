// Fails loudly when a script runs on a Node older than the one Effect 4 needs.
// Plain JavaScript on purpose: it must run on any Node, old ones included.
const [major, minor] = process.versions.node.split(".").map(Number)
const ok = major > 22 || (major === 22 && minor >= 19)
if (!ok) {
  process.stderr.write(
    `batch-extract needs Node >= 22.19 (Effect 4), but this is Node ${process.versions.node} (${process.execPath}).\n` +
      "Run it through the root scripts (npm test, npm run demo): they install Node 22 into node_modules and use it.\n"
  )
  process.exit(1)
}
