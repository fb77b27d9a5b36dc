// Entry point of the root npm scripts. Runs on any Node (the machine's may be older than
// Effect 4 needs): it installs the workspace with pnpm (pinned, through npx, so no global
// pnpm is needed), which also brings Node 22 into node_modules/.bin, then runs the named
// workspace script with that Node first on PATH. Inside the workspace, packages resolve to
// their TypeScript sources (the "@batch-extract/source" export condition), so nothing needs
// building first. Whatever the install prints goes to stderr: stdout is the script's alone.
import { spawnSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { delimiter, dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const pnpmVersion = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).packageManager.split("@")[1]
const [script, ...args] = process.argv.slice(2)
if (!script) {
  process.stderr.write("usage: node scripts/run.mjs <script> [args...]\n")
  process.exit(2)
}

const binDir = join(root, "node_modules", ".bin")
const sourceCondition = "--conditions=@batch-extract/source"
const nodeOptions = [process.env.NODE_OPTIONS ?? "", sourceCondition].filter((option) => option !== "").join(" ")
const env = {
  ...process.env,
  PATH: `${binDir}${delimiter}${process.env.PATH ?? ""}`,
  NODE_OPTIONS: nodeOptions,
  npm_config_update_notifier: "false"
}
// The root .npmrc silences npm's banner for the root scripts; pnpm gets its usual log level.
delete env.npm_config_loglevel
const npx = process.platform === "win32" ? "npx.cmd" : "npx"
const pnpm = (pnpmArgs, stdio = "inherit") =>
  spawnSync(npx, ["-y", `pnpm@${pnpmVersion}`, "--loglevel=info", ...pnpmArgs], { cwd: root, env, stdio })

// Install when node_modules is missing or older than the lockfile.
const lockfile = join(root, "pnpm-lock.yaml")
const installed = join(root, "node_modules", ".pnpm", "lock.yaml")
const stale = !existsSync(installed) || !existsSync(lockfile) ||
  readFileSync(installed, "utf8") !== readFileSync(lockfile, "utf8") && process.env.BATCH_EXTRACT_SKIP_INSTALL !== "1"
if (stale) {
  const frozen = existsSync(lockfile) ? ["--frozen-lockfile"] : []
  const result = pnpm(["install", ...frozen, "--config.confirmModulesPurge=false"], ["inherit", 2, 2])
  if (result.status !== 0) {
    process.stderr.write(`pnpm install failed (exit ${result.status ?? result.signal})\n`)
    process.exit(result.status ?? 1)
  }
}

// The command runs as itself (no package-manager banner on stdout), on the workspace's Node.
const commands = { cli: "packages/cli/src/bin.ts" }
const result = commands[script] !== undefined
  ? spawnSync(join(binDir, "node"), [join(root, commands[script]), ...args], {
    // Paths on the command line are the caller's: npm runs scripts from the root but says where it was called.
    cwd: process.env.INIT_CWD ?? process.cwd(),
    env,
    stdio: "inherit"
  })
  : pnpm(["run", script, ...args])
if (result.signal) process.kill(process.pid, result.signal)
process.exit(result.status ?? 1)
