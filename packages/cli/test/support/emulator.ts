/**
 * Runs `batch-extract emulator` as a child process — the one emulation that many worker
 * processes share — for tests: starts it, waits (bounded) for its JSON line, gives the
 * environment that reaches it and its inspection (counters and jobs), and stops it when the
 * scope closes.
 */
import { Data, Deferred, Duration, Effect, Schema, type Scope } from "effect"
import { FetchHttpClient, HttpClient, HttpClientResponse } from "effect/http"
import { spawn } from "node:child_process"
import * as Emulator from "../../src/commands/Emulator.ts"
import * as Cli from "./cli.ts"

/** Flags of the emulator (absent: its defaults). */
export interface EmulatorOptions {
  /** `--bucket` (default: the command's, `batch-extract-local`). */
  readonly buckets?: ReadonlyArray<string> | undefined
  /** `--max-concurrent-jobs`: the emulated account's quota of live jobs (enforced, and answered by Service Quotas). */
  readonly maxConcurrentJobs?: number | undefined
  /** `--min-records-per-job`, `--max-records-per-job`, `--max-input-file-bytes`, `--max-job-bytes`: its other quotas. */
  readonly minRecordsPerJob?: number | undefined
  readonly maxRecordsPerJob?: number | undefined
  readonly maxInputFileBytes?: number | undefined
  readonly maxJobBytes?: number | undefined
  /** `--deny-service-quotas`: Service Quotas answers `AccessDeniedException`. */
  readonly denyServiceQuotas?: boolean | undefined
  /** `--job-seconds`: least time a job spends InProgress (long: to kill workers mid-job). */
  readonly jobSeconds?: number | undefined
  readonly perRecordMs?: number | undefined
  readonly region?: string | undefined
  readonly seed?: number | undefined
  readonly s3Port?: number | undefined
  readonly bedrockPort?: number | undefined
  /**
   * `--deny`: requests the local S3 refuses with `403 AccessDenied` — those signed with
   * `accessKeyId` (a child whose `AWS_ACCESS_KEY_ID` it is, any secret) on `bucket`, every one
   * or only those with the given HTTP `methods` (`GET`, `HEAD`, `PUT`, `POST`, `DELETE`).
   */
  readonly deny?:
    | ReadonlyArray<{
      readonly accessKeyId: string
      readonly bucket: string
      readonly methods?: ReadonlyArray<string> | undefined
    }>
    | undefined
  /** How long to wait for the JSON line (default 30 seconds). */
  readonly startTimeout?: Duration.Input | undefined
}

/** How the emulator process ended. */
export interface Exited {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** A running `batch-extract emulator` process. */
export interface RunningEmulator {
  /** The standard SDK environment that reaches it, as it announced it. */
  readonly env: Emulator.Environment
  /** Its inspection endpoint (`GET` it for {@link Emulator.Inspection}). */
  readonly inspectUrl: string
  /** The emulator's counters and every job it created, now. */
  readonly inspect: Effect.Effect<Emulator.Inspection, EmulatorSupportError>
  /** The loopback ports it listens on. */
  readonly ports: { readonly s3: number; readonly bedrock: number; readonly inspect: number }
  readonly pid: number
  /** Everything it wrote on stderr so far. */
  readonly stderr: () => string
  /** Its end: waits until the process has exited. */
  readonly exited: Effect.Effect<Exited>
  /** Send it a signal (default SIGTERM) and wait for its end, for at most `timeout` (default 10 s). */
  readonly stop: (
    signal?: NodeJS.Signals,
    timeout?: Duration.Input
  ) => Effect.Effect<Exited, EmulatorSupportError>
}

/** The emulator did not start, did not answer, or did not stop in time. */
export class EmulatorSupportError extends Data.TaggedError("EmulatorSupportError")<{
  readonly message: string
  readonly stderr: string
  readonly cause?: unknown
}> {}

const flagsOf = (options: EmulatorOptions): Array<string> => {
  const flags: Array<string> = []
  const add = (name: string, value: string | number | undefined) => {
    if (value !== undefined) flags.push(`--${name}`, String(value))
  }
  for (const bucket of options.buckets ?? []) add("bucket", bucket)
  add("max-concurrent-jobs", options.maxConcurrentJobs)
  add("min-records-per-job", options.minRecordsPerJob)
  add("max-records-per-job", options.maxRecordsPerJob)
  add("max-input-file-bytes", options.maxInputFileBytes)
  add("max-job-bytes", options.maxJobBytes)
  if (options.denyServiceQuotas === true) flags.push("--deny-service-quotas")
  add("job-seconds", options.jobSeconds)
  add("per-record-ms", options.perRecordMs)
  add("region", options.region)
  add("seed", options.seed)
  add("s3-port", options.s3Port)
  add("bedrock-port", options.bedrockPort)
  for (const denial of options.deny ?? []) {
    add(
      "deny",
      [denial.accessKeyId, denial.bucket, ...(denial.methods === undefined ? [] : [denial.methods.join(",")])].join(":")
    )
  }
  return flags
}

const portOf = (url: string) => Number(new URL(url).port)

/**
 * Start `batch-extract emulator` (the real entrypoint, on the workspace's sources) and wait
 * for its announcement; it gets SIGTERM (then SIGKILL if it lingers) when the scope closes.
 */
export const startEmulator = (
  options: EmulatorOptions = {}
): Effect.Effect<RunningEmulator, EmulatorSupportError, Scope.Scope> =>
  Effect.gen(function*() {
    const exit = yield* Deferred.make<Exited>()
    const firstLine = yield* Deferred.make<string, EmulatorSupportError>()
    let stdout = ""
    let stderr = ""

    const child = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = spawn(
          Cli.nodeBinary,
          ["--no-warnings", `--conditions=${Cli.sourceCondition}`, Cli.bin, "emulator", ...flagsOf(options)],
          // Its own process group, so nothing it starts outlives it.
          { env: Cli.cleanEnv({}), stdio: ["ignore", "pipe", "pipe"], detached: true }
        )
        child.stdout.on("data", (chunk: Buffer) => {
          stdout += chunk.toString("utf8")
          const newline = stdout.indexOf("\n")
          if (newline >= 0) Deferred.doneUnsafe(firstLine, Effect.succeed(stdout.slice(0, newline)))
        })
        child.stderr.on("data", (chunk: Buffer) => void (stderr += chunk.toString("utf8")))
        child.on("close", (code, signal) => {
          Deferred.doneUnsafe(
            firstLine,
            Effect.fail(
              new EmulatorSupportError({
                message: `the emulator ended (${code ?? signal}) before it announced itself`,
                stderr
              })
            )
          )
          Deferred.doneUnsafe(exit, Effect.succeed({ code, signal }))
        })
        return child
      }),
      (child) =>
        Effect.gen(function*() {
          if (child.exitCode !== null || child.signalCode !== null) return
          signalGroup(child.pid!, "SIGTERM")
          const stopped = yield* Deferred.await(exit).pipe(Effect.timeoutOption("10 seconds"))
          if (stopped._tag === "None") signalGroup(child.pid!, "SIGKILL")
        })
    )

    const line = yield* Deferred.await(firstLine).pipe(
      Effect.timeoutOrElse({
        duration: options.startTimeout ?? Duration.seconds(30),
        orElse: () =>
          Effect.fail(new EmulatorSupportError({ message: "the emulator did not announce itself in time", stderr }))
      })
    )
    const announcement = yield* Schema.decodeUnknownEffect(Schema.fromJsonString(Emulator.Announcement))(line).pipe(
      Effect.mapError((cause) =>
        new EmulatorSupportError({
          message: `the emulator's first line is not its announcement: ${line}`,
          stderr,
          cause
        })
      )
    )

    const inspect = HttpClient.get(announcement.inspect).pipe(
      Effect.flatMap(HttpClientResponse.filterStatusOk),
      Effect.flatMap((response) => response.json),
      Effect.flatMap(Schema.decodeUnknownEffect(Emulator.Inspection)),
      Effect.provide(FetchHttpClient.layer),
      Effect.mapError((cause) =>
        new EmulatorSupportError({ message: `could not inspect the emulator: ${cause.message}`, stderr, cause })
      )
    )

    const stop = (signal: NodeJS.Signals = "SIGTERM", timeout: Duration.Input = Duration.seconds(10)) =>
      Effect.suspend(() => {
        if (child.exitCode === null && child.signalCode === null) signalGroup(child.pid!, signal)
        return Deferred.await(exit)
      }).pipe(
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () =>
            Effect.fail(
              new EmulatorSupportError({
                message: `the emulator did not stop within ${
                  Duration.format(Duration.fromInputUnsafe(timeout))
                } of ${signal}`,
                stderr
              })
            )
        })
      )

    return {
      env: announcement.env,
      inspectUrl: announcement.inspect,
      inspect,
      ports: {
        s3: portOf(announcement.env.AWS_ENDPOINT_URL_S3),
        bedrock: portOf(announcement.env.AWS_ENDPOINT_URL_BEDROCK),
        inspect: portOf(announcement.inspect)
      },
      pid: child.pid!,
      stderr: () => stderr,
      exited: Deferred.await(exit),
      stop
    } satisfies RunningEmulator
  })

/** Signal a child's process group (it was started detached), else the child alone. */
const signalGroup = (pid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(-pid, signal)
  } catch {
    try {
      process.kill(pid, signal)
    } catch {
      // Already gone.
    }
  }
}
