/**
 * The layout's rules, checked on the sources: the engine imports nothing from the extraction;
 * core never imports the AWS SDK; production code never imports the test kit, except the
 * local emulation (it answers with the offline model); durable execution and SQL only in
 * `run/`; the live AWS entry point never reaches the emulation; one model of the batch
 * service serves both of its simulated faces.
 */
import { assert, describe, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const packages = resolve(dirname(fileURLToPath(import.meta.url)), "../..")

const sources = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sources(path)
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [path] : []
  })

/** Every module specifier a file imports (static, dynamic and type-only). */
const importsOf = (file: string): Array<string> =>
  [...readFileSync(file, "utf8").matchAll(/(?:from|import)\s*\(?\s*"([^"]+)"/g)].map((match) => match[1]!)

/** Files a file imports, resolved; package imports as they are. */
const edges = (file: string) =>
  importsOf(file).map((specifier) => specifier.startsWith(".") ? resolve(dirname(file), specifier) : specifier)

const core = (...parts: Array<string>) => join(packages, "core", "src", ...parts)
const aws = (...parts: Array<string>) => join(packages, "aws", "src", ...parts)
const shown = (path: string) => relative(packages, path)

/** The files reachable from `entry` through relative imports. */
const reachable = (entry: string): Set<string> => {
  const seen = new Set<string>()
  const visit = (file: string) => {
    if (seen.has(file)) return
    seen.add(file)
    for (const target of edges(file)) if (target.startsWith("/")) visit(target)
  }
  visit(entry)
  return seen
}

describe("layout", () => {
  it("the engine imports nothing from the extraction, nor the test kit", () => {
    const engine = sources(core("engine"))
    assert.isAbove(engine.length, 10)
    for (const file of engine) {
      for (const target of edges(file)) {
        assert.isFalse(target.startsWith(core("extraction")), `${shown(file)} imports ${shown(target)}`)
        assert.isFalse(target.startsWith(core("testing")), `${shown(file)} imports ${shown(target)}`)
      }
    }
  })

  it("core never imports the AWS SDK; production code imports the test kit only in the local emulation", () => {
    for (const file of sources(core())) {
      for (const target of importsOf(file)) assert.notMatch(target, /^@aws-sdk\//, shown(file))
    }
    const production = [
      ...sources(core()).filter((file) => !file.startsWith(core("testing"))),
      ...sources(aws()),
      ...sources(join(packages, "cli", "src"))
    ]
    const emulation = new Set([aws("BedrockEmulator.ts"), aws("LocalS3.ts")])
    for (const file of production) {
      if (emulation.has(file)) continue
      for (const target of edges(file)) {
        assert.isFalse(
          target === "@batch-extract/core/testing" || target.startsWith(core("testing")),
          `${shown(file)} imports the test kit`
        )
      }
    }
  })

  it("the live AWS entry point never reaches the emulation, fauxqs or the test kit", () => {
    const live = reachable(aws("index.ts"))
    assert.isTrue(live.has(aws("S3ObjectStore.ts")))
    assert.isTrue(live.has(aws("ServiceQuotasAccountQuotas.ts")))
    for (const file of live) {
      assert.notInclude(
        ["BedrockEmulator.ts", "LocalBackend.ts", "LocalS3.ts", "local.ts", "serviceQuotasEmulation.ts"],
        file.split("/").at(-1)
      )
      for (const target of edges(file)) {
        assert.notStrictEqual(target, "fauxqs", shown(file))
        assert.notStrictEqual(target, "@batch-extract/core/testing", shown(file))
      }
    }
  })

  it("one model of the batch service: the port-level simulation and the HTTP emulator both answer from BedrockBatchModel, and nothing else implements jobs", () => {
    const model = core("testing", "BedrockBatchModel.ts")
    assert.include(edges(core("testing", "SimulatedBatchInference.ts")), model)
    assert.isTrue(importsOf(aws("BedrockEmulator.ts")).includes("@batch-extract/core/testing"))
    assert.match(readFileSync(aws("BedrockEmulator.ts"), "utf8"), /BedrockBatchModel as Model/)
    // The job lifecycle, its statuses and the output files are written in the model alone.
    const others = [...sources(core("testing")), ...sources(aws())].filter((file) => file !== model)
    for (const file of others) {
      assert.notMatch(readFileSync(file, "utf8"), /\}manifest\.json\.out`/, `${shown(file)} writes job manifests`)
    }
    const hashes = [...sources(core()), ...sources(aws())].filter((file) =>
      /0x811c9dc5/.test(readFileSync(file, "utf8"))
    )
    assert.deepStrictEqual(hashes.map(shown), ["core/src/testing/SeededRandom.ts"], "one FNV hash")
  })

  it("durable execution and SQL live in core's run/ folder only: the engine and the extraction reach the run state through the RunState port", () => {
    const durable = /^effect\/(workflow|cluster|sql)(\/|$)/
    const elsewhere = [...sources(core("engine")), ...sources(core("extraction"))]
    for (const file of elsewhere) {
      for (const target of importsOf(file)) assert.notMatch(target, durable, shown(file))
    }
    const run = sources(core("run"))
    assert.isTrue(run.some((file) => importsOf(file).some((target) => /^effect\/workflow$/.test(target))))
    assert.isTrue(run.some((file) => importsOf(file).some((target) => /^effect\/sql$/.test(target))))
  })
})
