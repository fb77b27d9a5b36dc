/**
 * A local S3: fauxqs (an in-process S3 emulator) listening on 127.0.0.1 only, started and
 * stopped by a Layer, with the parts of S3 batch-extract relies on that fauxqs leaves out.
 *
 * When to use: integration tests of the live `S3ObjectStore` (the real SDK client talks to
 * it over loopback) and the offline mode of the node entrypoint, through `LocalBackend`.
 *
 * Details:
 * - Starts on a free port (or the one given) in milliseconds, with the configured buckets.
 * - SSE-KMS: the encryption an upload asked for (`x-amz-server-side-encryption`,
 *   `…-aws-kms-key-id`, on `PutObject` and `CreateMultipartUpload`) is remembered per object,
 *   returned on `GetObject` / `HeadObject` like S3 does, and readable with {@link LocalS3}'s
 *   `encryptionOf`.
 * - `ExpectedBucketOwner`: a request naming another account than `accountId` is refused
 *   with `403 AccessDenied`, as S3 does.
 * - Faults on request: `failNext` makes the next requests fail with a given S3 error code
 *   (`SlowDown` 503, `InternalError` 500, …); `errorRate` fails a seeded fraction of them.
 * - Policies: `deniedAccess` refuses an access key id a bucket (all requests, or some HTTP
 *   methods: read-only credentials) with `403 AccessDenied`, as an IAM policy that does not
 *   grant it would.
 *
 * Gotchas: objects live in memory; the store is empty at every start. Encryption is recorded,
 * not applied (bytes are stored as sent).
 *
 * @since 0.1.0
 */
import { SeededRandom as Random } from "@batch-extract/core/testing"
import { Context, Data, Effect, Layer, Option, type Scope } from "effect"
import type { AddressInfo } from "node:net"

/** The encryption an object was uploaded with. */
export interface Encryption {
  readonly algorithm: string
  readonly kmsKeyId?: string | undefined
}

/** An S3 error to answer a request with. */
export interface Fault {
  /** The S3 error code, e.g. `"SlowDown"`, `"InternalError"`, `"AccessDenied"`. */
  readonly code: string
  /** The HTTP status (503 for `SlowDown`, 500 for `InternalError`, 403 for `AccessDenied`). */
  readonly status: number
  /** Only requests with this HTTP method (`GET`, `PUT`, `HEAD`, `POST`, `DELETE`). */
  readonly method?: string | undefined
}

/** Requests refused with `403 AccessDenied`, as a policy that does not grant them. */
export interface AccessDenial {
  /** The access key id the requests are signed with. */
  readonly accessKeyId: string
  readonly bucket: string
  /** Only requests with these HTTP methods (`GET` reads and lists, `PUT` writes…); default: all. */
  readonly methods?: ReadonlyArray<string> | undefined
}

/** Options of the local S3. */
export interface Options {
  /** Buckets created at start. */
  readonly buckets?: ReadonlyArray<string> | undefined
  /** The account that owns every bucket (checked against `ExpectedBucketOwner`; default `000000000000`). */
  readonly accountId?: string | undefined
  /** Port on 127.0.0.1 (default 0: a free port). */
  readonly port?: number | undefined
  /** Fraction (0..1) of requests answered with `503 SlowDown` (default 0). */
  readonly errorRate?: number | undefined
  /** Seed of the fault generator (default 1). */
  readonly seed?: number | undefined
  /**
   * Access key ids whose requests are never faulted (the emulated Bedrock's own access to
   * S3: faults simulate the caller's S3 trouble, not the service's).
   */
  readonly exemptAccessKeyIds?: ReadonlyArray<string> | undefined
  /** Requests refused with `403 AccessDenied` (per access key id and bucket). */
  readonly deniedAccess?: ReadonlyArray<AccessDenial> | undefined
}

/** The running local S3. */
export interface LocalS3Shape {
  /** `http://127.0.0.1:<port>` — the endpoint for S3 clients (path-style). */
  readonly endpoint: string
  readonly port: number
  readonly accountId: string
  /** Create a bucket (idempotent). */
  readonly createBucket: (name: string) => Effect.Effect<void, LocalS3Error>
  /** The encryption an object was uploaded with, if any. */
  readonly encryptionOf: (bucket: string, key: string) => Effect.Effect<Option.Option<Encryption>>
  /** Answer the next matching requests with these errors, in order. */
  readonly failNext: (faults: ReadonlyArray<Fault>) => Effect.Effect<void>
  /** Change the fraction of requests answered with `503 SlowDown`. */
  readonly setErrorRate: (rate: number) => Effect.Effect<void>
  /** Requests received, by HTTP method. */
  readonly requests: Effect.Effect<Readonly<Record<string, number>>>
}

/** The local S3 as a service (provided by {@link layer}). */
export class LocalS3 extends Context.Service<LocalS3, LocalS3Shape>()("@batch-extract/aws/LocalS3") {}

/** The local S3 could not start or answer a setup request. */
export class LocalS3Error extends Data.TaggedError("LocalS3Error")<{
  readonly message: string
  readonly cause?: unknown
}> {}

const defaultAccountId = "000000000000"

const errorXml = (code: string, message: string, requestId: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message>` +
  `<RequestId>${requestId}</RequestId></Error>`

const messages: Readonly<Record<string, string>> = {
  SlowDown: "Please reduce your request rate.",
  InternalError: "We encountered an internal error. Please try again.",
  AccessDenied: "Access Denied",
  ServiceUnavailable: "Service is unable to handle request."
}

const objectOf = (url: string): { readonly bucket: string; readonly key: string; readonly query: URLSearchParams } => {
  const parsed = new URL(url, "http://local")
  const path = parsed.pathname.slice(1)
  const slash = path.indexOf("/")
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s)
    } catch {
      return s
    }
  }
  return slash < 0
    ? { bucket: decode(path), key: "", query: parsed.searchParams }
    : { bucket: decode(path.slice(0, slash)), key: decode(path.slice(slash + 1)), query: parsed.searchParams }
}

const header = (value: string | ReadonlyArray<string> | undefined): string | undefined =>
  Array.isArray(value) ? value[0] : value as string | undefined

/** Start a local S3 on 127.0.0.1; it stops when the scope closes. */
export const make = (options: Options = {}): Effect.Effect<LocalS3Shape, LocalS3Error, Scope.Scope> =>
  Effect.gen(function*() {
    const accountId = options.accountId ?? defaultAccountId
    const encryption = new Map<string, Encryption>()
    const pending: Array<Fault> = []
    const requests: Record<string, number> = {}
    const nextRandom = Random.generator(options.seed ?? 1)
    // Faults start once the buckets exist: they simulate the service, not its setup.
    let errorRate = 0
    let requestCounter = 0

    const app = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          // Loaded on first use: importing this package for the live Layers does not load fauxqs.
          const { buildApp } = await import("fauxqs")
          const app = buildApp({ logger: false })
          app.addHook("onRequest", async (request, reply) => {
            requests[request.method] = (requests[request.method] ?? 0) + 1
            const requestId = `LOCALS3${(++requestCounter).toString(16).toUpperCase().padStart(9, "0")}`
            const refuse = (status: number, code: string) =>
              reply.code(status).header("content-type", "application/xml").header("x-amz-request-id", requestId)
                .send(request.method === "HEAD" ? "" : errorXml(code, messages[code] ?? code, requestId))
            const authorization = header(request.headers.authorization) ?? ""
            const exempt = (options.exemptAccessKeyIds ?? []).some((id) => authorization.includes(`Credential=${id}/`))
            const faultIndex = exempt ?
              -1 :
              pending.findIndex((fault) => fault.method === undefined || fault.method === request.method)
            if (faultIndex >= 0) {
              const [fault] = pending.splice(faultIndex, 1)
              return refuse(fault!.status, fault!.code)
            }
            if (!exempt && errorRate > 0 && nextRandom() < errorRate) return refuse(503, "SlowDown")
            const owner = header(request.headers["x-amz-expected-bucket-owner"])
            if (owner !== undefined && owner !== accountId) return refuse(403, "AccessDenied")
            const { bucket, key, query } = objectOf(request.url)
            const denied = (options.deniedAccess ?? []).some((denial) =>
              denial.bucket === bucket && authorization.includes(`Credential=${denial.accessKeyId}/`) &&
              (denial.methods === undefined || denial.methods.includes(request.method))
            )
            if (denied) return refuse(403, "AccessDenied")
            if (key === "") return
            const path = `${bucket}/${key}`
            const isPutObject = request.method === "PUT" && !query.has("partNumber") &&
              request.headers["x-amz-copy-source"] === undefined
            const isCreateMultipart = request.method === "POST" && query.has("uploads")
            if (isPutObject || isCreateMultipart) {
              const algorithm = header(request.headers["x-amz-server-side-encryption"])
              if (algorithm === undefined) {
                encryption.delete(path)
              } else {
                encryption.set(path, {
                  algorithm,
                  kmsKeyId: header(request.headers["x-amz-server-side-encryption-aws-kms-key-id"])
                })
              }
            } else if (request.method === "DELETE" && !query.has("uploadId")) {
              encryption.delete(path)
            }
          })
          app.addHook("onSend", async (request, reply, payload) => {
            if (reply.statusCode < 300) {
              const { bucket, key } = objectOf(request.url)
              const recorded = key === "" ? undefined : encryption.get(`${bucket}/${key}`)
              if (recorded !== undefined && request.method !== "DELETE") {
                reply.header("x-amz-server-side-encryption", recorded.algorithm)
                if (recorded.kmsKeyId !== undefined) {
                  reply.header("x-amz-server-side-encryption-aws-kms-key-id", recorded.kmsKeyId)
                }
              }
            }
            return payload
          })
          await app.listen({ port: options.port ?? 0, host: "127.0.0.1" })
          return app
        },
        catch: (cause) => new LocalS3Error({ message: `local S3 could not start: ${String(cause)}`, cause })
      }),
      (app) => Effect.promise(() => app.close())
    )

    const port = (app.server.address() as AddressInfo).port

    const createBucket = (name: string) =>
      Effect.tryPromise({
        try: () => app.inject({ method: "PUT", url: `/${encodeURIComponent(name)}` }),
        catch: (cause) => new LocalS3Error({ message: `could not create bucket ${name}`, cause })
      }).pipe(
        Effect.flatMap((response) =>
          response.statusCode < 300 ? Effect.void : Effect.fail(
            new LocalS3Error({ message: `could not create bucket ${name}: ${response.statusCode} ${response.body}` })
          )
        )
      )

    yield* Effect.forEach(options.buckets ?? [], createBucket, { discard: true })
    errorRate = options.errorRate ?? 0

    return {
      endpoint: `http://127.0.0.1:${port}`,
      port,
      accountId,
      createBucket,
      encryptionOf: (bucket, key) => Effect.sync(() => Option.fromNullishOr(encryption.get(`${bucket}/${key}`))),
      failNext: (faults) => Effect.sync(() => void pending.push(...faults)),
      setErrorRate: (rate) =>
        Effect.sync(() => {
          errorRate = rate
        }),
      requests: Effect.sync(() => ({ ...requests }))
    } satisfies LocalS3Shape
  })

/** The local S3 as a Layer: started when the Layer is built, stopped when it is released. */
export const layer = (options: Options = {}): Layer.Layer<LocalS3, LocalS3Error> => Layer.effect(LocalS3, make(options))
