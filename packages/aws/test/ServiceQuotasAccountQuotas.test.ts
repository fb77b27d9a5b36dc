/**
 * The live `AccountQuotas` (the real Service Quotas SDK client) against the emulation: it
 * reads the emulated account's quotas (smaller than the documented ones) for a model, both
 * listings paginated; a denial, an unreachable endpoint and an endpoint that does not answer
 * each fall back to the defaults with one warning naming the cause.
 */
import { AccountQuotas, BatchConfig } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schedule } from "effect"
import { createServer, type Server, type Socket } from "node:net"
import * as LocalBackend from "../src/LocalBackend.ts"
import * as ServiceQuotasAccountQuotas from "../src/ServiceQuotasAccountQuotas.ts"
import { bucket, localLayer, modelId, roleArn } from "./fixtures.ts"

/** The emulated account's quotas: each smaller than the documented default. */
const accountQuotas: AccountQuotas.Values = {
  maxConcurrentJobs: 3,
  minRecordsPerJob: 50,
  maxRecordsPerJob: 400,
  maxInputFileBytes: 20_000_000,
  maxJobBytes: 60_000_000
}

const input = { bucketName: bucket, region: "us-east-1", roleArn, model: { modelId } }

/** The live port, with the local backend's client settings and `endpoint` for Service Quotas. */
const livePort = (endpoint?: string) =>
  Layer.unwrap(Effect.gen(function*() {
    const local = yield* LocalBackend.LocalBackend
    const client = local.clientSettings
    return ServiceQuotasAccountQuotas.layer({
      client: {
        ...client,
        endpoints: { ...client.endpoints, serviceQuotas: endpoint ?? client.endpoints?.serviceQuotas }
      }
    })
  }))

/** A loopback port nothing listens on (taken, then released). */
const closedPort = Effect.callback<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** A loopback server that accepts connections and never answers (they are destroyed with the scope). */
const silentServer = Effect.acquireRelease(
  Effect.callback<{ readonly server: Server; readonly sockets: Set<Socket>; readonly port: number }>((resume) => {
    const sockets = new Set<Socket>()
    const server = createServer((socket) => void sockets.add(socket))
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resume(
        Effect.succeed({ server, sockets, port: typeof address === "object" && address !== null ? address.port : 0 })
      )
    })
  }),
  ({ server, sockets }) =>
    Effect.callback<void>((resume) => {
      for (const socket of sockets) socket.destroy()
      server.close(() => resume(Effect.void))
    })
)

describe("ServiceQuotasAccountQuotas", () => {
  it.live("reads the emulated account's quotas of the model, smaller than the defaults, over both listings", () =>
    Effect.gen(function*() {
      const local = yield* LocalBackend.LocalBackend
      const listed = yield* AccountQuotas.AccountQuotas.use((port) => port.listBedrock)
      // Every page of both listings: the catalog holds more quotas than a page.
      assert.isAbove(listed.length, 100)
      assert.isTrue(listed.every((quota) => quota.applied), "an applied value for each")
      assert.isAtLeast((yield* local.bedrock.counters).serviceQuotaCalls, 4, "two pages of each listing")

      const configured = yield* AccountQuotas.configure(input)
      assert.strictEqual(configured.quotas.source, "service-quotas")
      assert.deepStrictEqual(configured.quotas.values, accountQuotas)
      assert.strictEqual(configured.quotas.displayName, "Claude 3.7 Sonnet")
      assert.isUndefined(configured.quotas.warning)
      assert.deepStrictEqual(
        configured.quotas.matched.map((m) => [m.setting, m.quotaName]).sort(),
        [
          [
            "maxConcurrentJobs",
            "Sum of in-progress and submitted batch inference jobs using a base model for Claude 3.7 Sonnet"
          ],
          ["maxInputFileBytes", "Batch inference input file size (in GB) for Claude 3.7 Sonnet"],
          ["maxJobBytes", "Batch inference job size (in GB) for Claude 3.7 Sonnet"],
          ["maxRecordsPerJob", "Records per batch inference job for Claude 3.7 Sonnet"],
          ["minRecordsPerJob", "Minimum number of records per batch inference job for Claude 3.7 Sonnet"]
        ]
      )
      for (const m of configured.quotas.matched) assert.match(m.quotaCode, /^L-[0-9A-F]{8}$/)
      // The configuration holds them, and keeps the batch size within the account's records per job.
      assert.strictEqual(configured.config.maxConcurrentJobs, 3)
      assert.strictEqual(configured.config.maxRecordsPerJob, 400)
      assert.strictEqual(configured.config.maxBatchSize, 400)
      assert.strictEqual(configured.input.maxJobBytes, 60_000_000)

      // A setting given is kept, and the rest still read.
      const given = yield* AccountQuotas.configure({ ...input, maxConcurrentJobs: 1 })
      assert.strictEqual(given.quotas.values.maxConcurrentJobs, 1)
      assert.strictEqual(given.quotas.sources.maxConcurrentJobs, "settings")
      assert.strictEqual(given.quotas.sources.maxJobBytes, "service-quotas")
    }).pipe(
      Effect.provide(livePort()),
      Effect.provide(localLayer({ emulator: { serviceQuotas: { quotas: accountQuotas } } }))
    ))

  it.live("every quota given: nothing is read", () =>
    Effect.gen(function*() {
      const local = yield* LocalBackend.LocalBackend
      const configured = yield* AccountQuotas.configure({ ...input, ...accountQuotas, maxBatchSize: 100 })
      assert.strictEqual(configured.quotas.source, "settings")
      assert.strictEqual((yield* local.bedrock.counters).serviceQuotaCalls, 0)
    }).pipe(Effect.provide(livePort()), Effect.provide(localLayer())))

  it.live("access denied: the defaults, with one warning naming the missing permission", () =>
    Effect.gen(function*() {
      const local = yield* LocalBackend.LocalBackend
      const configured = yield* AccountQuotas.configure(input)
      assert.strictEqual(configured.quotas.source, "defaults")
      assert.deepStrictEqual(configured.quotas.values, AccountQuotas.defaults)
      assert.match(configured.quotas.warning ?? "", /access denied \(AccessDeniedException\)/)
      assert.match(configured.quotas.warning ?? "", /servicequotas:List(AWSDefault)?ServiceQuotas/)
      assert.isAtLeast((yield* local.bedrock.counters).serviceQuotaCalls, 1)
      // The configuration is the documented one.
      const documented = yield* BatchConfig.decode(input)
      assert.strictEqual(configured.config.maxRecordsPerJob, documented.maxRecordsPerJob)
      assert.strictEqual(configured.config.maxBatchSize, documented.maxBatchSize)
    }).pipe(
      Effect.provide(livePort()),
      Effect.provide(localLayer({ emulator: { serviceQuotas: { quotas: accountQuotas, denied: true } } }))
    ))

  it.live("one listing denied (an injected AccessDeniedException): the denied operation is named", () =>
    Effect.gen(function*() {
      const local = yield* LocalBackend.LocalBackend
      yield* local.bedrock.failNext([{
        operation: "ListAWSDefaultServiceQuotas",
        exceptionName: "AccessDeniedException",
        status: 403
      }])
      const configured = yield* AccountQuotas.configure(input)
      assert.strictEqual(configured.quotas.source, "defaults")
      assert.include(configured.quotas.warning, "servicequotas:ListAWSDefaultServiceQuotas")
    }).pipe(Effect.provide(livePort()), Effect.provide(localLayer())))

  it.live("an endpoint nothing listens on: the defaults, with a warning that it could not be reached", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const configured = yield* AccountQuotas.configure(input).pipe(
        Effect.provide(livePort(`http://127.0.0.1:${port}`))
      )
      assert.strictEqual(configured.quotas.source, "defaults")
      assert.deepStrictEqual(configured.quotas.values, AccountQuotas.defaults)
      assert.match(configured.quotas.warning ?? "", /could not be reached/)
      assert.include(configured.quotas.warning, "ECONNREFUSED")
    }).pipe(Effect.provide(localLayer())))

  it.live("an endpoint that never answers: the defaults once the deadline passes, the request abandoned", () =>
    Effect.gen(function*() {
      const silent = yield* silentServer
      const configured = yield* AccountQuotas.configure(input, { timeout: "200 millis" }).pipe(
        Effect.provide(livePort(`http://127.0.0.1:${silent.port}`))
      )
      assert.strictEqual(configured.quotas.source, "defaults")
      assert.match(configured.quotas.warning ?? "", /no answer within 200ms/)
    }).pipe(Effect.provide(localLayer())))

  it.live("the emulation answers slowly: the call is interrupted at the deadline (the emulator saw it abandoned)", () =>
    Effect.gen(function*() {
      const local = yield* LocalBackend.LocalBackend
      const configured = yield* AccountQuotas.configure(input, { timeout: "300 millis" })
      assert.strictEqual(configured.quotas.source, "defaults")
      assert.match(configured.quotas.warning ?? "", /no answer within 300ms/)
      const aborted = yield* local.bedrock.counters.pipe(
        Effect.repeat({ until: (counters) => counters.requestsAborted >= 1, schedule: Schedule.spaced("10 millis") }),
        Effect.timeout("10 seconds")
      )
      assert.isAtLeast(aborted.requestsAborted, 1)
    }).pipe(
      Effect.provide(livePort()),
      Effect.provide(localLayer({ emulator: { faults: { delayMs: { ListServiceQuotas: 60_000 } } } }))
    ))

  it.live("the local backend provides the port, on the emulation", () =>
    Effect.gen(function*() {
      const configured = yield* AccountQuotas.configure(input)
      assert.strictEqual(configured.quotas.source, "service-quotas")
      assert.deepStrictEqual(configured.quotas.values, { ...AccountQuotas.defaults, maxConcurrentJobs: 7 })
    }).pipe(
      Effect.provide(
        localLayer({ emulator: { serviceQuotas: { quotas: { maxConcurrentJobs: 7 } } } })
      )
    ))
})
