import { ObjectStore } from "@batch-extract/core"
import { InMemoryObjectStore } from "@batch-extract/core/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { splitUtf8Lines } from "../../src/internal/lines.ts"

const encoder = new TextEncoder()

/** What `Stream.decodeText()` + `Stream.splitLines` make of the same pieces (the reference behaviour). */
const expected = (pieces: ReadonlyArray<Uint8Array>) =>
  Stream.fromIterable(pieces).pipe(Stream.decodeText(), Stream.splitLines, Stream.runCollect)

const actual = (pieces: ReadonlyArray<Uint8Array>) =>
  Stream.fromIterable(pieces).pipe(splitUtf8Lines, Stream.runCollect)

/** Cut the bytes of a text at every given offset. */
const cut = (bytes: Uint8Array, offsets: ReadonlyArray<number>): Array<Uint8Array> => {
  const pieces: Array<Uint8Array> = []
  let from = 0
  for (const at of [...offsets, bytes.length]) {
    pieces.push(bytes.slice(from, at))
    from = at
  }
  return pieces
}

const texts = [
  "",
  "one line",
  "a\nb\n",
  "a\nb",
  "a\n\n\nb\n\n",
  "crlf\r\nlines\r\nend",
  "lone\rcarriage\rreturns\r",
  "\r\n\r\n\n\r",
  "\uFEFFbom first\nsecond",
  "\uFEFF",
  "\uFEFF\n",
  "\uFEFF\r\nx",
  "é café ☕ 𝄞 — ünïcödé\n日本語のテキスト\n😀😃😄",
  `{"recordId": "r1", "modelOutput": {"text": "x"}}\n{"recordId": "r2"}\n`
]

describe("splitUtf8Lines", () => {
  it.effect("splits as decodeText + splitLines do, whatever the piece boundaries", () =>
    Effect.gen(function*() {
      for (const text of texts) {
        const bytes = encoder.encode(text)
        // Whole, every single cut, and byte by byte.
        const cuts: Array<Array<number>> = [[]]
        for (let at = 1; at < bytes.length; at++) cuts.push([at])
        cuts.push(Array.from({ length: Math.max(0, bytes.length - 1) }, (_, i) => i + 1))
        for (const offsets of cuts) {
          const pieces = cut(bytes, offsets)
          assert.deepStrictEqual(
            yield* actual(pieces),
            yield* expected(pieces),
            `${JSON.stringify(text)} cut at ${offsets}`
          )
        }
      }
    }))

  it.effect("replaces bytes that are not UTF-8, and a character cut by the end, with U+FFFD", () =>
    Effect.gen(function*() {
      const cases = [
        [new Uint8Array([0x61, 0xff, 0x62, 0x0a])],
        [new Uint8Array([0x61, 0xe2, 0x82])],
        [new Uint8Array([0x61, 0xe2]), new Uint8Array([0x41, 0x0a])],
        [new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x0a, 0x61])]
      ]
      for (const pieces of cases) assert.deepStrictEqual(yield* actual(pieces), yield* expected(pieces))
    }))

  it.effect("ObjectStore.getLines reads a large object in pieces", () =>
    Effect.gen(function*() {
      const store = yield* InMemoryObjectStore.make()
      const lines = Array.from({ length: 5_000 }, (_, i) => `{"recordId":"r${i}","text":"${"é☕".repeat(i % 50)}"}`)
      yield* store.write({ bucket: "b", key: "k" }, lines.join("\r\n"))
      const read = yield* ObjectStore.getLines({ bucket: "b", key: "k" }).pipe(
        Stream.runCollect,
        Effect.provideService(ObjectStore.ObjectStore, store.service)
      )
      assert.deepStrictEqual(read, lines)
    }))
})
