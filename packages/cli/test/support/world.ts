/**
 * The world the durability tests run `batch-extract` in: a local S3 and the Bedrock emulator
 * started inside the test process (so they outlive a killed child), proxies in front of S3
 * and the control plane, the standard SDK environment that points a child at them
 * (`--backend aws`), a small corpus, and readers for what a run leaves behind.
 */
import * as Aws from "@batch-extract/aws/local"
import { ObjectStore, RunLedger } from "@batch-extract/core"
import { Context, Effect, Layer, type Scope } from "effect"
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Cli from "./cli.ts"
import * as Proxy from "./proxy.ts"

export const bucket = "durable-runs"
export const region = "us-east-1"
export const roleArn = "arn:aws:iam::123456789012:role/BatchExtractTest"
export const accessKeyId = "AKIADURABLERUNSTEST1"
/** A secret no log, ledger or summary may ever show. */
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
  /** The environment of a child that reaches the emulation through the proxies. */
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

/** The ledger file of a run. */
export const ledgerFile = (out: string, runId: string) => join(out, ".batch-extract", "runs", runId, "ledger.jsonl")

/** The entries of a run's ledger (torn lines skipped), empty when there is none yet. */
export const ledgerEntries = (out: string, runId: string): Array<RunLedger.Entry> => {
  try {
    return RunLedger.decodeLines(readFileSync(ledgerFile(out, runId), "utf8"))
  } catch {
    return []
  }
}

/** Lines of a run's ledger that do not decode (torn by a kill). */
export const tornLedgerLines = (out: string, runId: string): number => {
  try {
    const lines = readFileSync(ledgerFile(out, runId), "utf8").split("\n").filter((l) => l !== "")
    return lines.length - RunLedger.decodeLines(lines.join("\n")).length
  } catch {
    return 0
  }
}

/** Count entries by tag. */
export const countTags = (entries: ReadonlyArray<RunLedger.Entry>): Record<string, number> => {
  const counts: Record<string, number> = {}
  for (const entry of entries) counts[entry._tag] = (counts[entry._tag] ?? 0) + 1
  return counts
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
