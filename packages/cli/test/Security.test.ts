/**
 * Security proof, on `batch-extract` (a child process, `--backend aws`) against the local
 * emulation: no secret, credential or presigned URL in the logs, the run state (the SQLite
 * files under the output) or the summary, even when calls fail; S3 keys only under the validated prefix; the KMS key
 * on the staged input and on the job output; a bucket owner, when set, sent on every S3
 * request and enforced.
 */
import { BatchConfig } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Stream } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import * as Cli from "./support/cli.ts"
import type * as Proxy from "./support/proxy.ts"
import * as World from "./support/world.ts"

const kmsKey = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
const owner = "111122223333"
const sessionToken = "IQoJb3JpZ2luX2VjEDurableRunsSessionTokenNotForLogs0123456789"

/** Everything a run left on disk (byte for byte: the run state's database too) and printed, as one text. */
const everythingWritten = (out: string, exits: ReadonlyArray<Cli.Exit>) =>
  [
    ...exits.flatMap((exit) => [exit.stdout, exit.stderr]),
    ...World.filesUnder(out).map((file) => readFileSync(join(out, file), "latin1"))
  ].join("\n")

const forbidden = [
  World.secretAccessKey,
  sessionToken,
  "X-Amz-Signature",
  "X-Amz-Credential",
  "X-Amz-Security-Token",
  "Signature=",
  "AWS4-HMAC-SHA256"
]

/** The object key of a path-style S3 request (`/<bucket>/<key>?…`), if it names one. */
const keyOf = (request: Proxy.Seen): string | undefined => {
  const path = decodeURIComponent(request.url.split("?")[0]!)
  const prefix = `/${World.bucket}/`
  return path.startsWith(prefix) && path.length > prefix.length ? path.slice(prefix.length) : undefined
}

describe("durable runs: security", () => {
  it("key prefixes: '..', '.', a leading '/', control characters and empty segments are refused", () => {
    const refused = ["..", "../up", "a/../b", "./a", "a/.", "/abs", "a\u0000b", "a\nb", "a\u007fb", "a//b"]
    for (const prefix of refused) assert.isDefined(BatchConfig.keyPrefixProblem(prefix), JSON.stringify(prefix))
    for (const prefix of ["tenant-a", "tenant-a/corpora/2024", "with space/ü", "a..b", "trailing/"]) {
      assert.isUndefined(BatchConfig.keyPrefixProblem(prefix), prefix)
    }
  })

  it.live(
    "no secret in logs, run state or summary; keys only under the prefix; KMS on input and output; bucket owner sent",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("security")
        const world = yield* World.make({ emulator: { timings: {}, seed: 5 }, bucketOwner: owner })
        // Failures on the way, so error paths log too (with their SDK errors).
        yield* world.local.bedrock.failNext([
          { operation: "CreateModelInvocationJob", exceptionName: "InternalServerException" },
          { operation: "GetModelInvocationJob", exceptionName: "ThrottlingException" },
          { operation: "InvokeModel", exceptionName: "AccessDeniedException", message: "denied (injected)" }
        ])
        yield* world.local.s3.failNext([{ code: "InternalError", status: 500, method: "PUT" }])
        yield* world.local.bedrock.setFaults({ recordErrorRate: 0.05, recordMissingRate: 0.05 })
        const corpus = World.writeCorpus(join(dir, "corpus"), 40)
        const out = join(dir, "out")
        const prefix = "tenant-a/corpora 2024"
        const env = world.env({ AWS_SESSION_TOKEN: sessionToken })
        const exit = yield* Cli.run(
          [
            "extract",
            corpus,
            "--out",
            out,
            "--run-id",
            "secure",
            "--backend",
            "aws",
            "--json",
            "--log-level",
            "debug",
            "--no-delete-on-success",
            ...World.flags({ "key-prefix": prefix, "s3-encryption-key-id": kmsKey, "s3-bucket-owner": owner })
          ],
          { env }
        )
        assert.include([0, 1], exit.code, Cli.describe(exit))
        const status = yield* Cli.run(["status", "secure", "--out", out, "--json"], { env })
        assert.strictEqual(status.code, 0, Cli.describe(status))

        // 1. Nothing secret anywhere the run wrote or printed: its logs, its run state (the
        //    database with the run's settings, jobs and outcomes), its summary.
        const files = World.filesUnder(out)
        assert.include(files, join(".batch-extract", "state", "state.db"))
        assert.include(files, "summary.json")
        const written = everythingWritten(out, [exit, status])
        for (const secret of forbidden) assert.notInclude(written, secret)
        const state = World.stateText(out)
        for (const secret of forbidden) assert.notInclude(state, secret, "the run state's files")
        assert.include(state, "secure", "the run state searched is the run's")
        assert.include(state, kmsKey, "the run's settings are in the run state searched")
        assert.isAbove(World.outcomeCount(out, "secure"), 0, "its outcomes too")
        assert.include(written, "(injected)", "error paths were logged too")

        // 2. Every key the command touched is under the prefix and the run.
        const root = `${prefix}/batch-extract/secure/`
        const keys = world.s3.seen().flatMap((request) => keyOf(request) ?? [])
        assert.isAbove(keys.length, 0)
        for (const key of keys) assert.isTrue(key.startsWith(root), key)
        const jobs = yield* world.local.bedrock.jobs
        assert.isAbove(jobs.length, 0)
        for (const job of jobs) {
          assert.isTrue(job.inputS3Uri?.startsWith(`s3://${World.bucket}/${root}`), job.inputS3Uri)
          assert.isTrue(job.outputS3Uri?.startsWith(`s3://${World.bucket}/${root}`), job.outputS3Uri)
        }

        // 3. The KMS key is on every staged input and every job output.
        const objects = yield* Stream.runCollect(world.store.list(World.bucket, ""))
        const inputs = objects.filter((o) => o.key.endsWith(".jsonl"))
        const outputs = objects.filter((o) => o.key.endsWith(".out"))
        assert.isAbove(inputs.length, 0)
        assert.isAtLeast(outputs.length, 2 * jobs.length, "a result and a manifest per job")
        for (const object of [...inputs, ...outputs]) {
          assert.isTrue(object.key.startsWith(root), object.key)
          const encryption = yield* world.local.s3.encryptionOf(World.bucket, object.key)
          assert.strictEqual(Option.getOrUndefined(encryption)?.kmsKeyId, kmsKey, object.key)
        }

        // 4. Every S3 request names the expected bucket owner.
        for (const request of world.s3.seen()) {
          assert.strictEqual(request.headers["x-amz-expected-bucket-owner"], owner, `${request.method} ${request.url}`)
        }
        console.log(
          JSON.stringify({ security: { s3Requests: keys.length, objectsChecked: inputs.length + outputs.length } })
        )
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "a bucket owned by another account is refused: nothing is staged, no job is created, every record says why",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("owner")
        const world = yield* World.make({ emulator: { timings: {} }, bucketOwner: owner })
        const corpus = World.writeCorpus(join(dir, "corpus"), 20)
        const out = join(dir, "out")
        const exit = yield* Cli.run(
          [
            "extract",
            corpus,
            "--out",
            out,
            "--run-id",
            "not-mine",
            "--backend",
            "aws",
            ...World.flags({ "s3-bucket-owner": "444455556666" })
          ],
          { env: world.env() }
        )
        assert.strictEqual(exit.code, 1, Cli.describe(exit))
        const objects = yield* Stream.runCollect(world.store.list(World.bucket, ""))
        assert.deepStrictEqual(objects.map((o) => o.key), [])
        assert.strictEqual((yield* world.local.bedrock.counters).jobsCreated, 0)
        const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as {
          readonly chunks: number
          readonly failures: ReadonlyArray<{ readonly reason: string }>
        }
        assert.strictEqual(summary.failures.length, 2 * summary.chunks)
        for (const failure of summary.failures) assert.match(failure.reason, /stage the input file: .*(denied|Denied)/)
      }).pipe(Effect.scoped),
    120_000
  )
})
