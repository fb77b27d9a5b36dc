/**
 * Many workers on one database: three `batch-extract worker` processes and the submitting
 * `extract` on one throwaway PostgreSQL, against one standalone emulator whose account allows
 * 2 live jobs. Workers are SIGKILLed at several phases (and the submitter too); the others
 * take their work over. The output equals an uninterrupted run's, no record is lost, no job
 * is created twice, the emulator never sees more than 2 live jobs nor refuses a create.
 *
 * Then PostgreSQL itself is restarted mid-run: the workers wait, reconnect and finish.
 */
import { PostgresCluster } from "@batch-extract/store/testing"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Schedule } from "effect"
import { readdirSync, statSync } from "node:fs"
import { join } from "node:path"
import * as Cli from "./support/cli.ts"
import * as Emulator from "./support/emulator.ts"
import * as World from "./support/world.ts"

const binaries = PostgresCluster.requirePostgres()

const quota = 2
const takeoverSeconds = 5

/** Settings of every run here: several jobs per part, each job in flight for a while. */
const settings = (bucket: string) => World.flags({ "bucket-name": bucket, "max-concurrent-jobs": String(quota) })

/** Input bytes of a corpus, for parts of about a third of it each. */
const bytesOf = (dir: string) => readdirSync(dir).reduce((n, name) => n + statSync(join(dir, name)).size, 0)

/** Lines a worker logs as it starts and ends a part. */
const partsStarted = (text: string) => [...text.matchAll(/extracting part (\d+)/g)].map((m) => Number(m[1]))
const partsDone = (text: string) => [...text.matchAll(/part (\d+) done/g)].map((m) => Number(m[1]))

/** The parts a process is extracting now (started, not done). */
const working = (process: Cli.Running) => {
  const done = partsDone(process.stderr())
  return partsStarted(process.stderr()).filter((part) => !done.includes(part))
}

interface RunSummary {
  readonly chunks: number
  readonly extractedChunks: number
  readonly records: { readonly succeeded: number; readonly failed: number; readonly batch: number }
  readonly failures: ReadonlyArray<unknown>
}

const waitUntil = <E>(what: string, condition: () => Effect.Effect<boolean, E>, seconds = 120) =>
  condition().pipe(
    Effect.repeat({ schedule: Schedule.spaced("200 millis"), until: (held) => held }),
    Effect.timeoutOrElse({
      duration: `${seconds} seconds`,
      orElse: () => Effect.die(new Error(`timed out waiting until ${what}`))
    })
  )

/**
 * A throwaway PostgreSQL, an emulator with the account quota, and a corpus of `documents` in a
 * temporary directory, with the part size that splits it into about `parts` parts.
 */
const world = (name: string, documents: number, parts: number) =>
  Effect.gen(function*() {
    const cluster = yield* PostgresCluster.startPostgres(binaries!)
    const emulator = yield* Emulator.startEmulator({ buckets: [World.bucket], maxConcurrentJobs: quota, jobSeconds: 2 })
    const dir = yield* World.tempDir(name)
    const corpus = World.writeCorpus(join(dir, "in"), documents)
    const partMb = String(Math.ceil(bytesOf(corpus) / parts + 1) / 1_000_000)
    return { cluster, emulator, env: Cli.cleanEnv(emulator.env), dir, corpus, partMb }
  })

describe.skipIf(binaries === undefined)("many workers on one database", () => {
  it.live(
    "workers and the submitter killed mid-run: the others finish; same output, nothing lost, no job twice, quota held",
    () =>
      Effect.gen(function*() {
        const { cluster, corpus, dir, emulator, env, partMb } = yield* world("workers", 180, 3)

        // The uninterrupted run, alone (embedded run state, one process).
        const reference = join(dir, "reference")
        const alone = yield* Cli.run(
          ["extract", corpus, "--out", reference, "--run-id", "alone", "--backend", "aws", ...settings(World.bucket)],
          { env, timeoutMs: 180_000 }
        )
        assert.strictEqual(alone.code, 0, Cli.describe(alone))
        const before = yield* emulator.inspect

        const database = yield* cluster.createDatabase("workers")
        const joined = ["--database", database, "--takeover-seconds", String(takeoverSeconds)]
        const workers = [
          yield* Cli.start(["worker", ...joined], { env }),
          yield* Cli.start(["worker", ...joined], { env }),
          yield* Cli.start(["worker", ...joined], { env })
        ]
        const out = join(dir, "out")
        const submitter = yield* Cli.start(
          [
            "extract",
            corpus,
            "--out",
            out,
            "--run-id",
            "shared",
            "--backend",
            "aws",
            "--part-mb",
            partMb,
            ...joined,
            ...settings(World.bucket)
          ],
          { env }
        )
        // Every process that ever worked on the run (killed ones too), for their logs.
        const all = [submitter, ...workers]
        const everyone = () => all.filter((p) => !p.done())
        const jobsCreated = Effect.map(Effect.orDie(emulator.inspect), (state) =>
          state.counters.jobsCreated - before.counters.jobsCreated)
        const kills: Array<{ phase: string; parts: ReadonlyArray<number>; at: number }> = []

        /** SIGKILL a process that is extracting a part when `phase` holds; another worker joins. */
        const killWhen = (phase: string, holds: Effect.Effect<boolean>, victims: () => ReadonlyArray<Cli.Running>) =>
          Effect.gen(function*() {
            let victim: Cli.Running | undefined
            yield* waitUntil(
              phase,
              () =>
                Effect.map(holds, (held) => {
                  victim = held
                    ? victims().find((p) =>
                      !p.done() && working(p).length > 0
                    )
                    : undefined
                  return victim !== undefined
                })
            )
            kills.push({ phase, parts: working(victim!), at: yield* Clock.currentTimeMillis })
            victim!.kill("SIGKILL")
            yield* victim!.exited
            if (victim !== submitter) {
              const joining = yield* Cli.start(["worker", ...joined], { env })
              workers.splice(workers.indexOf(victim!), 1, joining)
              all.push(joining)
            }
          })

        // 1. While documents are read and the first jobs are staged and created.
        yield* killWhen("a part is under way", Effect.succeed(true), () => workers)
        // 2. While jobs are live at the emulator.
        yield* killWhen("jobs are live", Effect.map(jobsCreated, (n) => n >= 2), () => workers)
        // 3. While chunks are being written.
        yield* killWhen("chunks are written", Effect.sync(() => World.chunkFiles(out).length > 0), () => workers)
        // 4. The submitting process (a runner like the others; it may hold no part).
        kills.push({ phase: "the submitter", parts: working(submitter), at: yield* Clock.currentTimeMillis })
        submitter.kill("SIGKILL")
        yield* submitter.exited

        // Another process waits for the run's end: the workers finish it.
        const resumed = yield* Cli.run(["resume", "shared", "--json", ...joined], { env, timeoutMs: 240_000 })
        assert.strictEqual(resumed.code, 0, `${Cli.describe(resumed)}\n${everyone().map((p) => p.stderr()).join("\n")}`)
        const summary = JSON.parse(resumed.stdout.slice(resumed.stdout.indexOf("{"))) as RunSummary

        // Taken over: every part a killed process was extracting was done by another (a worker,
        // or the process that waited for the run's end: a runner like the others).
        const logs = [...all.map((p) => p.stderr()), resumed.stderr].join("\n")
        for (const kill of kills) {
          for (const part of kill.parts) assert.include(partsDone(logs), part, `part ${part} (killed: ${kill.phase})`)
        }

        // Same output as the uninterrupted run; every record succeeded.
        const expected = World.readChunks(reference)
        const got = World.readChunks(out)
        assert.strictEqual(got.size, expected.size)
        assert.deepStrictEqual(got, expected)
        assert.strictEqual(summary.failures.length, 0)
        assert.strictEqual(summary.records.failed, 0)
        assert.strictEqual(summary.extractedChunks, expected.size)
        assert.strictEqual(summary.records.succeeded, expected.size * 2)

        // No job twice (one job per input file), never more live jobs than the quota, no refusal.
        const after = yield* emulator.inspect
        const jobs = after.jobs.filter((job) => !before.jobs.some((b) => b.jobArn === job.jobArn))
        const inputs = new Set(jobs.map((job) => job.inputS3Uri))
        assert.strictEqual(inputs.size, jobs.length, "a job was created twice for the same input")
        assert.isAtMost(after.counters.peakConcurrentJobs, quota)
        assert.strictEqual(after.counters.createsRefused - before.counters.createsRefused, 0)
        assert.isAbove(summary.records.batch, 0)
        // Takeover: from a kill to another process starting the killed process's part again.
        const restarts = [...logs.matchAll(/timestamp=(\S+) .*extracting part (\d+)/g)]
          .map((m) => ({ at: Date.parse(m[1]!), part: Number(m[2]) }))
        const takeovers = kills.flatMap((kill) =>
          kill.parts.map((part) => {
            const next = restarts.filter((r) => r.part === part && r.at > kill.at).sort((a, b) => a.at - b.at)[0]
            return next === undefined ? undefined : (next.at - kill.at) / 1000
          })
        ).filter((s): s is number => s !== undefined)
        assert.isAbove(takeovers.length, 0)
        console.log(JSON.stringify(
          {
            takeoverSeconds: { setting: takeoverSeconds, measured: takeovers },
            kills: kills.map((k) => ({ phase: k.phase, parts: k.parts })),
            jobs: jobs.length,
            repeatedTokens: after.counters.repeatedTokens - before.counters.repeatedTokens,
            peakLiveJobs: after.counters.peakConcurrentJobs,
            createsRefused: after.counters.createsRefused - before.counters.createsRefused,
            chunks: got.size,
            recordsLost: expected.size * 2 - summary.records.succeeded
          },
          null,
          2
        ))
      }).pipe(Effect.scoped),
    480_000
  )

  it.live(
    "PostgreSQL restarted mid-run: the workers wait, reconnect and finish; nothing lost, no job twice",
    () =>
      Effect.gen(function*() {
        const { cluster, corpus, dir, emulator, env, partMb } = yield* world("restart", 120, 2)
        const database = yield* cluster.createDatabase("restart")
        const joined = ["--database", database, "--takeover-seconds", String(takeoverSeconds)]
        const out = join(dir, "out")
        const submitted = yield* Cli.run(
          [
            "extract",
            corpus,
            "--out",
            out,
            "--run-id",
            "restarted",
            "--detach",
            "--backend",
            "aws",
            "--part-mb",
            partMb,
            ...joined,
            ...settings(World.bucket)
          ],
          { env, timeoutMs: 60_000 }
        )
        assert.strictEqual(submitted.code, 0, Cli.describe(submitted))
        assert.strictEqual(submitted.stdout.trim(), "restarted")
        const workers = [
          yield* Cli.start(["worker", ...joined], { env }),
          yield* Cli.start(["worker", ...joined], { env })
        ]
        yield* waitUntil(
          "jobs are live",
          () =>
            Effect.map(Effect.orDie(emulator.inspect), (state) => state.jobs.some((job) => job.status === "InProgress"))
        )
        yield* cluster.restart("3 seconds")

        // The run ends without help: its status, asked until it says finished.
        const finished = yield* Cli.run(["status", "restarted", "--json", "--database", database], {
          env,
          timeoutMs: 30_000
        }).pipe(
          Effect.map((exit) => {
            if (exit.code !== 0) return undefined
            const report = JSON.parse(exit.stdout.slice(exit.stdout.indexOf("{"))) as {
              readonly phase: string
              readonly exitCode: number
              readonly chunks: { readonly total: number; readonly extracted: number }
              readonly records: { readonly succeeded: number; readonly failed: number }
            }
            return report.phase === "finished" ? report : undefined
          }),
          Effect.repeat({ schedule: Schedule.spaced("1 second"), until: (report) => report !== undefined }),
          Effect.timeoutOrElse({
            duration: "240 seconds",
            orElse: () =>
              Effect.die(
                new Error(`the run did not finish:\n${workers.map((w) => w.stderr().slice(-3000)).join("\n")}`)
              )
          })
        )
        assert.strictEqual(finished!.exitCode, 0)
        assert.strictEqual(finished!.records.failed, 0)
        assert.strictEqual(finished!.chunks.extracted, finished!.chunks.total)
        assert.strictEqual(finished!.records.succeeded, finished!.chunks.total * 2)
        assert.strictEqual(World.chunkFiles(out).length, finished!.chunks.total)
        const state = yield* emulator.inspect
        assert.strictEqual(new Set(state.jobs.map((job) => job.inputS3Uri)).size, state.jobs.length)
        assert.isAtMost(state.counters.peakConcurrentJobs, quota)
        assert.strictEqual(state.counters.createsRefused, 0)
        // The workers are still there, ready for the next run.
        assert.isTrue(workers.every((worker) => !worker.done()))
      }).pipe(Effect.scoped),
    300_000
  )
})
