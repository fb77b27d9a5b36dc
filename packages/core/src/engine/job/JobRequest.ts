/**
 * What a batch job is made of before it runs: the JSONL input file staged in the object
 * store, and the create request that points Bedrock at it.
 *
 * Details:
 * - The KMS key encrypts the staged input (SSE-KMS, set by the caller of the put) and goes
 *   inside `s3OutputDataConfig` for the output.
 * - Only the settings the configuration holds are sent (VPC, tags, bucket owner, Converse).
 *
 * @since 0.1.0
 */
import { Stream } from "effect"
import { Buffer } from "node:buffer"
import type { BatchConfig } from "../BatchConfig.ts"
import type { CreateJobRequest } from "../BatchInference.ts"
import type { PackedRecord } from "../BatchRecord.ts"
import * as ObjectStore from "../ObjectStore.ts"
import type { JobIdentity, JobLocation } from "./JobLayout.ts"

/** Bytes per piece of a staged body. */
const pieceBytes = 1_048_576

/**
 * The JSONL body of a job as a stream of bytes (lines grouped into ~1 MiB pieces), ready for
 * `ObjectStore.put`.
 *
 * Details: each line is encoded straight into a buffer sized from the records' `bytes` (UTF-8
 * size plus the line break), so it is encoded once and never copied through a joined string.
 *
 * Gotchas: a record whose `bytes` is wrong is caught (the buffer keeps 4 bytes of slack, so a
 * longer line can never fit exactly) and its piece is encoded the plain way.
 */
export const inputBody = (records: ReadonlyArray<PackedRecord>): Stream.Stream<Uint8Array> =>
  Stream.suspend(() => {
    let index = 0
    return Stream.fromIterable({
      [Symbol.iterator]: () => ({
        next: (): IteratorResult<Uint8Array> => {
          if (index >= records.length) return { done: true, value: undefined }
          const start = index
          let size = 0
          while (index < records.length && size < pieceBytes) size += records[index++]!.bytes
          const piece = Buffer.allocUnsafe(size + 4)
          let offset = 0
          for (let i = start; i < index; i++) {
            const record = records[i]!
            const written = piece.write(record.line, offset, "utf8")
            if (written !== record.bytes - 1) {
              const lines = records.slice(start, index).map((r) => `${r.line}\n`).join("")
              return { done: false, value: Buffer.from(lines, "utf8") }
            }
            offset += written
            piece[offset++] = 0x0a
          }
          return { done: false, value: piece.subarray(0, offset) }
        }
      })
    })
  })

/** The create request of a job: its name and token, the model, the input file and the output folder. */
export const createRequest = (config: BatchConfig, location: JobLocation, names: JobIdentity): CreateJobRequest => ({
  jobName: names.jobName,
  clientRequestToken: names.clientRequestToken,
  roleArn: config.roleArn,
  modelId: config.model.modelId,
  inputDataConfig: {
    s3InputDataConfig: {
      s3Uri: ObjectStore.toUri({ bucket: location.bucket, key: location.inputKey }),
      s3InputFormat: "JSONL",
      ...(config.s3BucketOwner !== undefined ? { s3BucketOwner: config.s3BucketOwner } : {})
    }
  },
  outputDataConfig: {
    s3OutputDataConfig: {
      s3Uri: ObjectStore.toUri({ bucket: location.bucket, key: location.outputPrefix }),
      ...(config.s3EncryptionKeyId !== undefined ? { s3EncryptionKeyId: config.s3EncryptionKeyId } : {}),
      ...(config.s3BucketOwner !== undefined ? { s3BucketOwner: config.s3BucketOwner } : {})
    }
  },
  ...(config.subnetIds !== undefined && config.securityGroupIds !== undefined
    ? { vpcConfig: { subnetIds: config.subnetIds, securityGroupIds: config.securityGroupIds } }
    : {}),
  timeoutDurationInHours: config.timeoutDurationInHours,
  ...(config.tags !== undefined
    ? { tags: Object.entries(config.tags).map(([key, value]) => ({ key, value })) }
    : {}),
  ...(config.model.invocationType === "Converse" ? { modelInvocationType: "Converse" as const } : {})
})
