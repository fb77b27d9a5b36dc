/**
 * Fault proof: `batch-extract extract` (a child process, `--backend aws`) against the local
 * emulation with faults injected: throttling on 30% of control-plane (and runtime) calls,
 * S3 errors on the way in and out, quota refusals, every terminal job status, errored /
 * missing / malformed / truncated records, and credentials that expire and are refreshed
 * mid-run. Every record ends succeeded, or reported failed with its reason.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import * as Cli from "./support/cli.ts"
import * as Credentials from "./support/credentials.ts"
import type * as Proxy from "./support/proxy.ts"
import * as World from "./support/world.ts"

interface Summary {
  readonly chunks: number
  readonly extractedChunks: number
  readonly records: { readonly succeeded: number; readonly failed: number; readonly retried: number }
  readonly jobs: {
    readonly total: number
    readonly byStatus: Readonly<Record<string, number>>
    readonly createsDeferred: number
  }
  readonly failures: ReadonlyArray<{ readonly recordId: string; readonly stage: string; readonly reason: string }>
}

const summaryOf = (out: string) => JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as Summary

/**
 * Every record of both stages has exactly one final outcome in the run state: succeeded, or
 * failed with a reason that the summary lists too; every chunk is written and its row says
 * extracted, or failed with the reasons. With a `reference` (the chunks of a run without
 * faults), every extracted chunk equals its reference: each answer is the whole one (a cut-off
 * answer was asked again and the whole answer replaced it). Returns the failures.
 */
const everyRecordAccountedFor = (
  out: string,
  runId: string,
  exit: Cli.Exit,
  reference?: ReadonlyMap<string, unknown> | undefined
) => {
  const chunks = World.readChunks(out)
  const summary = summaryOf(out)
  const outcomes = World.outcomes(out, runId)
  const rows = World.chunkStates(out, runId)
  assert.strictEqual(chunks.size, summary.chunks, "every chunk is written, failed or not")
  assert.strictEqual(rows.size, chunks.size, "every chunk is in the run's manifest")
  assert.strictEqual(World.runRow(out, runId)?.phase, "finished")
  assert.strictEqual(World.runRow(out, runId)?.exitCode, exit.code)
  const failed: Array<{ stage: string; recordId: string; reason: string }> = []
  for (const id of chunks.keys()) {
    const row = rows.get(id)
    assert.isDefined(row, `${id} is in the manifest`)
    const reasons: Array<string> = []
    for (const stage of ["propositions", "topics"]) {
      const outcome = outcomes.get(stage)?.get(id)
      assert.isDefined(outcome, `${stage} ${id} has an outcome`)
      // The chunk is written: its answer is no longer kept, only its figures.
      assert.isUndefined(outcome!.output, `${stage} ${id}: the answer of a written chunk is not kept`)
      if (outcome!.tag === "Failed") {
        assert.isAbove(outcome!.reason?.length ?? 0, 0)
        failed.push({ stage, recordId: id, reason: outcome!.reason! })
        reasons.push(`${stage}: ${outcome!.reason}`)
      }
    }
    if (reasons.length > 0) {
      assert.strictEqual(row!.state, "failed", `${id} failed`)
      for (const reason of reasons) assert.include(row!.reason, reason)
    } else if (row!.state === "failed") {
      // Succeeded records whose chunk failed: an answer cut off twice (kept, with its reason).
      assert.match(row!.reason ?? "", /cut off/, `${id}: ${row!.reason}`)
    } else {
      assert.strictEqual(row!.state, "extracted", id)
      if (reference !== undefined) assert.deepStrictEqual(chunks.get(id), reference.get(id), `${id}: the whole answers`)
    }
  }
  const listed = new Set(summary.failures.map((f) => `${f.stage} ${f.recordId}`))
  for (const failure of failed) assert.isTrue(listed.has(`${failure.stage} ${failure.recordId}`))
  assert.strictEqual(summary.failures.length, failed.length)
  assert.strictEqual(exit.code, failed.length === 0 ? 0 : 1, Cli.describe(exit))
  return failed
}

/** A seeded fraction. */
const roller = (seed: number) => {
  let state = seed >>> 0
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0
    return state / 4_294_967_296
  }
}

const slowDown: Proxy.Refusal = {
  status: 503,
  headers: { "content-type": "application/xml" },
  body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>` +
    `<Message>Please reduce your request rate.</Message><RequestId>INJECTED</RequestId></Error>`
}

describe("durable runs: faults", () => {
  it.live(
    "throttling, S3 errors, quota refusals, every terminal status and bad records: nothing unaccounted",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("faults")
        const world = yield* World.make({
          emulator: {
            timings: {},
            seed: 7,
            quotas: { maxConcurrentJobs: 2 },
            faults: {
              throttleRate: 0.3,
              runtimeThrottleRate: 0.3,
              jobStatuses: ["Failed", "Expired", "PartiallyCompleted", "Stopped"],
              recordErrorRate: 0.04,
              recordMissingRate: 0.04,
              malformedRate: 0.04,
              truncatedRate: 0.04
            }
          }
        })
        // Quota refusals: the account's quota of two concurrent jobs, and three refusals at once.
        yield* world.local.bedrock.failNext(Array.from({ length: 3 }, () => ({
          operation: "CreateModelInvocationJob" as const,
          exceptionName: "ServiceQuotaExceededException",
          message: "The number of submitted and in-progress batch inference jobs has reached the quota (injected)."
        })))
        // S3 errors on the client's side of S3: 15% of its requests answered 503 SlowDown.
        const roll = roller(11)
        world.s3.setPlan(() => (roll() < 0.15 ? { refuse: slowDown } : {}))
        const corpus = World.writeCorpus(join(dir, "corpus"), 40)
        const out = join(dir, "out")
        const exit = yield* Cli.run(
          [
            "extract",
            corpus,
            "--out",
            out,
            "--run-id",
            "storm",
            "--backend",
            "aws",
            ...World.flags({ "on-demand-concurrency": "16" })
          ],
          { env: world.env() }
        )
        // The reference: the same corpus extracted without faults.
        const clean = yield* World.make({ emulator: { timings: {} } })
        const referenceOut = join(dir, "reference")
        const cleanExit = yield* Cli.run(
          ["extract", corpus, "--out", referenceOut, "--run-id", "calm", "--backend", "aws", ...World.flags()],
          { env: clean.env() }
        )
        assert.strictEqual(cleanExit.code, 0, Cli.describe(cleanExit))
        const failed = everyRecordAccountedFor(out, "storm", exit, World.readChunks(referenceOut))

        const counters = yield* world.local.bedrock.counters
        const statuses = new Set((yield* world.local.bedrock.jobs).map((job) => job.status))
        const summary = summaryOf(out)
        // Cut-off answers were asked again (each a `reask/<stage>/<record>` activity of the run).
        const reasked = World.activities(out).filter((activity) => activity.name.startsWith("reask/"))
        const figures = {
          throttled: counters.throttled,
          createsRefused: counters.createsRefused + 3,
          createsDeferred: summary.jobs.createsDeferred,
          s3Errors: world.s3.refused(),
          jobStatuses: [...statuses].sort(),
          recordsRetried: summary.records.retried,
          cutOffAnswersAskedAgain: reasked.length,
          recordsFailed: failed.length,
          reasons: [...new Set(failed.map((f) => f.reason))]
        }
        console.log(JSON.stringify({ storm: figures }, null, 2))
        assert.isAbove(counters.throttled, 10)
        // Every quota refusal, and only those, made a create wait for capacity: the three
        // injected ones (each served) and any of the account's quota of two jobs.
        assert.strictEqual(counters.injectedErrors, 3)
        assert.strictEqual(summary.jobs.createsDeferred, counters.createsRefused + 3)
        assert.isAbove(world.s3.refused(), 0)
        for (const status of ["Completed", "Failed", "Expired", "PartiallyCompleted", "Stopped"]) {
          assert.isTrue(statuses.has(status as never), `a job ended ${status}`)
        }
        assert.deepStrictEqual(counters.statusesImposed, { Failed: 1, Expired: 1, PartiallyCompleted: 1, Stopped: 1 })
        // Each kind of bad record line was written (the records they hit went again).
        for (const kind of ["recordsErrored", "recordsMissing", "recordsMalformed", "recordsTruncated"] as const) {
          assert.isAbove(counters[kind], 0, kind)
        }
        assert.isAbove(summary.records.retried, 0)
        assert.isAbove(reasked.length, 0, "cut-off answers were asked again")
        assert.isTrue(reasked.every((activity) => activity.completed))
        // What still fails had a fault on each of its attempts (`maxRecordAttempts`, 3 by default).
        assert.isBelow(failed.length, summary.chunks * 2 * 0.2, "retries and the on-demand path answer most records")
      }).pipe(Effect.scoped),
    180_000
  )

  it.live(
    "jobs that always fail and an on-demand path that refuses: every record is reported failed, with its reason; a re-run extracts them",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("failing")
        const world = yield* World.make({
          emulator: { timings: {}, faults: { jobStatuses: Array.from({ length: 6 }, () => "Failed" as const) } }
        })
        // 24 documents, 120 chunks: per stage one job of 100 (failed three times) and 20 records
        // on demand (refused once each: access denied is final).
        yield* world.local.bedrock.failNext(
          Array.from({ length: 40 }, () => ({
            operation: "InvokeModel" as const,
            exceptionName: "AccessDeniedException",
            message: "not authorized to invoke this model (injected)"
          }))
        )
        const corpus = World.writeCorpus(join(dir, "corpus"), 24)
        const out = join(dir, "out")
        const extract = (runId: string) =>
          Cli.run(
            ["extract", corpus, "--out", out, "--run-id", runId, "--backend", "aws", ...World.flags()],
            { env: world.env() }
          )
        const exit = yield* extract("doomed")
        const failed = everyRecordAccountedFor(out, "doomed", exit)
        const chunks = World.readChunks(out).size
        assert.strictEqual(chunks, 120)
        assert.strictEqual(failed.length, 2 * chunks)
        for (const failure of failed) {
          assert.match(failure.reason, /job ended Failed|on-demand call failed: .*not authorized/, failure.reason)
        }
        assert.include(exit.stderr, "failed propositions")
        assert.strictEqual((yield* world.local.bedrock.counters).callsByOperation.InvokeModel, 40)

        // The failed chunks were written (empty) but not extracted: a re-run extracts them.
        const again = yield* extract("again")
        assert.deepStrictEqual(everyRecordAccountedFor(out, "again", again), [])
        assert.strictEqual(summaryOf(out).extractedChunks, chunks)
        const extracted = [...World.readChunks(out).values()] as Array<{ metadata: Record<string, unknown> }>
        assert.isTrue(
          extracted.every((chunk) => (chunk.metadata["aws::graph::propositions"] as Array<string>).length > 0)
        )
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "credentials that expire mid-run are refreshed (container credentials endpoint); nothing is refused",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("credentials")
        const world = yield* World.make({ emulator: { timings: World.slowTimings } })
        // Keys expire after a number of uses, not of milliseconds (see support/credentials.ts).
        // A client that refreshes as the SDK does signs with a key only the requests it starts
        // while the next key is on its way: with one job at a time, 1 to 4 in runs of this
        // test. A client that kept its first key would sign all of its service's requests.
        const usesPerKey = 8
        const credentials = yield* Credentials.make({ usesPerKey })
        world.s3.setPlan(credentials.check("s3"))
        world.bedrock.setPlan(credentials.check("bedrock"))
        const corpus = World.writeCorpus(join(dir, "corpus"), 40)
        const out = join(dir, "out")
        const env = world.env({ AWS_CONTAINER_CREDENTIALS_FULL_URI: credentials.uri })
        delete env.AWS_ACCESS_KEY_ID
        delete env.AWS_SECRET_ACCESS_KEY
        const exit = yield* Cli.run(
          [
            "extract",
            corpus,
            "--out",
            out,
            "--run-id",
            "rotating",
            "--backend",
            "aws",
            ...World.flags({ "max-concurrent-jobs": "1" })
          ],
          { env }
        )
        const failed = everyRecordAccountedFor(out, "rotating", exit)
        assert.deepStrictEqual(failed, [])
        console.log(JSON.stringify({
          credentials: {
            issued: credentials.issued(),
            keysUsed: credentials.keysUsed().size,
            mostUses: credentials.mostUses(),
            requests: { s3: world.s3.seen().length, bedrock: world.bedrock.seen().length },
            refused: world.s3.refused() + world.bedrock.refused()
          }
        }))
        // Each service saw more requests than one key may sign: a client that did not refresh
        // would have been refused. Nothing was refused: every request was signed with a key
        // that had uses left, each client moving on to fresh keys as the run went.
        assert.isAbove(world.s3.seen().length, usesPerKey)
        assert.isAbove(world.bedrock.seen().length, usesPerKey)
        assert.strictEqual(world.s3.refused() + world.bedrock.refused(), 0)
        assert.isAtMost(credentials.mostUses(), usesPerKey)
        // No issued secret shows in the logs, the run state or the summary.
        const written = [
          exit.stdout,
          exit.stderr,
          World.stateText(out),
          readFileSync(join(out, "summary.json"), "utf8")
        ].join("\n")
        assert.include(World.stateText(out), "rotating", "the run state is searched")
        for (const secret of credentials.secrets()) assert.notInclude(written, secret)
      }).pipe(Effect.scoped),
    120_000
  )
})
