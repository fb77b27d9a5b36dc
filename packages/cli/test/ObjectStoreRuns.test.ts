/**
 * Runs whose documents and output are objects (`s3://bucket/prefix`), with the run state in
 * PostgreSQL, on `batch-extract emulator` (one S3 and Bedrock for every process) and a
 * throwaway PostgreSQL cluster (one database per test):
 *
 * - an `s3://` input extracted to an `s3://` output gives the chunks a local directory gives;
 * - bad input is refused before anything is recorded or written (exit 2, a message naming
 *   the problem): a prefix or a bucket that does not exist, an `s3://` output without
 *   `--database`, a database that cannot be reached or whose URL is malformed;
 * - a worker whose credentials may not use the run's bucket leaves the run (exit 2, no job
 *   created, the run still running) and a worker that may finishes it.
 */
import { AwsClients, S3ObjectStore } from "@batch-extract/aws"
import { ObjectStore } from "@batch-extract/core"
import { Postgres } from "@batch-extract/store"
import { PostgresCluster } from "@batch-extract/store/testing"
import { assert, describe, layer } from "@effect/vitest"
import { Context, Duration, Effect, Layer, Redacted, Schedule, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { readdirSync, readFileSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"
import * as Cli from "./support/cli.ts"
import * as Emulator from "./support/emulator.ts"
import * as Status from "./support/status.ts"
import * as World from "./support/world.ts"

const binaries = PostgresCluster.requirePostgres()

const bucket = "object-runs"
/** An access key id the emulator's S3 refuses on {@link bucket} (any secret goes with it). */
const deniedKey = "AKIAOBJECTRUNSDENIED"

/** The throwaway PostgreSQL cluster and the emulator the tests share. */
class Shared extends Context.Service<Shared, {
  readonly cluster: PostgresCluster.PostgresCluster
  readonly emulator: Emulator.RunningEmulator
}>()("@batch-extract/cli/test/ObjectStoreRuns/Shared") {}

/** The live S3 store on an emulator's S3, with the credentials it announced. */
const storeOf = (env: Emulator.RunningEmulator["env"]): Layer.Layer<ObjectStore.ObjectStore> =>
  S3ObjectStore.layer({
    client: {
      region: env.AWS_REGION,
      endpoints: { s3: env.AWS_ENDPOINT_URL_S3 },
      credentials: {
        accessKeyId: env.AWS_ACCESS_KEY_ID,
        secretAccessKey: Redacted.make(env.AWS_SECRET_ACCESS_KEY)
      } satisfies AwsClients.Credentials,
      forcePathStyle: true
    }
  })

/** The shared cluster and emulator, and the store on the emulator's S3 (for uploads and checks). */
const shared = Layer.unwrap(Effect.gen(function*() {
  const { emulator } = yield* Shared
  return storeOf(emulator.env)
})).pipe(
  Layer.provideMerge(Layer.effect(
    Shared,
    Effect.all({
      cluster: PostgresCluster.startPostgres(binaries!),
      emulator: Emulator.startEmulator({ buckets: [bucket] })
    }, { concurrency: 2 })
  ))
)

/** The settings of every run here: the emulator's bucket, small jobs, fast polls. */
const flags = (overrides: Readonly<Record<string, string>> = {}) => World.flags({ "bucket-name": bucket, ...overrides })

/** Put every file of a local directory under `s3://bucket/<prefix>/`, by name. */
const upload = (directory: string, prefix: string) =>
  Effect.forEach(
    readdirSync(directory),
    (name) => ObjectStore.putString({ bucket, key: `${prefix}/${name}` }, readFileSync(join(directory, name), "utf8")),
    { discard: true }
  )

/** The keys of the objects under `s3://bucket/<prefix>/`, sorted. */
const keysUnder = (prefix: string) =>
  ObjectStore.ObjectStore.use((store) => Stream.runCollect(store.list(bucket, `${prefix}/`))).pipe(
    Effect.map((objects) => objects.map((object) => object.key).sort())
  )

const timestampKey = "__aws__versioning__extract_timestamp__"

/** A chunk without its extraction timestamp (the one field two extractions never share). */
const withoutTimestamps = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(withoutTimestamps)
  if (typeof value !== "object" || value === null) return value
  return Object.fromEntries(
    Object.entries(value).filter(([key]) => key !== timestampKey).map(([key, v]) => [key, withoutTimestamps(v)])
  )
}

/** Every chunk object under `s3://bucket/<out>/default/`, parsed, by id (as `World.readChunks` reads a directory). */
const chunkObjects = (out: string) =>
  Effect.gen(function*() {
    const keys = yield* keysUnder(`${out}/default`)
    const chunks = new Map<string, unknown>()
    for (const key of keys) {
      assert.match(key, /\.json$/, `unexpected object in the output: ${key}`)
      const parsed = JSON.parse(yield* ObjectStore.getString({ bucket, key })) as { id_: string }
      chunks.set(parsed.id_, withoutTimestamps(parsed))
    }
    return chunks
  })

/** The runs recorded in a database (none when the run state's tables were never created). */
const runsIn = (url: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [table] = yield* sql<{ readonly name: string | null }>`SELECT to_regclass('be_runs')::text AS name`
    if (table?.name === null || table?.name === undefined) return []
    return yield* sql<{ readonly run_id: string; readonly phase: string }>`SELECT run_id, phase FROM be_runs`
  }).pipe(Effect.provide(Postgres.layer(url)), Effect.scoped)

/** A TCP port on 127.0.0.1 that nothing listens on (taken from the system, then released). */
const closedPort = Effect.callback<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 1
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** `status <run-id> --json` on a database, checked (its counts add up). */
const statusOf = (runId: string, database: string, env: Record<string, string>) =>
  Effect.map(
    Cli.run(["status", runId, "--json", "--database", database], { env, timeoutMs: 60_000 }),
    Status.statusOf
  )

describe.skipIf(binaries === undefined)("runs on objects in S3, with the run state in PostgreSQL", () => {
  layer(shared, { excludeTestServices: true, timeout: Duration.seconds(60) })((it) => {
    it.effect(
      "an s3:// input extracted to an s3:// output: the chunks a local directory gives, and summary.json",
      () =>
        Effect.gen(function*() {
          const { cluster, emulator } = yield* Shared
          const env = Cli.cleanEnv(emulator.env)
          const database = yield* cluster.createDatabase("s3_input_output")
          const dir = yield* World.tempDir("object-runs")
          // Enough chunks for a batch job per stage (the emulator's least is 100 records), and some on demand.
          const corpus = World.writeCorpus(join(dir, "corpus"), 40)
          yield* upload(corpus, "a/docs")

          // The path a document was read from goes under `--path-metadata-key`, and metadata
          // feeds the source and chunk ids (the reference's rules): with a path key every id
          // would differ by where the file lies (`doc-000.txt` in a directory,
          // `s3://object-runs/a/docs/doc-000.txt` as an object). Without one the chunks must
          // be the same: the same ids and the same JSON, but for the extraction timestamp.
          const noPath = ["--path-metadata-key", ""]
          const remote = yield* Cli.run(
            [
              "extract",
              `s3://${bucket}/a/docs`,
              "--out",
              `s3://${bucket}/a/out`,
              "--database",
              database,
              "--backend",
              "aws",
              "--run-id",
              "from-s3",
              ...noPath,
              ...flags()
            ],
            { env, timeoutMs: 90_000 }
          )
          assert.strictEqual(remote.code, 0, Cli.describe(remote))

          const keys = yield* keysUnder("a/out")
          assert.include(keys, "a/out/summary.json")
          assert.notInclude(keys, "a/out/.batch-extract-write-check", "the write check removed its object")
          const summary = JSON.parse(yield* ObjectStore.getString({ bucket, key: "a/out/summary.json" })) as {
            readonly runId: string
            readonly output: string
            readonly documents: number
            readonly chunks: number
            readonly extractedChunks: number
            readonly records: { readonly succeeded: number; readonly failed: number; readonly batch: number }
          }
          assert.strictEqual(summary.runId, "from-s3")
          assert.strictEqual(summary.output, `s3://${bucket}/a/out`)
          assert.strictEqual(summary.documents, 40)
          assert.isAbove(summary.chunks, 40)
          assert.strictEqual(summary.extractedChunks, summary.chunks)
          assert.strictEqual(summary.records.failed, 0)
          assert.isAbove(summary.records.batch, 0, "records were answered by batch jobs")
          // Nothing under the output but the summary and the chunks.
          assert.deepStrictEqual(
            keys.filter((key) => key !== "a/out/summary.json" && !/^a\/out\/default\/[^/]+\/[^/]+\.json$/.test(key)),
            []
          )
          const fromObjects = yield* chunkObjects("a/out")
          assert.strictEqual(fromObjects.size, summary.chunks)

          const out = join(dir, "out")
          const local = yield* Cli.run(
            [
              "extract",
              corpus,
              "--out",
              out,
              "--database",
              database,
              "--backend",
              "aws",
              "--run-id",
              "from-directory",
              ...noPath,
              ...flags()
            ],
            { env, timeoutMs: 90_000 }
          )
          assert.strictEqual(local.code, 0, Cli.describe(local))
          const fromFiles = World.readChunks(out)
          assert.deepStrictEqual([...fromObjects.keys()].sort(), [...fromFiles.keys()].sort(), "the same chunk ids")
          for (const [id, chunk] of fromFiles) assert.deepStrictEqual(fromObjects.get(id), chunk, `chunk ${id}`)

          const runs = yield* runsIn(database)
          assert.deepStrictEqual(
            runs.map((run) => `${run.run_id}: ${run.phase}`).sort(),
            ["from-directory: finished", "from-s3: finished"]
          )
        }),
      150_000
    )

    it.effect(
      "bad input is refused before anything is recorded or written: exit 2 and a message naming the problem",
      () =>
        Effect.gen(function*() {
          const { cluster, emulator } = yield* Shared
          const env = Cli.cleanEnv(emulator.env)
          const database = yield* cluster.createDatabase("bad_input")
          const dir = yield* World.tempDir("object-runs-bad")
          yield* upload(World.writeCorpus(join(dir, "corpus"), 2), "b/docs")
          const unreachable = `postgres://nobody@127.0.0.1:${yield* closedPort}/none`
          const extract = (input: string, out: string, database: ReadonlyArray<string>) => [
            "extract",
            input,
            "--out",
            out,
            ...database,
            "--backend",
            "aws",
            ...flags()
          ]

          const cases: ReadonlyArray<{
            readonly name: string
            readonly args: ReadonlyArray<string>
            /** What the message must say. */
            readonly says: ReadonlyArray<string>
            /** The output prefix nothing may be written under. */
            readonly out?: string | undefined
          }> = [
            {
              name: "an input prefix that does not exist",
              args: extract(`s3://${bucket}/b/missing`, `s3://${bucket}/b/out-1`, ["--database", database]),
              says: [`s3://${bucket}/b/missing: no object under s3://${bucket}/b/missing/`],
              out: "b/out-1"
            },
            {
              name: "an input bucket that does not exist",
              args: extract("s3://no-such-bucket-here/docs", `s3://${bucket}/b/out-2`, ["--database", database]),
              says: [`s3://no-such-bucket-here/docs: the bucket "no-such-bucket-here" does not exist`],
              out: "b/out-2"
            },
            {
              name: "an s3:// output without --database",
              args: extract(`s3://${bucket}/b/docs`, `s3://${bucket}/b/out-3`, []),
              says: ["an s3:// output needs --database"],
              out: "b/out-3"
            },
            {
              name: "extract with a database that cannot be reached",
              args: extract(`s3://${bucket}/b/docs`, `s3://${bucket}/b/out-4`, ["--database", unreachable]),
              says: [`cannot connect to PostgreSQL at ${unreachable}`],
              out: "b/out-4"
            },
            {
              name: "a worker on a database that cannot be reached",
              args: ["worker", "--database", unreachable],
              says: [`cannot connect to PostgreSQL at ${unreachable}`]
            },
            {
              name: "a worker on a malformed database URL",
              args: ["worker", "--database", "127.0.0.1:5432/runs"],
              says: ["not a PostgreSQL URL", "expected postgres://user@host:port/database"]
            }
          ]
          // Each refusal is independent of the others: run them at once.
          const exits = yield* Effect.forEach(
            cases,
            (refused) => Cli.run(refused.args, { env, timeoutMs: 60_000 }),
            { concurrency: "unbounded" }
          )
          for (const [i, refused] of cases.entries()) {
            const exit = exits[i]!
            assert.strictEqual(exit.code, 2, `${refused.name}: ${Cli.describe(exit)}`)
            for (const words of refused.says) {
              assert.include(exit.stderr, words, `${refused.name}: ${Cli.describe(exit)}`)
            }
            if (refused.out !== undefined) {
              assert.deepStrictEqual(yield* keysUnder(refused.out), [], `${refused.name}: nothing under ${refused.out}`)
            }
          }
          // Nothing was recorded in the database the extracts named.
          assert.deepStrictEqual(yield* runsIn(database), [])
        }),
      120_000
    )

    it.effect(
      "a worker whose credentials may not use the run's bucket leaves the run; a worker that may finishes it",
      () =>
        Effect.gen(function*() {
          const { cluster } = yield* Shared
          // An emulator of its own, that refuses the denied key the bucket: its counters are this run's.
          const emulator = yield* Emulator.startEmulator({
            buckets: [bucket],
            deny: [{ accessKeyId: deniedKey, bucket }]
          })
          const env = Cli.cleanEnv(emulator.env)
          const deniedEnv = Cli.cleanEnv({ ...emulator.env, AWS_ACCESS_KEY_ID: deniedKey })
          const database = yield* cluster.createDatabase("denied_worker")
          const dir = yield* World.tempDir("object-runs-denied")
          // Enough chunks for batch jobs: the denied worker must have had jobs to create.
          yield* upload(World.writeCorpus(join(dir, "corpus"), 40), "c/docs").pipe(
            Effect.provide(storeOf(emulator.env))
          )

          const submitted = yield* Cli.run(
            [
              "extract",
              `s3://${bucket}/c/docs`,
              "--out",
              `s3://${bucket}/c/out`,
              "--database",
              database,
              "--backend",
              "aws",
              "--run-id",
              "shared-run",
              "--detach",
              ...flags()
            ],
            { env, timeoutMs: 60_000 }
          )
          assert.strictEqual(submitted.code, 0, Cli.describe(submitted))
          assert.strictEqual(submitted.stdout.trim(), "shared-run")

          // The worker that may not use the bucket says so, names the run, and leaves.
          const denied = yield* Cli.start(["worker", "--database", database], { env: deniedEnv })
          const left = yield* denied.exited.pipe(
            Effect.timeoutOrElse({
              duration: "60 seconds",
              orElse: () =>
                Effect.die(new Error(`the denied worker did not leave within 60 seconds:\n${denied.stderr()}`))
            })
          )
          assert.strictEqual(left.code, 2, Cli.describe(left))
          assert.include(left.stderr, "run shared-run:", Cli.describe(left))
          assert.include(left.stderr, "access denied", Cli.describe(left))
          assert.strictEqual((yield* emulator.inspect).counters.jobsCreated, 0, "the denied worker created no job")
          const waiting = yield* statusOf("shared-run", database, env)
          assert.strictEqual(waiting.phase, "running", "the run is not failed")
          assert.isNull(waiting.exitCode)
          assert.strictEqual(waiting.jobs.total, 0, "no job was planned either")

          // A worker that may use it finishes the run.
          yield* Cli.start(["worker", "--database", database], { env })
          const finished = yield* statusOf("shared-run", database, env).pipe(
            Effect.repeat({ until: (status) => status.phase === "finished", schedule: Schedule.spaced("1 second") }),
            Effect.timeoutOrElse({
              duration: "90 seconds",
              orElse: () => Effect.die(new Error("the run did not finish within 90 seconds of the second worker"))
            })
          )
          assert.strictEqual(finished.exitCode, 0)
          assert.strictEqual(finished.records.failed, 0)
          assert.strictEqual(finished.chunks.extracted, finished.chunks.total)
          assert.isAbove((yield* emulator.inspect).counters.jobsCreated, 0)
          const summary = JSON.parse(
            yield* ObjectStore.getString({ bucket, key: "c/out/summary.json" }).pipe(
              Effect.provide(storeOf(emulator.env))
            )
          ) as { readonly runId: string; readonly exitCode: number }
          assert.strictEqual(summary.runId, "shared-run")
          assert.strictEqual(summary.exitCode, 0)
        }),
      180_000
    )
  })
})
