/**
 * The files a completed batch job leaves behind — its staged input and the output folder
 * Bedrock wrote — deleted when the configuration asks for it (`deleteOnSuccess`).
 *
 * @since 0.1.0
 */
import { Effect, Stream } from "effect"
import type { BatchConfig } from "../BatchConfig.ts"
import type { JobStatus } from "../BatchInference.ts"
import * as ObjectStore from "../ObjectStore.ts"
import { retryTransient } from "../ServiceError.ts"
import * as ServiceError from "../ServiceError.ts"
import { type JobAddress, locate, outputFolder } from "./JobLayout.ts"

/**
 * Delete a completed job's staged input and outputs (when `deleteOnSuccess` is set).
 *
 * When to use: after the job's outcomes are safely recorded — a resumed run may still need
 * the files until then.
 *
 * Details: only a job that ended `Completed` is cleaned up (the files of any other are kept
 * for inspection); a failed delete is logged, never fatal.
 */
export const cleanup = (
  config: BatchConfig,
  address: JobAddress,
  result: {
    readonly jobName: string
    readonly jobArn: string | undefined
    readonly status: JobStatus | "NotCreated"
  }
): Effect.Effect<void, never, ObjectStore.ObjectStore> =>
  Effect.gen(function*() {
    if (!config.deleteOnSuccess || result.status !== "Completed" || result.jobArn === undefined) return
    const store = yield* ObjectStore.ObjectStore
    const location = locate(config, address)
    const folder = outputFolder(location, result.jobArn)
    yield* retryTransient(
      Effect.gen(function*() {
        const outputs = yield* Stream.runCollect(store.list(location.bucket, folder))
        yield* store.deleteMany(location.bucket, [location.inputKey, ...outputs.map((o) => o.key)])
      })
    ).pipe(
      Effect.catch((error) =>
        Effect.logWarning(`could not delete the files of ${result.jobName}: ${ServiceError.describe(error)}`)
      )
    )
  })
