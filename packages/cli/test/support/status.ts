/**
 * What `batch-extract status` prints, checked: one JSON object per run whose counts add up.
 */
import { assert } from "@effect/vitest"
import * as Cli from "./cli.ts"

/** What `status <run-id> --json` prints (the fields these tests read). */
export interface Status {
  readonly runId: string
  readonly phase: "running" | "finished"
  readonly exitCode: number | null
  readonly documents: { readonly read: number; readonly skipped: number }
  readonly chunks: Readonly<Record<"pending" | "staged" | "in_job" | "extracted" | "failed" | "total", number>>
  readonly records: {
    readonly succeeded: number
    readonly failed: number
    readonly batch: number
    readonly onDemand: number
  }
  readonly tokens: { readonly input: number; readonly output: number }
  readonly stages: Readonly<Record<string, { readonly records: { readonly succeeded: number } }>>
  readonly jobs: {
    readonly total: number
    readonly open: number
    readonly byStatus: Readonly<Record<string, number>>
    readonly live: ReadonlyArray<
      { readonly jobName: string; readonly jobArn: string | null; readonly status: string; readonly records: number }
    >
  }
  readonly failures: {
    readonly documents: ReadonlyArray<unknown>
    readonly skippedDocuments: ReadonlyArray<unknown>
    readonly records: number | null
  }
}

/** `status <run-id> --json` is one JSON object whose counts add up. */
export const statusOf = (exit: Cli.Exit): Status => {
  assert.strictEqual(exit.code, 0, Cli.describe(exit))
  const status = JSON.parse(exit.stdout) as Status
  const c = status.chunks
  assert.strictEqual(c.total, c.pending + c.staged + c.in_job + c.extracted + c.failed, JSON.stringify(c))
  assert.strictEqual(status.jobs.total, Object.values(status.jobs.byStatus).reduce((n, k) => n + k, 0))
  assert.strictEqual(status.jobs.open, status.jobs.live.length)
  assert.isAtMost(status.jobs.open, status.jobs.total)
  const stages = Object.values(status.stages)
  assert.strictEqual(status.records.succeeded, stages.reduce((n, stage) => n + stage.records.succeeded, 0))
  assert.strictEqual(status.records.succeeded, status.records.batch + status.records.onDemand)
  return status
}
