/**
 * Benchmark 9: one run extracted by many workers on one database. The same corpus (recent
 * State of the Union addresses, one file each) is submitted (`batch-extract extract --detach
 * --part-mb …`) to 1, 2 and 4 `batch-extract worker` processes on one throwaway PostgreSQL
 * (a fresh database per configuration), against one `batch-extract emulator` per
 * configuration whose account allows `quota` live jobs, each InProgress for `jobSeconds`.
 * Every process is the real command (`packages/cli/src/bin.ts` on the workspace's sources), a
 * child process of its own.
 *
 * Per configuration:
 * - Makespan: from spawning the submitting command to the run's `finishedAt` (`batch-extract
 *   status --json`). The workers are already running and joined: their start is not counted,
 *   their noticing the run (they look for new runs every 2 seconds) is.
 * - The quota bound (see {@link quotaBoundSeconds}) and makespan ÷ bound; the head (submit →
 *   the first job created) and tail (the last job ended → the run finished), during which no
 *   job is live, and the bound with them.
 * - Each worker's share of the work: CPU seconds (utime + stime of `/proc/<pid>/stat`, read
 *   when the run has finished, minus what it had used before the submit: starting and joining
 *   are the same for every worker) and the parts and files it extracted (its `run <id>:
 *   extracting part N (K files)` / `part N done` log lines).
 * - From the emulator's inspection: jobs created, peak live jobs (must be ≤ quota) and creates
 *   refused (must be 0); from the run's status: records and chunks.
 *
 * Takeover: on the cluster of one configuration, once its run has finished, a short second run
 * (the first few files of the corpus) is submitted; the first worker to log `extracting part N`
 * of it is SIGKILLed a second later (its part under way), and the benchmark measures the
 * seconds from the kill until another worker logs `extracting part N` of the same run, with
 * the workers' `--takeover-seconds` as set. Then everything is stopped (that run is left
 * unfinished in the throwaway database).
 *
 * Without PostgreSQL's binaries (`initdb`, `pg_ctl`) the benchmark is skipped: install
 * Debian's `postgresql` package to run it.
 *
 * Runs alone too: `node packages/examples/bench/workers.ts [--workers 1,2,4] [--job-seconds S]
 * [--documents N] [--takeover-seconds T]` prints the figures as JSON; `node
 * packages/examples/bench/main.ts workers` prints its rows of the table.
 */
import { PostgresCluster } from "@batch-extract/store/testing"
import { Clock, Data, type Duration, Effect, Schedule, Schema, type Scope } from "effect"
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { parseArgs } from "node:util"
import { addresses } from "./corpus.ts"
import { scratch } from "./measure.ts"

// -----------------------------------------------------------------------------
// Settings and figures
// -----------------------------------------------------------------------------

/** The sizes and timings of the benchmark. */
export interface WorkersSettings {
  /** Workers of each configuration, one run each. */
  readonly workerCounts: ReadonlyArray<number>
  /** Addresses in the corpus (the most recent, one file each; written messages over 100 kB left out). */
  readonly documents: number
  /**
   * Input bytes per part (`--part-mb`): about six addresses, 150 to 190 chunks, so one batch
   * job per stage of a part (a job needs 100 records at least: fewer go on demand).
   */
  readonly partBytes: number
  /** Live jobs the emulated account allows (`emulator --max-concurrent-jobs`), and the run's `--max-concurrent-jobs`. */
  readonly quota: number
  /** Least time a job spends InProgress at the emulator (`emulator --job-seconds`). */
  readonly jobSeconds: number
  /** The workers' `--takeover-seconds`. */
  readonly takeoverSeconds: number
  /** The configuration whose cluster also measures the takeover (`undefined`: not measured). */
  readonly takeoverWorkers: number | undefined
  /** Addresses of the takeover's run (a few parts: the surviving worker has a free part permit). */
  readonly takeoverDocuments: number
}

/**
 * The benchmark's default settings: 22 jobs of 1 s, a run of about 20 s per configuration, about
 * 2 minutes in all with the processes' starts and the takeover. Jobs of 2 s and a takeover of
 * 10 s show the quota-bound regime better (makespan about 1.45× the bound instead of 1.95×)
 * but take 40 s more: the whole bench must stay under 10 minutes.
 */
export const defaults: WorkersSettings = {
  workerCounts: [1, 2, 4],
  documents: 64,
  partBytes: 200_000,
  quota: 2,
  jobSeconds: 1,
  takeoverSeconds: 5,
  takeoverWorkers: 2,
  takeoverDocuments: 12
}

/** One worker's share of a run. */
export interface WorkerShare {
  /** CPU seconds (user + system) of the process when the run had finished, its start included. */
  readonly cpuSeconds: number | undefined
  /** CPU seconds from the submit to the run's end. */
  readonly runCpuSeconds: number | undefined
  /** CPU seconds per second of the joined worker before the submit (no run: the cluster's own polling). */
  readonly idleCpuPerSecond: number | undefined
  /** Its share of the workers' CPU seconds of the run. */
  readonly cpuShare: number | undefined
  readonly parts: number
  readonly partShare: number
  readonly files: number
  readonly fileShare: number
}

/** What one configuration measured. */
export interface ConfigurationFigures {
  readonly workers: number
  readonly runId: string
  readonly exitCode: number | null
  /** Spawning the submitting command → the run's `finishedAt`. */
  readonly makespanSeconds: number
  /** The submitting command (`extract --detach`), spawn to exit. */
  readonly submitSeconds: number
  readonly jobsCreated: number
  /** See {@link quotaBoundSeconds}. */
  readonly boundSeconds: number
  readonly ratioToBound: number
  /** Submit → the first job created (no job live yet). */
  readonly headSeconds: number
  /** The last job ended → the run finished (no job live any more). */
  readonly tailSeconds: number
  /** Head + bound + tail: also a lower bound of this run's makespan. */
  readonly boundWithHeadTailSeconds: number
  readonly ratioToBoundWithHeadTail: number
  /** Mean seconds a job was live at the emulator (created → ended). */
  readonly meanJobLiveSeconds: number
  /** The jobs' live time over quota × (the first create → the last end): how full the quota was kept. */
  readonly quotaUse: number
  readonly peakLiveJobs: number
  readonly createsRefused: number
  readonly parts: number
  readonly files: number
  readonly chunks: number
  readonly records: {
    readonly succeeded: number
    readonly failed: number
    readonly batch: number
    readonly onDemand: number
  }
  readonly perWorker: ReadonlyArray<WorkerShare>
}

/** A part of the killed worker, taken over. */
export interface TakenOverPart {
  readonly part: number
  /** How long the killed worker had been extracting it. */
  readonly extractingForSeconds: number
  /** The kill → another worker logs `extracting part N` (`undefined`: not within the wait). */
  readonly seconds: number | undefined
}

/** What the takeover measured. */
export interface TakeoverFigures {
  readonly workers: number
  /** `--takeover-seconds` of every worker. */
  readonly settingSeconds: number
  readonly parts: ReadonlyArray<TakenOverPart>
}

/** What benchmark 9 measured (or why it did not run). */
export type WorkersFigures =
  | { readonly _tag: "Skipped"; readonly reason: string }
  | { readonly _tag: "Failed"; readonly settings: WorkersSettings; readonly error: string }
  | {
    readonly _tag: "Measured"
    readonly settings: WorkersSettings
    readonly corpus: { readonly documents: number; readonly bytes: number; readonly firstYear: number }
    readonly configurations: ReadonlyArray<ConfigurationFigures>
    readonly takeover: TakeoverFigures | undefined
    /** The whole benchmark, PostgreSQL's start included. */
    readonly seconds: number
  }

/** How to enable the benchmark on a machine without PostgreSQL. */
export const skippedReason =
  "PostgreSQL is not installed (no `initdb`/`pg_ctl` in `/usr/lib/postgresql/*/bin`, `/usr/local/bin` or `PATH`); " +
  "install Debian's `postgresql` package to run it"

/**
 * The quota-bound lower bound of a run's makespan: `ceil(jobs / quota) × jobSeconds`.
 *
 * Every job is live (counted against the account's quota) from its create until it ends, at
 * least `jobSeconds` (its InProgress time; the emulator's other phases add a little), and at most `quota` jobs are live at once. Intervals of which at most `quota`
 * overlap can be split into `quota` sequences of disjoint intervals (an interval graph is
 * coloured with as many colours as its largest clique), one of which holds `ceil(jobs /
 * quota)` jobs back to back: the window from the first create to the last end is at least
 * that long. It is `jobs × jobSeconds / quota` when the jobs divide evenly. More workers add
 * CPU, not quota: no number of workers beats it.
 *
 * What cannot overlap that window: the head, before the first create (the submit, a worker
 * noticing the run, splitting it into parts, reading, chunking and staging a first job), and
 * the tail, after the last end (its output read, the last chunks written, the summary). The
 * makespan is head + window + tail, so head + bound + tail (measured head and tail) bounds it
 * too, and the ratio to that tells how well the quota is kept busy once jobs can run.
 */
export const quotaBoundSeconds = (jobs: number, quota: number, jobSeconds: number): number =>
  Math.ceil(jobs / quota) * jobSeconds

// -----------------------------------------------------------------------------
// Child processes
// -----------------------------------------------------------------------------

/** The benchmark could not run a step (a process failed, or did not do what was awaited in time). */
export class WorkersBenchError extends Data.TaggedError("WorkersBenchError")<{
  readonly message: string
  /** The end of the stderr of the process concerned, if any. */
  readonly stderr?: string | undefined
}> {}

/** The command's entry file (its TypeScript source, run with the workspace's source condition). */
const bin = path.join(
  path.dirname(createRequire(import.meta.url).resolve("@batch-extract/cli/package.json")),
  "src",
  "bin.ts"
)
const sourceCondition = "--conditions=@batch-extract/source"

/**
 * The environment of a child: nothing of the user's AWS or batch-extract settings (no profile,
 * no instance metadata), the emulator's SDK environment on top.
 */
const childEnv = (extra: Readonly<Record<string, string>>): Record<string, string> => {
  const base: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key === "NODE_OPTIONS") continue
    if (key.startsWith("AWS_") || key.startsWith("BATCH_EXTRACT_") || key.startsWith("EXTRACTION_")) continue
    base[key] = value
  }
  return {
    ...base,
    AWS_CONFIG_FILE: "/nonexistent/batch-extract-bench/config",
    AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/batch-extract-bench/credentials",
    AWS_EC2_METADATA_DISABLED: "true",
    NO_COLOR: "1",
    ...extra
  }
}

/** How a child ended. */
interface Ended {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly seconds: number
}

/** A `batch-extract` process. */
interface Child {
  readonly pid: number
  readonly stdout: () => string
  readonly stderr: () => string
  readonly done: () => boolean
  readonly exited: Effect.Effect<Ended>
  /** Signal it and anything it started (its process group). */
  readonly kill: (signal: NodeJS.Signals) => void
}

/**
 * Start `batch-extract <args>` (node itself, so its pid is the command's: its CPU time is in
 * `/proc/<pid>/stat`); SIGTERM, then SIGKILL after 10 s, when the scope closes.
 */
const start = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>>) =>
  Effect.acquireRelease(
    Effect.sync((): Child => {
      const started = performance.now()
      const child = spawn(process.execPath, ["--no-warnings", sourceCondition, bin, ...args], {
        env,
        stdio: ["ignore", "pipe", "pipe"],
        detached: true
      })
      let stdout = ""
      let stderr = ""
      let ended: Ended | undefined
      const waiting: Array<(ended: Ended) => void> = []
      child.stdout.on("data", (chunk: Buffer) => void (stdout += chunk.toString("utf8")))
      child.stderr.on("data", (chunk: Buffer) => void (stderr += chunk.toString("utf8")))
      child.on("close", (code, signal) => {
        ended = { code, signal, seconds: (performance.now() - started) / 1000 }
        for (const resume of waiting.splice(0)) resume(ended)
      })
      return {
        pid: child.pid!,
        stdout: () => stdout,
        stderr: () => stderr,
        done: () => ended !== undefined,
        exited: Effect.callback<Ended>((resume) => {
          if (ended !== undefined) return resume(Effect.succeed(ended))
          waiting.push((end) => resume(Effect.succeed(end)))
        }),
        kill: (signal) => {
          if (ended !== undefined) return
          try {
            process.kill(-child.pid!, signal)
          } catch {
            child.kill(signal)
          }
        }
      }
    }),
    (child) =>
      Effect.gen(function*() {
        if (child.done()) return
        child.kill("SIGTERM")
        const stopped = yield* Effect.timeoutOption(child.exited, "10 seconds")
        if (stopped._tag === "None") {
          child.kill("SIGKILL")
          yield* child.exited
        }
      })
  )

const tail = (text: string) => text.slice(-3000)

/** Run `batch-extract <args>` to its end; fails unless it exits 0 within `timeout`. */
const runToEnd = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>>, timeout: Duration.Input) =>
  Effect.scoped(Effect.gen(function*() {
    const child = yield* start(args, env)
    const ended = yield* Effect.timeoutOrElse(child.exited, {
      duration: timeout,
      orElse: () =>
        Effect.fail(
          new WorkersBenchError({
            message: `batch-extract ${args[0]} did not end in time`,
            stderr: tail(child.stderr())
          })
        )
    })
    if (ended.code !== 0) {
      return yield* new WorkersBenchError({
        message: `batch-extract ${args[0]} exited ${ended.code ?? ended.signal}`,
        stderr: tail(child.stderr())
      })
    }
    return { stdout: child.stdout(), seconds: ended.seconds }
  }))

/** Check `found` every 100 ms until it gives a value; fails after `timeout`. */
const waitFor = <A>(what: string, found: () => A | undefined, timeout: Duration.Input) =>
  Effect.sync(found).pipe(
    Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: (value) => value !== undefined }),
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () => Effect.fail(new WorkersBenchError({ message: `timed out waiting until ${what}` }))
    }),
    Effect.map((value) => value as A)
  )

let ticks: number | undefined

/** Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`, asked once; 100 on Linux). */
const clockTicks = (): number => {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100
    } catch {
      ticks = 100
    }
  }
  return ticks
}

/** CPU seconds (utime + stime) a process has used, from `/proc/<pid>/stat`; `undefined` off Linux. */
const cpuSeconds = (pid: number): number | undefined => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    // Fields after the command name (which may hold spaces), from field 3 (state): utime is 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) / clockTicks()
  } catch {
    return undefined
  }
}

// -----------------------------------------------------------------------------
// The emulator, the run's status, the workers' logs
// -----------------------------------------------------------------------------

/** The part of the emulator's announcement and inspection the benchmark reads. */
const Announcement = Schema.Struct({
  env: Schema.Record(Schema.String, Schema.String),
  inspect: Schema.String
})

const Inspection = Schema.Struct({
  counters: Schema.Struct({
    jobsCreated: Schema.Number,
    createsRefused: Schema.Number,
    peakConcurrentJobs: Schema.Number
  }),
  jobs: Schema.Array(Schema.Struct({
    status: Schema.String,
    submitTime: Schema.NullOr(Schema.String),
    endTime: Schema.NullOr(Schema.String),
    totalRecordCount: Schema.Number
  }))
})

/** The part of `batch-extract status <run> --json` the benchmark reads. */
const RunStatus = Schema.Struct({
  phase: Schema.String,
  exitCode: Schema.NullOr(Schema.Number),
  finishedAt: Schema.NullOr(Schema.String),
  chunks: Schema.Struct({ total: Schema.Number }),
  records: Schema.Struct({
    succeeded: Schema.Number,
    failed: Schema.Number,
    batch: Schema.Number,
    onDemand: Schema.Number
  })
})
type RunStatus = typeof RunStatus.Type

const decodeJson = <S extends Schema.Top>(schema: S, what: string) => (text: string) =>
  Schema.decodeUnknownEffect(Schema.fromJsonString(schema))(text).pipe(
    Effect.mapError((cause) => new WorkersBenchError({ message: `${what}: ${cause.message}` }))
  )

/** `batch-extract emulator` with a quota and a job duration; its SDK environment and inspection. */
const startEmulator = (bucket: string, quota: number, jobSeconds: number) =>
  Effect.gen(function*() {
    const child = yield* start(
      ["emulator", "--bucket", bucket, "--max-concurrent-jobs", String(quota), "--job-seconds", String(jobSeconds)],
      childEnv({})
    )
    const line = yield* waitFor(
      "the emulator announces itself",
      () => {
        if (child.done()) return null
        const newline = child.stdout().indexOf("\n")
        return newline < 0 ? undefined : child.stdout().slice(0, newline)
      },
      "60 seconds"
    )
    if (line === null) {
      return yield* new WorkersBenchError({
        message: "the emulator ended before it announced itself",
        stderr: child.stderr()
      })
    }
    const announcement = yield* decodeJson(Announcement, "the emulator's announcement")(line)
    const inspect = Effect.tryPromise({
      try: (signal) => fetch(announcement.inspect, { signal }).then((response) => response.text()),
      catch: (cause) => new WorkersBenchError({ message: `could not inspect the emulator: ${String(cause)}` })
    }).pipe(Effect.flatMap(decodeJson(Inspection, "the emulator's inspection")))
    return { env: announcement.env, inspect }
  })

/** `batch-extract status <run> --json --database URL`. */
const statusOf = (runId: string, database: string, env: Readonly<Record<string, string>>) =>
  runToEnd(["status", runId, "--json", "--database", database], env, "60 seconds").pipe(
    Effect.flatMap(({ stdout }) => decodeJson(RunStatus, "the run's status")(stdout.slice(stdout.indexOf("{"))))
  )

/** A part start or end a worker logged. */
interface PartLine {
  readonly at: number
  readonly part: number
  readonly files: number
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** The parts of a run a worker logged it started (`extracting part N (K files)`), with their times. */
const partsStarted = (stderr: string, runId: string): Array<PartLine> =>
  [...stderr.matchAll(
    new RegExp(`timestamp=(\\S+) [^\\n]*run ${escape(runId)}: extracting part (\\d+) \\((\\d+) files\\)`, "g")
  )]
    .map((m) => ({ at: Date.parse(m[1]!), part: Number(m[2]), files: Number(m[3]) }))

/** The parts of a run a worker logged done. */
const partsDone = (stderr: string, runId: string): Array<PartLine> =>
  [...stderr.matchAll(new RegExp(`timestamp=(\\S+) [^\\n]*run ${escape(runId)}: part (\\d+) done`, "g"))]
    .map((m) => ({ at: Date.parse(m[1]!), part: Number(m[2]), files: 0 }))

/** The parts of a run a worker is extracting now (started, not done). */
const working = (child: Child, runId: string) => {
  const done = new Set(partsDone(child.stderr(), runId).map((line) => line.part))
  return partsStarted(child.stderr(), runId).filter((line) => !done.has(line.part))
}

/** The flags of the runs the benchmark submits. */
const runFlags = (bucket: string, settings: WorkersSettings) => [
  "--backend",
  "aws",
  "--bucket-name",
  bucket,
  "--role-arn",
  "arn:aws:iam::123456789012:role/any",
  "--region",
  "us-east-1",
  "--part-mb",
  String(settings.partBytes / 1_000_000),
  "--max-concurrent-jobs",
  String(settings.quota),
  // One job per stage of a part (a part holds 150 to 190 chunks).
  "--max-batch-size",
  "1000",
  // Jobs of seconds: status checks at that scale (the defaults are for jobs of hours).
  "--poll-initial-seconds",
  "0.05",
  "--poll-max-seconds",
  "0.25"
]

const bucket = "bench-workers"

// -----------------------------------------------------------------------------
// The benchmark
// -----------------------------------------------------------------------------

const sum = (values: ReadonlyArray<number>) => values.reduce((n, v) => n + v, 0)
const share = (part: number, whole: number) => (whole > 0 ? part / whole : 0)

/** Write the corpus: the most recent addresses, one `.txt` file each (named so they sort by date). */
const writeCorpus = (dir: string, documents: number) => {
  fs.mkdirSync(dir, { recursive: true })
  const chosen = addresses().map((address, index) => ({ address, index }))
    .filter(({ address }) => Buffer.byteLength(address.text) <= 100_000)
    .slice(-documents)
  for (const { address, index } of chosen) {
    fs.writeFileSync(
      path.join(dir, `sotu-${address.year}-${String(index).padStart(3, "0")}.txt`),
      `State of the Union, ${address.year} (${address.name})\n\n${address.text}\n`
    )
  }
  const files = fs.readdirSync(dir).sort()
  return {
    files,
    bytes: sum(files.map((file) => fs.statSync(path.join(dir, file)).size)),
    firstYear: chosen[0]?.address.year ?? 0
  }
}

/** Kill a worker extracting a part of a fresh run; the seconds until another worker starts that part again. */
const measureTakeover = (
  workers: ReadonlyArray<Child>,
  submit: (runId: string, corpus: string) => Effect.Effect<unknown, WorkersBenchError>,
  corpus: string,
  settings: WorkersSettings
) =>
  Effect.gen(function*() {
    const runId = "takeover"
    yield* submit(runId, corpus)
    const victim = yield* waitFor(
      "a worker extracts a part of the takeover's run",
      () => workers.find((worker) => working(worker, runId).length > 0),
      "120 seconds"
    )
    // Well into the part (reading, chunking, staging its first job), far from its end (two jobs).
    yield* Effect.sleep("1 second")
    const parts = working(victim, runId)
    const killedAt = yield* Clock.currentTimeMillis
    victim.kill("SIGKILL")
    yield* victim.exited
    const others = workers.filter((worker) => worker !== victim)
    const restartOf = (part: number) =>
      others.flatMap((worker) => partsStarted(worker.stderr(), runId))
        .filter((line) => line.part === part && line.at > killedAt)
        .sort((a, b) => a.at - b.at)[0]
    yield* waitFor(
      "another worker extracts the killed worker's parts",
      () => (parts.every((line) => restartOf(line.part) !== undefined) ? true : undefined),
      `${settings.takeoverSeconds + 120} seconds`
    ).pipe(Effect.ignore)
    return {
      workers: workers.length,
      settingSeconds: settings.takeoverSeconds,
      parts: parts.map((line): TakenOverPart => {
        const restart = restartOf(line.part)
        return {
          part: line.part,
          extractingForSeconds: (killedAt - line.at) / 1000,
          seconds: restart === undefined ? undefined : (restart.at - killedAt) / 1000
        }
      })
    } satisfies TakeoverFigures
  })

/** One configuration: `count` workers, one run of the corpus, then (maybe) the takeover. */
const configuration = (
  cluster: PostgresCluster.PostgresCluster,
  count: number,
  corpus: { readonly dir: string; readonly takeoverDir: string },
  dir: string,
  settings: WorkersSettings,
  progress: (message: string) => void
): Effect.Effect<
  { readonly figures: ConfigurationFigures; readonly takeover: TakeoverFigures | undefined },
  WorkersBenchError | PostgresCluster.PostgresHarnessError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const emulator = yield* startEmulator(bucket, settings.quota, settings.jobSeconds)
    const env = childEnv(emulator.env)
    const database = yield* cluster.createDatabase(`bench_workers_${count}`)
    const joined = ["--database", database, "--takeover-seconds", String(settings.takeoverSeconds)]
    const workers: Array<Child> = []
    for (let i = 0; i < count; i++) workers.push(yield* start(["worker", ...joined], env))
    for (const worker of workers) {
      yield* waitFor(
        "every worker joined",
        () => (worker.done() ? null : /worker joined/.test(worker.stderr()) ? true : undefined),
        "120 seconds"
      ).pipe(
        Effect.flatMap((joinedNow) =>
          joinedNow === null
            ? Effect.fail(
              new WorkersBenchError({ message: "a worker ended as it started", stderr: tail(worker.stderr()) })
            )
            : Effect.void
        )
      )
    }
    progress(`  ${count} worker${count === 1 ? "" : "s"}: emulator up, every worker joined`)
    // The runners share the shards out (they refresh their assignments every second); their
    // CPU time meanwhile is what a joined worker spends without a run.
    const cpuJoined = workers.map((worker) => cpuSeconds(worker.pid))
    const joinedAt = performance.now()
    yield* Effect.sleep("3 seconds")

    const submit = (runId: string, inputs: string) =>
      runToEnd(
        [
          "extract",
          inputs,
          "--out",
          path.join(dir, runId),
          "--run-id",
          runId,
          "--detach",
          ...joined,
          ...runFlags(bucket, settings)
        ],
        env,
        "120 seconds"
      )

    const runId = `workers-${count}`
    const cpuBefore = workers.map((worker) => cpuSeconds(worker.pid))
    const idleSeconds = (performance.now() - joinedAt) / 1000
    const submittedAt = yield* Clock.currentTimeMillis
    const submitted = yield* submit(runId, corpus.dir)
    progress(`  ${count} worker${count === 1 ? "" : "s"}: submitted in ${submitted.seconds.toFixed(1)} s`)

    // Asked of the run's status once every part a worker started is done (it may be the last).
    const quiet = () => {
      const started = workers.flatMap((worker) => partsStarted(worker.stderr(), runId))
      const done = new Set(workers.flatMap((worker) => partsDone(worker.stderr(), runId)).map((line) => line.part))
      return done.size > 0 && started.every((line) => done.has(line.part))
    }
    const finished: RunStatus = yield* Effect.gen(function*() {
      const dead = workers.find((worker) => worker.done())
      if (dead !== undefined) {
        return yield* new WorkersBenchError({ message: "a worker ended during the run", stderr: tail(dead.stderr()) })
      }
      if (!quiet()) return undefined
      const status = yield* statusOf(runId, database, env)
      return status.phase === "finished" ? status : undefined
    }).pipe(
      Effect.repeat({ schedule: Schedule.spaced("250 millis"), until: (status) => status !== undefined }),
      Effect.timeoutOrElse({
        duration: "300 seconds",
        orElse: () =>
          Effect.fail(
            new WorkersBenchError({
              message: `run ${runId} did not finish in 300 s`,
              stderr: workers.map((worker) => tail(worker.stderr())).join("\n")
            })
          )
      }),
      Effect.map((status) => status!)
    )
    const cpuAfter = workers.map((worker) => cpuSeconds(worker.pid))
    const inspection = yield* emulator.inspect

    const finishedAt = Date.parse(finished.finishedAt ?? "")
    const makespanSeconds = (finishedAt - submittedAt) / 1000
    const jobs = inspection.jobs.filter((job) => job.submitTime !== null && job.endTime !== null)
    const submitTimes = jobs.map((job) => Date.parse(job.submitTime!))
    const endTimes = jobs.map((job) => Date.parse(job.endTime!))
    const firstCreate = Math.min(...submitTimes)
    const lastEnd = Math.max(...endTimes)
    const liveSeconds = sum(jobs.map((_, i) => endTimes[i]! - submitTimes[i]!)) / 1000
    const jobsCreated = inspection.counters.jobsCreated
    const boundSeconds = quotaBoundSeconds(jobsCreated, settings.quota, settings.jobSeconds)
    const headSeconds = (firstCreate - submittedAt) / 1000
    const tailSeconds = (finishedAt - lastEnd) / 1000

    const runCpu = workers.map((_, i) => {
      const before = cpuBefore[i]
      const after = cpuAfter[i]
      return before === undefined || after === undefined ? undefined : after - before
    })
    const totalRunCpu = runCpu.every((cpu) => cpu !== undefined) ? sum(runCpu as Array<number>) : undefined
    const extracted = workers.map((worker) => {
      const done = new Set(partsDone(worker.stderr(), runId).map((line) => line.part))
      const parts = partsStarted(worker.stderr(), runId).filter((line) => done.has(line.part))
      return { parts: new Set(parts.map((line) => line.part)).size, files: sum(parts.map((line) => line.files)) }
    })
    const parts = sum(extracted.map((e) => e.parts))
    const files = sum(extracted.map((e) => e.files))

    const figures: ConfigurationFigures = {
      workers: count,
      runId,
      exitCode: finished.exitCode,
      makespanSeconds,
      submitSeconds: submitted.seconds,
      jobsCreated,
      boundSeconds,
      ratioToBound: makespanSeconds / boundSeconds,
      headSeconds,
      tailSeconds,
      boundWithHeadTailSeconds: headSeconds + boundSeconds + tailSeconds,
      ratioToBoundWithHeadTail: makespanSeconds / (headSeconds + boundSeconds + tailSeconds),
      meanJobLiveSeconds: jobs.length === 0 ? 0 : liveSeconds / jobs.length,
      quotaUse: share(liveSeconds, settings.quota * (lastEnd - firstCreate) / 1000),
      peakLiveJobs: inspection.counters.peakConcurrentJobs,
      createsRefused: inspection.counters.createsRefused,
      parts,
      files,
      chunks: finished.chunks.total,
      records: finished.records,
      perWorker: workers.map((_, i): WorkerShare => ({
        cpuSeconds: cpuAfter[i],
        runCpuSeconds: runCpu[i],
        idleCpuPerSecond: cpuJoined[i] === undefined || cpuBefore[i] === undefined
          ? undefined
          : (cpuBefore[i]! - cpuJoined[i]!) / idleSeconds,
        cpuShare: totalRunCpu === undefined || runCpu[i] === undefined ? undefined : share(runCpu[i]!, totalRunCpu),
        parts: extracted[i]!.parts,
        partShare: share(extracted[i]!.parts, parts),
        files: extracted[i]!.files,
        fileShare: share(extracted[i]!.files, files)
      }))
    }
    progress(
      `  ${count} worker${count === 1 ? "" : "s"}: ${makespanSeconds.toFixed(1)} s, ${jobsCreated} jobs ` +
        `(bound ${boundSeconds} s), parts ${extracted.map((e) => e.parts).join("/")}`
    )

    if (settings.takeoverWorkers !== count || count < 2) return { figures, takeover: undefined }
    progress(`  takeover: SIGKILL a worker extracting a part (--takeover-seconds ${settings.takeoverSeconds})`)
    const takeover = yield* measureTakeover(workers, submit, corpus.takeoverDir, settings)
    progress(
      `  takeover: ${
        takeover.parts.map((p) =>
          `part ${p.part} in ${p.seconds === undefined ? "(not seen)" : `${p.seconds.toFixed(1)} s`}`
        )
          .join(", ")
      }`
    )
    return { figures, takeover }
  })

/** Benchmark 9 (skipped, with the reason, when PostgreSQL is not installed). */
export const run = (
  settings: WorkersSettings = defaults,
  progress: (message: string) => void = () => {}
): Promise<WorkersFigures> => {
  const binaries = PostgresCluster.findBinaries()
  if (binaries === undefined) return Promise.resolve({ _tag: "Skipped", reason: skippedReason })
  const started = performance.now()
  const dir = scratch("batch-extract-bench-workers-")
  return Effect.gen(function*() {
    const corpusDir = path.join(dir, "corpus")
    const corpus = writeCorpus(corpusDir, settings.documents)
    // The takeover's run: the first few files of the corpus (a few parts).
    const takeoverDir = path.join(dir, "takeover-corpus")
    fs.mkdirSync(takeoverDir)
    for (const file of corpus.files.slice(0, settings.takeoverDocuments)) {
      fs.copyFileSync(path.join(corpusDir, file), path.join(takeoverDir, file))
    }
    const cluster = yield* PostgresCluster.startPostgres(binaries)
    progress(`  PostgreSQL up in ${(cluster.startMillis / 1000).toFixed(1)} s`)
    const configurations: Array<ConfigurationFigures> = []
    let takeover: TakeoverFigures | undefined
    for (const count of settings.workerCounts) {
      const result = yield* Effect.scoped(
        configuration(cluster, count, { dir: corpusDir, takeoverDir }, dir, settings, progress)
      )
      configurations.push(result.figures)
      takeover = result.takeover ?? takeover
    }
    return {
      _tag: "Measured",
      settings,
      corpus: { documents: corpus.files.length, bytes: corpus.bytes, firstYear: corpus.firstYear },
      configurations,
      takeover,
      seconds: (performance.now() - started) / 1000
    } satisfies WorkersFigures
  }).pipe(
    Effect.scoped,
    Effect.catch((error) =>
      Effect.succeed<WorkersFigures>({
        _tag: "Failed",
        settings,
        error: `${error.message}${"stderr" in error && error.stderr !== undefined ? `\n${error.stderr}` : ""}`
      })
    ),
    Effect.ensuring(Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))),
    Effect.runPromise
  )
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      workers: { type: "string", default: defaults.workerCounts.join(",") },
      "job-seconds": { type: "string", default: String(defaults.jobSeconds) },
      documents: { type: "string", default: String(defaults.documents) },
      "takeover-seconds": { type: "string", default: String(defaults.takeoverSeconds) }
    }
  })
  const started = performance.now()
  const figures = await run(
    {
      ...defaults,
      workerCounts: values.workers.split(",").map(Number),
      jobSeconds: Number(values["job-seconds"]),
      documents: Number(values.documents),
      takeoverSeconds: Number(values["takeover-seconds"])
    },
    (message) =>
      process.stderr.write(`[workers ${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s] ${message}\n`)
  )
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`)
}
