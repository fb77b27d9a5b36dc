/**
 * Crash proof: `batch-extract extract` is killed with SIGKILL at many points (right after the
 * run is recorded, staging, between the create intent and the ARN, while polling, while
 * reading outputs, right after outcomes are recorded, while writing the sink, and after
 * random delays), and resumed each time. The local S3 and the Bedrock emulator live in this
 * test process, so they outlive every kill; the child reaches them with `--backend aws` and
 * the standard SDK environment. Progress is read from the run state (the SQLite store under
 * the output, read-only).
 *
 * In the end: the chunk files equal those of an uninterrupted run; the run state passes
 * SQLite's integrity check after every kill; no input ever had two jobs and every job created
 * has its intent in the run state; every create the service answered carried its job's client
 * request token, and a create was sent again only where the scenario makes it so (see
 * {@link verify}); without faults no record was in two jobs, retry jobs included, and with
 * faults a record went again only in a job labelled as the retry of a job that did not answer
 * it, or after a kill in a fresh job; no record was sent again after a job answered it (what
 * each job was given and answered is read from the S3 and control-plane traffic); every record
 * has a recorded outcome; and no file was ever half-written.
 */
import type { BedrockEmulator } from "@batch-extract/aws/local"
import { BatchInference } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
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
  /** The run state at the child's start: the run was recorded, the jobs seen in progress, the outcomes. */
  readonly hadRun: boolean
  readonly baselineInProgress: ReadonlySet<string>
  readonly baselineOutcomes: number
  readonly baselineChunkFiles: number
}

interface KillPoint {
  readonly name: string
  readonly reached: (observation: Observation) => boolean
}

const inFlight = (proxy: Proxy.Proxy, phase: Proxy.InFlight["phase"], match: (r: Proxy.Seen) => boolean) =>
  proxy.inFlight().some((request) => request.phase === phase && match(request))

const isCreate = (r: Proxy.Seen) => r.method === "POST" && r.url.split("?")[0] === "/model-invocation-job"
const isList = (r: Proxy.Seen) => r.method === "GET" && r.url.split("?")[0] === "/model-invocation-jobs"
const isStaging = (r: Proxy.Seen) => r.method === "PUT" && r.url.includes("/input/")
const isOutputRead = (r: Proxy.Seen) => r.method === "GET" && r.url.split("?")[0]!.endsWith(".jsonl.out")

const inProgress = (out: string, runId: string) =>
  new Set(World.jobs(out, runId).filter((job) => job.status === "InProgress").map((job) => job.jobName))

const points = {
  runRecorded: {
    name: "run recorded, nothing staged yet",
    reached: (o) => !o.hadRun && World.runRow(o.out, o.runId) !== undefined
  },
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
    reached: (o) => [...inProgress(o.out, o.runId)].some((name) => !o.baselineInProgress.has(name))
  },
  readingOutputs: {
    name: "reading a job's output",
    reached: (o) => inFlight(o.world.s3, "held-response", isOutputRead)
  },
  outcomesRecorded: {
    name: "outcomes just recorded",
    reached: (o) => World.outcomeCount(o.out, o.runId) > o.baselineOutcomes
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

/** A page of `ListModelInvocationJobs` that lists nothing. */
const emptyList: Proxy.Refusal = {
  status: 200,
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ invocationJobSummaries: [] })
}

/**
 * The windows the proxies hold open, so each kill point is hit reliably; the staged inputs,
 * the outputs read and the creates are kept, to see what each job was given, what it answered
 * and how it was created. With `blindLookups`, listing jobs finds none (as when the service
 * does not list a job yet, or no longer), so a resumed process cannot find by name a job
 * created before its ARN was recorded, and creates it again: its client request token must
 * bring back the same job.
 */
const holdWindows = (world: World.World, options: { readonly blindLookups: boolean } = { blindLookups: false }) => {
  world.s3.setPlan((r) =>
    isStaging(r)
      ? { holdRequestMs: 150, keepBodies: true }
      : isOutputRead(r)
      ? { holdResponseMs: 150, keepBodies: true }
      : {}
  )
  world.bedrock.setPlan((r) =>
    isCreate(r)
      ? { holdRequestMs: 100, holdResponseMs: 150, keepBodies: true }
      : options.blindLookups && isList(r)
      ? { refuse: emptyList }
      : {}
  )
}

/** A create the service answered, from its kept body. */
interface Create {
  readonly jobName: string
  readonly clientRequestToken: string | undefined
  readonly status: number
}

/** The creates the service answered for a run's jobs (kept by the control-plane proxy). */
const createsOf = (proxy: Proxy.Proxy, runId: string): Array<Create> =>
  proxy.kept().filter(isCreate).flatMap((kept) => {
    const body = JSON.parse(kept.requestBody.toString("utf8")) as {
      readonly jobName?: string
      readonly clientRequestToken?: string
      readonly inputDataConfig?: { readonly s3InputDataConfig?: { readonly s3Uri?: string } }
    }
    const input = body.inputDataConfig?.s3InputDataConfig?.s3Uri ?? ""
    return input.includes(`/batch-extract/${runId}/`)
      ? [{ jobName: body.jobName ?? "", clientRequestToken: body.clientRequestToken, status: kept.status }]
      : []
  })

interface Tally {
  kills: Array<string>
  missed: Array<string>
  processes: number
  /** Integrity checks of the run state after a kill, and those that were not "ok". */
  integrityChecks: number
  unsound: Array<string>
}

/** The run state passes SQLite's integrity check (when there is one: a kill may come before it). */
const checkIntegrity = (out: string, tally: Tally, when: string) => {
  if (!existsSync(World.stateFile(out))) return
  const result = World.integrity(out)
  tally.integrityChecks++
  if (result !== "ok") tally.unsound.push(`${when}: ${result}`)
  assert.strictEqual(result, "ok", `the run state after ${when}`)
}

/**
 * Run a run to its end, killing it at each point in turn (a point not reached lets it run on).
 * Returns the names of the points where it was killed.
 */
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
    // Once the run is recorded it is resumed; before, extracted again (nothing of it is kept).
    const nextArgs = () => World.runRow(out, runId) !== undefined ? ["resume", runId, "--out", out] : extractArgs
    const kills: Array<string> = []
    for (const point of sequence) {
      const observation: Observation = {
        world,
        out,
        runId,
        startedAt: performance.now(),
        hadRun: World.runRow(out, runId) !== undefined,
        baselineInProgress: inProgress(out, runId),
        baselineOutcomes: World.outcomeCount(out, runId),
        baselineChunkFiles: World.chunkFiles(out).length
      }
      const exit = yield* Cli.run(nextArgs(), { env: world.env(), killWhen: () => point.reached(observation) })
      tally.processes++
      // Whatever the instant of the kill: no chunk file is ever half-written, the run state is sound.
      World.readChunks(out)
      checkIntegrity(out, tally, `${runId}: ${point.name}`)
      if (exit.killed) {
        assert.strictEqual(exit.signal, "SIGKILL", Cli.describe(exit))
        tally.kills.push(point.name)
        kills.push(point.name)
      } else {
        tally.missed.push(point.name)
        assert.strictEqual(exit.code, 0, Cli.describe(exit))
        break
      }
    }
    // Resume until done (a resume always finishes: nothing kills it).
    for (let attempt = 0; attempt < 3; attempt++) {
      if (World.finished(out, runId)) break
      const exit = yield* Cli.run(nextArgs(), { env: world.env() })
      tally.processes++
      assert.strictEqual(exit.code, 0, Cli.describe(exit))
    }
    assert.isTrue(World.finished(out, runId), `${runId} finished`)
    checkIntegrity(out, tally, `${runId}: the end`)
    return kills
  })

/** What a run went through, for {@link verify}. */
interface Scenario {
  /** Job and record faults were injected (jobs fail, end partially or stop; records come back errored or missing). */
  readonly faulty: boolean
  /** Listing jobs found none (see {@link holdWindows}). */
  readonly blindLookups: boolean
  /** Creates the emulator answered with an existing job, found by its client request token, during the run. */
  readonly repeatedTokens: number
}

/**
 * Check a crashed run against the reference: same chunks, no job twice, every job's intent
 * recorded, every create with its job's token and sent again only where the scenario makes it
 * so, no record in two jobs but as the design allows, every outcome.
 */
const verify = (
  world: World.World,
  out: string,
  runId: string,
  reference: Map<string, unknown>,
  scenario: Scenario
) =>
  Effect.gen(function*() {
    const { blindLookups, faulty, repeatedTokens } = scenario
    const chunks = World.readChunks(out)
    const lost = [...reference.keys()].filter((id) => !chunks.has(id))
    assert.deepStrictEqual(lost, [], `${runId}: chunks lost`)
    assert.strictEqual(chunks.size, reference.size)
    for (const [id, chunk] of reference) assert.deepStrictEqual(chunks.get(id), chunk, `${runId}: chunk ${id}`)
    const run = World.runRow(out, runId)
    assert.strictEqual(run?.phase, "finished")
    assert.strictEqual(run?.exitCode, 0)
    const states = World.countBy(World.chunkStates(out, runId).values(), (chunk) => chunk.state)
    assert.deepStrictEqual(states, { extracted: reference.size }, `${runId}: every chunk extracted`)

    // The jobs: every job name once in the run state; on the emulator, one job per input and
    // per name.
    const rows = World.jobs(out, runId)
    const intents = new Map(rows.map((row) => [row.jobName, row]))
    assert.strictEqual(intents.size, rows.length, `${runId}: job names are unique in the run state`)
    const jobs = (yield* world.local.bedrock.jobs).filter((job) =>
      (job.inputS3Uri ?? "").includes(`/batch-extract/${runId}/`)
    )
    const twice = (keys: ReadonlyArray<string>) => keys.filter((key, i) => keys.indexOf(key) !== i)
    const duplicatedInputs = twice(jobs.map((job) => job.inputS3Uri ?? ""))
    const duplicatedNames = twice(jobs.map((job) => job.jobName))
    assert.deepStrictEqual(duplicatedInputs, [], `${runId}: inputs with two jobs`)
    assert.deepStrictEqual(duplicatedNames, [], `${runId}: job names created twice`)

    // The creates, as the service answered them. Every one carried the client request token of
    // its job's intent, and got the job (a create with another token would be refused: the
    // name is taken). A process killed after its create reached the service and before the
    // ARN was recorded leaves a job the run state knows only by its intent; the resumed
    // process looks it up by name and does not create it again — so, with nothing else
    // failing a create in these runs (the SDK never retries: `maxAttempts` 1; no throttling,
    // no quota refusal), no create is ever sent twice. Where the lookup finds nothing (here
    // `blindLookups`; on AWS, a list that does not show the job yet, or no longer: ended jobs
    // are listed only for a while), the resumed process creates again, and the same token
    // brings back the same job: the emulator counts a repeated token.
    const creates = createsOf(world.bedrock, runId)
    const wrongToken = creates.filter((create) =>
      create.status !== 200 || create.clientRequestToken !== intents.get(create.jobName)?.token
    )
    assert.deepStrictEqual(
      wrongToken.slice(0, 5),
      [],
      `${runId}: creates refused, or not carrying the token of their job's intent`
    )
    if (blindLookups) {
      assert.isAtLeast(repeatedTokens, 1, `${runId}: a job whose ARN was lost was created again with its token`)
    } else {
      assert.strictEqual(repeatedTokens, 0, `${runId}: creates sent again for a job the service had`)
    }

    // Each job created has its intent (the same input) and its ARN in the run state.
    for (const job of jobs) {
      const intent = intents.get(job.jobName)
      assert.isDefined(intent, `${runId}: the run state has the intent of every job created (${job.jobName})`)
      assert.strictEqual(job.inputS3Uri, `s3://${intent!.bucket}/${intent!.inputKey}`, job.jobName)
      assert.strictEqual(intent!.jobArn, job.jobArn, `${runId}: the ARN of ${job.jobName} is recorded`)
      assert.isTrue(intent!.finished, `${runId}: ${job.jobName} is settled`)
    }
    if (!faulty) {
      // Every intent was created: no job was left behind, none made twice.
      assert.deepStrictEqual(rows.map((row) => row.jobName).sort(), jobs.map((job) => job.jobName).sort())
      assert.isTrue(jobs.every((job) => job.status === "Completed"), `${runId}: every job completed`)
    }

    // The records: what each job was given (its staged input, by content hash) and answered
    // (its output file), as seen on S3.
    const inputs = World.stagedInputs(world.s3)
    const outputs = World.jobOutputs(world.s3)
    const answeredBy = (job: BatchInference.JobDescription) =>
      outputs.get(BatchInference.jobIdFromArn(job.jobArn))?.answered ?? new Set<string>()
    const carried = new Map<string, Array<{ job: BatchInference.JobDescription; attempt: number }>>()
    for (const job of jobs) {
      const intent = intents.get(job.jobName)!
      const records = inputs.get(intent.contentHash)
      assert.isDefined(records, `${runId}: the staged input of ${job.jobName} was seen`)
      assert.strictEqual(records!.length, intent.records, `${runId}: ${job.jobName} has the records of its intent`)
      for (const recordId of records!) {
        const key = `${intent.stage}/${recordId}`
        carried.set(key, [...(carried.get(key) ?? []), { job, attempt: intent.attempt }])
      }
      if (!faulty) {
        const output = outputs.get(BatchInference.jobIdFromArn(job.jobArn))
        assert.isDefined(output, `${runId}: the output of ${job.jobName} was read`)
        assert.strictEqual(output!.answered.size, records!.length, `${runId}: ${job.jobName} answered every record`)
      }
    }
    // Without faults every job answers every record: no record is in two jobs, retry jobs
    // included (there is nothing to retry). With faults a record goes again when its job did
    // not answer it: in the retry job (below), or — when the process was killed after that
    // job was settled and before its retry was recorded — in a fresh first-attempt job.
    const inTwoJobs = [...carried].filter(([, list]) => list.length > 1)
    if (!faulty) {
      assert.deepStrictEqual(
        inTwoJobs.slice(0, 5).map(([key, list]) => `${key}: ${list.map(({ job }) => job.jobName).join(", ")}`),
        [],
        `${runId}: records in two jobs`
      )
    }
    // A retry job (attempt n > 1) is labelled `<its parent's label>r<n>`; its parent is a job of
    // the same stage at attempt n - 1 that carried each of its records and answered none of them.
    const byLabel = new Map(jobs.map((job) => {
      const intent = intents.get(job.jobName)!
      return [`${intent.stage}/${intent.label}`, job] as const
    }))
    const badRetries: Array<string> = []
    for (const job of jobs) {
      const intent = intents.get(job.jobName)!
      if (intent.attempt === 1) continue
      const label = /^(.+)r(\d+)$/.exec(intent.label)
      const parent = label === null ? undefined : byLabel.get(`${intent.stage}/${label[1]}`)
      const parentIntent = parent === undefined ? undefined : intents.get(parent.jobName)
      if (label === null || Number(label[2]) !== intent.attempt || parentIntent?.attempt !== intent.attempt - 1) {
        badRetries.push(`${job.jobName} (label ${intent.label}, attempt ${intent.attempt}) retries no job of the run`)
        continue
      }
      const parentRecords = new Set(inputs.get(parentIntent.contentHash))
      const parentAnswered = answeredBy(parent!)
      for (const recordId of inputs.get(intent.contentHash) ?? []) {
        if (!parentRecords.has(recordId)) {
          badRetries.push(`${intent.stage}/${recordId} in ${intent.label}, not in ${parentIntent.label}`)
        } else if (parentAnswered.has(recordId)) {
          badRetries.push(`${intent.stage}/${recordId} in ${intent.label}, answered by ${parentIntent.label}`)
        }
      }
    }
    assert.deepStrictEqual(badRetries.slice(0, 5), [], `${runId}: retry jobs that are not retries of what failed`)
    // No job ever carried a record that an earlier job had answered (retry jobs included).
    const resent: Array<string> = []
    for (const [key, list] of carried) {
      const recordId = key.slice(key.indexOf("/") + 1)
      const inOrder = [...list].sort((a, b) => (a.job.submitTime?.getTime() ?? 0) - (b.job.submitTime?.getTime() ?? 0))
      inOrder.forEach(({ job }, i) => {
        const answeredBefore = inOrder.slice(0, i).find(({ job: earlier }) => answeredBy(earlier).has(recordId))
        if (answeredBefore !== undefined) resent.push(`${key} in ${job.jobName} after ${answeredBefore.job.jobName}`)
      })
    }
    assert.deepStrictEqual(resent.slice(0, 5), [], `${runId}: records sent again after a job answered them`)

    // Every record of both stages has its outcome in the run state, and succeeded.
    const outcomes = World.outcomes(out, runId)
    for (const stage of ["propositions", "topics"]) {
      const missing = [...reference.keys()].filter((id) => outcomes.get(stage)?.get(id)?.tag !== "Succeeded")
      assert.deepStrictEqual(missing, [], `${runId}: ${stage} records without a successful outcome`)
    }
    return {
      lost: lost.length,
      duplicatedJobs: duplicatedInputs.length + duplicatedNames.length,
      jobs: jobs.length,
      retryJobs: rows.filter((row) => row.attempt > 1).length,
      creates: creates.length,
      repeatedTokens,
      recordsTracked: carried.size,
      recordsInTwoJobs: inTwoJobs.length,
      recordsInTwoFirstAttemptJobs: inTwoJobs.filter(([, list]) => list.filter((c) => c.attempt === 1).length > 1)
        .length
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

        const tally: Tally = { kills: [], missed: [], processes: 0, integrityChecks: 0, unsound: [] }
        interface Sequence {
          readonly points: ReadonlyArray<KillPoint>
          readonly blindLookups?: boolean
          readonly faults?: BedrockEmulator.Faults
          readonly settings?: Readonly<Record<string, string>>
        }
        const sequences: Record<string, Sequence> = {
          "by-phase": {
            points: [
              points.runRecorded,
              points.staging,
              points.intentBeforeCreate,
              points.createdBeforeArn,
              points.polling,
              points.readingOutputs,
              points.outcomesRecorded,
              points.writingSink
            ]
          },
          // Listing jobs finds none here: a job created before its ARN was recorded is created
          // again, and its client request token brings it back.
          "around-creates": {
            points: [
              points.createdBeforeArn,
              points.createdBeforeArn,
              points.staging,
              points.intentBeforeCreate,
              points.createdBeforeArn,
              points.polling,
              points.readingOutputs,
              points.writingSink
            ],
            blindLookups: true
          },
          "late": {
            points: [
              points.polling,
              points.readingOutputs,
              points.outcomesRecorded,
              points.readingOutputs,
              points.outcomesRecorded,
              points.writingSink,
              points.writingSink
            ]
          },
          // At fractions of an uninterrupted run's time (a run now spends its first seconds starting).
          "random": { points: [0.3, 0.45, 0.6, 0.75].map((share) => after(Math.round(share * clean.elapsedMs))) },
          // Kills while jobs fail, end partially or stop, and records come back errored or missing
          // (with attempts enough for every record to get through all of that).
          "with-faults": {
            points: [
              points.readingOutputs,
              points.outcomesRecorded,
              points.createdBeforeArn,
              points.readingOutputs,
              points.outcomesRecorded,
              points.writingSink
            ],
            faults: {
              recordErrorRate: 0.05,
              recordMissingRate: 0.05,
              jobStatuses: ["Failed", "PartiallyCompleted", "Stopped", "Failed"]
            },
            settings: { "max-record-attempts": "6" }
          }
        }
        const results: Array<{ readonly runId: string } & Effect.Success<ReturnType<typeof verify>>> = []
        /** Kills between a create and its ARN where the lookup by name was left to work. */
        const lookupKills: Array<string> = []
        for (const [runId, sequence] of Object.entries(sequences)) {
          const out = join(dir, runId)
          const blindLookups = sequence.blindLookups === true
          holdWindows(world, { blindLookups })
          yield* world.local.bedrock.setFaults(sequence.faults ?? {})
          const tokensBefore = (yield* world.local.bedrock.counters).repeatedTokens
          const kills = yield* crashAndResume(world, corpus, out, runId, sequence.points, tally, sequence.settings)
          const repeatedTokens = (yield* world.local.bedrock.counters).repeatedTokens - tokensBefore
          yield* world.local.bedrock.setFaults({})
          holdWindows(world)
          if (!blindLookups) lookupKills.push(...kills.filter((kill) => kill === points.createdBeforeArn.name))
          const scenario = { faulty: sequence.faults !== undefined, blindLookups, repeatedTokens }
          results.push({ runId, ...(yield* verify(world, out, runId, reference, scenario)) })
        }

        const byKind: Record<string, number> = {}
        for (const kill of tally.kills) byKind[kill] = (byKind[kill] ?? 0) + 1
        const total = (figure: (result: typeof results[number]) => number) =>
          results.reduce((n, result) => n + figure(result), 0)
        console.log(JSON.stringify(
          {
            killPoints: tally.kills.length,
            byKind,
            notReached: tally.missed,
            processes: tally.processes,
            integrityChecks: tally.integrityChecks,
            unsoundRunStates: tally.unsound.length,
            recordsLost: total((r) => r.lost),
            jobsDuplicated: total((r) => r.duplicatedJobs),
            recordsTrackedThroughJobs: total((r) => r.recordsTracked),
            byRun: Object.fromEntries(results.map((r) => [r.runId, {
              jobs: r.jobs,
              retryJobs: r.retryJobs,
              creates: r.creates,
              repeatedTokens: r.repeatedTokens,
              recordsInTwoJobs: r.recordsInTwoJobs,
              recordsInTwoFirstAttemptJobs: r.recordsInTwoFirstAttemptJobs
            }]))
          },
          null,
          2
        ))
        // The lookup by name was put to the test: a kill between a create and its ARN with it on.
        assert.isNotEmpty(lookupKills, "a kill between a create and its ARN, the lookup by name on")
        assert.isAtLeast(tally.kills.length, 18)
        assert.deepStrictEqual(tally.unsound, [])
        for (const point of Object.values(points)) {
          assert.include(tally.kills, point.name, `the kill point "${point.name}" was tried`)
        }
      }).pipe(Effect.scoped),
    480_000
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
        assert.strictEqual(World.integrity(out), "ok")
        const before = invocations()
        const resumed = yield* Cli.run(["resume", "on-demand", "--out", out], { env: world.env() })
        assert.strictEqual(resumed.code, 0, Cli.describe(resumed))
        const chunks = World.readChunks(out)
        assert.strictEqual(chunks.size, 90)
        const outcomes = World.outcomes(out, "on-demand")
        for (const stage of ["propositions", "topics"]) {
          const records = [...outcomes.get(stage)?.values() ?? []]
          assert.strictEqual(records.length, 90)
          assert.isTrue(records.every((o) => o.tag === "Succeeded" && o.via === "onDemand"), stage)
        }
        // Each on-demand call is an activity of the run: one per record (none left unfinished).
        const calls = World.activities(out).filter((a) => a.name.startsWith("ondemand/"))
        assert.strictEqual(new Set(calls.map((a) => a.name)).size, 180)
        assert.isTrue(calls.every((a) => a.completed))
        // Each record asked once, but for the few in flight when the process died (at most the
        // on-demand concurrency, 4 by default).
        const asked = invocations()
        console.log(JSON.stringify({ onDemand: { beforeKill: before, total: asked, records: 180 } }))
        assert.isAtMost(asked, 180 + 4)
      }).pipe(Effect.scoped),
    120_000
  )
})
