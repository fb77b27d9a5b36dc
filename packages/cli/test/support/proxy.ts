/**
 * A loopback HTTP/1.1 proxy between the `batch-extract` child process and the local S3 or
 * the Bedrock emulator's control plane, for the durability tests:
 *
 * - it can hold a request before forwarding it, or hold the answer after the service acted
 *   on it, so a test can kill the child in a precise window (e.g. a job created on the
 *   service whose ARN the child has not yet received);
 * - it shows which requests are in flight, and in which of those two phases;
 * - it can refuse requests (e.g. signed with expired credentials) the way AWS does;
 * - it keeps every request line and `Authorization` header it saw, so a test can check
 *   which credentials were used;
 * - it can keep the bodies of requests the service answered and of its answers, so a test can
 *   see what a job was given and what it wrote.
 *
 * A held request whose client dies is never forwarded; a held answer whose client dies is
 * dropped (the service has already acted, as it would on AWS).
 */
import { Effect, type Scope } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"

/** A request as the proxy sees it. */
export interface Seen {
  readonly method: string
  /** Path and query, e.g. `/bucket/key?uploads`. */
  readonly url: string
  readonly headers: http.IncomingHttpHeaders
}

/** A request in flight and where it is held. */
export interface InFlight extends Seen {
  readonly phase: "held-request" | "forwarded" | "held-response"
}

/** An answer that replaces the service's. */
export interface Refusal {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

/** How to treat one request. */
export interface Plan {
  /** Hold the request this long before forwarding it. */
  readonly holdRequestMs?: number | undefined
  /** Hold the service's answer this long before passing it on. */
  readonly holdResponseMs?: number | undefined
  /** Answer with this instead of forwarding. */
  readonly refuse?: Refusal | undefined
  /** Keep the request's body and the service's answer (see {@link Proxy.kept}). */
  readonly keepBodies?: boolean | undefined
}

/** A request the service answered, with its body and the answer's (see {@link Plan.keepBodies}). */
export interface Kept extends Seen {
  readonly status: number
  readonly requestBody: Buffer
  readonly responseBody: Buffer
}

/** A running proxy. */
export interface Proxy {
  readonly endpoint: string
  /** Requests in flight now. */
  readonly inFlight: () => ReadonlyArray<InFlight>
  /** Every request seen so far. */
  readonly seen: () => ReadonlyArray<Seen>
  /** Requests refused so far. */
  readonly refused: () => number
  /** The services' answers so far, by HTTP status. */
  readonly answers: () => Readonly<Record<number, number>>
  /** Requests the service answered whose plan kept their bodies, in the order answered. */
  readonly kept: () => ReadonlyArray<Kept>
  /** Replace how requests are treated. */
  readonly setPlan: (plan: (request: Seen) => Plan) => void
}

const noPlan = (): Plan => ({})

/** Start a proxy to `target` (`http://127.0.0.1:<port>`) on 127.0.0.1; it stops with the scope. */
export const make = (target: string): Effect.Effect<Proxy, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ proxy: Proxy; server: http.Server; agent: http.Agent }>((resume) => {
      const upstream = new URL(target)
      const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
      const inFlight = new Set<{ -readonly [K in keyof InFlight]: InFlight[K] }>()
      const seen: Array<Seen> = []
      const kept: Array<Kept> = []
      let refused = 0
      const answers: Record<number, number> = {}
      let plan: (request: Seen) => Plan = noPlan

      const server = http.createServer((req, res) => {
        const entry = {
          method: req.method ?? "GET",
          url: req.url ?? "/",
          headers: req.headers,
          phase: "held-request" as InFlight["phase"]
        }
        seen.push({ method: entry.method, url: entry.url, headers: entry.headers })
        const chunks: Array<Buffer> = []
        let clientGone = false
        let upstreamRequest: http.ClientRequest | undefined
        res.on("close", () => {
          clientGone = true
          inFlight.delete(entry)
          if (!res.writableFinished) upstreamRequest?.destroy()
        })
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.on("error", () => undefined)
        req.on("end", () => {
          inFlight.add(entry)
          const treatment = plan(entry)
          if (treatment.refuse !== undefined) {
            refused++
            inFlight.delete(entry)
            res.writeHead(treatment.refuse.status, treatment.refuse.headers)
            res.end(treatment.refuse.body)
            return
          }
          const forward = () => {
            if (clientGone) return
            entry.phase = "forwarded"
            const body = Buffer.concat(chunks)
            const headers = { ...req.headers, host: upstream.host, "content-length": String(body.length) }
            delete headers["transfer-encoding"]
            delete headers.expect
            upstreamRequest = http.request({
              host: upstream.hostname,
              port: upstream.port,
              method: entry.method,
              path: entry.url,
              headers,
              agent
            }, (answer) => {
              const answerChunks: Array<Buffer> = []
              answer.on("data", (chunk: Buffer) => answerChunks.push(chunk))
              answer.on("error", () => res.destroy())
              answer.on("end", () => {
                answers[answer.statusCode ?? 0] = (answers[answer.statusCode ?? 0] ?? 0) + 1
                if (treatment.keepBodies === true) {
                  kept.push({
                    method: entry.method,
                    url: entry.url,
                    headers: entry.headers,
                    status: answer.statusCode ?? 0,
                    requestBody: body,
                    responseBody: Buffer.concat(answerChunks)
                  })
                }
                const pass = () => {
                  if (clientGone) return
                  const answerBody = Buffer.concat(answerChunks)
                  const answerHeaders = { ...answer.headers, "content-length": String(answerBody.length) }
                  delete answerHeaders["transfer-encoding"]
                  res.writeHead(answer.statusCode ?? 502, answerHeaders)
                  res.end(answerBody)
                  inFlight.delete(entry)
                }
                entry.phase = "held-response"
                if ((treatment.holdResponseMs ?? 0) > 0) setTimeout(pass, treatment.holdResponseMs)
                else pass()
              })
            })
            upstreamRequest.on("error", () => res.destroy())
            upstreamRequest.end(body)
          }
          if ((treatment.holdRequestMs ?? 0) > 0) setTimeout(forward, treatment.holdRequestMs)
          else forward()
        })
      })
      server.on("connection", (socket) => socket.on("error", () => undefined))
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as AddressInfo).port
        resume(Effect.succeed({
          server,
          agent,
          proxy: {
            endpoint: `http://127.0.0.1:${port}`,
            inFlight: () => [...inFlight].map((e) => ({ ...e })),
            seen: () => [...seen],
            refused: () => refused,
            answers: () => ({ ...answers }),
            kept: () => [...kept],
            setPlan: (next) => {
              plan = next
            }
          }
        }))
      })
    }),
    ({ agent, server }) =>
      Effect.callback<void>((resume) => {
        server.closeAllConnections()
        agent.destroy()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ proxy }) => proxy))
