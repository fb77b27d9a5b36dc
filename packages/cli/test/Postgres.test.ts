/**
 * The run state in PostgreSQL (`--database URL`), on a throwaway cluster started for this
 * file (Debian's `postgresql`; the tests fail when it is missing and `CI=true`, else skip):
 * the same commands as on the embedded store — extract, status, resume, a second extract that
 * skips what is done — and a database that cannot be reached is refused before anything is
 * sent or written.
 */
import { PostgresCluster } from "@batch-extract/store/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import * as Cli from "./support/cli.ts"
import * as Emulator from "./support/emulator.ts"
import * as World from "./support/world.ts"

const binaries = PostgresCluster.requirePostgres()

const summaryOf = (out: string) =>
  JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as {
    readonly runId: string
    readonly chunks: number
    readonly extractedChunks: number
    readonly records: { readonly succeeded: number; readonly failed: number }
    readonly extraction: { readonly checkpointedChunks: number }
  }

const env = Cli.cleanEnv({})

describe.skipIf(binaries === undefined)("the run state in PostgreSQL (--database)", () => {
  it.live(
    "extract, status, resume and a second extract work on PostgreSQL; nothing is kept under --out",
    () =>
      Effect.gen(function*() {
        const cluster = yield* PostgresCluster.startPostgres(binaries!)
        // A run in a database is shared by workers: its backend is one every process reaches.
        const emulator = yield* Emulator.startEmulator({ buckets: [World.bucket] })
        const env = Cli.cleanEnv(emulator.env)
        const dir = yield* World.tempDir("pg")
        const input = World.writeCorpus(join(dir, "in"), 12)
        const out = join(dir, "out")
        const database = ["--database", cluster.url]

        const first = yield* Cli.run(
          ["extract", input, "--out", out, "--run-id", "pg-1", "--backend", "aws", ...database, ...World.flags()],
          { env, timeoutMs: 120_000 }
        )
        assert.strictEqual(first.code, 0, Cli.describe(first))
        const summary = summaryOf(out)
        assert.strictEqual(summary.runId, "pg-1")
        assert.isAbove(summary.chunks, 12)
        assert.strictEqual(summary.extractedChunks, summary.chunks)
        assert.strictEqual(summary.records.succeeded, summary.chunks * 2)
        assert.strictEqual(summary.records.failed, 0)
        assert.strictEqual(World.chunkFiles(out).length, summary.chunks)
        // The state is in the database, not under --out.
        assert.isFalse(existsSync(World.stateDirectory(out)))

        const status = yield* Cli.run(["status", "pg-1", "--json", ...database], { env, timeoutMs: 60_000 })
        assert.strictEqual(status.code, 0, Cli.describe(status))
        const report = Option.getOrThrow(Cli.jsonOf(status)) as {
          readonly phase: string
          readonly exitCode: number
          readonly chunks: Readonly<Record<string, number>>
          readonly records: { readonly succeeded: number }
        }
        assert.strictEqual(report.phase, "finished")
        assert.strictEqual(report.exitCode, 0)
        assert.strictEqual(report.chunks.extracted, summary.chunks)
        assert.strictEqual(report.chunks.total, summary.chunks)
        assert.strictEqual(report.records.succeeded, summary.records.succeeded)

        // A finished run: resume prints its result and exits with its code.
        const resumed = yield* Cli.run(["resume", "pg-1", "--json", ...database], { env, timeoutMs: 60_000 })
        assert.strictEqual(resumed.code, 0, Cli.describe(resumed))
        assert.strictEqual((Option.getOrThrow(Cli.jsonOf(resumed)) as { runId: string }).runId, "pg-1")

        // Another run into the same output skips every chunk already extracted.
        const second = yield* Cli.run(
          ["extract", input, "--out", out, "--run-id", "pg-2", "--backend", "aws", ...database, ...World.flags()],
          { env, timeoutMs: 120_000 }
        )
        assert.strictEqual(second.code, 0, Cli.describe(second))
        const again = summaryOf(out)
        assert.strictEqual(again.runId, "pg-2")
        assert.strictEqual(again.extraction.checkpointedChunks, summary.chunks)
        assert.strictEqual(again.records.succeeded, 0)

        const list = yield* Cli.run(["status", "--json", ...database], { env, timeoutMs: 60_000 })
        const runs = (Option.getOrThrow(Cli.jsonOf(list)) as { runs: ReadonlyArray<{ runId: string }> }).runs
        assert.deepStrictEqual(runs.map((run) => run.runId), ["pg-1", "pg-2"])
      }).pipe(Effect.scoped),
    240_000
  )

  it.live("a database that cannot be reached: exit 2, nothing sent or written", () =>
    Effect.gen(function*() {
      const dir = yield* World.tempDir("pg-down")
      const input = World.writeCorpus(join(dir, "in"), 2)
      const out = join(dir, "out")
      const exit = yield* Cli.run(
        [
          "extract",
          input,
          "--out",
          out,
          "--backend",
          "aws",
          "--database",
          "postgres://nobody@127.0.0.1:1/none",
          ...World.flags()
        ],
        { env, timeoutMs: 60_000 }
      )
      assert.strictEqual(exit.code, 2, Cli.describe(exit))
      assert.include(exit.stderr, "state: cannot connect to PostgreSQL at postgres://nobody@127.0.0.1:1/none")
      assert.isFalse(existsSync(out))
    }).pipe(Effect.scoped), 60_000)

  it.live(
    "the embedded local emulation with --database: refused (exit 2), it lives in one process",
    () =>
      Effect.gen(function*() {
        const dir = yield* World.tempDir("pg-local")
        const input = World.writeCorpus(join(dir, "in"), 2)
        const out = join(dir, "out")
        const exit = yield* Cli.run(
          ["extract", input, "--out", out, "--database", "postgres://nobody@127.0.0.1:1/none", ...World.flags()],
          { env, timeoutMs: 60_000 }
        )
        assert.strictEqual(exit.code, 2, Cli.describe(exit))
        assert.include(exit.stderr, "backend: a run in a database is shared by every worker on it")
        assert.include(exit.stderr, "batch-extract emulator")
        assert.isFalse(existsSync(out))
      }).pipe(Effect.scoped),
    60_000
  )
})
