/**
 * Where a batch job's files live and what the job is called: the keys of its staged input
 * and of its output folder, and its deterministic name and client request token.
 *
 * Details:
 * - Every key of a run sits under `<keyPrefix>/batch-extract/<runId>/`, a job's under
 *   `<stage>/job-<label>/` inside it (`input/<stage>-<label>.jsonl`, `output/`).
 * - Bedrock writes a job's output to `<outputPrefix><jobId>/<input file name>.out` and its
 *   token totals to `<outputPrefix><jobId>/manifest.json.out`.
 * - Names and tokens derive from the run, the stage, the job label and a hash of the content,
 *   so a repeated create (after a crash, a timeout, a retry) never makes a second job.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import type { BatchConfig } from "../BatchConfig.ts"
import { jobIdFromArn } from "../BatchInference.ts"
import type { PackedRecord } from "../BatchRecord.ts"
import type { ObjectRef } from "../ObjectStore.ts"

/** What places a job within a run: its run, its stage and its label (unique within both). */
export interface JobAddress {
  readonly runId: string
  readonly stage: string
  /** Unique within the run and stage, e.g. `"7"` or `"7r2"` for a retry job. */
  readonly label: string
}

/** Where a job's files live. */
export interface JobLocation {
  readonly bucket: string
  readonly inputKey: string
  readonly inputFileName: string
  readonly outputPrefix: string
}

/** The deterministic name of a job and the client request token of its create. */
export interface JobIdentity {
  readonly jobName: string
  readonly clientRequestToken: string
}

const safe = (text: string, max: number) => text.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, max)

/** The root key of a run: `<keyPrefix>/batch-extract/<runId>/`. */
export const runPrefix = (config: BatchConfig, runId: string): string => {
  const prefix = config.keyPrefix === undefined || config.keyPrefix === ""
    ? ""
    : `${config.keyPrefix.replace(/\/+$/, "")}/`
  return `${prefix}batch-extract/${runId}/`
}

/** Where the files of a job go. */
export const locate = (config: BatchConfig, address: JobAddress): JobLocation => {
  const root = `${runPrefix(config, address.runId)}${address.stage}/job-${address.label}/`
  const inputFileName = `${address.stage}-${address.label}.jsonl`
  return {
    bucket: config.bucketName,
    inputKey: `${root}input/${inputFileName}`,
    inputFileName,
    outputPrefix: `${root}output/`
  }
}

/**
 * The folder Bedrock writes one run of a job into (`<outputPrefix><jobId>/`). Everything the
 * job wrote is under it, so deleting the folder and the staged input removes the job's files.
 */
export const outputFolder = (location: JobLocation, jobArn: string): string =>
  `${location.outputPrefix}${jobIdFromArn(jobArn)}/`

/** The job's output file: one line per record it answered (or could not). */
export const outputFile = (location: JobLocation, jobArn: string): ObjectRef => ({
  bucket: location.bucket,
  key: `${outputFolder(location, jobArn)}${location.inputFileName}.out`
})

/** The job's manifest: its token totals (absent from some jobs: read it as optional). */
export const manifestFile = (location: JobLocation, jobArn: string): ObjectRef => ({
  bucket: location.bucket,
  key: `${outputFolder(location, jobArn)}manifest.json.out`
})

/** The content hash of a job's input (SHA-256 over its lines). */
export const contentHash = (records: ReadonlyArray<PackedRecord>): string => {
  const hash = createHash("sha256")
  for (const record of records) hash.update(record.line).update("\n")
  return hash.digest("hex")
}

/**
 * The deterministic job name and client request token of a job. The name matches Bedrock's
 * pattern (letters, digits, hyphens; at most 63 characters); the token is a SHA-256 in hex.
 */
export const identity = (address: JobAddress, hash: string): JobIdentity => {
  const token = createHash("sha256").update(`${address.runId}\n${address.stage}\n${address.label}\n${hash}`).digest(
    "hex"
  )
  const jobName = `be-${safe(address.stage, 12)}-${safe(address.runId, 20)}-${safe(address.label, 10)}-${
    token.slice(0, 10)
  }`
  return { jobName, clientRequestToken: token }
}
