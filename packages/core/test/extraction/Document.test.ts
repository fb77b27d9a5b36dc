import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import * as Document from "../../src/extraction/Document.ts"
import { tempTree as tree } from "../support.ts"

const encoder = new TextEncoder()

const summary = (result: Document.ReadResult) =>
  result._tag === "Read"
    ? { read: result.path.split("/").pop(), item: result.item, text: result.document.text }
    : { skipped: result.path.split("/").pop(), item: result.item, reason: result.reason }

layer(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer))("Document", (it) => {
  describe("fromDirectory", () => {
    it.effect("reads every supported format, in sorted path order, with sub-directories", () =>
      Effect.gen(function*() {
        const dir = yield* tree({
          "a.txt": "Plain text.",
          "b.md": "# Title\n\nMarkdown body.",
          "c.json": JSON.stringify({ id: "doc-c", title: "C", text: "Text of C." }),
          "d.json": JSON.stringify([{ body: "First." }, { body: "Second.", tags: ["x", 1] }]),
          "e.jsonl": "{\"text\":\"Line one.\",\"n\":1}\r\n\r\n{\"content\":\"Line three.\"}\r\n",
          "sub/f.txt": "Nested."
        })
        const results = yield* Stream.runCollect(Document.fromDirectory(dir))
        assert.deepStrictEqual(results.map(summary), [
          { read: "a.txt", item: undefined, text: "Plain text." },
          { read: "b.md", item: undefined, text: "# Title\n\nMarkdown body." },
          { read: "c.json", item: undefined, text: "Text of C." },
          { read: "d.json", item: 0, text: "First." },
          { read: "d.json", item: 1, text: "Second." },
          { read: "e.jsonl", item: 1, text: "Line one." },
          { read: "e.jsonl", item: 3, text: "Line three." },
          { read: "f.txt", item: undefined, text: "Nested." }
        ])
        const documents = results.flatMap((r) => (r._tag === "Read" ? [r.document] : []))
        // Other fields are metadata (the id field included); the id field is the document id.
        assert.deepStrictEqual(documents[2], { id: "doc-c", text: "Text of C.", metadata: { id: "doc-c", title: "C" } })
        assert.deepStrictEqual(documents[4]!.metadata, { tags: ["x", 1] })
        assert.deepStrictEqual(documents[5]!.metadata, { n: 1 })
        assert.deepStrictEqual(documents[0]!.metadata, {})
      }))

    it.effect("reports empty, binary, non-UTF-8, bad JSON and text-less inputs as skips, never a crash", () =>
      Effect.gen(function*() {
        const dir = yield* tree({
          "01-empty.txt": "",
          "02-blank.md": "  \n\t\n",
          "03-binary.txt": new Uint8Array([0x48, 0x00, 0x49, 0x00]),
          "04-latin1.txt": new Uint8Array([0x63, 0x61, 0x66, 0xe9]),
          "05-bad.json": "{ not json",
          "06-scalar.json": "42",
          "07-notext.json": JSON.stringify({ title: "no text" }),
          "08-empty-array.json": "[]",
          "09-lines.jsonl": "{\"text\":\"ok\"}\nnot json\n[1]\n{\"text\":\"  \"}\n",
          "10-blank.jsonl": "\n\n",
          "11-image.png": "png",
          "12-binary.jsonl": new Uint8Array([0x7b, 0x00, 0x7d]),
          "13-latin1.jsonl": new Uint8Array([...encoder.encode("{\"text\":\"fine\"}\n{\"text\":\""), 0xe9, 0x22, 0x7d])
        })
        const results = yield* Stream.runCollect(Document.fromDirectory(dir))
        assert.deepStrictEqual(results.map(summary), [
          { skipped: "01-empty.txt", item: undefined, reason: "Empty" },
          { skipped: "02-blank.md", item: undefined, reason: "Empty" },
          { skipped: "03-binary.txt", item: undefined, reason: "Binary" },
          { skipped: "04-latin1.txt", item: undefined, reason: "NotUtf8" },
          { skipped: "05-bad.json", item: undefined, reason: "InvalidJson" },
          { skipped: "06-scalar.json", item: undefined, reason: "InvalidJson" },
          { skipped: "07-notext.json", item: undefined, reason: "NoText" },
          { skipped: "08-empty-array.json", item: undefined, reason: "Empty" },
          { read: "09-lines.jsonl", item: 1, text: "ok" },
          { skipped: "09-lines.jsonl", item: 2, reason: "InvalidJson" },
          { skipped: "09-lines.jsonl", item: 3, reason: "InvalidJson" },
          { skipped: "09-lines.jsonl", item: 4, reason: "Empty" },
          { skipped: "10-blank.jsonl", item: undefined, reason: "Empty" },
          { skipped: "11-image.png", item: undefined, reason: "Unsupported" },
          { skipped: "12-binary.jsonl", item: undefined, reason: "Binary" },
          { read: "13-latin1.jsonl", item: 1, text: "fine" },
          { skipped: "13-latin1.jsonl", item: 2, reason: "NotUtf8" }
        ])
      }))

    it.effect("honours textField, idField, metadataFields, pathMetadataKey, extensions and recursive", () =>
      Effect.gen(function*() {
        const dir = yield* tree({
          "docs.jsonl": JSON.stringify({ key: 7, body: "Body.", text: "Not this.", title: "T", extra: true }),
          "note.txt": "Note.",
          "deep/skip.txt": "Not read."
        })
        const results = yield* Stream.runCollect(Document.fromDirectory(dir, {
          textField: "body",
          idField: "key",
          metadataFields: ["title", "extra"],
          pathMetadataKey: "source",
          extensions: [".jsonl"],
          recursive: false
        }))
        assert.deepStrictEqual(results.map(summary), [
          { read: "docs.jsonl", item: 1, text: "Body." },
          { skipped: "note.txt", item: undefined, reason: "Unsupported" }
        ])
        const first = results[0]
        assert.isTrue(first?._tag === "Read")
        if (first?._tag === "Read") {
          assert.deepStrictEqual(first.document, {
            id: "7",
            text: "Body.",
            metadata: { title: "T", extra: true, source: "docs.jsonl" }
          })
        }
      }))

    it.effect("fails with a DocumentError when the directory cannot be listed", () =>
      Effect.gen(function*() {
        const dir = yield* tree({ "file.txt": "x" })
        const missing = yield* Stream.runCollect(Document.fromDirectory(`${dir}/missing`)).pipe(Effect.flip)
        assert.strictEqual(missing._tag, "DocumentError")
        assert.strictEqual(missing.reason, "Unreadable")
        const notDir = yield* Stream.runCollect(Document.fromDirectory(`${dir}/file.txt`)).pipe(Effect.flip)
        assert.strictEqual(notDir.reason, "NotADirectory")
      }))
  })

  describe("fromFiles", () => {
    it.effect("reads in the given order and reports a missing file as unreadable", () =>
      Effect.gen(function*() {
        const dir = yield* tree({ "b.txt": "B.", "a.txt": "A." })
        const results = yield* Stream.runCollect(
          Document.fromFiles([`${dir}/b.txt`, `${dir}/nope.txt`, `${dir}/a.txt`], { pathMetadataKey: "file" })
        )
        assert.deepStrictEqual(results.map(summary), [
          { read: "b.txt", item: undefined, text: "B." },
          { skipped: "nope.txt", item: undefined, reason: "Unreadable" },
          { read: "a.txt", item: undefined, text: "A." }
        ])
        const first = results[0]
        if (first?._tag === "Read") assert.deepStrictEqual(first.document.metadata, { file: `${dir}/b.txt` })
      }))
  })

  describe("consumers", () => {
    it.effect("documents drops skips; strict fails on the first one", () =>
      Effect.gen(function*() {
        const dir = yield* tree({ "a.txt": "A.", "b.txt": "", "c.txt": "C." })
        const kept = yield* Stream.runCollect(Document.documents(Document.fromDirectory(dir)))
        assert.deepStrictEqual(kept.map((d) => d.text), ["A.", "C."])
        const error = yield* Stream.runCollect(Document.strict(Document.fromDirectory(dir))).pipe(Effect.flip)
        assert.strictEqual(error._tag, "DocumentError")
        assert.strictEqual(error.reason, "Empty")
        assert.isTrue(error.path.endsWith("b.txt"))
      }))
  })
})
