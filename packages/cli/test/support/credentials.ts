/**
 * Short-lived credentials, the way a container (ECS/EKS) hands them out: an HTTP endpoint
 * the AWS SDK's default credential chain reads through `AWS_CONTAINER_CREDENTIALS_FULL_URI`
 * (loopback addresses are allowed), answering temporary keys with an `Expiration`.
 *
 * A key's life is counted in uses, not in time, so what a test proves does not depend on how
 * fast the machine runs: each answer is a fresh key, good for `usesPerKey` signed requests;
 * {@link Credentials.check} refuses, as AWS refuses an expired key, the next request signed
 * with it (and any key this endpoint did not issue).
 *
 * The `Expiration` each answer announces is a few minutes ahead, inside the SDK's refresh
 * window (it treats a key that expires within five minutes as due): a client that refreshes
 * as the SDK does starts fetching a new key in the background as soon as it uses one, and
 * keeps signing with the current key only until the new one arrives — a handful of requests
 * at most (those it starts meanwhile), far below `usesPerKey`. A client that does not refresh
 * signs every request with its first key, and is refused once that key is used up.
 */
import { Effect, type Scope } from "effect"
import { randomBytes } from "node:crypto"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import type * as Proxy from "./proxy.ts"

/** A running credentials endpoint. */
export interface Credentials {
  /** For `AWS_CONTAINER_CREDENTIALS_FULL_URI`. */
  readonly uri: string
  /** Keys handed out so far. */
  readonly issued: () => number
  /** Every secret handed out (to check none leaks). */
  readonly secrets: () => ReadonlyArray<string>
  /** Access key ids that signed requests the proxies saw. */
  readonly keysUsed: () => ReadonlySet<string>
  /** The most requests one key signed (refused ones included). */
  readonly mostUses: () => number
  /**
   * A proxy plan: refuse, as AWS does, a request signed with a key this endpoint did not
   * issue, or with a key that already signed `usesPerKey` requests (it has expired).
   */
  readonly check: (service: "s3" | "bedrock") => (request: Proxy.Seen) => Proxy.Plan
}

/** The settings of an endpoint. */
export interface Options {
  /** Requests a key may sign; the next one is refused as signed with an expired key. */
  readonly usesPerKey: number
}

/**
 * How far ahead each answer's `Expiration` is: inside the SDK's five-minute refresh window,
 * so it refreshes on every use, and beyond any run of these tests, so that it never has to
 * wait for a key (the SDK blocks on a refresh only once the announced time has passed).
 */
const announcedLifetimeMs = 4 * 60_000

const credentialOf = (request: Proxy.Seen): string | undefined => {
  const authorization = request.headers.authorization
  const text = Array.isArray(authorization) ? authorization[0] : authorization
  return text === undefined ? undefined : /Credential=([^/,\s]+)\//.exec(text)?.[1]
}

const refusal = (service: "s3" | "bedrock", code: string, message: string): Proxy.Plan => ({
  refuse: service === "s3"
    ? {
      status: 400,
      headers: { "content-type": "application/xml" },
      body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message>` +
        `<RequestId>CREDENTIALS</RequestId></Error>`
    }
    : {
      status: 403,
      headers: { "content-type": "application/json", "x-amzn-errortype": `${code}Exception` },
      body: JSON.stringify({ message })
    }
})

/** Start the endpoint on 127.0.0.1; it stops with the scope. */
export const make = (options: Options): Effect.Effect<Credentials, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ credentials: Credentials; server: http.Server }>((resume) => {
      /** Requests each issued key signed so far. */
      const uses = new Map<string, number>()
      const secrets: Array<string> = []
      const used = new Set<string>()
      const server = http.createServer((_req, res) => {
        const n = uses.size + 1
        const accessKeyId = `ASIASHORTLIVED${String(n).padStart(6, "0")}`
        const secret = `shortLivedSecret${n}x${randomBytes(12).toString("hex")}`
        uses.set(accessKeyId, 0)
        secrets.push(secret)
        res.writeHead(200, { "content-type": "application/json" })
        res.end(JSON.stringify({
          AccessKeyId: accessKeyId,
          SecretAccessKey: secret,
          Token: `sessionToken${n}x${randomBytes(12).toString("hex")}`,
          Expiration: new Date(Date.now() + announcedLifetimeMs).toISOString()
        }))
      })
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as AddressInfo).port
        resume(Effect.succeed({
          server,
          credentials: {
            uri: `http://127.0.0.1:${port}/credentials`,
            issued: () => uses.size,
            secrets: () => [...secrets],
            keysUsed: () => new Set(used),
            mostUses: () => Math.max(0, ...uses.values()),
            check: (service) => (request) => {
              const key = credentialOf(request)
              if (key !== undefined) used.add(key)
              const before = key === undefined ? undefined : uses.get(key)
              if (key === undefined || before === undefined) {
                return refusal(
                  service,
                  "InvalidClientTokenId",
                  "The security token included in the request is invalid."
                )
              }
              uses.set(key, before + 1)
              if (before >= options.usesPerKey) {
                return refusal(service, "ExpiredToken", "The security token included in the request is expired.")
              }
              return {}
            }
          }
        }))
      })
    }),
    ({ server }) =>
      Effect.callback<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ credentials }) => credentials))
