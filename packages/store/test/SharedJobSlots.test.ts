/**
 * Job slots shared through the run state (`SharedJobSlots`), under the TestClock: a job waits
 * for a slot while its model is at its limit and gets one when a slot is given back; an
 * interrupted holder keeps its slot (its job still runs), and a process taking that job over
 * holds the same slot at once.
 */
import { RunStore, SharedJobSlots } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Ref } from "effect"
import { TestClock } from "effect/testing"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as SqliteClient from "../src/SqliteClient.ts"

const claim = (jobName: string) => ({ runId: "r", jobName, model: "m", limit: 1 })

const database = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "batch-extract-slots-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => SqliteClient.layer({ filename: join(dir, "state.db") })))

describe("SharedJobSlots", () => {
  it.effect("a job waits while its model is at its limit, and goes when a slot is given back", () =>
    Effect.gen(function*() {
      const db = yield* database
      yield* Effect.gen(function*() {
        yield* RunStore.migrate
        // Two processes' slots on one store.
        const first = yield* SharedJobSlots.make()
        const second = yield* SharedJobSlots.make()
        const release = yield* Deferred.make<void>()
        const started = yield* Ref.make<ReadonlyArray<string>>([])
        const job = (name: string, slots: typeof first, body: Effect.Effect<void>) =>
          slots.withSlot(claim(name), Effect.andThen(Ref.update(started, (s) => [...s, name]), body))

        const a = yield* Effect.forkChild(job("job-a", first, Deferred.await(release)))
        yield* TestClock.adjust("1 second")
        const b = yield* Effect.forkChild(job("job-b", second, Effect.void))
        yield* TestClock.adjust("30 seconds")
        assert.deepStrictEqual(yield* Ref.get(started), ["job-a"])
        assert.deepStrictEqual([...(yield* RunStore.slotsInUse)], [["m", 1]])

        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(a)
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(b)
        assert.deepStrictEqual(yield* Ref.get(started), ["job-a", "job-b"])
        assert.strictEqual((yield* RunStore.slotsInUse).size, 0)
      }).pipe(Effect.provide(db))
    }).pipe(Effect.scoped))

  it.effect("an interrupted holder keeps its slot; the job's next follower holds it at once, others wait", () =>
    Effect.gen(function*() {
      const db = yield* database
      yield* Effect.gen(function*() {
        yield* RunStore.migrate
        const dying = yield* SharedJobSlots.make()
        const holder = yield* Effect.forkChild(dying.withSlot(claim("job-a"), Effect.never))
        yield* TestClock.adjust("1 second")
        yield* Fiber.interrupt(holder)
        assert.deepStrictEqual([...(yield* RunStore.slotsInUse)], [["m", 1]])

        // The process that takes job-a over: in at once, and the slot is given back when it ends.
        const next = yield* SharedJobSlots.make()
        const waiting = yield* Effect.forkChild(next.withSlot(claim("job-b"), Effect.void))
        yield* next.withSlot(claim("job-a"), Effect.void)
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(waiting)
        assert.strictEqual((yield* RunStore.slotsInUse).size, 0)
        assert.strictEqual(yield* next.peak, 1)
      }).pipe(Effect.provide(db))
    }).pipe(Effect.scoped))
})
