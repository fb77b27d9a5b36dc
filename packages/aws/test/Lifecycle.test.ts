import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

const script = fileURLToPath(new URL("./fixtures/localRun.ts", import.meta.url))

describe("the local emulation's lifecycle", () => {
  it.live("starts in well under a second, and the process exits by itself once it is released", () =>
    Effect.gen(function*() {
      const outcome = yield* Effect.callback<
        { readonly code: number | null; readonly stdout: string; readonly lingerMs: number }
      >(
        (resume) => {
          const child = spawn(process.execPath, ["--no-warnings", script], { stdio: ["ignore", "pipe", "pipe"] })
          let stdout = ""
          let printedAt = 0
          child.stdout.on("data", (chunk: Buffer) => {
            stdout += chunk.toString("utf8")
            printedAt = performance.now()
          })
          child.stderr.on("data", (chunk: Buffer) => process.stderr.write(chunk))
          child.on(
            "exit",
            (code) =>
              resume(Effect.succeed({ code, stdout, lingerMs: printedAt === 0 ? -1 : performance.now() - printedAt }))
          )
          return Effect.sync(() => child.kill("SIGKILL"))
        }
      ).pipe(Effect.timeout("30 seconds"))
      assert.strictEqual(outcome.code, 0)
      const result = JSON.parse(outcome.stdout) as { startupMs: number; status: string }
      assert.strictEqual(result.status, "Completed")
      assert.isBelow(result.startupMs, 1_000)
      // No server, socket, timer or client left: the event loop empties at once.
      assert.isAtLeast(outcome.lingerMs, 0)
      assert.isBelow(outcome.lingerMs, 1_000)
    }))
})
