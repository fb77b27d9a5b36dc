/**
 * The `--faults FILE` of the local backend: faults the emulation injects, so anyone can watch
 * the engine survive them.
 */
import type { BatchConfig } from "@batch-extract/core"
import { Schema } from "effect"

const rate = Schema.Number.check(
  Schema.makeFilter<number>((n) => (n >= 0 && n <= 1 ? true : `must be from 0 to 1, got ${n}`))
)

/** The faults file. */
export const FaultsFile = Schema.Struct({
  /** Control-plane (and runtime) calls answered with ThrottlingException. */
  throttleRate: Schema.optionalKey(rate),
  /** S3 requests answered with 503 SlowDown. */
  s3ErrorRate: Schema.optionalKey(rate),
  /** The emulated account's quota of concurrent jobs (creates past it are refused). */
  maxConcurrentJobs: Schema.optionalKey(
    Schema.Number.check(
      Schema.makeFilter<number>((n) =>
        Number.isInteger(n) && n >= 1 ? true : `must be a whole number of at least 1, got ${n}`
      )
    )
  ),
  /** Final statuses imposed on successive jobs. */
  jobStatuses: Schema.optionalKey(
    Schema.Array(Schema.Literals(["Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired"]))
  ),
  recordErrorRate: Schema.optionalKey(rate),
  recordMissingRate: Schema.optionalKey(rate),
  malformedRate: Schema.optionalKey(rate),
  truncatedRate: Schema.optionalKey(rate),
  seed: Schema.optionalKey(Schema.Number)
})

/** A decoded faults file. */
export type FaultsFile = typeof FaultsFile.Type

/** Decode a faults file, with its problems as configuration issues (`faults.<field>`). */
export const decode = (input: unknown): { faults: FaultsFile } | { issues: Array<BatchConfig.ConfigIssue> } => {
  const result = Schema.decodeUnknownResult(FaultsFile)(input, { errors: "all", onExcessProperty: "error" })
  if (result._tag === "Success") return { faults: result.success }
  return {
    issues: [{ path: "faults", message: result.failure.message.replace(/\s+/g, " ") }]
  }
}
