/**
 * Short-lived credentials, the way a container (ECS/EKS) hands them out: an HTTP endpoint
 * the AWS SDK's default credential chain reads through `AWS_CONTAINER_CREDENTIALS_FULL_URI`
 * (loopback addresses are allowed), answering temporary keys with an `Expiration`.
 *
 * Each answer is a fresh key whose lifetime is `lifetimeMs`, and the `Expiration` it announces
 * is the end of that lifetime. The SDK's credential chain refreshes in the background within
 * five minutes of the announced expiry (it keeps signing with the current key meanwhile) and
 * at once when the key has expired: a client that refreshes as the SDK does never signs with
 * an expired key, and one that does not refresh is caught by {@link Credentials.check}.
 * (Announcing the lifetime plus the five-minute window instead lets the SDK sign, after a
 * pause, with a key past its real lifetime: the refresh it starts then comes too late.)
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
  /**
   * A proxy plan: refuse, as AWS does, a request signed with a key this endpoint did not
   * issue or whose lifetime is over (plus `graceMs` for requests in flight).
   */
  readonly check: (service: "s3" | "bedrock", graceMs: number) => (request: Proxy.Seen) => Proxy.Plan
}

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
export const make = (lifetimeMs: number): Effect.Effect<Credentials, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ credentials: Credentials; server: http.Server }>((resume) => {
      const expiresAt = new Map<string, number>()
      const secrets: Array<string> = []
      const used = new Set<string>()
      const server = http.createServer((_req, res) => {
        const n = expiresAt.size + 1
        const accessKeyId = `ASIASHORTLIVED${String(n).padStart(6, "0")}`
        const secret = `shortLivedSecret${n}x${randomBytes(12).toString("hex")}`
        const now = Date.now()
        expiresAt.set(accessKeyId, now + lifetimeMs)
        secrets.push(secret)
        res.writeHead(200, { "content-type": "application/json" })
        res.end(JSON.stringify({
          AccessKeyId: accessKeyId,
          SecretAccessKey: secret,
          Token: `sessionToken${n}x${randomBytes(12).toString("hex")}`,
          Expiration: new Date(now + lifetimeMs).toISOString()
        }))
      })
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as AddressInfo).port
        resume(Effect.succeed({
          server,
          credentials: {
            uri: `http://127.0.0.1:${port}/credentials`,
            issued: () => expiresAt.size,
            secrets: () => [...secrets],
            keysUsed: () => new Set(used),
            check: (service, graceMs) => (request) => {
              const key = credentialOf(request)
              if (key !== undefined) used.add(key)
              const expiry = key === undefined ? undefined : expiresAt.get(key)
              if (expiry === undefined) {
                return refusal(
                  service,
                  "InvalidClientTokenId",
                  "The security token included in the request is invalid."
                )
              }
              if (Date.now() > expiry + graceMs) {
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
