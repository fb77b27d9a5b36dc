/**
 * The world the durability tests run `batch-extract` in: a local S3 and the Bedrock emulator
 * started inside the test process (so they outlive a killed child), proxies in front of S3
 * and the control plane, the standard SDK environment that points a child at them
 * (`--backend aws`), a small corpus, and readers for what a run leaves behind.
 */
import * as Aws from "@batch-extract/aws/local"
import { ObjectStore } from "@batch-extract/core"
import { Context, Effect, Layer, type Scope } from "effect"
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import * as Cli from "./cli.ts"
import * as Proxy from "./proxy.ts"

/** A temporary directory, removed with the scope. */
export const tempDir = (name: string) =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), `batch-extract-${name}-`))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

export const bucket = "durable-runs"
export const region = "us-east-1"
export const roleArn = "arn:aws:iam::123456789012:role/BatchExtractTest"
export const accessKeyId = "AKIADURABLERUNSTEST1"
/** A secret no log, run state or summary may ever show. */
export const secretAccessKey = "dUr4bleRunsS3cretK3yN0tToBeL0gged+x9Zq"

/** The emulation, its proxies, and how to reach them. */
export interface World {
  readonly local: Aws.LocalBackend.LocalBackendShape
  /** The local S3, straight (for inspection). */
  readonly store: ObjectStore.ObjectStore["Service"]
  /** In front of the local S3. */
  readonly s3: Proxy.Proxy
  /** In front of the emulator's control plane (the runtime, HTTP/2, goes straight to it). */
  readonly bedrock: Proxy.Proxy
  /** The environment of a child that reaches the emulation (S3 and the control plane through the proxies). */
  readonly env: (extra?: Readonly<Record<string, string>>) => Record<string, string>
}

/** Emulator timings with distinct, observable phases (a job takes about a second). */
export const slowTimings: Partial<Aws.BedrockEmulator.Timings> = {
  submittedMs: 120,
  validatingMs: 120,
  scheduledMs: 120,
  inProgressMs: 400,
  stoppingMs: 100
}

/** Start the world; it stops with the scope. */
export const make = (options: {
  readonly emulator?: Aws.BedrockEmulator.Options | undefined
  readonly s3?: Omit<Aws.LocalS3.Options, "buckets" | "accountId"> | undefined
  readonly bucketOwner?: string | undefined
} = {}): Effect.Effect<World, Aws.LocalS3.LocalS3Error | Aws.BedrockEmulator.EmulatorError, Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Layer.build(Aws.LocalBackend.layer({
      buckets: [bucket],
      region,
      bucketOwner: options.bucketOwner,
      emulator: { timings: slowTimings, ...options.emulator },
      s3: options.s3
    }))
    const local = Context.get(context, Aws.LocalBackend.LocalBackend)
    const store = Context.get(context, ObjectStore.ObjectStore)
    const s3 = yield* Proxy.make(local.s3.endpoint)
    const bedrock = yield* Proxy.make(local.bedrock.endpoint)
    return {
      local,
      store,
      s3,
      bedrock,
      env: (extra = {}) =>
        Cli.cleanEnv({
          AWS_REGION: region,
          AWS_ACCESS_KEY_ID: accessKeyId,
          AWS_SECRET_ACCESS_KEY: secretAccessKey,
          AWS_ENDPOINT_URL_S3: s3.endpoint,
          AWS_ENDPOINT_URL_BEDROCK: bedrock.endpoint,
          AWS_ENDPOINT_URL_BEDROCK_RUNTIME: local.bedrock.endpoint,
          // Service Quotas (the emulator answers it on its port), straight: never AWS's.
          AWS_ENDPOINT_URL_SERVICE_QUOTAS: local.bedrock.endpoint,
          ...extra
        })
    }
  })

/** The settings every run of these tests uses (small jobs: several per stage). */
export const flags = (overrides: Readonly<Record<string, string>> = {}): Array<string> => {
  const settings: Record<string, string> = {
    "bucket-name": bucket,
    "role-arn": roleArn,
    region,
    "max-batch-size": "100",
    "chunk-size": "48",
    "chunk-overlap": "0",
    "poll-initial-seconds": "0.05",
    "poll-max-seconds": "0.25",
    ...overrides
  }
  return Object.entries(settings).flatMap(([flag, value]) => [`--${flag}`, value])
}

const people = ["Alice Smith", "Bob Jones", "Carol White", "Dave Brown", "Erin Green", "Frank Black", "Grace Hall"]
const places = ["Paris", "Boston", "Berlin", "Lisbon", "Oslo", "Nairobi", "Lima", "Osaka"]
const things = ["trade policy", "river bridges", "solar panels", "old maps", "city budgets", "rail freight"]

/** Write `documents` short, distinct text documents; about three chunks each at 48 tokens. */
export const writeCorpus = (dir: string, documents: number): string => {
  mkdirSync(dir, { recursive: true })
  for (let d = 0; d < documents; d++) {
    const sentences: Array<string> = []
    for (let s = 0; s < 9; s++) {
      const n = d * 9 + s
      sentences.push(
        `${people[n % people.length]} met ${people[(n + 3) % people.length]} in ${places[n % places.length]} ` +
          `on day ${n} to discuss ${things[n % things.length]}.`
      )
    }
    writeFileSync(join(dir, `doc-${String(d).padStart(3, "0")}.txt`), `Report ${d}.\n\n${sentences.join(" ")}\n`)
  }
  return dir
}

// -----------------------------------------------------------------------------
// The run state (read-only, straight from the SQLite file)
// -----------------------------------------------------------------------------

/** The embedded run state's directory under an output. */
export const stateDirectory = (out: string) => join(out, ".batch-extract", "state")

/** The embedded run state's database file. */
export const stateFile = (out: string) => join(stateDirectory(out), "state.db")

/** The lock file a process working on the run state holds (with its pid). */
export const lockFile = (out: string) => join(stateDirectory(out), "lock")

const pause = new Int32Array(new SharedArrayBuffer(4))

/** SQLite's result code of an error of `node:sqlite` (its primary code), and its message. */
const sqliteError = (error: unknown): { readonly code: number | undefined; readonly message: string } => {
  const code = (error as { errcode?: unknown } | undefined)?.errcode
  return {
    code: typeof code === "number" ? code & 0xff : undefined,
    message: error instanceof Error ? error.message : String(error)
  }
}

/** SQLITE_BUSY, SQLITE_LOCKED. */
const busyCodes = new Set([5, 6])

/**
 * Read the run state of an output: opens it read-only, reads, closes. `empty` when the file
 * (or the table read) does not exist yet; a busy or locked database is retried briefly.
 */
export const readState = <A>(out: string, empty: A, read: (db: DatabaseSync) => A): A => {
  const file = stateFile(out)
  for (let attempt = 0;; attempt++) {
    if (!existsSync(file)) return empty
    let db: DatabaseSync | undefined
    try {
      db = new DatabaseSync(file, { readOnly: true })
      return read(db)
    } catch (error) {
      const { code, message } = sqliteError(error)
      if (/no such table/.test(message)) return empty
      if ((busyCodes.has(code ?? 0) || /database (table )?is locked/.test(message)) && attempt < 100) {
        Atomics.wait(pause, 0, 0, 5)
        continue
      }
      throw error
    } finally {
      db?.close()
    }
  }
}

/** A run as stored (`be_runs`). */
export interface RunRow {
  readonly runId: string
  readonly phase: "running" | "finished"
  readonly settings: unknown
  readonly startedAt: number
  readonly finishedAt: number | undefined
  readonly exitCode: number | undefined
  readonly result: unknown
}

/** A run, or `undefined` (no store, or no such run). */
export const runRow = (out: string, runId: string): RunRow | undefined =>
  readState(out, undefined, (db) => {
    const row = db.prepare("SELECT * FROM be_runs WHERE run_id = ?").get(runId) as
      | Record<string, string | number | null>
      | undefined
    if (row === undefined) return undefined
    return {
      runId: String(row.run_id),
      phase: row.phase === "finished" ? "finished" : "running",
      settings: JSON.parse(String(row.settings)),
      startedAt: Number(row.started_at),
      finishedAt: row.finished_at === null ? undefined : Number(row.finished_at),
      exitCode: row.exit_code === null ? undefined : Number(row.exit_code),
      result: row.result === null ? undefined : JSON.parse(String(row.result))
    } satisfies RunRow
  })

/** The ids of the runs in the store, oldest first. */
export const runIds = (out: string): Array<string> =>
  readState(
    out,
    [],
    (db) =>
      (db.prepare("SELECT run_id FROM be_runs ORDER BY started_at, run_id").all() as Array<{ run_id: string }>).map((
        row
      ) => row.run_id)
  )

/** The run finished (its row says so). */
export const finished = (out: string, runId: string): boolean => runRow(out, runId)?.phase === "finished"

/** A job as stored (`be_jobs`): its intent, then what happened to it. */
export interface JobRow {
  readonly jobName: string
  readonly stage: string
  readonly label: string
  readonly seq: number
  readonly attempt: number
  readonly token: string
  readonly bucket: string
  readonly inputKey: string
  readonly contentHash: string
  readonly records: number
  readonly jobArn: string | undefined
  readonly status: string | undefined
  readonly finished: boolean
}

/** The jobs of a run, in intent order within each stage. */
export const jobs = (out: string, runId: string): Array<JobRow> =>
  readState(
    out,
    [],
    (db) =>
      (db.prepare("SELECT * FROM be_jobs WHERE run_id = ? ORDER BY stage, seq, label").all(runId) as Array<
        Record<string, string | number | null>
      >).map((row): JobRow => ({
        jobName: String(row.job_name),
        stage: String(row.stage),
        label: String(row.label),
        seq: Number(row.seq),
        attempt: Number(row.attempt),
        token: String(row.token),
        bucket: String(row.bucket),
        inputKey: String(row.input_key),
        contentHash: String(row.content_hash),
        records: Number(row.records),
        jobArn: row.job_arn === null ? undefined : String(row.job_arn),
        status: row.status === null ? undefined : String(row.status),
        finished: Number(row.finished) === 1
      }))
  )

/** A record's outcome as stored (`be_outcomes`). */
export interface OutcomeRow {
  readonly recordId: string
  readonly tag: "Succeeded" | "Failed"
  readonly via: "batch" | "onDemand" | undefined
  readonly attempts: number
  readonly inputTokens: number
  readonly outputTokens: number
  readonly reason: string | undefined
  /** The answer, kept until its chunk is written (then `undefined`). */
  readonly output:
    | {
      readonly output: {
        readonly text: string
        readonly stopReason: string | undefined
        readonly truncated: boolean
        readonly usage: { readonly inputTokens: number; readonly outputTokens: number }
      }
      readonly partialReason?: string | undefined
    }
    | undefined
}

/** The outcomes of a run: by stage, then by record id. */
export const outcomes = (out: string, runId: string): Map<string, Map<string, OutcomeRow>> =>
  readState(out, new Map(), (db) => {
    const byStage = new Map<string, Map<string, OutcomeRow>>()
    const rows = db.prepare("SELECT * FROM be_outcomes WHERE run_id = ?").all(runId) as Array<
      Record<string, string | number | null>
    >
    for (const row of rows) {
      const stage = String(row.stage)
      let records = byStage.get(stage)
      if (records === undefined) byStage.set(stage, records = new Map())
      records.set(String(row.record_id), {
        recordId: String(row.record_id),
        tag: row.tag === "Failed" ? "Failed" : "Succeeded",
        via: row.via === null ? undefined : (String(row.via) as OutcomeRow["via"]),
        attempts: Number(row.attempts),
        inputTokens: Number(row.input_tokens),
        outputTokens: Number(row.output_tokens),
        reason: row.reason === null ? undefined : String(row.reason),
        output: row.output === null ? undefined : JSON.parse(String(row.output))
      })
    }
    return byStage
  })

/** How many outcomes a run has recorded (all stages). */
export const outcomeCount = (out: string, runId: string): number =>
  readState(
    out,
    0,
    (db) => Number((db.prepare("SELECT count(*) AS n FROM be_outcomes WHERE run_id = ?").get(runId) as { n: number }).n)
  )

/** A chunk of a run's manifest (`be_chunks`). */
export interface ChunkRow {
  readonly chunkId: string
  readonly sourceId: string
  readonly state: "pending" | "staged" | "in_job" | "extracted" | "failed"
  readonly stage: string | undefined
  readonly jobName: string | undefined
  readonly reason: string | undefined
}

/** The chunks of a run's manifest, by id. */
export const chunkStates = (out: string, runId: string): Map<string, ChunkRow> =>
  readState(out, new Map(), (db) =>
    new Map(
      (db.prepare("SELECT * FROM be_chunks WHERE run_id = ?").all(runId) as Array<
        Record<string, string | null>
      >).map((row) => [String(row.chunk_id), {
        chunkId: String(row.chunk_id),
        sourceId: String(row.source_id),
        state: String(row.state) as ChunkRow["state"],
        stage: row.stage ?? undefined,
        jobName: row.job_name ?? undefined,
        reason: row.reason ?? undefined
      }])
    ))

/** Count by a key. */
export const countBy = <A>(items: Iterable<A>, key: (item: A) => string): Record<string, number> => {
  const counts: Record<string, number> = {}
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1
  return counts
}

/** The chunks extracted into an output (`be_extracted`), by output key (`<out>#<collection>`). */
export const extractedChunks = (out: string): Map<string, Set<string>> =>
  readState(out, new Map(), (db) => {
    const byKey = new Map<string, Set<string>>()
    for (const row of db.prepare("SELECT out_key, chunk_id FROM be_extracted").all() as Array<Record<string, string>>) {
      let ids = byKey.get(row.out_key!)
      if (ids === undefined) byKey.set(row.out_key!, ids = new Set())
      ids.add(row.chunk_id!)
    }
    return byKey
  })

/** An activity of a run's workflow (a step with effects outside), as the workflow engine keeps it. */
export interface Activity {
  /** `stage/<job>`, `create/<job>`, `await/<job>`, `output/<job>`, `ondemand/…`, `reask/<stage>/<record>`. */
  readonly name: string
  readonly attempt: number
  /** Its result is kept (a replay returns it). */
  readonly completed: boolean
}

/** The activities in the workflow engine's tables (of every run in the store). */
export const activities = (out: string): Array<Activity> =>
  readState(out, [], (db) =>
    (db.prepare(
      `SELECT m.payload AS payload, EXISTS (SELECT 1 FROM cluster_replies r WHERE r.request_id = m.id) AS completed
        FROM cluster_messages m WHERE m.tag = 'activity'`
    ).all() as Array<{ payload: string; completed: number }>).map((row) => {
      const payload = JSON.parse(row.payload) as { name: string; attempt: number }
      return { name: payload.name, attempt: payload.attempt, completed: Number(row.completed) === 1 }
    }))

/** The tables of the run state. */
export const tables = (out: string): Array<string> =>
  readState(
    out,
    [],
    (db) =>
      (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>)
        .map((row) => row.name)
  )

/** Every byte of the run state's files (database, WAL, lock…) as text, for searching. */
export const stateText = (out: string): string =>
  filesUnder(stateDirectory(out)).map((file) => readFileSync(join(stateDirectory(out), file), "latin1")).join("\n")

/** `PRAGMA integrity_check` of the run state: `"ok"` when sound (`undefined` when there is none). */
export const integrity = (out: string): string | undefined =>
  readState(
    out,
    undefined,
    (db) =>
      (db.prepare("PRAGMA integrity_check").all() as Array<{ integrity_check: string }>).map((row) =>
        row.integrity_check
      ).join("\n")
  )

// -----------------------------------------------------------------------------
// What the jobs were given and what they wrote, as the S3 proxy saw it
// -----------------------------------------------------------------------------

/** A request body as the service got it: without the `aws-chunked` framing of a streamed upload. */
export const payloadOf = (kept: Proxy.Kept): Buffer => {
  const encoding = String(kept.headers["content-encoding"] ?? "")
  const sha = String(kept.headers["x-amz-content-sha256"] ?? "")
  if (!encoding.includes("aws-chunked") && !sha.startsWith("STREAMING-")) return kept.requestBody
  const body = kept.requestBody
  const parts: Array<Buffer> = []
  for (let at = 0; at < body.length;) {
    const lineEnd = body.indexOf("\r\n", at)
    if (lineEnd < 0) break
    const size = Number.parseInt(body.subarray(at, lineEnd).toString("latin1").split(";")[0]!, 16)
    if (!(size > 0)) break
    parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size))
    at = lineEnd + 2 + size + 2
  }
  return Buffer.concat(parts)
}

const recordIdOf = (line: string): string | undefined => /^\{"recordId":"([^"]+)"/.exec(line)?.[1]

/**
 * The staged job inputs the S3 proxy saw stored (PUTs of `…/input/…jsonl` it kept), by the
 * SHA-256 of their content (a job's `content_hash`): the record id of each line.
 */
export const stagedInputs = (proxy: Proxy.Proxy): Map<string, Array<string>> => {
  const inputs = new Map<string, Array<string>>()
  for (const kept of proxy.kept()) {
    if (kept.method !== "PUT" || !kept.url.includes("/input/") || kept.status >= 300) continue
    const body = payloadOf(kept)
    const ids = body.toString("utf8").split("\n").filter((line) => line !== "").map((line) => recordIdOf(line) ?? "?")
    inputs.set(createHash("sha256").update(body).digest("hex"), ids)
  }
  return inputs
}

/** What a job's output file holds: the records it answered (a whole line with an answer) and all it names. */
export interface JobOutput {
  readonly answered: ReadonlySet<string>
  readonly named: ReadonlySet<string>
}

/** The job output files the S3 proxy saw read (GETs of `…/output/<job id>/….jsonl.out` it kept), by job id. */
export const jobOutputs = (proxy: Proxy.Proxy): Map<string, JobOutput> => {
  const outputs = new Map<string, JobOutput>()
  for (const kept of proxy.kept()) {
    const path = kept.url.split("?")[0]!
    const jobId = /\/output\/([^/]+)\/[^/]+\.jsonl\.out$/.exec(path)?.[1]
    if (kept.method !== "GET" || jobId === undefined || kept.status !== 200) continue
    const answered = new Set<string>()
    const named = new Set<string>()
    for (const line of kept.responseBody.toString("utf8").split("\n")) {
      const id = recordIdOf(line)
      if (id === undefined) continue
      named.add(id)
      try {
        const parsed = JSON.parse(line) as { modelOutput?: Record<string, unknown>; error?: unknown }
        if (parsed.error === undefined && Object.keys(parsed.modelOutput ?? {}).length > 0) answered.add(id)
      } catch {
        // A malformed line answers nothing.
      }
    }
    outputs.set(jobId, { answered, named })
  }
  return outputs
}

/** The chunk files under `<out>/<collection>` (paths), without reading them. */
export const chunkFiles = (out: string, collection = "default"): Array<string> => {
  const files: Array<string> = []
  let sources: Array<string>
  try {
    sources = readdirSync(join(out, collection))
  } catch {
    return files
  }
  for (const source of sources) {
    const dir = join(out, collection, source)
    if (!statSync(dir).isDirectory()) continue
    for (const file of readdirSync(dir)) files.push(join(dir, file))
  }
  return files
}

const timestampKey = "__aws__versioning__extract_timestamp__"

const withoutTimestamps = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(withoutTimestamps)
  if (typeof value !== "object" || value === null) return value
  return Object.fromEntries(
    Object.entries(value).filter(([key]) => key !== timestampKey).map(([key, v]) => [key, withoutTimestamps(v)])
  )
}

/**
 * Every chunk under `<out>/<collection>`, parsed, without the extraction timestamp; throws
 * on a file that is not a whole JSON document (a torn write) or not named `<id>.json`.
 */
export const readChunks = (out: string, collection = "default"): Map<string, unknown> => {
  const chunks = new Map<string, unknown>()
  for (const file of chunkFiles(out, collection)) {
    if (!file.endsWith(".json")) throw new Error(`unexpected file in the output: ${file}`)
    const parsed = JSON.parse(readFileSync(file, "utf8")) as { id_: string }
    chunks.set(parsed.id_, withoutTimestamps(parsed))
  }
  return chunks
}

/** Every file under a directory, recursively (relative paths). */
export const filesUnder = (dir: string): Array<string> => {
  const files: Array<string> = []
  const walk = (relative: string) => {
    let names: Array<string>
    try {
      names = readdirSync(join(dir, relative))
    } catch {
      return
    }
    for (const name of names) {
      const path = relative === "" ? name : join(relative, name)
      if (statSync(join(dir, path)).isDirectory()) walk(path)
      else files.push(path)
    }
  }
  walk("")
  return files
}
