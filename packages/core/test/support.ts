/**
 * Shared helpers for the engine tests: a full simulated environment and a driver that
 * advances the TestClock until an effect is done.
 */
import { BatchConfig, type BatchJob, BatchRecord, ModelFamily, RunState } from "@batch-extract/core"
import {
  type DeterministicModelRuntime,
  type InMemoryObjectStore,
  type SimulatedBatchInference,
  TestBackend
} from "@batch-extract/core/testing"
import { Effect, FileSystem, Logger, Path, References, Schema } from "effect"

export const baseConfig: BatchConfig.BatchConfigInput = {
  bucketName: "extract-bucket",
  region: "us-east-1",
  roleArn: "arn:aws:iam::123456789012:role/BedrockBatch",
  model: { modelId: "us.anthropic.claude-3-5-haiku-20241022-v1:0", maxTokens: 2000, temperature: 0 }
}

export const config = (overrides: Partial<BatchConfig.BatchConfigInput> = {}) =>
  BatchConfig.decode({ ...baseConfig, ...overrides }).pipe(Effect.orDie)

/** A stage-1 style record for the given index. */
export const record = (i: number): BatchRecord.BatchRecord => ({
  recordId: `aws::doc${Math.floor(i / 10)}:c${i}`,
  modelInput: ModelFamily.anthropic.buildRequest(
    {
      system: "Extract propositions.",
      user: `<text>Record ${i} was written in Boston. It mentions Alice Smith.</text>`
    },
    { maxTokens: 2000, temperature: 0 }
  )
})

export const records = (n: number) => Array.from({ length: n }, (_, i) => record(i))

export type Env = TestBackend.TestBackend & { readonly sim: TestBackend.TestBackend["batch"] }

/** Build a simulated environment (in-memory S3, simulated Bedrock, deterministic runtime). */
export const makeEnv = (options: {
  readonly sim?: SimulatedBatchInference.Options
  readonly runtime?: DeterministicModelRuntime.Options
  readonly store?: InMemoryObjectStore.Options
  readonly slots?: number
} = {}): Effect.Effect<Env> =>
  Effect.map(
    TestBackend.make({ batch: options.sim, runtime: options.runtime, store: options.store, jobSlots: options.slots }),
    (backend) => ({ ...backend, sim: backend.batch })
  )

/** Run an effect to its end, moving the TestClock forward in steps (bounded). */
export const runOnTestClock = TestBackend.runToCompletion

/**
 * Settle a job's result as the runner does when every attempt is still open: the retryable
 * failures go again (for tests that run `BatchJob.run` on its own; nothing is recorded).
 */
export const settleRetryable: BatchJob.Settle = (result) =>
  Effect.succeed(
    result.failed.flatMap((failure) =>
      failure.retryable ? [{ recordId: failure.record.recordId, reason: failure.reason }] : []
    )
  )

/** The outcomes an in-memory run state holds for one stage of a run, by record id. */
export const storedOutcomes = (
  contents: RunState.MemoryContents,
  runId: string,
  stage: string
): ReadonlyMap<string, RunState.StoredOutcome> => {
  const prefix = `${runId}\u0000${stage}\u0000`
  const found = new Map<string, RunState.StoredOutcome>()
  for (const [key, outcome] of contents.outcomes) {
    if (key.startsWith(prefix)) found.set(key.slice(prefix.length), outcome)
  }
  return found
}

/** One job's spec over records `firstRecord`…`firstRecord + n - 1` of the propositions stage of run "r". */
export const jobSpec = (
  n: number,
  options: { readonly label?: string; readonly attempt?: number; readonly firstRecord?: number } = {}
): BatchJob.JobSpec => ({
  runId: "r",
  stage: "propositions",
  label: options.label ?? "1",
  attempt: options.attempt ?? 1,
  records: records((options.firstRecord ?? 0) + n).slice(options.firstRecord ?? 0).map(BatchRecord.pack)
})

/**
 * A run state that keeps every step's result, encoded, and replays a kept step (as a durable
 * run does); `memory` is the in-memory state underneath, `kept` the encoded results by step name.
 */
export const replayingState = Effect.map(RunState.makeMemory, (memory) => {
  const kept = new Map<string, unknown>()
  const store: RunState.Store = {
    ...memory,
    step: (name, success, effect) =>
      kept.has(name)
        ? Effect.sync(() => Schema.decodeUnknownSync(success)(kept.get(name)))
        : Effect.tap(
          effect,
          (value) => Effect.sync(() => void kept.set(name, Schema.encodeUnknownSync(success)(value)))
        )
  }
  return { store, memory, kept: kept as ReadonlyMap<string, unknown> }
})

/** A scoped temporary directory holding the given files (relative path → content). */
export const tempTree = (files: Record<string, string | Uint8Array>) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "documents-" })
    for (const [name, content] of Object.entries(files)) {
      const file = path.join(dir, name)
      yield* fs.makeDirectory(path.dirname(file), { recursive: true })
      yield* fs.writeFile(file, typeof content === "string" ? new TextEncoder().encode(content) : content)
    }
    return dir
  })

/** A log entry as a reader sees it: its level and its message text. */
export interface LogEntry {
  readonly level: string
  readonly message: string
}

/**
 * Collect the log entries an effect writes, from `Debug` up: `capture(effect)` runs it with a
 * logger that keeps them in `logs` (and writes nothing out).
 */
export const capturingLogs = Effect.sync(() => {
  const logs: Array<LogEntry> = []
  const logger = Logger.make(({ logLevel, message }) => {
    logs.push({ level: logLevel, message: (Array.isArray(message) ? message : [message]).map(String).join(" ") })
  })
  const capture = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    effect.pipe(
      Effect.provideService(References.CurrentLoggers, new Set([logger])),
      Effect.provideService(References.MinimumLogLevel, "Debug")
    )
  return { logs: logs as ReadonlyArray<LogEntry>, capture }
})
