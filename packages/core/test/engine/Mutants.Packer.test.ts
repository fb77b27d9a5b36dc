/**
 * The packer at its edges: limits reached exactly, tails at and below the minimum, tails that
 * only a lopsided split can place, and the reasons it gives for what goes on demand.
 */
import { Packer } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { config } from "../support.ts"

interface Item {
  readonly id: number
  readonly bytes: number
}

const sized = (bytes: ReadonlyArray<number>): Array<Item> => bytes.map((b, id) => ({ id, bytes: b }))
const uniform = (n: number, bytes = 100): Array<Item> => sized(Array.from({ length: n }, () => bytes))

/** Each plan as `<tag>:<records>` (`Rejected` and `Passthrough` by tag). */
const shape = (plans: ReadonlyArray<Packer.Plan<Item>>) =>
  plans.map((p) => (p._tag === "Rejected" || p._tag === "Passthrough" ? p._tag : `${p._tag}:${p.items.length}`))

const reasonsOf = (plans: ReadonlyArray<Packer.Plan<Item>>) =>
  plans.flatMap((p) => (p._tag === "OnDemand" ? [p.reason] : []))

describe("Packer at its limits", () => {
  it.effect("a job's byte limit is the input-file limit, the smaller of the two byte quotas", () =>
    Effect.gen(function*() {
      const limits = Packer.limitsOf(yield* config({ maxInputFileBytes: 2_000, maxJobBytes: 9_000 }))
      assert.strictEqual(limits.maxBytes, 2_000)
      assert.strictEqual(limits.minRecords, 100)
      assert.strictEqual(limits.maxRecords, 25_000)
    }))

  it("packs a record exactly as large as the byte limit instead of rejecting it", () => {
    const plans = Packer.planAll(sized([1_000]), { minRecords: 1, maxRecords: 10, maxBytes: 1_000 })
    assert.deepStrictEqual(shape(plans), ["Job:1"])
  })

  it("fills a job up to exactly the byte limit", () => {
    const plans = Packer.planAll(uniform(20), { minRecords: 1, maxRecords: 100, maxBytes: 1_000 })
    assert.deepStrictEqual(shape(plans), ["Job:10", "Job:10"])
    for (const plan of plans) assert.isTrue(plan._tag === "Job" && plan.bytes === 1_000)
  })

  it("sends a total of exactly the minimum as a batch job", () => {
    const plans = Packer.planAll(uniform(100), { minRecords: 100, maxRecords: 25_000, maxBytes: 1e12 })
    assert.deepStrictEqual(shape(plans), ["Job:100"])
  })

  it("keeps a full job whole when the tail after it reaches the minimum", () => {
    const limits = { minRecords: 10, maxRecords: 100, maxBytes: 1e12 }
    assert.deepStrictEqual(shape(Packer.planAll(uniform(150), limits)), ["Job:100", "Job:50"])
    assert.deepStrictEqual(shape(Packer.planAll(uniform(110), limits)), ["Job:100", "Job:10"])
  })

  it("splits a full job and a short tail into two jobs of exactly the minimum when only that fits", () => {
    const plans = Packer.planAll(uniform(100), { minRecords: 50, maxRecords: 99, maxBytes: 1e12 })
    assert.deepStrictEqual(shape(plans), ["Job:50", "Job:50"])
  })

  it("places a heavy tail by moving the split until both jobs fit the byte limit", () => {
    // Ten records of 100 bytes fill a job; the 900-byte tail fits only beside the last one.
    const plans = Packer.planAll(sized([...Array.from({ length: 10 }, () => 100), 900]), {
      minRecords: 2,
      maxRecords: 100,
      maxBytes: 1_000
    })
    assert.deepStrictEqual(shape(plans), ["Job:9", "Job:2"])
    assert.deepStrictEqual(plans.map((p) => (p._tag === "Job" ? p.bytes : -1)), [900, 1_000])
  })

  it("says why each set goes on demand, with the counts that decided it", () => {
    const belowMinimum = reasonsOf(Packer.planAll(uniform(7), { minRecords: 10, maxRecords: 100, maxBytes: 1e12 }))
    assert.strictEqual(belowMinimum.length, 1)
    assert.include(belowMinimum[0]!, "7")
    assert.include(belowMinimum[0]!, "10")

    // Records so large that the byte limit closes a job of 2, below the minimum of 3.
    const byBytes = reasonsOf(Packer.planAll(uniform(6, 400), { minRecords: 3, maxRecords: 100, maxBytes: 1_000 }))
    assert.isAtLeast(byBytes.length, 1)
    assert.include(byBytes[0]!, "2")
    assert.include(byBytes[0]!, "minimum")

    // A tail that no split can place beside a full job.
    const unplaceable = Packer.planAll(uniform(101), { minRecords: 60, maxRecords: 100, maxBytes: 1e12 })
    assert.deepStrictEqual(shape(unplaceable), ["Job:100", "OnDemand:1"])
    assert.include(reasonsOf(unplaceable)[0]!, "minimum")
  })

  it("starts afresh once finished: finishing again plans nothing, and a new set is planned on its own", () => {
    const planner = new Packer.Planner<Item>({ minRecords: 1, maxRecords: 10, maxBytes: 1e12 })
    const [a, b, c] = sized([10, 20, 30])
    assert.deepStrictEqual([...planner.push(a!), ...planner.push(b!)], [])
    assert.deepStrictEqual(planner.finish(), [{ _tag: "Job", items: [a!, b!], bytes: 30 }])
    assert.deepStrictEqual(planner.finish(), [])
    assert.deepStrictEqual(planner.push(c!), [])
    assert.deepStrictEqual(planner.finish(), [{ _tag: "Job", items: [c!], bytes: 30 }])
  })

  it("never plans an empty set, even under limits that allow no record per job", () => {
    const plans = Packer.planAll(uniform(3), { minRecords: 1, maxRecords: 0, maxBytes: 1e12 })
    for (const plan of plans) {
      assert.isTrue((plan._tag === "Job" || plan._tag === "OnDemand") && plan.items.length > 0, JSON.stringify(plan))
    }
    assert.deepStrictEqual(plans.flatMap((p) => (p._tag === "Job" ? p.items.map((i) => i.id) : [])), [0, 1, 2])
  })

  it("splits where the first job fills the byte limit exactly, records of no size behind it", () => {
    // Four records held (10 bytes, the last two empty), a 3-byte tail: the middle split is exact.
    const plans = Packer.planAll(sized([5, 5, 0, 0, 3]), { minRecords: 2, maxRecords: 4, maxBytes: 10 })
    assert.deepStrictEqual(shape(plans), ["Job:3", "Job:2"])
    assert.deepStrictEqual(plans.map((p) => (p._tag === "Job" ? p.bytes : -1)), [10, 3])
  })
})
