// Removes the build output of the published packages (dist/ and the build's tsbuildinfo), so a
// build never ships a module whose source has moved or gone. Plain JavaScript: runs on any Node.
// Usage: node scripts/clean-dist.mjs [package directories...] (default: every package).
import { existsSync, readdirSync, rmSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const given = process.argv.slice(2)
const packages = given.length > 0
  ? given.map((dir) => resolve(dir))
  : readdirSync(join(root, "packages")).map((name) => join(root, "packages", name))
for (const dir of packages) {
  if (!existsSync(join(dir, "tsconfig.build.json"))) continue
  rmSync(join(dir, "dist"), { recursive: true, force: true })
  rmSync(join(dir, ".tsc", "build.tsbuildinfo"), { force: true })
}
