/**
 * Validation of a `CreateModelInvocationJob` request body as the Bedrock service does it
 * (field patterns, lengths, ranges, the KMS key's place, VPC lists), for the model of the batch service.
 *
 * @internal
 */
import * as BatchInference from "../../engine/BatchInference.ts"

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** A create request after validation (the fields the emulator keeps). */
export interface ValidCreateRequest {
  readonly jobName: string
  readonly roleArn: string
  readonly modelId: string
  readonly clientRequestToken: string | undefined
  readonly inputS3Uri: string
  readonly inputFormat: string
  readonly inputBucketOwner: string | undefined
  readonly outputS3Uri: string
  readonly outputKmsKeyId: string | undefined
  readonly outputBucketOwner: string | undefined
  readonly vpcConfig:
    | { readonly subnetIds: ReadonlyArray<string>; readonly securityGroupIds: ReadonlyArray<string> }
    | undefined
  readonly timeoutDurationInHours: number
  readonly tags: ReadonlyArray<{ readonly key: string; readonly value: string }>
  readonly modelInvocationType: "InvokeModel" | "Converse"
}

const { clientRequestToken: tokenPattern, jobName: jobNamePattern, roleArn: roleArnPattern } = BatchInference.patterns
const s3UriPattern = /^s3:\/\/[a-z0-9][.\-a-z0-9]{1,61}[a-z0-9](\/.*)?$/
const accountPattern = /^[0-9]{12}$/
const subnetPattern = /^subnet-[0-9a-z]{1,17}$/
const securityGroupPattern = /^sg-[0-9a-z]{1,17}$/

/** Validate a create request body; the problems are in the service's message format. */
export const validate = (
  body: unknown
): { readonly _tag: "Valid"; readonly request: ValidCreateRequest } | {
  readonly _tag: "Invalid"
  readonly message: string
} => {
  const problems: Array<string> = []
  const pattern = (path: string, value: unknown, regex: RegExp, source: string) => {
    if (typeof value !== "string" || !regex.test(value)) {
      problems.push(
        `Value '${String(value)}' at '${path}' failed to satisfy constraint: Member must satisfy regular ` +
          `expression pattern: ${source}`
      )
    }
  }
  const required = (path: string, value: unknown) => {
    if (value === undefined || value === null) {
      problems.push(`Value null at '${path}' failed to satisfy constraint: Member must not be null`)
      return false
    }
    return true
  }
  if (!isRecord(body)) return { _tag: "Invalid", message: "The request body is not a JSON object." }

  if (required("jobName", body.jobName)) {
    if (typeof body.jobName === "string" && body.jobName.length > 63) {
      problems.push(
        `Value '${body.jobName}' at 'jobName' failed to satisfy constraint: Member must have length less than ` +
          `or equal to 63`
      )
    } else {
      pattern("jobName", body.jobName, jobNamePattern, "[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\\+\\-\\.]){0,63}")
    }
  }
  if (required("roleArn", body.roleArn)) {
    pattern("roleArn", body.roleArn, roleArnPattern, "arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+")
  }
  if (required("modelId", body.modelId) && (typeof body.modelId !== "string" || body.modelId.trim() === "")) {
    problems.push("Value at 'modelId' failed to satisfy constraint: Member must have length greater than or equal to 1")
  }
  if (body.clientRequestToken !== undefined) {
    pattern("clientRequestToken", body.clientRequestToken, tokenPattern, "[a-zA-Z0-9]{1,256}(-*[a-zA-Z0-9]){0,256}")
  }

  const inputConfig = isRecord(body.inputDataConfig) ? body.inputDataConfig : undefined
  const input = inputConfig !== undefined && isRecord(inputConfig.s3InputDataConfig)
    ? inputConfig.s3InputDataConfig
    : undefined
  if (required("inputDataConfig.s3InputDataConfig", input) && input !== undefined) {
    if (required("inputDataConfig.s3InputDataConfig.s3Uri", input.s3Uri)) {
      pattern(
        "inputDataConfig.s3InputDataConfig.s3Uri",
        input.s3Uri,
        s3UriPattern,
        "s3://[a-z0-9][\\.\\-a-z0-9]{1,61}[a-z0-9](/.*)?"
      )
    }
    if (input.s3InputFormat !== undefined && input.s3InputFormat !== "JSONL") {
      problems.push(
        `Value '${String(input.s3InputFormat)}' at 'inputDataConfig.s3InputDataConfig.s3InputFormat' failed to ` +
          `satisfy constraint: Member must satisfy enum value set: [JSONL]`
      )
    }
    if (input.s3BucketOwner !== undefined) {
      pattern("inputDataConfig.s3InputDataConfig.s3BucketOwner", input.s3BucketOwner, accountPattern, "[0-9]{12}")
    }
  }

  const outputConfig = isRecord(body.outputDataConfig) ? body.outputDataConfig : undefined
  const output = outputConfig !== undefined && isRecord(outputConfig.s3OutputDataConfig)
    ? outputConfig.s3OutputDataConfig
    : undefined
  if (outputConfig !== undefined) {
    for (const key of Object.keys(outputConfig)) {
      if (key !== "s3OutputDataConfig") {
        problems.push(
          `Unknown member '${key}' at 'outputDataConfig'` +
            (key === "s3EncryptionKeyId" ? " (s3EncryptionKeyId belongs inside s3OutputDataConfig)" : "")
        )
      }
    }
  }
  if (required("outputDataConfig.s3OutputDataConfig", output) && output !== undefined) {
    if (required("outputDataConfig.s3OutputDataConfig.s3Uri", output.s3Uri)) {
      pattern(
        "outputDataConfig.s3OutputDataConfig.s3Uri",
        output.s3Uri,
        s3UriPattern,
        "s3://[a-z0-9][\\.\\-a-z0-9]{1,61}[a-z0-9](/.*)?"
      )
    }
    if (output.s3EncryptionKeyId !== undefined) {
      const key = output.s3EncryptionKeyId
      if (typeof key !== "string" || !BatchInference.isKmsKey(key)) {
        problems.push(
          `Value '${String(key)}' at 'outputDataConfig.s3OutputDataConfig.s3EncryptionKeyId' failed to satisfy ` +
            `constraint: Member must be a KMS key id, key ARN, alias or alias ARN`
        )
      }
    }
    if (output.s3BucketOwner !== undefined) {
      pattern("outputDataConfig.s3OutputDataConfig.s3BucketOwner", output.s3BucketOwner, accountPattern, "[0-9]{12}")
    }
  }

  let vpcConfig: ValidCreateRequest["vpcConfig"]
  if (body.vpcConfig !== undefined) {
    const vpc = isRecord(body.vpcConfig) ? body.vpcConfig : {}
    const list = (path: string, value: unknown, max: number, regex: RegExp, source: string) => {
      if (!required(path, value)) return []
      if (!Array.isArray(value) || value.length < 1 || value.length > max) {
        problems.push(
          `Value at '${path}' failed to satisfy constraint: Member must have length between 1 and ${max}`
        )
        return []
      }
      value.forEach((item, i) => pattern(`${path}.${i + 1}.member`, item, regex, source))
      return value as Array<string>
    }
    vpcConfig = {
      subnetIds: list("vpcConfig.subnetIds", vpc.subnetIds, 16, subnetPattern, "subnet-[0-9a-z]*"),
      securityGroupIds: list(
        "vpcConfig.securityGroupIds",
        vpc.securityGroupIds,
        5,
        securityGroupPattern,
        "sg-[0-9a-z]*"
      )
    }
  }

  const timeout = body.timeoutDurationInHours ?? 24
  if (typeof timeout !== "number" || !Number.isInteger(timeout) || timeout < 24 || timeout > 168) {
    problems.push(
      `Value '${String(timeout)}' at 'timeoutDurationInHours' failed to satisfy constraint: Member must have ` +
        `value between 24 and 168`
    )
  }

  const tags: Array<{ key: string; value: string }> = []
  if (body.tags !== undefined) {
    if (!Array.isArray(body.tags) || body.tags.length > 200) {
      problems.push("Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 200")
    } else {
      body.tags.forEach((tag, i) => {
        const key = isRecord(tag) ? tag.key : undefined
        const value = isRecord(tag) ? tag.value : undefined
        if (typeof key !== "string" || key.length < 1 || key.length > 128) {
          problems.push(
            `Value at 'tags.${
              i + 1
            }.member.key' failed to satisfy constraint: Member must have length between 1 and 128`
          )
        } else if (typeof value !== "string" || value.length > 256) {
          problems.push(
            `Value at 'tags.${
              i + 1
            }.member.value' failed to satisfy constraint: Member must have length less than or equal to 256`
          )
        } else {
          tags.push({ key, value })
        }
      })
    }
  }

  const invocationType = body.modelInvocationType ?? "InvokeModel"
  if (invocationType !== "InvokeModel" && invocationType !== "Converse") {
    problems.push(
      `Value '${String(invocationType)}' at 'modelInvocationType' failed to satisfy constraint: Member must ` +
        `satisfy enum value set: [InvokeModel, Converse]`
    )
  }

  if (problems.length > 0) {
    return {
      _tag: "Invalid",
      message: `${problems.length} validation error${problems.length === 1 ? "" : "s"} detected: ${problems.join("; ")}`
    }
  }
  return {
    _tag: "Valid",
    request: {
      jobName: body.jobName as string,
      roleArn: body.roleArn as string,
      modelId: body.modelId as string,
      clientRequestToken: body.clientRequestToken as string | undefined,
      inputS3Uri: input!.s3Uri as string,
      inputFormat: (input!.s3InputFormat as string | undefined) ?? "JSONL",
      inputBucketOwner: input!.s3BucketOwner as string | undefined,
      outputS3Uri: output!.s3Uri as string,
      outputKmsKeyId: output!.s3EncryptionKeyId as string | undefined,
      outputBucketOwner: output!.s3BucketOwner as string | undefined,
      vpcConfig,
      timeoutDurationInHours: timeout as number,
      tags,
      modelInvocationType: invocationType as "InvokeModel" | "Converse"
    }
  }
}
