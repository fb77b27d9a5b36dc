/**
 * UTF-8 bytes → lines, fast: each piece is decoded natively (`Buffer#toString`, no streaming
 * `TextDecoder`) up to its last complete character, and split with `String#split`; the bytes
 * of a character cut by the piece's end and the text of an unfinished line carry over to the
 * next piece.
 *
 * Same results as `Stream.decodeText()` + `Stream.splitLines`: "\n", "\r\n" and a lone "\r"
 * end a line (a "\r\n" cut between two pieces too); the line breaks are dropped; a last line
 * without a break is kept, an empty one is not; a leading byte-order mark is dropped; bytes
 * that are not UTF-8 (or a character cut by the end of the stream) become U+FFFD.
 */
import { Stream } from "effect"
import { Buffer } from "node:buffer"

/** The length of the longest prefix of `bytes` that does not end inside a UTF-8 character. */
const completePrefix = (bytes: Uint8Array): number => {
  let lead = bytes.length - 1
  // Step back over at most three continuation bytes to the byte that starts the last character.
  while (lead >= 0 && bytes.length - lead <= 3 && (bytes[lead]! & 0xc0) === 0x80) lead--
  if (lead < 0) return bytes.length
  const first = bytes[lead]!
  const length = first >= 0xf0 ? 4 : first >= 0xe0 ? 3 : first >= 0xc0 ? 2 : 1
  return lead + length <= bytes.length ? bytes.length : lead
}

const lineBreaks = /\r\n|\r|\n/

/** Split a stream of UTF-8 bytes into lines (see the module doc). */
export const splitUtf8Lines = <E, R>(bytes: Stream.Stream<Uint8Array, E, R>): Stream.Stream<string, E, R> =>
  Stream.suspend(() => {
    let carry: Uint8Array | undefined = undefined
    let partial = ""
    let pendingCarriageReturn = false
    let first = true

    const pushText = (text: string, out: Array<string>) => {
      if (first && text.length > 0) {
        first = false
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
      }
      if (text.length === 0) return
      if (pendingCarriageReturn) {
        pendingCarriageReturn = false
        // The "\n" of a "\r\n" cut between two pieces: the line already ended at the "\r".
        if (text.charCodeAt(0) === 0x0a) text = text.slice(1)
        if (text.length === 0) return
      }
      const parts = text.indexOf("\r") === -1 ? text.split("\n") : text.split(lineBreaks)
      if (text.charCodeAt(text.length - 1) === 0x0d) pendingCarriageReturn = true
      if (partial.length > 0) parts[0] = partial + parts[0]!
      for (let i = 0; i < parts.length - 1; i++) out.push(parts[i]!)
      partial = parts[parts.length - 1]!
    }

    const decodePiece = (piece: Uint8Array, out: Array<string>) => {
      let bytesToDecode = piece
      if (carry !== undefined) {
        bytesToDecode = Buffer.concat([carry, piece])
        carry = undefined
      }
      const complete = completePrefix(bytesToDecode)
      if (complete < bytesToDecode.length) {
        carry = bytesToDecode.slice(complete)
        bytesToDecode = bytesToDecode.subarray(0, complete)
      }
      const buffer = Buffer.from(bytesToDecode.buffer, bytesToDecode.byteOffset, bytesToDecode.byteLength)
      pushText(buffer.toString("utf8"), out)
    }

    return bytes.pipe(
      Stream.mapArray((pieces) => {
        const out: Array<string> = []
        for (const piece of pieces) decodePiece(piece, out)
        return [out] as const
      }),
      Stream.flattenIterable,
      Stream.concat(Stream.suspend(() => {
        const out: Array<string> = []
        if (carry !== undefined) {
          // A character cut by the end of the stream.
          const rest = carry
          carry = undefined
          pushText(Buffer.from(rest.buffer, rest.byteOffset, rest.byteLength).toString("utf8"), out)
        }
        if (partial.length > 0) out.push(partial)
        partial = ""
        return Stream.fromIterable(out)
      }))
    )
  })
