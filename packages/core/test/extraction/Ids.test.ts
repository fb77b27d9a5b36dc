import { assert, describe, it } from "@effect/vitest"
import * as Ids from "../../src/extraction/Ids.ts"

// Expected values computed with the reference's Python code (IdRewriter._get_properties_str,
// IdGenerator.create_source_id / create_chunk_id).
const metadata = {
  title: "T",
  url: "u",
  n: 1,
  flag: true,
  x: null,
  a1: "z",
  a: "y",
  list: ["a", 1, "it's"],
  f: 0.5,
  tiny: 0.00001,
  d: { k: "v" },
  __aws__versioning__extract_timestamp__: 123
}

describe("Ids", () => {
  it("prints the metadata string as Python does: str() values, sorted pairs, versioning keys left out", () => {
    assert.strictEqual(
      Ids.metadataString(metadata),
      "a1:z;a:y;d:{'k': 'v'};f:0.5;flag:True;list:['a', 1, \"it's\"];n:1;tiny:1e-05;title:T;url:u;x:None"
    )
    assert.strictEqual(Ids.metadataString({}), "")
  })

  it("computes the reference's source and chunk ids", () => {
    const source = Ids.sourceId("Hello world.", metadata)
    assert.strictEqual(source, "aws::764569e5:2082")
    assert.strictEqual(Ids.chunkId(source, "world.", metadata), "aws::764569e5:2082:2de1fde7")
    assert.strictEqual(Ids.sourceId("Hello world.", {}), "aws::764569e5:d41d")
    assert.strictEqual(Ids.chunkId("aws::764569e5:d41d", "Hello world.", {}), "aws::764569e5:d41d:764569e5")
  })

  it("keeps an id that starts with aws: and ignores any other caller id", () => {
    assert.strictEqual(Ids.sourceIdOf({ id: "aws::custom:1", text: "x", metadata: {} }), "aws::custom:1")
    assert.strictEqual(Ids.sourceIdOf({ id: "doc-1", text: "Hello world.", metadata: {} }), "aws::764569e5:d41d")
  })

  it("prints Python floats, booleans and None", () => {
    assert.strictEqual(Ids.pythonStr(1e16), "1e+16")
    assert.strictEqual(Ids.pythonStr(1.5e-7), "1.5e-07")
    assert.strictEqual(Ids.pythonStr(-3), "-3")
    assert.strictEqual(Ids.pythonStr([true, null, "a'b\"c"]), "[True, None, 'a\\'b\"c']")
  })

  it("names files the Windows-safe way on request", () => {
    assert.strictEqual(Ids.windowsSafeName("aws::764569e5:d41d:764569e5"), "aws__764569e5_d41d_764569e5")
  })

  it("turns a Windows-safe name back into the id it stands for", () => {
    for (const id of ["aws::764569e5:d41d:764569e5", "aws::764569e5:d41d", "aws:own-id:0a1b2c3d"]) {
      assert.strictEqual(Ids.fromWindowsSafeName(Ids.windowsSafeName(id)), id)
    }
  })
})
