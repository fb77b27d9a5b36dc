/**
 * Crash proof of `batch-extract build`: a build is killed with SIGKILL while its embedding
 * job runs, and built again. `extract` (a child, `--backend aws`) makes the chunk files; the
 * build (a child too) embeds their texts in Bedrock batch jobs on the emulator living in this
 * test process (so the job outlives the kill), and records its jobs in the run state under
 * the output. The build is killed as soon as the run state shows an `embeddings` job in
 * progress; the next build re-attaches that job rather than creating another.
 *
 * In the end: every job was created once (no input staged twice, no create sent twice); no
 * text went into two jobs, none went both in a job and on demand, none on demand twice (but
 * for the calls in flight at the kill); the graph is the one the chunk files make; and a
 * third build finds every text's vector current (it embeds nothing).
 */
import { Build, BuildConfig, GraphModel } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Result } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import * as Cli from "./support/cli.ts"
import type * as Proxy from "./support/proxy.ts"
import * as World from "./support/world.ts"

const stage = "embeddings"
const runId = "build-kill"

const isCreate = (r: Proxy.Seen) => r.method === "POST" && r.url.split("?")[0] === "/model-invocation-job"
const isStaging = (r: Proxy.Seen) => r.method === "PUT" && r.url.includes("/input/")

/** The job names of the creates the control plane answered for the build's run. */
const createdJobNames = (proxy: Proxy.Proxy): Array<string> =>
  proxy.kept().filter(isCreate).flatMap((kept) => {
    const body = JSON.parse(kept.requestBody.toString("utf8")) as {
      readonly jobName?: string
      readonly inputDataConfig?: { readonly s3InputDataConfig?: { readonly s3Uri?: string } }
    }
    const input = body.inputDataConfig?.s3InputDataConfig?.s3Uri ?? ""
    return input.includes(`/batch-extract/${runId}/`) && kept.status === 200 ? [body.jobName ?? ""] : []
  })

/**
 * The job inputs of the build's run the S3 proxy saw stored, by key (the last write of each
 * key: a killed build may have staged an input it never recorded, staged again by the next):
 * the record id of each line.
 */
const stagedByKey = (proxy: Proxy.Proxy): Map<string, Array<string>> => {
  const inputs = new Map<string, Array<string>>()
  for (const kept of proxy.kept()) {
    const key = kept.url.split("?")[0]!.replace(`/${World.bucket}/`, "")
    if (!isStaging(kept) || kept.status >= 300 || !key.startsWith(`batch-extract/${runId}/`)) continue
    const lines = World.payloadOf(kept).toString("utf8").split("\n").filter((line) => line !== "")
    inputs.set(key, lines.map((line) => (JSON.parse(line) as { recordId: string }).recordId))
  }
  return inputs
}

/** What `build --json` prints (the part this test reads). */
interface BuildJson {
  readonly runId: string
  readonly chunks: number
  readonly unchangedChunks: number
  readonly graph: GraphModel.Counts
  readonly embeddings: {
    readonly written: { readonly chunk: number; readonly statement: number; readonly topic: number }
    readonly batch: number
    readonly onDemand: number
    readonly unchanged: number
    readonly failed: ReadonlyArray<unknown>
  }
}

const jsonOf = (exit: Cli.Exit): BuildJson => {
  const json = Cli.jsonOf(exit)
  assert.isTrue(Option.isSome(json), `build --json printed its summary\n${Cli.describe(exit)}`)
  return Option.getOrThrow(json) as BuildJson
}

/** The chunk files under `<out>/default`, decoded as the build reads them. */
const chunksOf = (out: string): Array<GraphModel.ChunkInput> =>
  World.chunkFiles(out).map((file) => Result.getOrThrow(GraphModel.decodeChunk(JSON.parse(readFileSync(file, "utf8")))))

describe("durable builds: crash and build again", () => {
  it.live(
    "a build killed while its embedding job runs, built again: the job is re-attached, no text is embedded twice, the graph and vectors are whole",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("build-crash")
        const world = yield* World.make({ emulator: { quotas: { maxConcurrentJobs: 100 } } })
        // Keep what each job was given (its staged input) and how it was created.
        world.s3.setPlan((r) => (isStaging(r) ? { keepBodies: true } : {}))
        world.bedrock.setPlan((r) => (isCreate(r) ? { keepBodies: true } : {}))
        const invocations = () => Effect.runSync(world.local.bedrock.counters).callsByOperation.InvokeModel ?? 0

        // The chunk files: 30 documents, about 90 chunks (below a job's minimum: on demand).
        const corpus = World.writeCorpus(join(dir, "corpus"), 30)
        const out = join(dir, "out")
        const extracted = yield* Cli.run(
          ["extract", corpus, "--out", out, "--run-id", "corpus", "--backend", "aws", ...World.flags()],
          { env: world.env() }
        )
        assert.strictEqual(extracted.code, 0, Cli.describe(extracted))
        const chunks = chunksOf(out)
        const graph = Result.getOrThrow(GraphModel.build(chunks, { buildTimestamp: 0 }))
        const expected = GraphModel.counts(graph)
        const texts = graph.embeddings.filter((e) => e.index === "chunk" || e.index === "statement")
        const chunkTexts = texts.filter((e) => e.index === "chunk").length
        const statementTexts = texts.length - chunkTexts
        assert.strictEqual(chunkTexts, chunks.length)
        // Enough texts for batch jobs (Bedrock's minimum is 100 records a job).
        assert.isAtLeast(texts.length, 250, "texts to embed")

        // The first build, killed as soon as one of its embedding jobs is in progress.
        const buildArgs = ["build", out, "--run-id", runId, "--backend", "aws", "--json", ...World.flags()]
        const invocationsBefore = invocations()
        let atKill: Array<World.JobRow> = []
        const killed = yield* Cli.run(buildArgs, {
          env: world.env(),
          timeoutMs: 60_000,
          killWhen: () => {
            const jobs = World.jobs(out, runId).filter((job) => job.stage === stage)
            if (!jobs.some((job) => job.status === "InProgress")) return false
            atKill = jobs
            return true
          }
        })
        assert.isTrue(killed.killed, `killed while a job runs\n${Cli.describe(killed)}`)
        assert.strictEqual(killed.signal, "SIGKILL", Cli.describe(killed))
        assert.strictEqual(World.integrity(out), "ok", "the run state after the kill")
        const runningAtKill = atKill.filter((job) => job.status === "InProgress" && !job.finished)
        assert.isNotEmpty(runningAtKill)
        const createsAtKill = createdJobNames(world.bedrock).length
        const onDemandAtKill = invocations() - invocationsBefore
        // The run state still holds the killed build's jobs (nothing forgot them).
        const jobsAfterKill = World.jobs(out, runId).filter((job) => job.stage === stage)
        for (const job of runningAtKill) {
          assert.isTrue(
            jobsAfterKill.some((row) => row.jobName === job.jobName && !row.finished),
            `${job.jobName} is open in the run state after the kill`
          )
        }

        // Built again, to the end: the open jobs are re-attached, not created again.
        const second = yield* Cli.run(buildArgs, { env: world.env(), timeoutMs: 60_000 })
        assert.strictEqual(second.code, 0, Cli.describe(second))
        const s2 = jsonOf(second)
        assert.strictEqual(s2.runId, runId)
        assert.deepStrictEqual(s2.embeddings.failed, [])
        assert.deepStrictEqual(s2.graph, expected, "the graph the chunk files make")
        assert.strictEqual(s2.chunks, chunks.length)
        assert.notInclude(second.stderr, "no longer among the inputs", "every record of a re-attached job came in")

        // The jobs: one create per job name, one job per input, each job created once.
        const creates = createdJobNames(world.bedrock)
        const twice = (keys: ReadonlyArray<string>) => keys.filter((key, i) => keys.indexOf(key) !== i)
        assert.deepStrictEqual(twice(creates), [], "job names created twice")
        assert.isTrue(creates.every((name) => name.startsWith(`be-${stage}-${runId}-`)), creates.join(", "))
        for (const job of atKill) {
          assert.strictEqual(creates.filter((name) => name === job.jobName).length, 1, `${job.jobName} created once`)
        }
        const jobs = (yield* world.local.bedrock.jobs).filter((job) =>
          (job.inputS3Uri ?? "").includes(`/batch-extract/${runId}/`)
        )
        assert.deepStrictEqual(twice(jobs.map((job) => job.inputS3Uri ?? "")), [], "inputs with two jobs")
        assert.deepStrictEqual(jobs.map((job) => job.jobName).sort(), [...creates].sort(), "a create per job")
        assert.isTrue(jobs.every((job) => job.status === "Completed"), "every job completed")

        // The texts: none in two jobs; none in a job and on demand; on demand once each, but for
        // the calls in flight at the kill (at most the on-demand concurrency, 4 by default).
        const inputs = stagedByKey(world.s3)
        const inJobs = jobs.flatMap((job) => {
          const records = inputs.get((job.inputS3Uri ?? "").replace(/^s3:\/\/[^/]+\//, ""))
          assert.isDefined(records, `the staged input of ${job.jobName} was seen`)
          return records!
        })
        assert.deepStrictEqual(twice(inJobs).slice(0, 5), [], "texts in two jobs")
        const recordIds = new Set(texts.map((e) =>
          Build.recordIdOf({
            index: e.index as Build.BuiltIndex,
            id: e.id,
            digest: Build.digestOf(BuildConfig.defaultEmbeddingModel, 1024, e.text)
          })
        ))
        assert.deepStrictEqual(inJobs.filter((id) => !recordIds.has(id)).slice(0, 5), [], "records that are no text")
        const onDemand = invocations() - invocationsBefore
        const embeddedTimes = inJobs.length + onDemand
        assert.isAtLeast(embeddedTimes, texts.length)
        assert.isAtMost(embeddedTimes, texts.length + 4, "texts embedded twice")
        assert.strictEqual(
          s2.embeddings.batch + s2.embeddings.onDemand + s2.embeddings.unchanged,
          texts.length,
          "the second build accounts for every text (embedded, recovered, or current)"
        )
        assert.strictEqual(
          s2.embeddings.written.chunk + s2.embeddings.written.statement,
          s2.embeddings.batch + s2.embeddings.onDemand,
          "a vector written per text answered"
        )

        // A third build: every vector is current, nothing is embedded, the graph is the same.
        const creates2 = creates.length
        const invocations2 = invocations()
        const third = yield* Cli.run(buildArgs, { env: world.env(), timeoutMs: 60_000 })
        assert.strictEqual(third.code, 0, Cli.describe(third))
        const s3 = jsonOf(third)
        assert.strictEqual(s3.embeddings.batch, 0)
        assert.strictEqual(s3.embeddings.onDemand, 0)
        assert.strictEqual(s3.embeddings.unchanged, texts.length, "every text's vector is current")
        assert.deepStrictEqual(s3.embeddings.written, { chunk: 0, statement: 0, topic: 0 })
        assert.deepStrictEqual(s3.graph, expected)
        assert.strictEqual(createdJobNames(world.bedrock).length, creates2, "no job created by the third build")
        assert.strictEqual(invocations(), invocations2, "no on-demand call by the third build")
        // The build forgot its embedding answers and finished jobs.
        assert.deepStrictEqual(World.jobs(out, runId).filter((job) => job.finished), [])
        assert.strictEqual(World.outcomes(out, runId).get(stage)?.size ?? 0, 0)

        console.log(JSON.stringify({
          buildCrash: {
            chunks: chunks.length,
            texts: texts.length,
            chunkTexts,
            statementTexts,
            jobsAtKill: atKill.map((job) => `${job.label}:${job.status ?? "-"}:${job.records}`),
            createsAtKill,
            onDemandAtKill,
            creates: creates.length,
            jobs: jobs.length,
            textsInJobs: inJobs.length,
            onDemand,
            second: s2.embeddings,
            third: s3.embeddings,
            elapsedMs: {
              extract: Math.round(extracted.elapsedMs),
              killed: Math.round(killed.elapsedMs),
              second: Math.round(second.elapsedMs),
              third: Math.round(third.elapsedMs)
            }
          }
        }))
      }).pipe(Effect.scoped),
    120_000
  )
  it.live(
    "extract --build killed while it extracts, resumed: the build goes on from the chunks already written, " +
      "the graph and vectors are whole, no job is created twice, a build after embeds and writes nothing",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("extract-build-crash")
        const world = yield* World.make({ emulator: { quotas: { maxConcurrentJobs: 100 } } })
        world.bedrock.setPlan((r) => (isCreate(r) ? { keepBodies: true } : {}))
        const corpus = World.writeCorpus(join(dir, "corpus"), 40)
        const out = join(dir, "out")
        const run = "extract-build"
        const args = ["extract", corpus, "--out", out, "--run-id", run, "--backend", "aws", "--build"]
        // Killed once some chunks are written, before the extraction ends.
        let writtenAtKill = 0
        const killed = yield* Cli.run([...args, ...World.flags()], {
          env: world.env(),
          timeoutMs: 60_000,
          killWhen: () => {
            const written = [...World.chunkStates(out, run).values()].filter((c) => c.state === "extracted").length
            if (written < 10 || World.finished(out, run)) return false
            writtenAtKill = written
            return true
          }
        })
        assert.isTrue(killed.killed, `killed while it extracts\n${Cli.describe(killed)}`)
        assert.isFalse(World.finished(out, run), "the extraction had not ended")

        // Resumed: the run records its build, so the resume extracts the rest and builds.
        const resumed = yield* Cli.run(["resume", run, "--out", out, "--json"], { env: world.env(), timeoutMs: 90_000 })
        assert.strictEqual(resumed.code, 0, Cli.describe(resumed))
        assert.include(resumed.stderr, "build build-", "the resume built")
        assert.isTrue(World.finished(out, run))
        const chunks = chunksOf(out)
        const graph = Result.getOrThrow(GraphModel.build(chunks, { buildTimestamp: 0 }))
        const texts = graph.embeddings.filter((e) => e.index === "chunk" || e.index === "statement").length
        assert.isAbove(chunks.length, writtenAtKill, "chunks were left to extract at the kill")
        // `--json`: one document, the run's summary with the build's under `build`.
        const printed = Option.getOrThrow(Cli.jsonOf(resumed)) as {
          readonly runId: string
          readonly build: BuildJson
        }
        assert.strictEqual(printed.runId, run)
        assert.deepStrictEqual(printed.build.graph, GraphModel.counts(graph), "the graph after the resume")
        assert.deepStrictEqual(printed.build.embeddings.failed, [])

        // Every job (extraction and embeddings) was created once.
        const names = world.bedrock.kept().filter(isCreate).filter((kept) => kept.status === 200).map((kept) =>
          (JSON.parse(kept.requestBody.toString("utf8")) as { readonly jobName?: string }).jobName ?? ""
        )
        assert.deepStrictEqual(names.filter((name, i) => names.indexOf(name) !== i), [], "jobs created twice")
        assert.isTrue(names.some((name) => name.startsWith(`be-${stage}-`)), `embedding jobs: ${names.join(", ")}`)

        // A build over the result: the graph is the files' graph, every text's vector is current.
        const after = yield* Cli.run(["build", out, "--backend", "aws", "--json", ...World.flags()], {
          env: world.env(),
          timeoutMs: 60_000
        })
        assert.strictEqual(after.code, 0, Cli.describe(after))
        const summary = jsonOf(after)
        assert.deepStrictEqual(summary.graph, GraphModel.counts(graph), "the graph the chunk files make")
        assert.strictEqual(summary.embeddings.batch + summary.embeddings.onDemand, 0, "nothing left to embed")
        assert.strictEqual(summary.embeddings.unchanged, texts)
        assert.strictEqual(summary.unchangedChunks, chunks.length, "every chunk was built whole")
        console.log(JSON.stringify({
          extractBuildCrash: {
            chunks: chunks.length,
            texts,
            writtenAtKill,
            jobs: names.length,
            elapsedMs: { killed: Math.round(killed.elapsedMs), resumed: Math.round(resumed.elapsedMs) }
          }
        }))
      }).pipe(Effect.scoped),
    180_000
  )
})
