/**
 * The run state in SQL: runs with their settings and result, a manifest of every document
 * and chunk with its state, jobs, record outcomes, and the entity classifications a run
 * inferred — rows looked up and streamed, never
 * loaded whole. It implements the engine's `RunState` port and what `status`, `resume` and
 * the summary read. One schema for SQLite (the embedded store, `@batch-extract/store`) and
 * PostgreSQL (`@effect/sql-pg`), on `effect/sql`'s `SqlClient`.
 *
 * Details:
 * - Chunk states: `pending` (chunked, not yet in a job), `staged` (in a job's staged input,
 *   the job not yet created), `in_job` (in job X of stage S), `extracted`, `failed` (with the
 *   reason). A record id is its chunk's id.
 * - An answer is kept (in `be_outcomes.output`) until its chunk is written: a crash never costs
 *   an answer already paid for; then only its figures stay.
 * - `be_extracted` holds the chunks fully extracted into an output (by any run): a later run
 *   into the same output skips them.
 * - The tables are ours when `be_meta` says so, with the schema version; a database with other
 *   tables and no `be_meta`, or another version, is refused ({@link ForeignStore}).
 *
 * @since 0.2.0
 */
import { type Array as Arr, Data, Duration, Effect, Layer, Option, Schedule, Schema, Stream } from "effect"
import { SqlClient } from "effect/sql"
import type { JobStatus } from "../engine/BatchInference.ts"
import type * as BatchRecord from "../engine/BatchRecord.ts"
import type * as Pricing from "../engine/Pricing.ts"
import * as RunState from "../engine/RunState.ts"
import type * as RunSummary from "../engine/RunSummary.ts"
import * as ClassificationInference from "../extraction/ClassificationInference.ts"

/** The schema version this code reads and writes. */
export const schemaVersion = 1

/** The value of `be_meta.schema`: the tables are batch-extract's. */
export const schemaName = "batch-extract-run-state"

/** The database holds tables that are not ours, or ours at another schema version. */
export class ForeignStore extends Data.TaggedError("ForeignStore")<{ readonly message: string }> {}

/** No run with this id in the store. */
export class UnknownRun extends Data.TaggedError("UnknownRun")<{ readonly runId: string; readonly message: string }> {}

/** A chunk's state in the manifest. */
export type ChunkState = "pending" | "staged" | "in_job" | "extracted" | "failed"

/** A run's lifecycle state. */
export type RunPhase = "running" | "finished"

/** A run as stored. */
export interface RunRow {
  readonly runId: string
  readonly settings: unknown
  readonly phase: RunPhase
  readonly startedAt: number
  readonly finishedAt: number | undefined
  readonly exitCode: number | undefined
  /** The run's result (its summary) once finished. */
  readonly result: unknown
}

const withSql = <A, E, R>(f: (sql: SqlClient.SqlClient) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(Effect.service(SqlClient.SqlClient), f)

const fail = (message: string) => (cause: unknown) => new RunState.StateError({ message, cause })

const num = (value: unknown): number => (value === null || value === undefined ? 0 : Number(value))

const text = (value: unknown): string | undefined => (value === null || value === undefined ? undefined : String(value))

/** At most this many ids in one `IN (…)` list. */
const idsPerQuery = 500

const slices = <A>(items: ReadonlyArray<A>, size = idsPerQuery): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/**
 * Run a store operation again while it fails (the database restarting, a connection lost):
 * backoff from 200 ms, at most 5 s apart, for up to `within` (default 5 minutes), then fail.
 */
export const retrying = <A, R>(
  effect: Effect.Effect<A, RunState.StateError, R>,
  within: Duration.Input = "5 minutes"
): Effect.Effect<A, RunState.StateError, R> =>
  Effect.retry(effect, {
    schedule: Schedule.exponential("200 millis").pipe(
      Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(5)))),
      Schedule.upTo({ duration: within })
    )
  })

// -----------------------------------------------------------------------------
// Schema
// -----------------------------------------------------------------------------

const tables = [
  `CREATE TABLE IF NOT EXISTS be_runs (
    run_id TEXT PRIMARY KEY,
    settings TEXT NOT NULL,
    phase TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    exit_code INTEGER,
    result TEXT
  )`,
  `CREATE TABLE IF NOT EXISTS be_documents (
    run_id TEXT NOT NULL,
    path TEXT NOT NULL,
    source_id TEXT,
    state TEXT NOT NULL,
    chunks INTEGER NOT NULL DEFAULT 0,
    duplicate_chunks INTEGER NOT NULL DEFAULT 0,
    done_chunks INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    PRIMARY KEY (run_id, path)
  )`,
  // Failed chunks are listed with their document's path, found by source id (`failedChunksByDocument`).
  `CREATE INDEX IF NOT EXISTS be_documents_source ON be_documents (run_id, source_id)`,
  `CREATE TABLE IF NOT EXISTS be_chunks (
    run_id TEXT NOT NULL,
    chunk_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    state TEXT NOT NULL,
    stage TEXT,
    job_name TEXT,
    reason TEXT,
    propositions INTEGER NOT NULL DEFAULT 0,
    topics INTEGER NOT NULL DEFAULT 0,
    entities INTEGER NOT NULL DEFAULT 0,
    statements INTEGER NOT NULL DEFAULT 0,
    facts INTEGER NOT NULL DEFAULT 0,
    diagnostics INTEGER NOT NULL DEFAULT 0,
    part INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, chunk_id)
  )`,
  `CREATE INDEX IF NOT EXISTS be_chunks_job ON be_chunks (run_id, job_name)`,
  `CREATE TABLE IF NOT EXISTS be_jobs (
    run_id TEXT NOT NULL,
    job_name TEXT NOT NULL,
    stage TEXT NOT NULL,
    label TEXT NOT NULL,
    seq INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    token TEXT NOT NULL,
    bucket TEXT NOT NULL,
    input_key TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    records INTEGER NOT NULL,
    part INTEGER NOT NULL DEFAULT 0,
    job_arn TEXT,
    status TEXT,
    finished INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, job_name)
  )`,
  `CREATE TABLE IF NOT EXISTS be_outcomes (
    run_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    record_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    via TEXT,
    attempts INTEGER NOT NULL,
    input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    reason TEXT,
    output TEXT,
    PRIMARY KEY (run_id, stage, record_id)
  )`,
  // Written chunks clear their answers by record id, whatever the stage (`recordWritten`).
  `CREATE INDEX IF NOT EXISTS be_outcomes_record ON be_outcomes (run_id, record_id)`,
  // Failed outcomes, read in pages by the summary (few rows: costs nothing for the others).
  `CREATE INDEX IF NOT EXISTS be_outcomes_failed ON be_outcomes (run_id, stage, record_id) WHERE tag = 'Failed'`,
  // The run's input files, split into parts that workers extract (`ExtractRun`).
  `CREATE TABLE IF NOT EXISTS be_inputs (
    run_id TEXT NOT NULL,
    part INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    location TEXT NOT NULL,
    relative_path TEXT,
    size BIGINT NOT NULL,
    PRIMARY KEY (run_id, part, seq)
  )`,
  // Job slots: a row per live job, counted per model against its quota by every process.
  `CREATE TABLE IF NOT EXISTS be_slots (
    job_name TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    run_id TEXT NOT NULL,
    taken_at BIGINT NOT NULL
  )`,
  `CREATE INDEX IF NOT EXISTS be_slots_model ON be_slots (model)`,
  // The entity classifications a run inferred, once (`ExtractRun`): every part uses them.
  `CREATE TABLE IF NOT EXISTS be_classifications (
    run_id TEXT PRIMARY KEY,
    inference TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS be_extracted (
    out_key TEXT NOT NULL,
    chunk_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    PRIMARY KEY (out_key, chunk_id)
  )`
]

/** The migration's body (see {@link migrate}). */
const migration = Effect.gen(
  function*() {
    const sql = yield* SqlClient.SqlClient
    if (sql.onDialectOrElse({ pg: () => true, orElse: () => false })) {
      yield* sql`SELECT pg_advisory_xact_lock(hashtext(${schemaName}))`.pipe(
        Effect.mapError(fail("could not lock the run state to create its tables"))
      )
    }
    const existing = yield* listTables
    const hasMeta = existing.includes("be_meta")
    const ours = (name: string) => name.startsWith("be_") || name.startsWith("cluster_")
    if (!hasMeta) {
      const foreign = existing.filter((name) => !ours(name))
      if (foreign.length > 0 || existing.length > 0) {
        return yield* new ForeignStore({
          message: `the database is not a batch-extract run state (it has tables ${existing.slice(0, 5).join(", ")}${
            existing.length > 5 ? ", …" : ""
          } and no be_meta)`
        })
      }
      yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS be_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`).pipe(
        Effect.mapError(fail("could not create the run state's tables"))
      )
      yield* sql`INSERT INTO be_meta (key, value) VALUES ('schema', ${schemaName}), ('version', ${
        String(schemaVersion)
      }) ON CONFLICT (key) DO NOTHING`.pipe(Effect.mapError(fail("could not create the run state's tables")))
    }
    const meta = yield* sql<{ key: string; value: string }>`SELECT key, value FROM be_meta`.pipe(
      Effect.mapError(fail("could not read the run state's schema"))
    )
    const schema = meta.find((row) => row.key === "schema")?.value
    const version = meta.find((row) => row.key === "version")?.value
    if (schema !== schemaName) {
      return yield* new ForeignStore({ message: `the database's be_meta names schema "${schema}", not ${schemaName}` })
    }
    if (version !== String(schemaVersion)) {
      return yield* new ForeignStore({
        message: `the run state has schema version ${version}; this batch-extract reads version ${schemaVersion}`
      })
    }
    for (const statement of tables) {
      yield* sql.unsafe(statement).pipe(Effect.mapError(fail("could not create the run state's tables")))
    }
  }
)

/**
 * Check the database is ours (or empty) and create the tables when missing. Safe to run by
 * several processes at once (one transaction; on PostgreSQL under an advisory lock, as
 * concurrent `CREATE TABLE IF NOT EXISTS` of one table fail there).
 */
export const migrate: Effect.Effect<void, ForeignStore | RunState.StateError, SqlClient.SqlClient> = withSql((sql) =>
  sql.withTransaction(migration)
).pipe(
  Effect.catchTag("SqlError", (error) => Effect.fail(fail("could not create the run state's tables")(error)))
)

/** Check, without writing, that the database holds a run state of this schema version. */
export const checkSchema: Effect.Effect<void, ForeignStore | RunState.StateError, SqlClient.SqlClient> = Effect
  .suspend(() => verify(false))

/**
 * Check, without writing, that the database is not someone else's: empty, or a run state of
 * this schema version (before a process opens it for work, so a foreign file is left as it is).
 */
export const checkNotForeign: Effect.Effect<void, ForeignStore | RunState.StateError, SqlClient.SqlClient> = Effect
  .suspend(() => verify(true))

const verify = (allowEmpty: boolean) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const existing = yield* listTables
    if (existing.length === 0 && allowEmpty) return
    if (!existing.includes("be_meta")) {
      return yield* new ForeignStore({
        message: existing.length === 0
          ? "the database holds no run state yet"
          : `the database is not a batch-extract run state (it has tables ${existing.slice(0, 5).join(", ")}${
            existing.length > 5 ? ", …" : ""
          } and no be_meta)`
      })
    }
    const meta = yield* sql<{ key: string; value: string }>`SELECT key, value FROM be_meta`.pipe(
      Effect.mapError(fail("could not read the run state's schema"))
    )
    const schema = meta.find((row) => row.key === "schema")?.value
    const version = meta.find((row) => row.key === "version")?.value
    if (schema !== schemaName || version !== String(schemaVersion)) {
      return yield* new ForeignStore({
        message: `the run state has schema ${schema} version ${version}; this batch-extract reads ${schemaName} ` +
          `version ${schemaVersion}`
      })
    }
  })

/** The tables of the database (SQLite or PostgreSQL). */
const listTables = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql.onDialectOrElse({
    sqlite: () => sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table'`,
    orElse: () =>
      sql<{ name: string }>`SELECT table_name AS name FROM information_schema.tables
        WHERE table_schema = current_schema()`
  }).pipe(Effect.mapError(fail("could not list the database's tables")))
  return rows.map((row) => row.name)
})

// -----------------------------------------------------------------------------
// The engine's port
// -----------------------------------------------------------------------------

interface OutcomeRow {
  readonly record_id: string
  readonly tag: string
  readonly via: string | null
  readonly attempts: number
  readonly reason: string | null
  readonly output: string | null
  readonly stage: string
}

const storedOf = (row: OutcomeRow): RunState.StoredOutcome | undefined => {
  if (row.tag === "Failed") {
    return {
      _tag: "Failed",
      recordId: row.record_id,
      stage: row.stage,
      reason: row.reason ?? "",
      attempts: num(row.attempts)
    }
  }
  // An answer already written out (its chunk is done) is no longer kept.
  if (row.output === null) return undefined
  const kept = JSON.parse(row.output) as { output: BatchRecord.Succeeded["output"]; partialReason?: string }
  return {
    _tag: "Succeeded",
    recordId: row.record_id,
    stage: row.stage,
    output: kept.output,
    via: row.via === "onDemand" ? "onDemand" : "batch",
    attempts: num(row.attempts),
    ...(kept.partialReason === undefined ? {} : { partialReason: kept.partialReason })
  }
}

/**
 * The engine's `RunState` over SQL. Steps simply run: a durable run (`ExtractRun`) makes them
 * activities of its workflow.
 */
export const makeState: Effect.Effect<RunState.Store, never, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const store: RunState.Store = {
    jobIntent: (runId, intent) =>
      sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO be_jobs (run_id, job_name, stage, label, seq, attempt, token, bucket, input_key,
            content_hash, records, part, finished)
          VALUES (${runId}, ${intent.jobName}, ${intent.stage}, ${intent.label}, ${
          RunState.jobNumberOf(intent.label)
        }, ${intent.attempt}, ${intent.clientRequestToken}, ${intent.bucket}, ${intent.inputKey},
            ${intent.contentHash}, ${intent.recordIds.length}, ${RunState.partOfLabel(intent.label)}, 0)
          ON CONFLICT (run_id, job_name) DO NOTHING`
        for (const ids of slices(intent.recordIds)) {
          yield* sql`UPDATE be_chunks SET state = 'staged', stage = ${intent.stage}, job_name = ${intent.jobName}
            WHERE run_id = ${runId} AND chunk_id IN ${sql.in(ids)}`
        }
      })).pipe(Effect.mapError(fail(`could not record the intent to create ${intent.jobName}`))),
    jobCreated: (runId, jobName, jobArn) =>
      sql.withTransaction(Effect.andThen(
        sql`UPDATE be_jobs SET job_arn = ${jobArn} WHERE run_id = ${runId} AND job_name = ${jobName}`,
        sql`UPDATE be_chunks SET state = 'in_job' WHERE run_id = ${runId} AND job_name = ${jobName}
          AND state = 'staged'`
      )).pipe(Effect.asVoid, Effect.mapError(fail(`could not record the ARN of ${jobName}`))),
    jobStatus: (runId, jobName, status) =>
      sql`UPDATE be_jobs SET status = ${status} WHERE run_id = ${runId} AND job_name = ${jobName}
        AND finished = 0`.pipe(Effect.asVoid, Effect.mapError(fail(`could not record the status of ${jobName}`))),
    recordOutcomes: (runId, stage, outcomes, finished) =>
      sql.withTransaction(Effect.gen(function*() {
        for (const part of slices(outcomes, 200)) {
          const rows = part.map((o) => ({
            run_id: runId,
            stage,
            record_id: o.recordId,
            tag: o._tag,
            via: o._tag === "Succeeded" ? o.via : null,
            attempts: o.attempts,
            input_tokens: o._tag === "Succeeded" ? o.output.usage.inputTokens : 0,
            output_tokens: o._tag === "Succeeded" ? o.output.usage.outputTokens : 0,
            reason: o._tag === "Failed" ? o.reason : null,
            output: o._tag === "Succeeded"
              ? JSON.stringify({
                output: o.output,
                ...(o.partialReason === undefined ? {} : { partialReason: o.partialReason })
              })
              : null
          }))
          yield* sql`INSERT INTO be_outcomes ${
            sql.insert(rows as unknown as Arr.NonEmptyReadonlyArray<Record<string, unknown>>)
          }
            ON CONFLICT (run_id, stage, record_id) DO UPDATE SET tag = excluded.tag, via = excluded.via,
              attempts = excluded.attempts, input_tokens = excluded.input_tokens,
              output_tokens = excluded.output_tokens, reason = excluded.reason, output = excluded.output`
        }
        if (finished !== undefined) {
          yield* sql`UPDATE be_jobs SET status = ${finished.status}, finished = 1
            WHERE run_id = ${runId} AND job_name = ${finished.jobName}`
        }
      })).pipe(Effect.mapError(fail(`could not record the outcomes of ${stage} records`))),
    outcomes: (runId, stage, recordIds) =>
      Effect.gen(function*() {
        const found = new Map<string, RunState.StoredOutcome>()
        for (const ids of slices(recordIds)) {
          const rows = yield* sql<OutcomeRow>`SELECT record_id, stage, tag, via, attempts, reason, output
            FROM be_outcomes WHERE run_id = ${runId} AND stage = ${stage} AND record_id IN ${sql.in(ids)}`
          for (const row of rows) {
            const stored = storedOf(row)
            if (stored !== undefined) found.set(row.record_id, stored)
          }
        }
        return found as ReadonlyMap<string, RunState.StoredOutcome>
      }).pipe(Effect.mapError(fail(`could not read the outcomes of ${stage} records`))),
    openJobs: (runId, stage, part = 0) =>
      sql<JobRow>`SELECT * FROM be_jobs WHERE run_id = ${runId} AND stage = ${stage} AND part = ${part}
        AND finished = 0 ORDER BY seq, label`.pipe(
        Effect.map((rows) => rows.map(jobOf)),
        Effect.mapError(fail(`could not read the open jobs of ${stage}`))
      ),
    lastJobNumber: (runId, stage, part = 0) =>
      sql<{ n: number | null }>`SELECT max(seq) AS n FROM be_jobs
        WHERE run_id = ${runId} AND stage = ${stage} AND part = ${part}`
        .pipe(
          Effect.map((rows) => num(rows[0]?.n)),
          Effect.mapError(fail(`could not read the jobs of ${stage}`))
        ),
    forgetStage: (runId, stage) => Effect.provideService(forgetStage(runId, stage), SqlClient.SqlClient, sql),
    step: RunState.runStep
  }
  // A database that restarts or drops a connection is waited for, not a failed run.
  return {
    jobIntent: (runId, intent) => retrying(store.jobIntent(runId, intent)),
    jobCreated: (runId, jobName, jobArn) => retrying(store.jobCreated(runId, jobName, jobArn)),
    jobStatus: (runId, jobName, status) => retrying(store.jobStatus(runId, jobName, status)),
    recordOutcomes: (runId, stage, outcomes, finished) =>
      retrying(store.recordOutcomes(runId, stage, outcomes, finished)),
    outcomes: (runId, stage, recordIds) => retrying(store.outcomes(runId, stage, recordIds)),
    openJobs: (runId, stage, part) => retrying(store.openJobs(runId, stage, part)),
    lastJobNumber: (runId, stage, part) => retrying(store.lastJobNumber(runId, stage, part)),
    forgetStage: (runId, stage) => retrying(store.forgetStage(runId, stage)),
    step: store.step
  } satisfies RunState.Store
})

interface JobRow {
  readonly job_name: string
  readonly stage: string
  readonly label: string
  readonly attempt: number
  readonly token: string
  readonly bucket: string
  readonly input_key: string
  readonly content_hash: string
  readonly records: number
  readonly job_arn: string | null
  readonly status: string | null
  readonly finished: number
}

const jobOf = (row: JobRow): RunState.JobState => ({
  stage: row.stage,
  label: row.label,
  attempt: num(row.attempt),
  jobName: row.job_name,
  clientRequestToken: row.token,
  bucket: row.bucket,
  inputKey: row.input_key,
  contentHash: row.content_hash,
  records: num(row.records),
  jobArn: text(row.job_arn),
  status: text(row.status) as JobStatus | "NotCreated" | undefined,
  finished: num(row.finished) === 1
})

/** A Layer providing the engine's `RunState` over the `SqlClient` in the environment. */
export const layerState: Layer.Layer<never, never, SqlClient.SqlClient> = Layer.effect(RunState.RunState, makeState)

// -----------------------------------------------------------------------------
// Runs
// -----------------------------------------------------------------------------

interface RunDbRow {
  readonly run_id: string
  readonly settings: string
  readonly phase: string
  readonly started_at: number
  readonly finished_at: number | null
  readonly exit_code: number | null
  readonly result: string | null
}

const runOf = (row: RunDbRow): RunRow => ({
  runId: row.run_id,
  settings: JSON.parse(row.settings),
  phase: row.phase === "finished" ? "finished" : "running",
  startedAt: num(row.started_at),
  finishedAt: row.finished_at === null ? undefined : num(row.finished_at),
  exitCode: row.exit_code === null ? undefined : num(row.exit_code),
  result: row.result === null ? undefined : JSON.parse(row.result)
})

/** Record a new run with its settings (a run id already there keeps its settings). */
export const createRun = (runId: string, settings: unknown, at: number) =>
  withSql((sql) =>
    sql`INSERT INTO be_runs (run_id, settings, phase, started_at)
      VALUES (${runId}, ${JSON.stringify(settings)}, 'running', ${at})
      ON CONFLICT (run_id) DO NOTHING`
  ).pipe(
    Effect.asVoid,
    Effect.mapError(fail(`could not record run ${runId}`))
  )

/** A run, or `undefined`. */
export const findRun = (runId: string) =>
  withSql((sql) => sql<RunDbRow>`SELECT * FROM be_runs WHERE run_id = ${runId}`)
    .pipe(
      Effect.map((rows) => (rows[0] === undefined ? undefined : runOf(rows[0]))),
      Effect.mapError(fail(`could not read run ${runId}`))
    )

/** A run, or {@link UnknownRun}. */
export const getRun = (runId: string, where: string) =>
  Effect.flatMap(findRun(runId), (run) =>
    run === undefined
      ? Effect.fail(new UnknownRun({ runId, message: `no run ${runId} in ${where}` }))
      : Effect.succeed(run))

/** Every run, oldest first (without settings and result). */
export const listRuns = withSql((sql) =>
  sql<
    Pick<RunDbRow, "run_id" | "phase" | "started_at" | "finished_at" | "exit_code">
  >`SELECT run_id, phase, started_at, finished_at, exit_code FROM be_runs ORDER BY started_at, run_id`
).pipe(
  Effect.map((rows) =>
    rows.map((row) => ({
      runId: row.run_id,
      phase: row.phase as RunPhase,
      startedAt: num(row.started_at),
      finishedAt: row.finished_at === null ? undefined : num(row.finished_at),
      exitCode: row.exit_code === null ? undefined : num(row.exit_code)
    }))
  ),
  Effect.mapError(fail("could not list the runs"))
)

/** Record that a run ended, with its exit code and result. */
export const finishRun = (runId: string, exitCode: number, result: unknown, at: number) =>
  withSql((sql) =>
    sql`UPDATE be_runs SET phase = 'finished', finished_at = ${at}, exit_code = ${exitCode},
      result = ${JSON.stringify(result)} WHERE run_id = ${runId}`
  ).pipe(
    Effect.asVoid,
    Effect.mapError(fail(`could not record the end of run ${runId}`))
  )

/**
 * Remove finished runs that ended before `before` (epoch ms), with their manifest, jobs,
 * outcomes and inputs (the chunks they extracted stay marked extracted in their output).
 * Returns their ids and how many parts each had.
 */
export const removeFinishedBefore = (before: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ run_id: string; parts: unknown }>`SELECT run_id,
        (SELECT max(part) + 1 FROM be_inputs WHERE be_inputs.run_id = be_runs.run_id) AS parts
      FROM be_runs WHERE phase = 'finished' AND finished_at < ${before}`
    const ids = rows.map((row) => row.run_id)
    for (const part of slices(ids)) {
      yield* sql.withTransaction(Effect.gen(function*() {
        for (
          const table of [
            "be_outcomes",
            "be_jobs",
            "be_chunks",
            "be_documents",
            "be_inputs",
            "be_slots",
            "be_classifications",
            "be_runs"
          ]
        ) {
          yield* sql`DELETE FROM ${sql(table)} WHERE run_id IN ${sql.in(part)}`
        }
      }))
    }
    return rows.map((row) => ({ runId: row.run_id, parts: num(row.parts) }))
  }).pipe(Effect.mapError(fail("could not remove finished runs")))

/** The SQL store's `RunState.Store.forgetStage`. */
export const forgetStage = (runId: string, stage: string) =>
  withSql((sql) =>
    sql.withTransaction(Effect.gen(function*() {
      yield* sql`DELETE FROM be_outcomes WHERE run_id = ${runId} AND stage = ${stage}`
      yield* sql`DELETE FROM be_jobs WHERE run_id = ${runId} AND stage = ${stage} AND finished = 1`
    }))
  ).pipe(Effect.mapError(fail(`could not forget stage ${stage} of run ${runId}`)))

// -----------------------------------------------------------------------------
// Inferred entity classifications
// -----------------------------------------------------------------------------

/**
 * Record the entity classifications a run inferred. Once per run: a second record (a
 * coordinator that inferred again after a crash before its first record was journaled) is
 * ignored, and {@link classificationsOf} gives the first to everyone.
 */
export const recordClassifications = (runId: string, inference: ClassificationInference.Inference, at: number) =>
  withSql((sql) =>
    sql`INSERT INTO be_classifications (run_id, inference, recorded_at)
      VALUES (${runId}, ${JSON.stringify(inference)}, ${at})
      ON CONFLICT (run_id) DO NOTHING`
  ).pipe(
    Effect.asVoid,
    Effect.mapError(fail(`could not record the entity classifications of run ${runId}`))
  )

const decodeInference = Schema.decodeUnknownEffect(Schema.fromJsonString(ClassificationInference.Inference))

/**
 * The entity classifications a run inferred, or `undefined` (not inferred yet, or the run does
 * not infer them; also in a store last opened for work by a version without the table).
 */
export const classificationsOf = (runId: string) =>
  Effect.gen(function*() {
    if (!(yield* listTables).includes("be_classifications")) return undefined
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ inference: string }>`SELECT inference FROM be_classifications WHERE run_id = ${runId}`
      .pipe(Effect.mapError(fail(`could not read the entity classifications of run ${runId}`)))
    if (rows[0] === undefined) return undefined
    return yield* decodeInference(rows[0].inference).pipe(
      Effect.mapError(fail(`the entity classifications recorded for run ${runId} are not readable`))
    )
  })

// -----------------------------------------------------------------------------
// The manifest
// -----------------------------------------------------------------------------

/** Record a document read (with its chunk counts) or skipped (with the reason). */
export const recordDocument = (runId: string, document: {
  readonly path: string
  readonly sourceId?: string | undefined
  readonly state: "read" | "skipped"
  readonly chunks?: number | undefined
  readonly duplicateChunks?: number | undefined
  readonly doneChunks?: number | undefined
  readonly reason?: string | undefined
}) =>
  withSql((sql) =>
    sql`INSERT INTO be_documents (run_id, path, source_id, state, chunks, duplicate_chunks, done_chunks, reason)
      VALUES (${runId}, ${document.path}, ${document.sourceId ?? null}, ${document.state}, ${document.chunks ?? 0},
        ${document.duplicateChunks ?? 0}, ${document.doneChunks ?? 0}, ${document.reason ?? null})
      ON CONFLICT (run_id, path) DO UPDATE SET source_id = excluded.source_id, state = excluded.state,
        chunks = excluded.chunks, duplicate_chunks = excluded.duplicate_chunks, done_chunks = excluded.done_chunks,
        reason = excluded.reason`
  ).pipe(
    Effect.asVoid,
    Effect.mapError(fail(`could not record document ${document.path}`))
  )

/**
 * Admit a part's chunks to the manifest: new ones are recorded as pending and the part's;
 * those another part of the run recorded first (the same chunk in two documents) are left to
 * it. Returns the ids this part extracts: its own, new or recorded by it before (a part that
 * starts again after a crash gets its chunks back).
 */
export const admitChunks = (
  runId: string,
  part: number,
  chunks: ReadonlyArray<{ readonly chunkId: string; readonly sourceId: string }>
) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const mine = new Set<string>()
    for (const slice of slices(chunks, 200)) {
      const rows = slice.map((chunk) => ({
        run_id: runId,
        chunk_id: chunk.chunkId,
        source_id: chunk.sourceId,
        state: "pending",
        part
      }))
      yield* sql`INSERT INTO be_chunks ${
        sql.insert(rows as unknown as Arr.NonEmptyReadonlyArray<Record<string, unknown>>)
      } ON CONFLICT (run_id, chunk_id) DO NOTHING`
      const owned = yield* sql<{ chunk_id: string }>`SELECT chunk_id FROM be_chunks
        WHERE run_id = ${runId} AND part = ${part} AND chunk_id IN ${sql.in(slice.map((chunk) => chunk.chunkId))}`
      for (const row of owned) mine.add(row.chunk_id)
    }
    return mine as ReadonlySet<string>
  }).pipe(Effect.mapError(fail("could not record chunks")))

/** Record chunks as pending (chunks already in the manifest keep their state). */
export const recordChunks = (
  runId: string,
  chunks: ReadonlyArray<{ readonly chunkId: string; readonly sourceId: string }>
) => Effect.asVoid(admitChunks(runId, 0, chunks))

// -----------------------------------------------------------------------------
// Inputs and parts
// -----------------------------------------------------------------------------

/** An input file of a run: a local path or an object URI, with its size in bytes. */
export interface Input {
  readonly location: string
  readonly size: number
  /** Its path under the directory it was found in (the documents' path metadata). */
  readonly relativePath?: string | undefined
}

/**
 * Split a run's inputs, in their order, into parts of about `partBytes` each (a file is never
 * split; a part holds at least one file) and record them. Recording again replaces what an
 * interrupted attempt recorded. Returns the number of parts and the files and bytes in all.
 */
export const recordParts = <E, R>(runId: string, inputs: Stream.Stream<Input, E, R>, partBytes: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`DELETE FROM be_inputs WHERE run_id = ${runId}`.pipe(Effect.mapError(fail("could not record the inputs")))
    const partOf = partitioner(partBytes)
    let part = 0
    let seq = 0
    let files = 0
    let bytes = 0
    yield* inputs.pipe(
      Stream.map((input) => {
        const next = partOf(input.size)
        if (next !== part) {
          part = next
          seq = 0
        }
        files += 1
        bytes += input.size
        return {
          run_id: runId,
          part,
          seq: seq++,
          location: input.location,
          relative_path: input.relativePath ?? null,
          size: input.size
        }
      }),
      Stream.grouped(200),
      Stream.runForEach((rows) =>
        sql`INSERT INTO be_inputs ${sql.insert(rows as unknown as Arr.NonEmptyReadonlyArray<Record<string, unknown>>)}`
          .pipe(Effect.mapError(fail("could not record the inputs")))
      )
    )
    return { parts: files === 0 ? 0 : part + 1, files, bytes }
  })

/**
 * How a run's inputs are split into parts: a function to call with each input's size, in
 * order, that returns its part (0, 1, …). A part takes inputs while they fit in `partBytes`;
 * an input is never split, and a part holds at least one. {@link recordParts} splits a run with
 * it; a plan of a run (`Plan`) splits its inputs the same way.
 */
export const partitioner = (partBytes: number): (size: number) => number => {
  let part = 0
  let inPart = 0
  return (size) => {
    if (inPart > 0 && inPart + size > partBytes) {
      part += 1
      inPart = 0
    }
    inPart += size
    return part
  }
}

/** How many parts a run's inputs were split into (0 before they were). */
export const partCount = (runId: string) =>
  withSql((sql) => sql<{ n: unknown }>`SELECT max(part) AS n FROM be_inputs WHERE run_id = ${runId}`).pipe(
    Effect.map((rows) => (rows[0]?.n === null || rows[0]?.n === undefined ? 0 : num(rows[0].n) + 1)),
    Effect.mapError(fail(`could not read the parts of run ${runId}`))
  )

/** The input files of one part of a run, in order. */
export const inputsOf = (runId: string, part: number) =>
  withSql((sql) =>
    sql<{ location: string; relative_path: string | null; size: unknown }>`SELECT location, relative_path, size
      FROM be_inputs WHERE run_id = ${runId} AND part = ${part} ORDER BY seq`
  ).pipe(
    Effect.map((rows) =>
      rows.map((row): Input => ({
        location: row.location,
        size: num(row.size),
        ...(row.relative_path === null ? {} : { relativePath: row.relative_path })
      }))
    ),
    Effect.mapError(fail(`could not read the inputs of run ${runId}`))
  )

// -----------------------------------------------------------------------------
// Job slots shared by every process on the store
// -----------------------------------------------------------------------------

/**
 * Take the slot of a job, if its model has fewer live jobs than `limit` (counted over every
 * process on the store), or if the job holds it already. One transaction; on PostgreSQL the
 * model's count is serialised by an advisory lock, so two processes never both take the last
 * slot. Returns whether the job holds its slot.
 */
export const takeSlot = (claim: {
  readonly runId: string
  readonly jobName: string
  readonly model: string
  readonly limit: number
}, at: number) =>
  withSql((sql) =>
    sql.withTransaction(Effect.gen(function*() {
      yield* sql.onDialectOrElse({
        pg: () => sql`SELECT pg_advisory_xact_lock(hashtext(${`be_slots:${claim.model}`}))`,
        orElse: () => Effect.succeed([])
      })
      const held = yield* sql`SELECT 1 AS held FROM be_slots WHERE job_name = ${claim.jobName}`
      if (held.length > 0) return true
      const [row] = yield* sql<{ n: unknown }>`SELECT count(*) AS n FROM be_slots WHERE model = ${claim.model}`
      if (num(row?.n) >= claim.limit) return false
      yield* sql`INSERT INTO be_slots (job_name, model, run_id, taken_at)
        VALUES (${claim.jobName}, ${claim.model}, ${claim.runId}, ${at})`
      return true
    }))
  ).pipe(Effect.mapError(fail(`could not take a job slot for ${claim.jobName}`)))

/** Give a job's slot back. */
export const releaseSlot = (jobName: string) =>
  withSql((sql) => sql`DELETE FROM be_slots WHERE job_name = ${jobName}`).pipe(
    Effect.asVoid,
    Effect.mapError(fail(`could not give back the job slot of ${jobName}`))
  )

/** Give back every slot a run holds (it finished, or its jobs were stopped). */
export const releaseSlotsOf = (runId: string) =>
  withSql((sql) => sql`DELETE FROM be_slots WHERE run_id = ${runId}`).pipe(
    Effect.asVoid,
    Effect.mapError(fail(`could not give back the job slots of run ${runId}`))
  )

/** Slots held now, per model. */
export const slotsInUse = withSql((sql) =>
  sql<{ model: string; n: unknown }>`SELECT model, count(*) AS n FROM be_slots GROUP BY model`
).pipe(
  Effect.map((rows) => new Map(rows.map((row) => [row.model, num(row.n)])) as ReadonlyMap<string, number>),
  Effect.mapError(fail("could not read the job slots"))
)

/** What one written chunk contributed. */
export interface WrittenChunk {
  readonly chunkId: string
  readonly sourceId: string
  readonly failures: ReadonlyArray<{ readonly stage: string; readonly reason: string }>
  readonly counts: {
    readonly propositions: number
    readonly topics: number
    readonly entities: number
    readonly statements: number
    readonly facts: number
    readonly diagnostics: number
  }
}

/**
 * Record chunks written to an output: `extracted` (and done for `outKey`) or `failed` with
 * the reasons; their answers are no longer kept.
 */
export const recordWritten = (runId: string, outKey: string, written: ReadonlyArray<WrittenChunk>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    for (const part of slices(written, 200)) {
      yield* sql.withTransaction(Effect.gen(function*() {
        const rows = part.map((chunk) => ({
          run_id: runId,
          chunk_id: chunk.chunkId,
          source_id: chunk.sourceId,
          state: chunk.failures.length === 0 ? "extracted" : "failed",
          reason: chunk.failures.length === 0
            ? null
            : chunk.failures.map((f) => `${f.stage}: ${f.reason}`).join("; "),
          ...chunk.counts
        }))
        yield* sql`INSERT INTO be_chunks ${
          sql.insert(rows as unknown as Arr.NonEmptyReadonlyArray<Record<string, unknown>>)
        }
          ON CONFLICT (run_id, chunk_id) DO UPDATE SET state = excluded.state, reason = excluded.reason,
            propositions = excluded.propositions, topics = excluded.topics, entities = excluded.entities,
            statements = excluded.statements, facts = excluded.facts, diagnostics = excluded.diagnostics`
        const done = part.filter((chunk) => chunk.failures.length === 0)
        if (done.length > 0) {
          yield* sql`INSERT INTO be_extracted ${
            sql.insert(
              done.map((chunk) => ({
                out_key: outKey,
                chunk_id: chunk.chunkId,
                run_id: runId
              })) as unknown as Arr.NonEmptyReadonlyArray<
                Record<string, unknown>
              >
            )
          } ON CONFLICT (out_key, chunk_id) DO UPDATE SET run_id = excluded.run_id`
        }
        yield* sql`UPDATE be_outcomes SET output = NULL
          WHERE run_id = ${runId} AND record_id IN ${sql.in(part.map((chunk) => chunk.chunkId))}`
      }))
    }
  }).pipe(Effect.mapError(fail("could not record written chunks")))

/** Of some chunk ids, those already fully extracted into the output `outKey` (by any run). */
export const extractedAmong = (outKey: string, chunkIds: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const found = new Set<string>()
    for (const ids of slices(chunkIds)) {
      const rows = yield* sql<{ chunk_id: string }>`SELECT chunk_id FROM be_extracted
        WHERE out_key = ${outKey} AND chunk_id IN ${sql.in(ids)}`
      for (const row of rows) found.add(row.chunk_id)
    }
    return found as ReadonlySet<string>
  }).pipe(Effect.mapError(fail("could not read the extracted chunks")))

/** Forget what was extracted into an output (`--force`). */
export const forgetExtracted = (outKey: string) =>
  withSql((sql) => sql`DELETE FROM be_extracted WHERE out_key = ${outKey}`)
    .pipe(Effect.asVoid, Effect.mapError(fail("could not reset the extracted chunks")))

// -----------------------------------------------------------------------------
// Views: totals, status
// -----------------------------------------------------------------------------

/** Per stage: records by outcome, jobs by final status, tokens (a run's totals without its failures). */
export type StageTotals = Omit<RunSummary.RunTotals, "failures">

/** A run's totals, from its rows (aggregated in the database). */
export const stageTotals = (runId: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const stages = new Map<string, {
      records: { succeeded: number; failed: number; batch: number; onDemand: number }
      jobs: { total: number; byStatus: Record<string, number> }
      tokens: { input: number; output: number }
    }>()
    const of = (stage: string) => {
      let entry = stages.get(stage)
      if (entry === undefined) {
        entry = {
          records: { succeeded: 0, failed: 0, batch: 0, onDemand: 0 },
          jobs: { total: 0, byStatus: {} },
          tokens: { input: 0, output: 0 }
        }
        stages.set(stage, entry)
      }
      return entry
    }
    const outcomes = yield* sql<
      { stage: string; tag: string; via: string | null; n: number; i: number | null; o: number | null }
    >`SELECT stage, tag, via, count(*) AS n, sum(input_tokens) AS i, sum(output_tokens) AS o
      FROM be_outcomes WHERE run_id = ${runId} GROUP BY stage, tag, via`
    for (const row of outcomes) {
      const entry = of(row.stage)
      const n = num(row.n)
      if (row.tag === "Failed") {
        entry.records.failed += n
        continue
      }
      entry.records.succeeded += n
      if (row.via === "onDemand") entry.records.onDemand += n
      else entry.records.batch += n
      entry.tokens.input += num(row.i)
      entry.tokens.output += num(row.o)
    }
    const jobs = yield* sql<{ stage: string; status: string | null; n: number }>`SELECT stage, status, count(*) AS n
      FROM be_jobs WHERE run_id = ${runId} AND finished = 1 GROUP BY stage, status`
    for (const row of jobs) {
      const entry = of(row.stage)
      const n = num(row.n)
      entry.jobs.total += n
      const status = row.status ?? "NotCreated"
      entry.jobs.byStatus[status] = (entry.jobs.byStatus[status] ?? 0) + n
    }
    return stages as ReadonlyMap<string, StageTotals>
  }).pipe(Effect.mapError(fail(`could not total run ${runId}`)))

/**
 * A run's tokens per stage by how they were billed: of records answered by batch jobs and of
 * records answered on demand (aggregated in the database). What the summary's cost is from.
 */
export const tokensByVia = (runId: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<
      { stage: string; via: string | null; i: number | null; o: number | null }
    >`SELECT stage, via,
      sum(input_tokens) AS i, sum(output_tokens) AS o
      FROM be_outcomes WHERE run_id = ${runId} AND tag <> 'Failed' GROUP BY stage, via`
    const stages = new Map<string, { batch: Pricing.Tokens; onDemand: Pricing.Tokens }>()
    for (const row of rows) {
      const entry = stages.get(row.stage) ?? { batch: { input: 0, output: 0 }, onDemand: { input: 0, output: 0 } }
      const via = row.via === "onDemand" ? "onDemand" : "batch"
      entry[via] = { input: entry[via].input + num(row.i), output: entry[via].output + num(row.o) }
      stages.set(row.stage, entry)
    }
    return stages as ReadonlyMap<string, Pricing.TokensByVia>
  }).pipe(Effect.mapError(fail(`could not total the tokens of run ${runId}`)))

/** Sum stage totals into a run's. */
export const sumStages = (stages: ReadonlyMap<string, StageTotals>): StageTotals => {
  const total = {
    records: { succeeded: 0, failed: 0, batch: 0, onDemand: 0 },
    jobs: { total: 0, byStatus: {} as Record<string, number> },
    tokens: { input: 0, output: 0 }
  }
  for (const stage of stages.values()) {
    total.records.succeeded += stage.records.succeeded
    total.records.failed += stage.records.failed
    total.records.batch += stage.records.batch
    total.records.onDemand += stage.records.onDemand
    total.jobs.total += stage.jobs.total
    for (const [status, n] of Object.entries(stage.jobs.byStatus)) {
      total.jobs.byStatus[status] = (total.jobs.byStatus[status] ?? 0) + n
    }
    total.tokens.input += stage.tokens.input
    total.tokens.output += stage.tokens.output
  }
  return total
}

/** A failed record. */
export interface FailedRecord {
  readonly recordId: string
  readonly stage: string
  readonly reason: string
}

/** A run's failed records, streamed in pages. */
export const failures = (
  runId: string,
  pageSize = 1000
): Stream.Stream<FailedRecord, RunState.StateError, SqlClient.SqlClient> =>
  Stream.paginate(
    ["", ""] as readonly [string, string],
    ([afterStage, afterRecord]) =>
      withSql((sql) =>
        // Pages by (stage, record id), on the partial index of failed outcomes.
        sql<{ stage: string; record_id: string; reason: string | null }>`SELECT stage, record_id, reason
          FROM be_outcomes
          WHERE run_id = ${runId} AND tag = 'Failed'
            AND (stage > ${afterStage} OR (stage = ${afterStage} AND record_id > ${afterRecord}))
          ORDER BY stage, record_id LIMIT ${pageSize}`
      ).pipe(
        Effect.map((rows) => {
          const last = rows[rows.length - 1]
          return [
            rows.map((row): FailedRecord => ({ recordId: row.record_id, stage: row.stage, reason: row.reason ?? "" })),
            rows.length < pageSize || last === undefined
              ? Option.none()
              : Option.some([last.stage, last.record_id] as const)
          ] as const
        }),
        Effect.mapError(fail(`could not read the failures of run ${runId}`))
      )
  )

/** Chunk counts by state, and what the written chunks hold. */
export interface ManifestCounts {
  readonly documents: { readonly read: number; readonly skipped: number }
  readonly chunks: Readonly<Record<ChunkState, number>> & { readonly total: number }
  readonly duplicateChunks: number
  readonly doneBefore: number
  readonly written: {
    readonly propositions: number
    readonly topics: number
    readonly entities: number
    readonly statements: number
    readonly facts: number
    readonly diagnostics: number
  }
}

/** The manifest's counts (aggregated in the database). */
export const manifestCounts = (runId: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const docs = yield* sql<{ state: string; n: number; d: number | null; c: number | null }>`SELECT state,
      count(*) AS n, sum(duplicate_chunks) AS d, sum(done_chunks) AS c
      FROM be_documents WHERE run_id = ${runId} GROUP BY state`
    const chunkRows = yield* sql<{
      state: string
      n: number
      p: number | null
      t: number | null
      e: number | null
      s: number | null
      f: number | null
      g: number | null
    }>`SELECT state, count(*) AS n, sum(propositions) AS p, sum(topics) AS t, sum(entities) AS e,
      sum(statements) AS s, sum(facts) AS f, sum(diagnostics) AS g
      FROM be_chunks WHERE run_id = ${runId} GROUP BY state`
    const chunks: Record<ChunkState, number> = { pending: 0, staged: 0, in_job: 0, extracted: 0, failed: 0 }
    const written = { propositions: 0, topics: 0, entities: 0, statements: 0, facts: 0, diagnostics: 0 }
    let total = 0
    for (const row of chunkRows) {
      const n = num(row.n)
      chunks[row.state as ChunkState] = n
      total += n
      written.propositions += num(row.p)
      written.topics += num(row.t)
      written.entities += num(row.e)
      written.statements += num(row.s)
      written.facts += num(row.f)
      written.diagnostics += num(row.g)
    }
    const read = docs.find((row) => row.state === "read")
    const skipped = docs.find((row) => row.state === "skipped")
    const counts: ManifestCounts = {
      documents: { read: num(read?.n), skipped: num(skipped?.n) },
      chunks: { ...chunks, total },
      duplicateChunks: docs.reduce((n, row) => n + num(row.d), 0),
      doneBefore: docs.reduce((n, row) => n + num(row.c), 0),
      written
    }
    return counts
  }).pipe(Effect.mapError(fail(`could not count the manifest of run ${runId}`)))

/** Documents skipped, with the reason. */
export const skippedDocuments = (runId: string) =>
  withSql((sql) =>
    sql<{ path: string; reason: string | null }>`SELECT path, reason FROM be_documents
      WHERE run_id = ${runId} AND state = 'skipped' ORDER BY path`
  ).pipe(
    Effect.map((rows) => rows.map((row) => ({ path: row.path, reason: row.reason ?? "" }))),
    Effect.mapError(fail(`could not read the skipped documents of run ${runId}`))
  )

/** Failed chunks grouped by document: the document's source id, path and each chunk's reason. */
export const failedChunksByDocument = (runId: string, limit = 1000) =>
  withSql((sql) =>
    sql<{ source_id: string; path: string | null; chunk_id: string; reason: string | null }>`SELECT c.source_id,
      d.path, c.chunk_id, c.reason FROM be_chunks c
      LEFT JOIN be_documents d ON d.run_id = c.run_id AND d.source_id = c.source_id
      WHERE c.run_id = ${runId} AND c.state = 'failed' ORDER BY c.source_id, c.chunk_id LIMIT ${limit}`
  ).pipe(
    Effect.map((rows) => {
      const byDocument = new Map<
        string,
        { sourceId: string; path: string | undefined; chunks: Array<{ chunkId: string; reason: string }> }
      >()
      for (const row of rows) {
        let entry = byDocument.get(row.source_id)
        if (entry === undefined) {
          byDocument.set(row.source_id, entry = { sourceId: row.source_id, path: text(row.path), chunks: [] })
        }
        entry.chunks.push({ chunkId: row.chunk_id, reason: row.reason ?? "" })
      }
      return [...byDocument.values()]
    }),
    Effect.mapError(fail(`could not read the failed chunks of run ${runId}`))
  )

/** The jobs of a run (for `status` and `stop`). */
export const jobsOf = (runId: string) =>
  withSql((sql) => sql<JobRow>`SELECT * FROM be_jobs WHERE run_id = ${runId} ORDER BY stage, seq, label`).pipe(
    Effect.map((rows) => rows.map(jobOf)),
    Effect.mapError(fail(`could not read the jobs of run ${runId}`))
  )
