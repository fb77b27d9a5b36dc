/**
 * `batch-extract emulator`: the local emulation as a process of its own, that workers reach
 * with `--backend aws` and the environment it announces. A run against it completes; the
 * inspection shows its jobs (one per input, every one Completed) and that live jobs never
 * exceeded the quota — the run read the emulated account's quota from its Service Quotas, so
 * no create was refused. Its Service Quotas answers the quotas its flags set, or denies access
 * (`--deny-service-quotas`). SIGTERM — also with a job in progress whose worker was killed —
 * stops it promptly and frees its ports.
 */
import { ServiceQuotasAccountQuotas } from "@batch-extract/aws"
import { AccountQuotas } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Redacted, Schedule } from "effect"
import { readFileSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"
import * as Cli from "./support/cli.ts"
import * as Emulator from "./support/emulator.ts"
import * as World from "./support/world.ts"

const bucket = "emulated-runs"

const extractArgs = (corpus: string, out: string) => [
  "extract",
  corpus,
  "--out",
  out,
  "--backend",
  "aws",
  ...World.flags({ "bucket-name": bucket })
]

const duplicates = (values: ReadonlyArray<string | null>) => values.filter((value, i) => values.indexOf(value) !== i)

/** Whether this process can listen on a loopback port (nothing else holds it). */
const portIsFree = (port: number) =>
  Effect.callback<boolean>((resume) => {
    const server = createServer()
    server.once("error", () => resume(Effect.succeed(false)))
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => {
      server.close(() => resume(Effect.succeed(true)))
    })
  })

describe("batch-extract emulator", () => {
  it.live(
    "a worker with --backend aws runs against it: jobs completed, one per input, live jobs within the quota",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("emulator")
        const emulator = yield* Emulator.startEmulator({ buckets: [bucket], maxConcurrentJobs: 2 })
        assert.deepStrictEqual((yield* emulator.inspect).jobs, [])

        const corpus = World.writeCorpus(join(dir, "corpus"), 60)
        const out = join(dir, "out")
        const exit = yield* Cli.run(extractArgs(corpus, out), { env: Cli.cleanEnv(emulator.env) })
        assert.strictEqual(exit.code, 0, Cli.describe(exit))
        const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as {
          readonly jobs: { readonly total: number }
          readonly records: { readonly failed: number; readonly batch: number }
          readonly quotas: { readonly source: string; readonly values: { readonly maxConcurrentJobs: number } }
        }
        assert.strictEqual(summary.records.failed, 0)
        // The run read the emulated account's quota of live jobs: none of its creates was refused.
        assert.strictEqual(summary.quotas.source, "service-quotas")
        assert.strictEqual(summary.quotas.values.maxConcurrentJobs, 2)
        assert.isAbove(summary.records.batch, 0, "records were answered by batch jobs")

        const { counters, jobs } = yield* emulator.inspect
        assert.isAbove(jobs.length, 2, "more jobs than the quota")
        assert.strictEqual(counters.jobsCreated, jobs.length)
        assert.strictEqual(summary.jobs.total, jobs.length, "the run's jobs are the emulator's")
        assert.isAtLeast(counters.peakConcurrentJobs, 1)
        assert.isAtMost(counters.peakConcurrentJobs, 2, "live jobs never exceeded the quota")
        assert.strictEqual(counters.createsRefused, 0, "no create refused for quota")
        assert.isAtLeast(counters.serviceQuotaCalls, 2)
        assert.deepStrictEqual(
          jobs.filter((job) => job.status !== "Completed").map((job) => `${job.jobName}: ${job.status}`),
          [],
          "every job completed"
        )
        assert.deepStrictEqual(duplicates(jobs.map((job) => job.inputS3Uri)), [], "inputs with two jobs")
        assert.deepStrictEqual(duplicates(jobs.map((job) => job.jobName)), [], "job names created twice")
        assert.deepStrictEqual(duplicates(jobs.map((job) => job.clientRequestToken)), [], "tokens used twice")
        for (const job of jobs) {
          assert.isTrue(job.inputS3Uri?.startsWith(`s3://${bucket}/`), `${job.jobName} reads ${job.inputS3Uri}`)
          assert.isNotNull(job.clientRequestToken, `${job.jobName} has a client request token`)
          assert.isNotNull(job.modelId)
          assert.match(job.jobArn, /^arn:aws:bedrock:us-east-1:\d{12}:model-invocation-job\/[a-z0-9]{12}$/)
          assert.isAbove(job.totalRecordCount, 0)
        }
      }),
    180_000
  )

  it.live(
    "its Service Quotas answers the quotas its flags set (announced endpoint, the real SDK client), or denies access",
    () =>
      Effect.gen(function*() {
        const quotas = {
          maxConcurrentJobs: 3,
          minRecordsPerJob: 50,
          maxRecordsPerJob: 500,
          maxInputFileBytes: 2_000_000,
          maxJobBytes: 4_000_000
        }
        const read = (env: Emulator.RunningEmulator["env"]) =>
          AccountQuotas.configure({
            bucketName: bucket,
            region: env.AWS_REGION,
            roleArn: World.roleArn,
            model: { modelId: "us.amazon.nova-pro-v1:0" }
          }).pipe(
            Effect.provide(ServiceQuotasAccountQuotas.layer({
              client: {
                region: env.AWS_REGION,
                endpoints: { serviceQuotas: env.AWS_ENDPOINT_URL_SERVICE_QUOTAS },
                credentials: {
                  accessKeyId: env.AWS_ACCESS_KEY_ID,
                  secretAccessKey: Redacted.make(env.AWS_SECRET_ACCESS_KEY)
                }
              }
            }))
          )
        const emulator = yield* Emulator.startEmulator({ buckets: [bucket], ...quotas })
        assert.strictEqual(emulator.env.AWS_ENDPOINT_URL_SERVICE_QUOTAS, emulator.env.AWS_ENDPOINT_URL_BEDROCK)
        const answered = yield* read(emulator.env)
        assert.strictEqual(answered.quotas.source, "service-quotas")
        assert.strictEqual(answered.quotas.displayName, "Nova Pro V1")
        assert.deepStrictEqual(answered.quotas.values, quotas)
        assert.isAtLeast((yield* emulator.inspect).counters.serviceQuotaCalls, 2)
        // Its usage (stderr, written just after the announcement) says what Service Quotas answers.
        assert.include(emulator.stderr(), "Service Quotas (on the Bedrock port) answers the emulated account's quotas")
        assert.include(emulator.stderr(), "maxRecordsPerJob 500")

        const denying = yield* Emulator.startEmulator({ buckets: [bucket], denyServiceQuotas: true })
        const denied = yield* read(denying.env)
        assert.strictEqual(denied.quotas.source, "defaults")
        assert.match(denied.quotas.warning ?? "", /access denied \(AccessDeniedException\)/)
      }),
    120_000
  )

  it.live(
    "SIGTERM stops it promptly, with a job in progress whose worker was killed, and frees its ports",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("emulator-stop")
        const emulator = yield* Emulator.startEmulator({ buckets: [bucket], maxConcurrentJobs: 2, jobSeconds: 600 })
        const corpus = World.writeCorpus(join(dir, "corpus"), 40)
        const worker = yield* Effect.forkChild(
          Cli.run(extractArgs(corpus, join(dir, "out")), { env: Cli.cleanEnv(emulator.env) })
        )
        const inProgress = yield* emulator.inspect.pipe(
          Effect.repeat({
            until: (inspection) => inspection.jobs.some((job) => job.status === "InProgress"),
            schedule: Schedule.spaced("100 millis")
          }),
          Effect.timeout("60 seconds")
        )
        assert.isAtMost(inProgress.counters.peakConcurrentJobs, 2)
        // The worker dies mid-job (SIGKILL); its job stays InProgress on the emulator.
        yield* Fiber.interrupt(worker)
        const stillRunning = yield* emulator.inspect
        assert.isTrue(stillRunning.jobs.some((job) => job.status === "InProgress"))

        const exited = yield* emulator.stop("SIGTERM", "10 seconds")
        assert.strictEqual(exited.code, 130, emulator.stderr())
        for (const [name, port] of Object.entries(emulator.ports)) {
          assert.isTrue(yield* portIsFree(port), `the ${name} port ${port} is free`)
        }
      }),
    120_000
  )
})
