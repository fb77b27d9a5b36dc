import { ServiceError } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import * as SdkError from "../src/SdkError.ts"

const sdkException = (name: string, status: number, requestId = "req-1") =>
  Object.assign(new Error(`${name} happened`), {
    name,
    $fault: "client",
    $metadata: { httpStatusCode: status, requestId }
  })

describe("SdkError", () => {
  const table: ReadonlyArray<readonly [name: string, status: number, tag: ServiceError.ServiceError["_tag"]]> = [
    ["ThrottlingException", 429, "Throttled"],
    ["TooManyRequestsException", 429, "Throttled"],
    ["SlowDown", 503, "Throttled"],
    ["ServiceQuotaExceededException", 400, "QuotaExceeded"],
    ["AccessDeniedException", 403, "AccessDenied"],
    ["AccessDenied", 403, "AccessDenied"],
    ["ResourceNotFoundException", 404, "NotFound"],
    ["NoSuchKey", 404, "NotFound"],
    ["NoSuchBucket", 404, "NotFound"],
    ["NotFound", 404, "NotFound"],
    ["ConflictException", 400, "Conflict"],
    ["ValidationException", 400, "InvalidRequest"],
    ["InvalidRequest", 400, "InvalidRequest"],
    ["InternalServerException", 500, "Unavailable"],
    ["ServiceUnavailableException", 503, "Unavailable"],
    ["InternalError", 500, "Unavailable"],
    ["ModelNotReadyException", 429, "Throttled"],
    ["ModelTimeoutException", 408, "Unavailable"],
    ["ModelErrorException", 424, "Unavailable"],
    ["SomethingNew", 429, "Throttled"],
    ["SomethingNew", 403, "AccessDenied"],
    ["SomethingNew", 404, "NotFound"],
    ["SomethingNew", 409, "Conflict"],
    ["SomethingNew", 400, "InvalidRequest"],
    ["SomethingNew", 502, "Unavailable"]
  ]

  for (const [name, status, tag] of table) {
    it(`maps ${name} (${status}) to ${tag}, keeping name, request id and cause`, () => {
      const cause = sdkException(name, status)
      const error = SdkError.fromSdkError("Port.operation", cause)
      assert.strictEqual(error._tag, tag)
      assert.strictEqual(error.operation, "Port.operation")
      assert.strictEqual(error.exceptionName, name)
      assert.strictEqual(error.requestId, "req-1")
      assert.strictEqual(error.cause, cause)
      assert.strictEqual(error.message, `${name} happened`)
    })
  }

  it("maps network errors (no HTTP status) to Unavailable", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" })
    const error = SdkError.fromSdkError("ObjectStore.get", refused)
    assert.strictEqual(error._tag, "Unavailable")
    assert.strictEqual(error.exceptionName, "ECONNREFUSED")
    assert.isTrue(error.retryable)
  })

  it("maps a missing credential chain to AccessDenied", () => {
    const error = SdkError.fromSdkError(
      "BatchInference.createJob",
      Object.assign(new Error("Could not load credentials from any providers"), { name: "CredentialsProviderError" })
    )
    assert.strictEqual(error._tag, "AccessDenied")
  })

  it("passes a ServiceError through unchanged", () => {
    const original = new ServiceError.Conflict({ operation: "x", message: "y" })
    assert.strictEqual(SdkError.fromSdkError("z", original), original)
  })
})
