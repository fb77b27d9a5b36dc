/**
 * The account's quotas, proved on what `batch-extract extract --backend aws` (a child process)
 * does against the local emulation, whose Service Quotas answers the emulated account's quotas:
 *
 * - without quota settings, a run reads them (each smaller than the documented default), says
 *   so, records them with the run and in its summary, and keeps to them — the emulated Bedrock
 *   enforces the same quotas, so a run that used the defaults would have creates refused and
 *   jobs failed; a run resumed after a kill uses the recorded values without reading again
 *   (Service Quotas, now denying access, is not asked);
 * - access denied, an endpoint nothing listens on and an endpoint that does not answer each
 *   fall back to the documented defaults, with one warning that names the cause (the denied
 *   permission, the refused connection, the deadline), and the run goes on;
 * - quota settings that are not numbers are refused with the other invalid input (exit 2),
 *   before anything is sent: Service Quotas and Bedrock are not called.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"
import * as Cli from "./support/cli.ts"
import * as World from "./support/world.ts"

/** The emulated account's quotas: each below the documented default (10, 100, 50,000, 1 GB, 5 GB). */
const accountQuotas = {
  maxConcurrentJobs: 2,
  minRecordsPerJob: 50,
  maxRecordsPerJob: 120,
  // About 95 topic records (2 KB each) per input file: the bytes bind too.
  maxInputFileBytes: 200_000,
  maxJobBytes: 400_000
}

/** What a run needs but does not test; no quota setting and no `--max-batch-size`. */
const baseFlags = [
  "--bucket-name",
  World.bucket,
  "--role-arn",
  World.roleArn,
  "--chunk-size",
  "48",
  "--chunk-overlap",
  "0",
  "--poll-initial-seconds",
  "0.05",
  "--poll-max-seconds",
  "0.25"
]

interface Quotas {
  readonly values: typeof accountQuotas
  readonly source: string
  readonly sources: Readonly<Record<string, string>>
  readonly matched: ReadonlyArray<{ readonly setting: string; readonly quotaName: string; readonly quotaCode: string }>
  readonly warning?: string
}

interface Summary {
  readonly records: { readonly succeeded: number; readonly failed: number; readonly batch: number }
  readonly quotas: Quotas
}

const summaryOf = (out: string) => JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as Summary

const warningsOf = (exit: Cli.Exit) => exit.stderr.split("\n").filter((line) => line.includes("warning:"))

const documented = {
  maxConcurrentJobs: 10,
  minRecordsPerJob: 100,
  maxRecordsPerJob: 50_000,
  maxInputFileBytes: 1_000_000_000,
  maxJobBytes: 5_000_000_000
}

/** A loopback port nothing listens on (taken, then released). */
const closedPort = Effect.callback<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

describe("the account's quotas", () => {
  it.live(
    "read from Service Quotas when not set: smaller than the defaults, recorded, kept to (nothing refused), and a resume uses the recorded values",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("quotas")
        // The account's quotas are what its Bedrock enforces and what its Service Quotas answers.
        const world = yield* World.make({
          emulator: { quotas: accountQuotas, serviceQuotas: { quotas: accountQuotas } }
        })
        const corpus = World.writeCorpus(join(dir, "corpus"), 80)
        const out = join(dir, "out")
        const args = ["extract", corpus, "--out", out, "--run-id", "quotas", "--backend", "aws", ...baseFlags]

        // The first process reads the quotas, records the run, and is killed once a job is under way.
        const killed = yield* Cli.run(args, {
          env: world.env(),
          killWhen: () => World.jobs(out, "quotas").some((job) => job.jobArn !== undefined)
        })
        assert.isTrue(killed.killed, Cli.describe(killed))
        assert.include(
          killed.stderr,
          "quotas for us.anthropic.claude-3-7-sonnet-20250219-v1:0 in us-east-1: maxConcurrentJobs 2, " +
            "minRecordsPerJob 50, maxRecordsPerJob 120, maxInputFileBytes 200,000, maxJobBytes 400,000 " +
            "(from Service Quotas (\"Claude 3.7 Sonnet\"))",
          Cli.describe(killed)
        )
        assert.deepStrictEqual(warningsOf(killed), [])
        const read = (yield* world.local.bedrock.counters).serviceQuotaCalls
        assert.isAtLeast(read, 4, "both listings, every page")

        // The run's recorded settings hold the values (and a batch size within them): every process uses these.
        const settings = World.runRow(out, "quotas")?.settings as {
          readonly batch: Record<string, unknown>
          readonly quotas: Quotas
        }
        for (const [key, value] of Object.entries(accountQuotas)) assert.strictEqual(settings.batch[key], value, key)
        assert.strictEqual(settings.batch.maxBatchSize, 120)
        assert.strictEqual(settings.quotas.source, "service-quotas")

        // Service Quotas now denies access: a resume that read again would fall back to the defaults
        // (and have creates refused); it uses the recorded values.
        yield* world.local.bedrock.setServiceQuotas({ denied: true })
        const resumed = yield* Cli.run(["resume", "quotas", "--out", out], { env: world.env() })
        assert.strictEqual(resumed.code, 0, Cli.describe(resumed))
        assert.deepStrictEqual(warningsOf(resumed), [])
        const counters = yield* world.local.bedrock.counters
        assert.strictEqual(counters.serviceQuotaCalls, read, "the resume read no quotas")

        const summary = summaryOf(out)
        assert.strictEqual(summary.records.failed, 0)
        assert.strictEqual(summary.records.succeeded, summary.records.batch, "every record answered in batch")
        assert.strictEqual(summary.quotas.source, "service-quotas")
        assert.deepStrictEqual(summary.quotas.values, accountQuotas)
        assert.isUndefined(summary.quotas.warning)
        assert.sameMembers(
          summary.quotas.matched.map((m) => m.quotaName),
          [
            "Sum of in-progress and submitted batch inference jobs using a base model for Claude 3.7 Sonnet",
            "Minimum number of records per batch inference job for Claude 3.7 Sonnet",
            "Records per batch inference job for Claude 3.7 Sonnet",
            "Batch inference input file size (in GB) for Claude 3.7 Sonnet",
            "Batch inference job size (in GB) for Claude 3.7 Sonnet"
          ]
        )

        // Kept to: no create refused, no job failed, none above the records per job, live jobs within the quota.
        assert.strictEqual(counters.createsRefused, 0, "no create refused for quota")
        assert.isAtMost(counters.peakConcurrentJobs, accountQuotas.maxConcurrentJobs)
        const jobs = yield* world.local.bedrock.jobs
        assert.isAbove(jobs.length, accountQuotas.maxConcurrentJobs, "more jobs than the quota of live jobs")
        assert.deepStrictEqual(
          jobs.filter((job) => job.status !== "Completed").map((job) => `${job.jobName}: ${job.status} ${job.message}`),
          []
        )
        for (const job of jobs) {
          assert.isAtMost(job.totalRecordCount ?? 0, accountQuotas.maxRecordsPerJob, job.jobName)
          assert.isAtLeast(job.totalRecordCount ?? 0, accountQuotas.minRecordsPerJob, job.jobName)
        }
      }),
    240_000
  )

  it.live(
    "denied, unreachable, no answer: the documented defaults, with one warning naming the cause; the run goes on",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("quotas-fallback")
        const world = yield* World.make({ emulator: { timings: {}, serviceQuotas: { denied: true } } })
        const corpus = World.writeCorpus(join(dir, "corpus"), 2)
        const run = (runId: string, env: Record<string, string>) =>
          Effect.gen(function*() {
            const out = join(dir, runId)
            const exit = yield* Cli.run(
              ["extract", corpus, "--out", out, "--run-id", runId, "--backend", "aws", ...baseFlags],
              { env }
            )
            assert.strictEqual(exit.code, 0, Cli.describe(exit))
            const warnings = warningsOf(exit)
            assert.strictEqual(warnings.length, 1, Cli.describe(exit))
            const summary = summaryOf(out)
            assert.strictEqual(summary.quotas.source, "defaults")
            assert.deepStrictEqual(summary.quotas.values, documented)
            assert.include(warnings[0], summary.quotas.warning!)
            assert.include(exit.stderr, "(the documented defaults)")
            return summary.quotas.warning!
          })

        // Access denied: the permission it lacks is named.
        const denied = yield* run("denied", world.env())
        assert.match(
          denied,
          /access denied \(AccessDeniedException\): the credentials lack servicequotas:List(AWSDefault)?ServiceQuotas/
        )
        assert.isAtLeast((yield* world.local.bedrock.counters).serviceQuotaCalls, 1)

        // Nothing listens at the endpoint.
        const port = yield* closedPort
        const unreachable = yield* run(
          "unreachable",
          world.env({ AWS_ENDPOINT_URL_SERVICE_QUOTAS: `http://127.0.0.1:${port}` })
        )
        assert.match(unreachable, /Service Quotas could not be reached .*ECONNREFUSED/)

        // It does not answer: the read gives up at its deadline and the request is abandoned.
        yield* world.local.bedrock.setServiceQuotas({ denied: false })
        yield* world.local.bedrock.setFaults({
          delayMs: { ListServiceQuotas: 120_000, ListAWSDefaultServiceQuotas: 120_000 }
        })
        const before = (yield* world.local.bedrock.counters).requestsAborted
        const silent = yield* run("silent", world.env())
        assert.match(silent, /no answer within 5s/)
        assert.isAbove((yield* world.local.bedrock.counters).requestsAborted, before, "the calls were abandoned")
      }),
    240_000
  )

  it.live("quota settings that are not numbers: exit 2 with every problem, nothing sent (Service Quotas included)", () =>
    Effect.gen(function*() {
      const dir = yield* World.tempDir("quotas-invalid")
      const world = yield* World.make()
      const corpus = World.writeCorpus(join(dir, "corpus"), 2)
      const out = join(dir, "out")
      const config = join(dir, "settings.json")
      writeFileSync(config, JSON.stringify({ min_records_per_job: "a hundred", max_input_file_bytes: true }))
      const exit = yield* Cli.run(
        [
          "extract",
          corpus,
          "--out",
          out,
          "--backend",
          "aws",
          ...baseFlags,
          "--config",
          config,
          "--max-concurrent-jobs",
          "ten",
          "--max-records-per-job",
          "1e3x"
        ],
        { env: world.env({ BATCH_EXTRACT_MAX_JOB_BYTES: "5GB" }) }
      )
      assert.strictEqual(exit.code, 2, Cli.describe(exit))
      assert.include(exit.stderr, "nothing was sent or written")
      const problems = exit.stderr.split("\n").filter((line) => line.startsWith("  - ")).map((line) => line.slice(4))
      assert.sameMembers(problems.map((problem) => problem.split(":")[0]), [
        "maxConcurrentJobs",
        "minRecordsPerJob",
        "maxRecordsPerJob",
        "maxInputFileBytes",
        "maxJobBytes"
      ])
      assert.isTrue(problems.some((p) => p.includes(`must be a number, got "ten" (from --max-concurrent-jobs)`)))
      assert.isTrue(
        problems.some((p) => p.includes(`must be a number, got "5GB" (from environment (BATCH_EXTRACT_MAX_JOB_BYTES))`))
      )
      assert.isTrue(
        problems.some((p) => p.includes(`must be a number, got "a hundred" (from config file (min_records_per_job))`))
      )
      const counters = yield* world.local.bedrock.counters
      assert.strictEqual(counters.serviceQuotaCalls, 0, "Service Quotas not called")
      assert.deepStrictEqual(counters.callsByOperation, {}, "Bedrock not called")
      assert.isFalse(existsSync(out), "nothing written")
    }))
})
