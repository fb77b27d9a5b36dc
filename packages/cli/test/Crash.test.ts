/**
 * Crash proof: `batch-extract extract` is killed with SIGKILL at many points (staging, between
 * the create intent and the ARN, while polling, while reading outputs, right after outcomes
 * are recorded, while writing the sink, and after random delays), and resumed each time. The
 * local S3 and the Bedrock emulator live in this test process, so they outlive every kill;
 * the child reaches them with `--backend aws` and the standard SDK environment.
 *
 * In the end: the chunk files equal those of an uninterrupted run, no input ever had two
 * jobs, no record was in two jobs, every record has a recorded outcome, and no file was
 * ever half-written.
 */
import { RunLedger } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Cli from "./support/cli.ts"
import type * as Proxy from "./support/proxy.ts"
import * as World from "./support/world.ts"

/** What a kill point looks at. */
interface Observation {
  readonly world: World.World
  readonly out: string
  readonly runId: string
  readonly startedAt: number
  /** Ledger tag counts when the child started. */
  readonly baseline: Record<string, number>
  readonly baselineInProgress: number
  readonly baselineChunkFiles: number
}

interface KillPoint {
  readonly name: string
  readonly reached: (observation: Observation) => boolean
}

const inFlight = (proxy: Proxy.Proxy, phase: Proxy.InFlight["phase"], match: (r: Proxy.Seen) => boolean) =>
  proxy.inFlight().some((request) => request.phase === phase && match(request))

const isCreate = (r: Proxy.Seen) => r.method === "POST" && r.url.split("?")[0] === "/model-invocation-job"
const isStaging = (r: Proxy.Seen) => r.method === "PUT" && r.url.includes("/input/")
const isOutputRead = (r: Proxy.Seen) => r.method === "GET" && r.url.split("?")[0]!.endsWith(".jsonl.out")

const inProgressCount = (entries: ReadonlyArray<RunLedger.Entry>) =>
  entries.filter((e) => e._tag === "JobStatus" && e.status === "InProgress").length

const points = {
  staging: { name: "staging an input", reached: (o) => inFlight(o.world.s3, "held-request", isStaging) },
  intentBeforeCreate: {
    name: "create intent recorded, create not yet at the service",
    reached: (o) => inFlight(o.world.bedrock, "held-request", isCreate)
  },
  createdBeforeArn: {
    name: "job created, ARN not yet recorded",
    reached: (o) => inFlight(o.world.bedrock, "held-response", isCreate)
  },
  polling: {
    name: "polling an in-progress job",
    reached: (o) => inProgressCount(World.ledgerEntries(o.out, o.runId)) > o.baselineInProgress
  },
  readingOutputs: {
    name: "reading a job's output",
    reached: (o) => inFlight(o.world.s3, "held-response", isOutputRead)
  },
  outcomesRecorded: {
    name: "outcomes just recorded",
    reached: (o) => (World.countTags(World.ledgerEntries(o.out, o.runId)).Outcomes ?? 0) > (o.baseline.Outcomes ?? 0)
  },
  writingSink: {
    name: "writing the sink",
    reached: (o) => World.chunkFiles(o.out).length > o.baselineChunkFiles
  }
} satisfies Record<string, KillPoint>

const after = (ms: number): KillPoint => ({
  name: `after ${ms} ms`,
  reached: (o) => performance.now() - o.startedAt > ms
})

/** The windows the proxies hold open, so each kill point is hit reliably. */
const holdWindows = (world: World.World) => {
  world.s3.setPlan((r) => isStaging(r) ? { holdRequestMs: 150 } : isOutputRead(r) ? { holdResponseMs: 150 } : {})
  world.bedrock.setPlan((r) => (isCreate(r) ? { holdRequestMs: 100, holdResponseMs: 150 } : {}))
}

interface Tally {
  kills: Array<string>
  missed: Array<string>
  processes: number
  tornLedgerLines: number
}

/** Run a run to its end, killing it at each point in turn (a point not reached lets it run on). */
const crashAndResume = (
  world: World.World,
  corpus: string,
  out: string,
  runId: string,
  sequence: ReadonlyArray<KillPoint>,
  tally: Tally,
  settings: Readonly<Record<string, string>> = {}
) =>
  Effect.gen(function*() {
    const extractArgs = [
      "extract",
      corpus,
      "--out",
      out,
      "--run-id",
      runId,
      "--backend",
      "aws",
      ...World.flags(settings)
    ]
    const nextArgs = () =>
      World.ledgerEntries(out, runId).some((e) => e._tag === "RunStarted")
        ? ["resume", runId, "--out", out]
        : extractArgs
    for (const point of sequence) {
      const entries = World.ledgerEntries(out, runId)
      const observation: Observation = {
        world,
        out,
        runId,
        startedAt: performance.now(),
        baseline: World.countTags(entries),
        baselineInProgress: inProgressCount(entries),
        baselineChunkFiles: World.chunkFiles(out).length
      }
      const exit = yield* Cli.run(nextArgs(), { env: world.env(), killWhen: () => point.reached(observation) })
      tally.processes++
      // Whatever the instant of the kill: no chunk file is ever half-written.
      World.readChunks(out)
      if (exit.killed) {
        assert.strictEqual(exit.signal, "SIGKILL", Cli.describe(exit))
        tally.kills.push(point.name)
      } else {
        tally.missed.push(point.name)
        assert.strictEqual(exit.code, 0, Cli.describe(exit))
        break
      }
    }
    // Resume until done (a resume always finishes: nothing kills it).
    for (let attempt = 0; attempt < 3; attempt++) {
      if (World.ledgerEntries(out, runId).some((e) => e._tag === "RunFinished")) break
      const exit = yield* Cli.run(nextArgs(), { env: world.env() })
      tally.processes++
      assert.strictEqual(exit.code, 0, Cli.describe(exit))
    }
    tally.tornLedgerLines += World.tornLedgerLines(out, runId)
  })

/** Check a crashed run against the reference: same chunks, no duplicate job, every outcome. */
const verify = (
  world: World.World,
  out: string,
  runId: string,
  reference: Map<string, unknown>,
  faulty: boolean
) =>
  Effect.gen(function*() {
    const chunks = World.readChunks(out)
    const lost = [...reference.keys()].filter((id) => !chunks.has(id))
    assert.deepStrictEqual(lost, [], `${runId}: chunks lost`)
    assert.strictEqual(chunks.size, reference.size)
    for (const [id, chunk] of reference) assert.deepStrictEqual(chunks.get(id), chunk, `${runId}: chunk ${id}`)

    // The emulator's view: one job per input, each record in one first-attempt job only.
    const entries = World.ledgerEntries(out, runId)
    const state = RunLedger.fold(entries)
    const jobs = (yield* world.local.bedrock.jobs).filter((job) =>
      (job.inputS3Uri ?? "").includes(`/batch-extract/${runId}/`)
    )
    const byInput = new Map<string, number>()
    for (const job of jobs) byInput.set(job.inputS3Uri ?? "", (byInput.get(job.inputS3Uri ?? "") ?? 0) + 1)
    const duplicatedInputs = [...byInput].filter(([, n]) => n > 1)
    const jobsOfRecord = new Map<string, Array<string>>()
    for (const job of jobs) {
      const intent = state.jobs.get(job.jobName)
      assert.isDefined(intent, `${runId}: the ledger has the intent of every job it created (${job.jobName})`)
      if (intent!.attempt > 1) continue
      for (const recordId of intent!.recordIds) {
        const key = `${intent!.stage}/${recordId}`
        jobsOfRecord.set(key, [...(jobsOfRecord.get(key) ?? []), job.jobName])
      }
    }
    const duplicatedRecords = [...jobsOfRecord].filter(([, names]) => names.length > 1)
    assert.deepStrictEqual(duplicatedInputs, [], `${runId}: inputs with two jobs`)
    // (Under faults a record a failed job did not answer may go again in a fresh job after a kill.)
    if (!faulty) assert.deepStrictEqual(duplicatedRecords.slice(0, 5), [], `${runId}: records sent in two jobs`)
    if (!faulty) assert.isTrue(jobs.every((job) => job.status === "Completed"), `${runId}: every job completed`)

    // No job ever carried a record that had already succeeded (retry jobs included).
    const succeeded = new Set<string>()
    const resent: Array<string> = []
    for (const entry of entries) {
      if (entry._tag === "Outcomes") {
        for (const outcome of entry.outcomes) {
          if (outcome._tag === "Succeeded") succeeded.add(`${entry.stage}/${outcome.recordId}`)
        }
      } else if (entry._tag === "JobIntent") {
        for (const id of entry.recordIds) {
          if (succeeded.has(`${entry.stage}/${id}`)) resent.push(`${entry.jobName} ${id}`)
        }
      }
    }
    assert.deepStrictEqual(resent.slice(0, 5), [], `${runId}: records sent again after they succeeded`)

    // Every record of both stages has its outcome in the ledger, and succeeded.
    for (const stage of ["propositions", "topics"]) {
      const outcomes = state.outcomes.get(stage)
      const missing = [...reference.keys()].filter((id) => outcomes?.get(id)?._tag !== "Succeeded")
      assert.deepStrictEqual(missing, [], `${runId}: ${stage} records without a successful outcome`)
    }
    return {
      lost: lost.length,
      duplicatedJobs: duplicatedInputs.length,
      recordsInTwoJobs: (faulty ? 0 : duplicatedRecords.length) + resent.length,
      jobs: jobs.length
    }
  })

describe("durable runs: crash and resume", () => {
  it.live(
    "SIGKILL at every phase, resumed each time: the same output, no job twice, no record lost",
    () =>
      Effect.gen(function*() {
        const dir = mkdtempSync(join(tmpdir(), "batch-extract-crash-"))
        yield* Effect.addFinalizer(() =>
          Effect.sync(() =>
            process.env.KEEP_DIRS ? console.log("kept", dir) : rmSync(dir, { recursive: true, force: true })
          )
        )
        const world = yield* World.make({ emulator: { quotas: { maxConcurrentJobs: 100 } } })
        holdWindows(world)
        const corpus = World.writeCorpus(join(dir, "corpus"), 60)

        // The reference: one uninterrupted run.
        const referenceOut = join(dir, "reference")
        const clean = yield* Cli.run(
          ["extract", corpus, "--out", referenceOut, "--run-id", "reference", "--backend", "aws", ...World.flags()],
          { env: world.env() }
        )
        assert.strictEqual(clean.code, 0, Cli.describe(clean))
        const reference = World.readChunks(referenceOut)
        assert.isAtLeast(reference.size, 250)
        const referenceJobs = (yield* world.local.bedrock.jobs).length
        assert.isAtLeast(referenceJobs, 5, "several jobs per stage")

        const tally: Tally = { kills: [], missed: [], processes: 0, tornLedgerLines: 0 }
        const sequences: Record<string, ReadonlyArray<KillPoint>> = {
          "by-phase": [
            points.staging,
            points.intentBeforeCreate,
            points.createdBeforeArn,
            points.polling,
            points.readingOutputs,
            points.outcomesRecorded,
            points.writingSink
          ],
          "around-creates": [
            points.createdBeforeArn,
            points.createdBeforeArn,
            points.staging,
            points.intentBeforeCreate,
            points.createdBeforeArn,
            points.polling,
            points.readingOutputs,
            points.writingSink
          ],
          "late": [
            points.polling,
            points.readingOutputs,
            points.outcomesRecorded,
            points.readingOutputs,
            points.outcomesRecorded,
            points.writingSink,
            points.writingSink
          ],
          "random": [900, 1400, 1800, 2200].map(after)
        }
        const results: Array<{ runId: string; lost: number; duplicatedJobs: number; recordsInTwoJobs: number }> = []
        for (const [runId, sequence] of Object.entries(sequences)) {
          const out = join(dir, runId)
          yield* crashAndResume(world, corpus, out, runId, sequence, tally)
          results.push({ runId, ...(yield* verify(world, out, runId, reference, false)) })
        }
        // Kills while jobs fail, end partially or stop, and records come back errored or missing
        // (with attempts enough for every record to get through all of that).
        yield* world.local.bedrock.setFaults({
          recordErrorRate: 0.05,
          recordMissingRate: 0.05,
          jobStatuses: ["Failed", "PartiallyCompleted", "Stopped", "Failed"]
        })
        const faultyOut = join(dir, "with-faults")
        yield* crashAndResume(
          world,
          corpus,
          faultyOut,
          "with-faults",
          [
            points.readingOutputs,
            points.outcomesRecorded,
            points.createdBeforeArn,
            points.readingOutputs,
            points.outcomesRecorded,
            points.writingSink
          ],
          tally,
          { "max-record-attempts": "6" }
        )
        results.push({ runId: "with-faults", ...(yield* verify(world, faultyOut, "with-faults", reference, true)) })
        yield* world.local.bedrock.setFaults({})

        const counters = yield* world.local.bedrock.counters
        const byKind: Record<string, number> = {}
        for (const kill of tally.kills) byKind[kill] = (byKind[kill] ?? 0) + 1
        console.log(JSON.stringify(
          {
            killPoints: tally.kills.length,
            byKind,
            notReached: tally.missed,
            processes: tally.processes,
            tornLedgerLines: tally.tornLedgerLines,
            recordsLost: results.reduce((n, r) => n + r.lost, 0),
            jobsDuplicated: results.reduce((n, r) => n + r.duplicatedJobs, 0),
            recordsInTwoJobs: results.reduce((n, r) => n + r.recordsInTwoJobs, 0),
            emulator: { jobsCreated: counters.jobsCreated, repeatedTokens: counters.repeatedTokens }
          },
          null,
          2
        ))
        assert.isAtLeast(tally.kills.length, 18)
        for (const point of Object.values(points)) {
          assert.include(tally.kills, point.name, `the kill point "${point.name}" was tried`)
        }
      }).pipe(Effect.scoped),
    300_000
  )
})

describe("durable runs: crash during on-demand calls", () => {
  it.live(
    "a kill while records go on demand: resumed, no answered record is asked again",
    () =>
      Effect.gen(function*() {
        const dir = mkdtempSync(join(tmpdir(), "batch-extract-crash-"))
        yield* Effect.addFinalizer(() =>
          Effect.sync(() =>
            process.env.KEEP_DIRS ? console.log("kept", dir) : rmSync(dir, { recursive: true, force: true })
          )
        )
        // 18 documents, 90 chunks: below a job's minimum, so every record goes on demand.
        const world = yield* World.make({ emulator: { faults: { delayMs: { InvokeModel: 60 } } } })
        const corpus = World.writeCorpus(join(dir, "corpus"), 18)
        const out = join(dir, "out")
        const invocations = () => Effect.runSync(world.local.bedrock.counters).callsByOperation.InvokeModel ?? 0
        const killed = yield* Cli.run(
          ["extract", corpus, "--out", out, "--run-id", "on-demand", "--backend", "aws", ...World.flags()],
          { env: world.env(), killWhen: () => invocations() >= 50 }
        )
        assert.isTrue(killed.killed, Cli.describe(killed))
        const before = invocations()
        const resumed = yield* Cli.run(["resume", "on-demand", "--out", out], { env: world.env() })
        assert.strictEqual(resumed.code, 0, Cli.describe(resumed))
        const chunks = World.readChunks(out)
        assert.strictEqual(chunks.size, 90)
        const state = RunLedger.fold(World.ledgerEntries(out, "on-demand"))
        for (const stage of ["propositions", "topics"]) assert.strictEqual(state.outcomes.get(stage)?.size, 90)
        // Each record asked once, but for the few in flight when the process died (at most the
        // on-demand concurrency, 4 by default).
        const asked = invocations()
        console.log(JSON.stringify({ onDemand: { beforeKill: before, total: asked, records: 180 } }))
        assert.isAtMost(asked, 180 + 4)
      }).pipe(Effect.scoped),
    120_000
  )
})
