/**
 * A loopback HTTP server that speaks HTTP/1.1 and HTTP/2 cleartext on one port (the AWS
 * SDK's Bedrock control-plane client uses the first, the runtime client the second), runs
 * each request as an Effect, and is a scoped resource.
 *
 * @internal
 */
import { Data, Effect, type Fiber, FiberSet, type Scope } from "effect"
import { randomUUID } from "node:crypto"
import * as http from "node:http"
import * as http2 from "node:http2"
import * as net from "node:net"

/** A request, body read. */
export interface WireRequest {
  readonly method: string
  readonly path: string
  readonly query: URLSearchParams
  /** Request headers, names in lower case (a repeated header's values joined with ", "). */
  readonly headers: Readonly<Record<string, string>>
  readonly body: Uint8Array
}

/** A response (a JSON body in practice). */
export interface WireResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

/** The server could not start. */
export class ServerError extends Data.TaggedError("ServerError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** A running server. */
export interface WireServer {
  readonly port: number
}

interface AnyResponse {
  writeHead(status: number, headers: Record<string, string>): unknown
  end(body: Uint8Array): unknown
  on(event: "close", listener: () => void): unknown
  readonly headersSent: boolean
}

const encoder = new TextEncoder()

const headersOf = (headers: http.IncomingHttpHeaders): Record<string, string> =>
  Object.fromEntries(
    Object.entries(headers).flatMap(([name, value]) =>
      value === undefined ? [] : [[name.toLowerCase(), Array.isArray(value) ? value.join(", ") : value]]
    )
  )

const shuttingDown: WireResponse = {
  status: 503,
  headers: { "content-type": "application/json", "x-amzn-errortype": "ServiceUnavailableException" },
  body: JSON.stringify({ message: "The emulator is shutting down." })
}

/**
 * Serve `handle` on 127.0.0.1. Releasing the scope destroys HTTP/2 sessions and sockets,
 * closes the servers and interrupts every request still being handled.
 *
 * `onAbort` is called for each request the client closed before it was answered (its
 * handler fiber is interrupted).
 */
export const serve = (options: {
  readonly port: number
  readonly handle: (request: WireRequest) => Effect.Effect<WireResponse>
  readonly onAbort: () => void
}): Effect.Effect<WireServer, ServerError, Scope.Scope> =>
  Effect.gen(function*() {
    const runFork = yield* FiberSet.makeRuntime<never, WireResponse, never>()

    const send = (res: AnyResponse, response: WireResponse) => {
      const body = encoder.encode(response.body)
      res.writeHead(response.status, {
        ...response.headers,
        "x-amzn-requestid": randomUUID(),
        "content-length": String(body.length)
      })
      res.end(body)
    }

    const onRequest = (req: http.IncomingMessage | http2.Http2ServerRequest, res: AnyResponse) => {
      const chunks: Array<Uint8Array> = []
      let answered = false
      let closed = false
      let fiber: Fiber.Fiber<WireResponse> | undefined
      // A client that gives up (an interrupted SDK call aborts its request) closes the
      // response before it is answered: report it and stop the work done for it.
      res.on("close", () => {
        closed = true
        if (answered) return
        options.onAbort()
        fiber?.interruptUnsafe()
      })
      req.on("data", (chunk: Uint8Array) => chunks.push(chunk))
      req.on("error", () => undefined)
      req.on("end", () => {
        if (closed) return
        const url = new URL(req.url ?? "/", "http://localhost")
        fiber = runFork(options.handle({
          method: req.method ?? "GET",
          path: url.pathname,
          query: url.searchParams,
          headers: headersOf(req.headers),
          body: Buffer.concat(chunks)
        }))
        fiber.addObserver((exit) => {
          answered = true
          if (closed || res.headersSent) return
          send(res, exit._tag === "Success" ? exit.value : shuttingDown)
        })
      })
    }

    const servers = yield* Effect.acquireRelease(
      Effect.callback<
        {
          readonly tcp: net.Server
          readonly h1: http.Server
          readonly h2: http2.Http2Server
          readonly sockets: Set<net.Socket>
          readonly sessions: Set<http2.Http2Session>
        },
        ServerError
      >((resume) => {
        const h1 = http.createServer((req, res) => onRequest(req, res))
        const h2 = http2.createServer((req, res) => onRequest(req, res as unknown as AnyResponse))
        const sockets = new Set<net.Socket>()
        const sessions = new Set<http2.Http2Session>()
        h2.on("session", (session) => {
          sessions.add(session)
          session.on("close", () => sessions.delete(session))
          session.on("error", () => undefined)
        })
        h2.on("sessionError", () => undefined)
        const tcp = net.createServer((socket) => {
          sockets.add(socket)
          socket.on("close", () => sockets.delete(socket))
          socket.on("error", () => undefined)
          // One port, two protocols: HTTP/2 cleartext opens with the `PRI * HTTP/2.0` preface.
          const onReadable = () => {
            const head = socket.read() as Buffer | null
            if (head === null) return
            socket.removeListener("readable", onReadable)
            socket.unshift(head)
            if (head.subarray(0, 4).toString("latin1") === "PRI ") {
              h2.emit("connection", socket)
            } else {
              h1.emit("connection", socket)
              socket.resume()
            }
          }
          socket.on("readable", onReadable)
        })
        tcp.once("error", (cause) =>
          resume(Effect.fail(new ServerError({ message: `could not listen on 127.0.0.1: ${cause.message}`, cause }))))
        tcp.listen(options.port, "127.0.0.1", () =>
          resume(Effect.succeed({ tcp, h1, h2, sockets, sessions })))
      }),
      ({ h1, h2, sessions, sockets, tcp }) =>
        Effect.callback<void>((resume) => {
          for (const session of sessions) {
            session.destroy()
          }
          for (const socket of sockets) {
            socket.destroy()
          }
          h1.close()
          h2.close()
          tcp.close(() =>
            resume(Effect.void)
          )
        })
    )

    return { port: (servers.tcp.address() as net.AddressInfo).port }
  })
