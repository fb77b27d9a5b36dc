/**
 * `batch-extract emulator`: the local emulation as a process of its own, that workers reach
 * with `--backend aws` and the environment it announces. A run against it completes; the
 * inspection shows its jobs (one per input, every one Completed) and that live jobs never
 * exceeded the quota. SIGTERM — also with a job in progress whose worker was killed — stops
 * it promptly and frees its ports.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schedule } from "effect"
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
        }
        assert.strictEqual(summary.records.failed, 0)
        assert.isAbove(summary.records.batch, 0, "records were answered by batch jobs")

        const { counters, jobs } = yield* emulator.inspect
        assert.isAbove(jobs.length, 2, "more jobs than the quota")
        assert.strictEqual(counters.jobsCreated, jobs.length)
        assert.strictEqual(summary.jobs.total, jobs.length, "the run's jobs are the emulator's")
        assert.isAtLeast(counters.peakConcurrentJobs, 1)
        assert.isAtMost(counters.peakConcurrentJobs, 2, "live jobs never exceeded the quota")
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
