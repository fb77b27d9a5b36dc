/**
 * Security proof, on `batch-extract` (a child process, `--backend aws`) against the local
 * emulation: no secret, credential or presigned URL — as it is, JSON-escaped, URL-encoded or
 * in base64 — in the logs, the run state (the SQLite files under the output, or the
 * PostgreSQL database) or the summary, nor in what `status`, `stop` and `resume` print, nor in
 * any object a run writes to S3 (its `s3://` output, staged inputs, job outputs), even when
 * calls fail; S3 keys only under the validated prefix; the KMS key on the staged input and on
 * the job output; a bucket owner, when set, sent on every S3 request and enforced.
 */
import { BatchConfig, ObjectStore } from "@batch-extract/core"
import { Postgres } from "@batch-extract/store"
import { PostgresCluster } from "@batch-extract/store/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import * as Cli from "./support/cli.ts"
import type * as Proxy from "./support/proxy.ts"
import * as World from "./support/world.ts"

const binaries = PostgresCluster.requirePostgres()

const kmsKey = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
const owner = "111122223333"
/**
 * The secret key the runs sign with. It holds a quote and a backslash (JSON escapes them) and
 * `/`, `+` and `=` (URLs encode them), so each encoded form is a text of its own.
 */
const secretAccessKey = `dUr4ble/S3cret+K3y="N0t\\ToBeL0gged"x9Zq`
const sessionToken = "IQoJb3JpZ2luX2VjEDurableRunsSessionTokenNotForLogs0123456789"

/** Everything a run left on disk (byte for byte: the run state's database too) and printed, as one text. */
const everythingWritten = (out: string, exits: ReadonlyArray<Cli.Exit>) =>
  [
    ...exits.flatMap((exit) => [exit.stdout, exit.stderr]),
    ...World.filesUnder(out).map((file) => readFileSync(join(out, file), "latin1"))
  ].join("\n")

/**
 * A secret in base64 (or base64url) wherever it starts in the encoded data: one text per
 * alignment of its first byte to a group of three, without the characters that depend on
 * the bytes around it.
 */
const base64Forms = (secret: string, encoding: "base64" | "base64url"): Array<string> =>
  [0, 1, 2].map((offset) => {
    const bytes = Buffer.concat([Buffer.alloc(offset), Buffer.from(secret, "utf8")])
    const encoded = bytes.toString(encoding)
    return encoded.slice(offset === 0 ? 0 : Math.ceil((offset * 4) / 3), Math.floor(bytes.length / 3) * 4)
  })

/** The forms a secret must not be found in: as it is, JSON-escaped (once, twice), URL-encoded, base64. */
const encodedForms = (secret: string): Array<readonly [form: string, text: string]> => {
  const urlEncoded = encodeURIComponent(secret)
  return [
    ["as it is", secret],
    ["JSON-escaped", JSON.stringify(secret).slice(1, -1)],
    ["JSON-escaped twice", JSON.stringify(JSON.stringify(secret)).slice(3, -3)],
    ["URL-encoded", urlEncoded],
    ["URL-encoded (lower-case hex)", urlEncoded.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase())],
    ...base64Forms(secret, "base64").map((text) => ["base64", text] as const),
    ...base64Forms(secret, "base64url").map((text) => ["base64url", text] as const)
  ]
}

const forbidden: ReadonlyArray<readonly [form: string, text: string]> = [
  ...[secretAccessKey, World.secretAccessKey, sessionToken].flatMap(encodedForms),
  ...["X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token", "Signature=", "AWS4-HMAC-SHA256"].map((marker) =>
    ["signing material", marker] as const
  )
]

/** `text` holds no secret in any of its forms. */
const assertNoSecret = (text: string, where: string) => {
  for (const [form, secret] of forbidden) assert.notInclude(text, secret, `${where}: a secret (${form})`)
}

/** The environment of a child that signs with {@link secretAccessKey} and {@link sessionToken}. */
const signingEnv = (world: World.World) =>
  world.env({ AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken })

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
        const env = signingEnv(world)
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
        assertNoSecret(written, "what the run printed and wrote")
        const state = World.stateText(out)
        assertNoSecret(state, "the run state's files")
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

  it.live(
    "no secret in what status, stop and resume print or leave behind, on an interrupted run, even when calls fail",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("security-stop")
        // Jobs that run long enough to be interrupted, stopped (or left running when a stop is refused), resumed.
        const world = yield* World.make({ emulator: { timings: { ...World.slowTimings, inProgressMs: 6_000 } } })
        const corpus = World.writeCorpus(join(dir, "corpus"), 40)
        const out = join(dir, "out")
        const env = signingEnv(world)
        const debug = ["--log-level", "debug"]
        const interrupted = yield* Cli.run(
          [
            "extract",
            corpus,
            "--out",
            out,
            "--run-id",
            "stopped",
            "--backend",
            "aws",
            "--no-propositions",
            ...debug,
            ...World.flags()
          ],
          {
            env,
            signal: "SIGINT",
            killWhen: () => World.jobs(out, "stopped").some((job) => job.status === "InProgress")
          }
        )
        assert.strictEqual(interrupted.code, 130, Cli.describe(interrupted))

        // stop: one stop refused (its error printed), the others stopped.
        yield* world.local.bedrock.failNext([
          { operation: "StopModelInvocationJob", exceptionName: "AccessDeniedException", message: "no stop (injected)" }
        ])
        const stop = yield* Cli.run(["stop", "stopped", "--out", out, ...debug], { env })
        assert.strictEqual(stop.code, 0, Cli.describe(stop))
        assert.include(stop.stdout, "(injected)", "the refused stop is reported")
        const status = yield* Cli.run(["status", "stopped", "--out", out, "--json", ...debug], { env })
        assert.strictEqual(status.code, 0, Cli.describe(status))

        // resume: through a throttled status check, a refused create and an S3 error.
        yield* world.local.bedrock.failNext([
          { operation: "GetModelInvocationJob", exceptionName: "ThrottlingException" },
          { operation: "CreateModelInvocationJob", exceptionName: "InternalServerException" }
        ])
        yield* world.local.s3.failNext([{ code: "InternalError", status: 500, method: "GET" }])
        const resumed = yield* Cli.run(["resume", "stopped", "--out", out, "--json", ...debug], { env })
        assert.strictEqual(resumed.code, 0, Cli.describe(resumed))
        assert.strictEqual(World.runRow(out, "stopped")?.phase, "finished")

        const exits = [interrupted, stop, status, resumed]
        for (const [name, exit] of [["stop", stop], ["status", status], ["resume", resumed]] as const) {
          assertNoSecret(`${exit.stdout}\n${exit.stderr}`, `what ${name} printed`)
        }
        assertNoSecret(everythingWritten(out, exits), "what the run printed and wrote")
        const state = World.stateText(out)
        assertNoSecret(state, "the run state's files")
        assert.include(state, "stopped", "the run state searched is the run's")
      }).pipe(Effect.scoped),
    180_000
  )

  it.live.skipIf(binaries === undefined)(
    "no secret in any object a run with an s3:// output writes, nor in its run state in PostgreSQL",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("security-objects")
        const cluster = yield* PostgresCluster.startPostgres(binaries!)
        const world = yield* World.make({ emulator: { timings: {}, seed: 5 } })
        yield* world.local.bedrock.failNext([
          { operation: "CreateModelInvocationJob", exceptionName: "InternalServerException" },
          { operation: "InvokeModel", exceptionName: "AccessDeniedException", message: "denied (injected)" }
        ])
        yield* world.local.s3.failNext([{ code: "InternalError", status: 500, method: "PUT" }])
        yield* world.local.bedrock.setFaults({ recordErrorRate: 0.05 })
        const corpus = World.writeCorpus(join(dir, "corpus"), 40)
        const exit = yield* Cli.run(
          [
            "extract",
            corpus,
            "--out",
            `s3://${World.bucket}/results`,
            "--database",
            cluster.url,
            "--run-id",
            "objects",
            "--backend",
            "aws",
            "--log-level",
            "debug",
            "--no-delete-on-success",
            ...World.flags()
          ],
          { env: signingEnv(world), timeoutMs: 120_000 }
        )
        assert.include([0, 1], exit.code, Cli.describe(exit))
        assertNoSecret(`${exit.stdout}\n${exit.stderr}`, "what the run printed")

        // Every object in the bucket: the chunks and summary of the output, the staged inputs, the job outputs.
        const objects = yield* Stream.runCollect(world.store.list(World.bucket, ""))
        const keys = objects.map((object) => object.key)
        assert.include(keys, "results/summary.json")
        assert.isTrue(keys.some((key) => key.startsWith("results/default/")), "chunks")
        assert.isTrue(keys.some((key) => key.endsWith(".jsonl")), "staged inputs")
        assert.isTrue(keys.some((key) => key.endsWith(".jsonl.out")), "job outputs")
        for (const key of keys) {
          const content = yield* ObjectStore.getString({ bucket: World.bucket, key }).pipe(
            Effect.provideService(ObjectStore.ObjectStore, world.store)
          )
          assertNoSecret(`${key}\n${content}`, `s3://${World.bucket}/${key}`)
        }

        // The run state: every value of every column of every table of the database, as its own text
        // (a row's text form would quote and double what the secret holds).
        const state = yield* Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const columns = yield* sql<{ readonly t: string; readonly c: string }>`
            SELECT table_name AS t, column_name AS c FROM information_schema.columns WHERE table_schema = 'public'`
          const values: Array<string> = []
          for (const { c, t } of columns) {
            const all = yield* sql.unsafe<{ readonly v: string | null }>(`SELECT "${c}"::text AS v FROM "${t}"`)
            for (const { v } of all) if (v !== null) values.push(v)
          }
          return { tables: [...new Set(columns.map((column) => column.t))], values }
        }).pipe(Effect.provide(Postgres.layer(cluster.url)), Effect.scoped)
        assert.include(state.tables, "be_runs")
        const stateText = state.values.join("\n")
        assert.include(stateText, "objects", "the run state searched is the run's")
        assertNoSecret(stateText, "the run state in PostgreSQL")
        console.log(JSON.stringify({ securityObjects: { objects: keys.length, stateValues: state.values.length } }))
      }).pipe(Effect.scoped),
    180_000
  )
})
