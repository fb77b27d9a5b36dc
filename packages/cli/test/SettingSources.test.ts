/**
 * Where `batch-extract extract` takes its settings from, proved on what a run does (a child
 * process, `--backend aws`, against the local emulation), not on the merge alone:
 *
 * - a flag wins over the environment, which wins over the config file, which wins over the
 *   default — for a batch setting sent to Bedrock (the model of the jobs), one that shapes the
 *   S3 keys (the key prefix) and an extraction setting (the chunk size);
 * - a config file in the reference's snake_case names is read, and the reference's own
 *   environment variables (`EXTRACTION_MODEL`, `EXTRACTION_NUM_WORKERS`,
 *   `EXTRACTION_BATCH_SIZE`, `AWS_REGION`) take effect;
 * - VPC subnets and security groups and job tags given as flags reach every job's create
 *   request (as the SDK sent it, seen by the proxy in front of the control plane), and the
 *   emulated service keeps the VPC configuration it was given.
 */
import type * as Local from "@batch-extract/aws/local"
import { Chunker, Document } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Cli from "./support/cli.ts"
import * as World from "./support/world.ts"

/** The library's default model (`model.modelId`). */
const defaultModel = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"

/**
 * The settings every run here needs but does not test (the bucket, the role, fast polls), and
 * jobs of any size: the emulated quota's least records per job is lowered to 1 (see
 * {@link makeWorld}), so a corpus of a few chunks still goes through batch jobs.
 */
const baseFlags = [
  "--bucket-name",
  World.bucket,
  "--role-arn",
  World.roleArn,
  "--min-records-per-job",
  "1",
  "--poll-initial-seconds",
  "0.05",
  "--poll-max-seconds",
  "0.25",
  "--path-metadata-key",
  ""
]

/** A world whose emulated service takes jobs of a single record (fast jobs, unless `emulator` says otherwise). */
const makeWorld = (emulator: Local.BedrockEmulator.Options = {}) =>
  World.make({ emulator: { timings: {}, quotas: { minRecordsPerJob: 1 }, ...emulator } })

/** The jobs the emulator created for a run (their inputs are staged under `…/batch-extract/<runId>/`). */
const jobsOfRun = (world: World.World, runId: string) =>
  Effect.map(
    world.local.bedrock.jobs,
    (jobs) => jobs.filter((job) => (job.inputS3Uri ?? "").includes(`/batch-extract/${runId}/`))
  )

/** The chunk ids the library gives the corpus's documents at a chunk size (no metadata, as `--path-metadata-key ""`). */
const expectedChunkIds = (corpus: string, files: ReadonlyArray<string>, chunkSize: number, chunkOverlap: number) =>
  Effect.gen(function*() {
    const ids: Array<string> = []
    for (const file of files) {
      const text = readFileSync(join(corpus, file), "utf8")
      const chunks = yield* Chunker.chunk(Document.make(text), { chunkSize, chunkOverlap })
      ids.push(...chunks.map((chunk) => chunk.id))
    }
    return ids.sort()
  })

const corpusFiles = ["doc-000.txt", "doc-001.txt"]

describe("settings, as a run takes them", () => {
  it.live(
    "flag > environment > config file > default: the model of the jobs, the key prefix of their files, the chunk size",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("precedence")
        const world = yield* makeWorld()
        const corpus = World.writeCorpus(join(dir, "corpus"), corpusFiles.length)
        const configFile = join(dir, "settings.json")
        writeFileSync(
          configFile,
          JSON.stringify({
            keyPrefix: "from-file",
            model: { modelId: "anthropic.claude-3-haiku-20240307-v1:0" },
            extraction: { chunkSize: 128 }
          })
        )
        const environment = {
          BATCH_EXTRACT_KEY_PREFIX: "from-env",
          BATCH_EXTRACT_MODEL_ID: "us.anthropic.claude-3-5-haiku-20241022-v1:0",
          BATCH_EXTRACT_CHUNK_SIZE: "64"
        }
        const flagged = ["--key-prefix", "from-flag", "--model", "us.anthropic.claude-sonnet-4-20250514-v1:0"]
        const layers: ReadonlyArray<{
          readonly runId: string
          readonly args: ReadonlyArray<string>
          readonly env: Readonly<Record<string, string>>
          readonly keyPrefix: string | undefined
          readonly model: string
          readonly chunkSize: number
        }> = [
          { runId: "defaults", args: [], env: {}, keyPrefix: undefined, model: defaultModel, chunkSize: 256 },
          {
            runId: "file",
            args: ["--config", configFile],
            env: {},
            keyPrefix: "from-file",
            model: "anthropic.claude-3-haiku-20240307-v1:0",
            chunkSize: 128
          },
          {
            runId: "env",
            args: ["--config", configFile],
            env: environment,
            keyPrefix: "from-env",
            model: "us.anthropic.claude-3-5-haiku-20241022-v1:0",
            chunkSize: 64
          },
          {
            runId: "flag",
            args: ["--config", configFile, ...flagged, "--chunk-size", "48"],
            env: environment,
            keyPrefix: "from-flag",
            model: "us.anthropic.claude-sonnet-4-20250514-v1:0",
            chunkSize: 48
          }
        ]
        const chunkCounts = new Set<number>()
        for (const layer of layers) {
          const out = join(dir, layer.runId)
          const exit = yield* Cli.run(
            ["extract", corpus, "--out", out, "--run-id", layer.runId, "--backend", "aws", ...baseFlags, ...layer.args],
            { env: world.env(layer.env) }
          )
          assert.strictEqual(exit.code, 0, `${layer.runId}: ${Cli.describe(exit)}`)

          // The model and the key prefix, as Bedrock got them.
          const jobs = yield* jobsOfRun(world, layer.runId)
          assert.isAbove(jobs.length, 0, `${layer.runId}: its records went through batch jobs`)
          const prefix = layer.keyPrefix === undefined ? "" : `${layer.keyPrefix}/`
          const root = `s3://${World.bucket}/${prefix}batch-extract/${layer.runId}/`
          for (const job of jobs) {
            assert.strictEqual(job.modelId, layer.model, `${layer.runId}: the model of ${job.jobName}`)
            assert.isTrue(job.inputS3Uri?.startsWith(root), `${layer.runId}: ${job.inputS3Uri} is under ${root}`)
            assert.isTrue(job.outputS3Uri?.startsWith(root), `${layer.runId}: ${job.outputS3Uri} is under ${root}`)
          }

          // The chunk size, as the chunks written show it: the library's chunks at that size.
          const written = [...World.readChunks(out).keys()].sort()
          assert.deepStrictEqual(
            written,
            yield* expectedChunkIds(corpus, corpusFiles, layer.chunkSize, 25),
            `${layer.runId}: chunks of ${layer.chunkSize} tokens`
          )
          chunkCounts.add(written.length)
        }
        // Each layer's chunk size gives other chunks, so the comparison tells the layers apart.
        assert.strictEqual(chunkCounts.size, layers.length, `chunk counts per layer: ${[...chunkCounts].join(", ")}`)
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "a config file in the reference's snake_case names is read; EXTRACTION_MODEL, EXTRACTION_NUM_WORKERS, EXTRACTION_BATCH_SIZE and AWS_REGION take effect",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("snake")
        // About 300 chunks: three jobs, long enough to overlap if more than one were allowed at once.
        const documents = 60
        const world = yield* makeWorld({ timings: { inProgressMs: 300 } })
        const corpus = World.writeCorpus(join(dir, "corpus"), documents)
        const configFile = join(dir, "settings.json")
        // Every setting the run needs, in snake_case (flat, and in the reference's groups); no flag but --config.
        writeFileSync(
          configFile,
          JSON.stringify({
            bucket_name: World.bucket,
            role_arn: World.roleArn,
            key_prefix: "snake/case",
            batch_config: { max_batch_size: 100, min_records_per_job: 1, max_num_concurrent_batches: 1 },
            poll_initial_seconds: 0.05,
            poll_max_seconds: 0.25,
            extraction: { chunk_size: 48, chunk_overlap: 0, enable_proposition_extraction: false }
          })
        )
        const out = join(dir, "out")
        const env = world.env({
          EXTRACTION_MODEL: "us.anthropic.claude-3-5-haiku-20241022-v1:0",
          EXTRACTION_NUM_WORKERS: "1",
          EXTRACTION_BATCH_SIZE: "7"
        })
        // The region comes from AWS_REGION alone (no --region, nothing in the file).
        assert.strictEqual(env.AWS_REGION, World.region)
        const exit = yield* Cli.run(
          [
            "extract",
            corpus,
            "--out",
            out,
            "--run-id",
            "snake",
            "--backend",
            "aws",
            "--path-metadata-key",
            "",
            "--config",
            configFile
          ],
          { env }
        )
        assert.strictEqual(exit.code, 0, Cli.describe(exit))

        // From the file: the key prefix, the records per job, the chunks, one stage only.
        const jobs = yield* jobsOfRun(world, "snake")
        const stored = World.jobs(out, "snake")
        assert.isAtLeast(jobs.length, 3, "several jobs")
        for (const job of jobs) {
          assert.isTrue(job.inputS3Uri?.startsWith(`s3://${World.bucket}/snake/case/batch-extract/snake/`))
          // From EXTRACTION_MODEL.
          assert.strictEqual(job.modelId, "us.anthropic.claude-3-5-haiku-20241022-v1:0")
        }
        assert.isAtMost(Math.max(...stored.map((job) => job.records)), 100, "max_batch_size")
        assert.deepStrictEqual([...new Set(stored.map((job) => job.stage))], ["topics"], "no proposition stage")
        const files = Array.from({ length: documents }, (_, d) => `doc-${String(d).padStart(3, "0")}.txt`)
        assert.deepStrictEqual(
          [...World.readChunks(out).keys()].sort(),
          yield* expectedChunkIds(corpus, files, 48, 0),
          "chunk_size and chunk_overlap"
        )

        // From EXTRACTION_NUM_WORKERS (with max_num_concurrent_batches 1): one job at a time.
        const counters = yield* world.local.bedrock.counters
        assert.strictEqual(counters.peakConcurrentJobs, 1, "one worker with one batch: one job at a time")

        // What the run recorded (and a resume would use): the values from the file and the environment.
        const settings = World.runRow(out, "snake")?.settings as {
          readonly batch: Record<string, unknown>
          readonly extraction: Record<string, unknown>
        }
        assert.strictEqual(settings.batch.region, World.region)
        assert.strictEqual(settings.batch.extractionNumWorkers, 1)
        assert.strictEqual(settings.batch.maxNumConcurrentBatches, 1)
        assert.strictEqual(settings.batch.keyPrefix, "snake/case")
        assert.deepStrictEqual(settings.batch.model, { modelId: "us.anthropic.claude-3-5-haiku-20241022-v1:0" })
        assert.strictEqual(settings.extraction.extractionBatchSize, 7)
        assert.strictEqual(settings.extraction.chunkSize, 48)
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "--subnet-ids, --security-group-ids and --tags reach every job's create request",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("vpc-tags")
        const world = yield* makeWorld()
        // Keep the bodies of the control plane's requests and answers.
        world.bedrock.setPlan(() => ({ keepBodies: true }))
        const corpus = World.writeCorpus(join(dir, "corpus"), 2)
        const out = join(dir, "out")
        const subnets = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
        const groups = ["sg-0123456789abcdef0", "sg-00aa11bb22cc33dd4"]
        const exit = yield* Cli.run(
          [
            "extract",
            corpus,
            "--out",
            out,
            "--run-id",
            "vpc",
            "--backend",
            "aws",
            ...baseFlags,
            "--subnet-ids",
            subnets.join(","),
            "--security-group-ids",
            groups.join(","),
            "--tags",
            "team=graph,cost-center=4711,empty="
          ],
          { env: world.env() }
        )
        assert.strictEqual(exit.code, 0, Cli.describe(exit))

        const bodyOf = (buffer: Buffer) => JSON.parse(buffer.toString("utf8")) as Record<string, unknown>
        const creates = world.bedrock.kept().filter((kept) =>
          kept.method === "POST" && kept.url.split("?")[0] === "/model-invocation-job"
        )
        const jobs = yield* jobsOfRun(world, "vpc")
        assert.isAbove(jobs.length, 0)
        assert.isAtLeast(creates.length, jobs.length, "a create request per job")
        for (const create of creates) {
          assert.strictEqual(create.status, 200, create.responseBody.toString("utf8"))
          const request = bodyOf(create.requestBody)
          assert.deepStrictEqual(request.vpcConfig, { subnetIds: subnets, securityGroupIds: groups }, create.url)
          assert.deepStrictEqual(request.tags, [
            { key: "team", value: "graph" },
            { key: "cost-center", value: "4711" },
            { key: "empty", value: "" }
          ])
        }
        // The service kept the VPC configuration it was given (its description of each job says so).
        const described = world.bedrock.kept().filter((kept) =>
          kept.method === "GET" && kept.url.startsWith("/model-invocation-job/") && kept.status === 200
        )
        assert.isAbove(described.length, 0)
        for (const description of described) {
          assert.deepStrictEqual(bodyOf(description.responseBody).vpcConfig, {
            subnetIds: subnets,
            securityGroupIds: groups
          })
        }
      }).pipe(Effect.scoped),
    120_000
  )
})
