/**
 * Runs the `batch-extract` command as a child process (the real entrypoint, on the Node the
 * workspace installs), optionally killing it with SIGKILL (or SIGINT) when a condition holds.
 */
import { Effect, Option, type Scope } from "effect"
import { execFileSync, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

/** The workspace root. */
export const root = fileURLToPath(new URL("../../../../", import.meta.url))

/** The export condition under which the workspace's packages resolve to their TypeScript sources. */
export const sourceCondition = "@batch-extract/source"

/** The command's entry file. */
export const bin = fileURLToPath(new URL("../../src/bin.ts", import.meta.url))

const [major = 0, minor = 0] = process.versions.node.split(".").map(Number)

/**
 * Node >= 22.19: the one running the tests, else the workspace's. The workspace's
 * `node_modules/.bin/node` is a shell script that does not `exec`, so it is resolved to the
 * binary itself: a signal must reach the command, not a wrapper.
 */
export const nodeBinary = major > 22 || (major === 22 && minor >= 19)
  ? process.execPath
  : execFileSync(`${root}node_modules/.bin/node`, ["-e", "process.stdout.write(process.execPath)"], {
    encoding: "utf8"
  })

/** How a child ended. */
export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  /** The condition held and the child was sent the signal. */
  readonly killed: boolean
  readonly elapsedMs: number
}

/** Options of one run. */
export interface RunOptions {
  /** The whole environment of the child. */
  readonly env: Readonly<Record<string, string>>
  /** Checked every few milliseconds; when it holds, the child gets `signal`. */
  readonly killWhen?: (() => boolean) | undefined
  readonly signal?: NodeJS.Signals | undefined
  /** Give up (SIGKILL, then fail the test) after this long. */
  readonly timeoutMs?: number | undefined
  /** The child's working directory (default: the test runner's). */
  readonly cwd?: string | undefined
}

/**
 * A clean environment for a child: nothing inherited from the user's AWS or batch-extract
 * settings (no profile, no instance metadata), plus `env`.
 */
export const cleanEnv = (env: Readonly<Record<string, string>>): Record<string, string> => {
  const base: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined) continue
    if (key.startsWith("AWS_") || key.startsWith("BATCH_EXTRACT_") || key.startsWith("EXTRACTION_")) continue
    if (key.startsWith("VITEST") || key === "NODE_OPTIONS") continue
    base[key] = value
  }
  return {
    ...base,
    AWS_CONFIG_FILE: "/nonexistent/batch-extract-test/config",
    AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/batch-extract-test/credentials",
    AWS_EC2_METADATA_DISABLED: "true",
    NO_COLOR: "1",
    ...env
  }
}

/** Run `batch-extract <args>` and wait for it to end. */
export const run = (args: ReadonlyArray<string>, options: RunOptions): Effect.Effect<Exit> =>
  Effect.callback<Exit>((resume) => {
    const started = performance.now()
    const child = spawn(nodeBinary, ["--no-warnings", `--conditions=${sourceCondition}`, bin, ...args], {
      env: options.env,
      cwd: options.cwd,
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group, so nothing it starts outlives a kill.
      detached: true
    })
    const signal = (name: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, name)
      } catch {
        child.kill(name)
      }
    }
    let stdout = ""
    let stderr = ""
    let killed = false
    child.stdout.on("data", (chunk: Buffer) => void (stdout += chunk.toString("utf8")))
    child.stderr.on("data", (chunk: Buffer) => void (stderr += chunk.toString("utf8")))
    const watcher = options.killWhen === undefined ? undefined : setInterval(() => {
      if (killed || child.exitCode !== null) return
      let hit = false
      try {
        hit = options.killWhen!()
      } catch {
        hit = false
      }
      if (hit) {
        killed = true
        signal(options.signal ?? "SIGKILL")
      }
    }, 4)
    const deadline = setTimeout(() => signal("SIGKILL"), options.timeoutMs ?? 120_000)
    child.on("close", (code, exitSignal) => {
      if (watcher !== undefined) clearInterval(watcher)
      clearTimeout(deadline)
      resume(
        Effect.succeed({ code, signal: exitSignal, stdout, stderr, killed, elapsedMs: performance.now() - started })
      )
    })
    return Effect.sync(() => {
      if (watcher !== undefined) clearInterval(watcher)
      clearTimeout(deadline)
      if (child.exitCode === null && child.signalCode === null) signal("SIGKILL")
    })
  })

/** Describe an exit for assertion messages. */
export const describe = (exit: Exit): string =>
  `exit ${exit.code ?? exit.signal} after ${Math.round(exit.elapsedMs)} ms\n--- stderr ---\n${
    exit.stderr.slice(-4000)
  }\n--- stdout ---\n${exit.stdout.slice(-2000)}`

/** The JSON a child printed on stdout (`--json`), if any. */
export const jsonOf = (exit: Exit): Option.Option<unknown> => {
  const start = exit.stdout.indexOf("{")
  if (start < 0) return Option.none()
  try {
    return Option.some(JSON.parse(exit.stdout.slice(start)))
  } catch {
    return Option.none()
  }
}

/** A command running in the background (see {@link start}). */
export interface Running {
  readonly pid: number
  readonly stdout: () => string
  readonly stderr: () => string
  /** Ends when the child ends. */
  readonly exited: Effect.Effect<Exit>
  /** Whether it has ended. */
  readonly done: () => boolean
  /** Send a signal to it and everything it started. */
  readonly kill: (signal: NodeJS.Signals) => void
}

/**
 * Start `batch-extract <args>` in the background (its own process group); it gets SIGTERM,
 * then SIGKILL, when the scope closes.
 */
export const start = (
  args: ReadonlyArray<string>,
  options: { readonly env: Readonly<Record<string, string>> }
): Effect.Effect<Running, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const started = performance.now()
      const child = spawn(nodeBinary, ["--no-warnings", `--conditions=${sourceCondition}`, bin, ...args], {
        env: options.env,
        stdio: ["ignore", "pipe", "pipe"],
        detached: true
      })
      let stdout = ""
      let stderr = ""
      let ended: Exit | undefined
      const waiting: Array<(exit: Exit) => void> = []
      child.stdout.on("data", (chunk: Buffer) => void (stdout += chunk.toString("utf8")))
      child.stderr.on("data", (chunk: Buffer) => void (stderr += chunk.toString("utf8")))
      child.on("close", (code, signal) => {
        ended = { code, signal, stdout, stderr, killed: false, elapsedMs: performance.now() - started }
        for (const resume of waiting.splice(0)) resume(ended)
      })
      const kill = (signal: NodeJS.Signals) => {
        if (ended !== undefined) return
        try {
          process.kill(-child.pid!, signal)
        } catch {
          child.kill(signal)
        }
      }
      const running: Running = {
        pid: child.pid!,
        stdout: () => stdout,
        stderr: () => stderr,
        exited: Effect.callback<Exit>((resume) => {
          if (ended !== undefined) return resume(Effect.succeed(ended))
          waiting.push((exit) => resume(Effect.succeed(exit)))
        }),
        done: () => ended !== undefined,
        kill
      }
      return running
    }),
    (running) =>
      Effect.gen(function*() {
        if (running.done()) return
        running.kill("SIGTERM")
        const stopped = yield* running.exited.pipe(Effect.timeoutOption("10 seconds"))
        if (stopped._tag === "None") running.kill("SIGKILL")
      })
  )
