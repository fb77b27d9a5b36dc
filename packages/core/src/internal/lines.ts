/**
 * UTF-8 bytes → lines, fast and without pinning memory: line feeds are found in the bytes
 * (`Buffer#indexOf`, native), and each line is decoded on its own (`Buffer#toString`). A line
 * is then a string of its own — never a slice of a large decoded piece, which every value
 * parsed from it would otherwise keep alive. The bytes of a line cut by the end of a piece
 * wait for the rest of it.
 *
 * Same results as `Stream.decodeText()` + `Stream.splitLines`: "\n", "\r\n" and a lone "\r"
 * end a line; the line breaks are dropped; a last line without a break is kept, an empty one
 * is not; a leading byte-order mark is dropped; bytes that are not UTF-8 become U+FFFD. (A
 * line feed or carriage return byte never occurs inside a UTF-8 character, so lines can be
 * decoded apart.)
 */
import { Stream } from "effect"
import { Buffer } from "node:buffer"

const bufferOf = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/** Split a stream of UTF-8 bytes into lines (see the module doc). */
export const splitUtf8Lines = <E, R>(bytes: Stream.Stream<Uint8Array, E, R>): Stream.Stream<string, E, R> =>
  Stream.suspend(() => {
    /** Bytes of the line not ended yet (from one or more pieces). */
    let pending: Array<Buffer> = []
    let first = true

    /**
     * Emit the text between two line feeds (or after the last one): a lone "\r" inside also
     * ends a line, and a "\r" at its end was the first half of a "\r\n" (or ended the stream's
     * last line), so no empty line follows it.
     */
    const emit = (raw: string, out: Array<string>, last = false) => {
      let text = raw
      if (first) {
        first = false
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
      }
      // A last line without a line feed is kept only when it holds something.
      if (last && text.length === 0) return
      if (text.indexOf("\r") === -1) {
        out.push(text)
        return
      }
      const parts = text.split("\r")
      if (text.charCodeAt(text.length - 1) === 0x0d) parts.pop()
      for (const part of parts) out.push(part)
    }

    const pushPiece = (piece: Uint8Array, out: Array<string>) => {
      const buffer = bufferOf(piece)
      let from = 0
      let lineFeed = buffer.indexOf(0x0a, from)
      if (lineFeed !== -1 && pending.length > 0) {
        pending.push(buffer.subarray(0, lineFeed))
        const line = Buffer.concat(pending)
        pending = []
        emit(line.toString("utf8"), out)
        from = lineFeed + 1
        lineFeed = buffer.indexOf(0x0a, from)
      }
      while (lineFeed !== -1) {
        emit(buffer.toString("utf8", from, lineFeed), out)
        from = lineFeed + 1
        lineFeed = buffer.indexOf(0x0a, from)
      }
      if (from < buffer.length) pending.push(buffer.subarray(from))
    }

    return bytes.pipe(
      Stream.mapArray((pieces) => {
        const out: Array<string> = []
        for (const piece of pieces) pushPiece(piece, out)
        return [out] as const
      }),
      Stream.flattenIterable,
      Stream.concat(Stream.suspend(() => {
        const out: Array<string> = []
        if (pending.length > 0) {
          // The last line, without a line feed.
          const line = Buffer.concat(pending)
          pending = []
          emit(line.toString("utf8"), out, true)
        }
        return Stream.fromIterable(out)
      }))
    )
  })
