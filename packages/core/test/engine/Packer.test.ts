import { Packer } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"

interface Item {
  readonly id: number
  readonly bytes: number
  readonly rejection?: string | undefined
}

const items = (n: number, bytes: (i: number) => number = () => 100): Array<Item> =>
  Array.from({ length: n }, (_, i) => ({ id: i, bytes: bytes(i) }))

const counts = (plans: ReadonlyArray<Packer.Plan<Item>>) =>
  plans.map((p) => (p._tag === "Rejected" || p._tag === "Passthrough" ? p._tag : `${p._tag}:${p.items.length}`))

/** A small deterministic PRNG for the property runs. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

describe("Packer", () => {
  it("rebalances a tail below the minimum instead of merging past the limit", () => {
    const plans = Packer.planAll(items(25_050), { minRecords: 100, maxRecords: 25_000, maxBytes: 1e12 })
    assert.deepStrictEqual(counts(plans), ["Job:12525", "Job:12525"])
  })

  it("merges a small tail into the last job when it still fits", () => {
    const plans = Packer.planAll(items(20_050), { minRecords: 100, maxRecords: 25_000, maxBytes: 1e12 })
    assert.deepStrictEqual(counts(plans), ["Job:20050"])
    const three = Packer.planAll(items(50_050), { minRecords: 100, maxRecords: 25_000, maxBytes: 1e12 })
    assert.deepStrictEqual(counts(three), ["Job:25000", "Job:12525", "Job:12525"])
  })

  it("sends a total below the minimum on demand", () => {
    const plans = Packer.planAll(items(99), { minRecords: 100, maxRecords: 25_000, maxBytes: 1e12 })
    assert.deepStrictEqual(counts(plans), ["OnDemand:99"])
    assert.deepStrictEqual(Packer.planAll([], { minRecords: 100, maxRecords: 25_000, maxBytes: 1e12 }), [])
  })

  it("closes jobs on bytes and rejects a record larger than a file", () => {
    const limits = { minRecords: 2, maxRecords: 100, maxBytes: 1_000 }
    const plans = Packer.planAll(items(30, (i) => (i === 7 ? 5_000 : 100)), limits)
    const rejected = plans.filter((p) => p._tag === "Rejected")
    assert.strictEqual(rejected.length, 1)
    assert.match(
      rejected[0]!._tag === "Rejected" ? rejected[0]!.reason : "",
      /5000 bytes exceeds the input-file limit of 1000/
    )
    for (const plan of plans) if (plan._tag === "Job") assert.isAtMost(plan.bytes, 1_000)
  })

  it("holds every limit and keeps counts and order (property, 300 random cases)", () => {
    const random = prng(42)
    for (let run = 0; run < 300; run++) {
      const minRecords = 1 + Math.floor(random() * 50)
      const maxRecords = minRecords + Math.floor(random() * 400)
      const maxBytes = 2_000 + Math.floor(random() * 40_000)
      const n = Math.floor(random() * 3_000)
      const input = items(n, () => 1 + Math.floor(random() * (random() < 0.02 ? 3 * maxBytes : 400)))
      const plans = Packer.planAll(input, { minRecords, maxRecords, maxBytes })
      const seen: Array<number> = []
      let packedTotal = 0
      for (const plan of plans) {
        if (plan._tag === "Rejected" || plan._tag === "Passthrough") {
          assert.isTrue(plan._tag === "Rejected" && plan.item.bytes > maxBytes)
          continue
        }
        const ids = plan.items.map((i) => i.id)
        seen.push(...ids)
        packedTotal += ids.length
        if (plan._tag === "Job") {
          assert.isAtLeast(plan.items.length, minRecords, `job below minimum (run ${run})`)
          assert.isAtMost(plan.items.length, maxRecords, `job above maximum (run ${run})`)
          assert.isAtMost(plan.bytes, maxBytes, `job above byte limit (run ${run})`)
          assert.strictEqual(plan.bytes, plan.items.reduce((s, i) => s + i.bytes, 0))
        }
      }
      const packable = input.filter((i) => i.bytes <= maxBytes)
      assert.strictEqual(packedTotal, packable.length, `count preserved (run ${run})`)
      assert.deepStrictEqual(seen, packable.map((i) => i.id), `order preserved (run ${run})`)
      // With uniform small records, nothing goes on demand once the total reaches the minimum.
      const onDemand = plans.filter((p) => p._tag === "OnDemand")
      if (packable.length >= minRecords && packable.every((i) => i.bytes * maxRecords <= maxBytes)) {
        assert.strictEqual(onDemand.length, 0, `nothing on demand when total >= minimum (run ${run})`)
      }
    }
  })

  it.effect("plans a stream the same way as an array", () =>
    Effect.gen(function*() {
      const input = items(1_234, (i) => 50 + (i % 17))
      const limits = { minRecords: 100, maxRecords: 500, maxBytes: 20_000 }
      const streamed = yield* Stream.runCollect(Packer.plan(Stream.fromIterable(input).pipe(Stream.rechunk(7)), limits))
      assert.deepStrictEqual(counts(streamed), counts(Packer.planAll(input, limits)))
    }))
})
