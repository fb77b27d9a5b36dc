import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

const script = fileURLToPath(new URL("./fixtures/localRun.ts", import.meta.url))

/** How a child process ended, and what it printed. */
interface Ended {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
}

describe("the local emulation's lifecycle", () => {
  // How fast it starts and how soon the process ends are measured by the "local-lifecycle"
  // benchmark (BENCHMARKS.md), not asserted here.
  it.live(
    "a whole local run completes, and the process exits by itself once everything is released",
    () =>
      Effect.gen(function*() {
        const ended = yield* Effect.callback<Ended>((resume) => {
          const child = spawn(process.execPath, ["--no-warnings", script], { stdio: ["ignore", "pipe", "pipe"] })
          let stdout = ""
          child.stdout.on("data", (chunk: Buffer) => void (stdout += chunk.toString("utf8")))
          child.stderr.on("data", (chunk: Buffer) => process.stderr.write(chunk))
          child.on("exit", (code, signal) => resume(Effect.succeed({ code, signal, stdout })))
          // Only when the safety net below gives up.
          return Effect.sync(() => child.kill("SIGKILL"))
        }).pipe(Effect.timeoutOption("60 seconds"))
        // The fixture never calls `process.exit`: the process ends only once its event loop is
        // empty — no server, socket, timer or client left behind. One that stays alive is
        // killed by the safety net and fails here.
        assert.isTrue(Option.isSome(ended), "the process did not end by itself: something was left running")
        const { code, signal, stdout } = Option.getOrThrow(ended)
        assert.strictEqual(signal, null, "the process ended without a signal")
        assert.strictEqual(code, 0)
        assert.deepStrictEqual(JSON.parse(stdout), { status: "Completed" })
      }),
    90_000
  )
})
