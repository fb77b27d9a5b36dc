/**
 * Ids as the reference computes them, at the edges of Python's printing: special floats,
 * exponents, escapes in reprs, code-point order, and every versioning key left out.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Ids from "../../src/extraction/Ids.ts"

describe("Ids at the edges of Python's str()", () => {
  it("prints special floats and exponents as Python does", () => {
    assert.strictEqual(Ids.pythonStr(Number.NaN), "nan")
    assert.strictEqual(Ids.pythonStr(Number.POSITIVE_INFINITY), "inf")
    assert.strictEqual(Ids.pythonStr(Number.NEGATIVE_INFINITY), "-inf")
    assert.strictEqual(Ids.pythonStr(0.0001), "0.0001")
    assert.strictEqual(Ids.pythonStr(-0.00002), "-2e-05")
    assert.strictEqual(Ids.pythonStr(1e-100), "1e-100")
    assert.strictEqual(Ids.pythonStr(1.5e300), "1.5e+300")
    assert.strictEqual(Ids.pythonStr(123456.789), "123456.789")
    assert.strictEqual(Ids.pythonStr(9_007_199_254_740_991), "9007199254740991")
    assert.strictEqual(Ids.pythonStr(0), "0")
  })

  it("escapes backslashes and control characters in reprs, choosing quotes as Python does", () => {
    assert.strictEqual(Ids.pythonStr(["a\\b\nc\rd\te"]), "['a\\\\b\\nc\\rd\\te']")
    assert.strictEqual(Ids.pythonStr(["it's"]), "[\"it's\"]")
    assert.strictEqual(Ids.pythonStr(["say \"hi\""]), "['say \"hi\"']")
    assert.strictEqual(Ids.pythonStr({ "it's": ["x", false] }), "{\"it's\": ['x', False]}")
    assert.strictEqual(Ids.pythonStr({}), "{}")
    assert.strictEqual(Ids.pythonStr({ a: 1, b: [2, "c"] }), "{'a': 1, 'b': [2, 'c']}")
    assert.strictEqual(Ids.pythonStr([]), "[]")
    // A string on its own prints as itself (str(), not repr()).
    assert.strictEqual(Ids.pythonStr("it's\n"), "it's\n")
  })

  it("leaves every versioning key out of the metadata string", () => {
    const versioning = Object.fromEntries([...Ids.versioningKeys].map((key) => [key, 1]))
    assert.strictEqual(Ids.versioningKeys.size, 6)
    assert.strictEqual(Ids.metadataString({ ...versioning, title: "T" }), "title:T")
    const fields = ["valid_from", "valid_to", "extract_timestamp", "build_timestamp", "id_fields", "prev_versions"]
    for (const field of fields) assert.isTrue(Ids.versioningKeys.has(`__aws__versioning__${field}__`), field)
  })

  it("sorts pairs by code point, beyond the 16-bit range, and a prefix first", () => {
    // UTF-16 order would put the emoji (a surrogate pair) before U+FF5E; Python does not.
    assert.strictEqual(Ids.metadataString({ "\u{1F600}": 1, "\uFF5E": 2 }), "\uFF5E:2;\u{1F600}:1")
    assert.strictEqual(Ids.metadataString({ "x:1": "", x: "1" }), "x:1;x:1:")
    assert.strictEqual(Ids.metadataString({ b: 1, a: 2, c: 3 }), "a:2;b:1;c:3")
  })

  it("uses a caller's id only when it is an aws: id", () => {
    assert.strictEqual(Ids.sourceIdOf({ text: "Hello world.", metadata: {} }), "aws::764569e5:d41d")
    assert.strictEqual(Ids.sourceIdOf({ id: "xaws:1", text: "Hello world.", metadata: {} }), "aws::764569e5:d41d")
  })

  it("hashes a source with both digests whole", () => {
    const hash = Ids.sourceHash("Hello world.", {})
    assert.match(hash, /^[0-9a-f]{64}$/)
    assert.strictEqual(hash, Ids.md5Hex("Hello world.") + Ids.md5Hex(""))
    assert.isTrue(Ids.sourceId("Hello world.", {}).endsWith(`${hash.slice(0, 8)}:${hash.slice(32, 36)}`))
  })

  it("turns every colon of an id into an underscore in a Windows-safe name, and back", () => {
    assert.strictEqual(Ids.windowsSafeName("a:b::c:::d"), "a_b__c___d")
    assert.strictEqual(Ids.fromWindowsSafeName("a_b__c"), "a:b::c")
  })
})
