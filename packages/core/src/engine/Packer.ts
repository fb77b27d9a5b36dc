/**
 * The packer: plans a stream of records into batch jobs that respect, at once, the minimum
 * and maximum records per job (`maxBatchSize`, `maxRecordsPerJob`) and the bytes per input
 * file and per job (measured on the serialized UTF-8 line).
 *
 * Rules:
 * - A limit is never exceeded.
 * - A job is closed when the next record would break a limit; the last closed job is held
 *   back so the tail can be rebalanced instead of merged past a limit
 *   (25,050 records at 25,000 → 12,525 + 12,525).
 * - A total below the minimum goes on demand. A job that the byte limit closes below the
 *   minimum (huge records) cannot be a batch job either: it goes on demand.
 * - A single record larger than a file is rejected, with its size and the limit.
 *
 * @since 0.1.0
 */
import { Stream } from "effect"
import type { BatchConfig } from "./BatchConfig.ts"

/** The limits a job must respect. */
export interface Limits {
  readonly minRecords: number
  readonly maxRecords: number
  /** Bytes per job file (the smaller of the input-file and the job limit: one file per job). */
  readonly maxBytes: number
}

/** The packing limits of a configuration. */
export const limitsOf = (config: BatchConfig): Limits => ({
  minRecords: config.minRecordsPerJob,
  maxRecords: Math.min(config.maxBatchSize, config.maxRecordsPerJob),
  maxBytes: Math.min(config.maxInputFileBytes, config.maxJobBytes)
})

/** What the packer needs to know of an item. */
export interface Sized {
  readonly bytes: number
  /** A reason to reject the item without packing it (e.g. an invalid id). */
  readonly rejection?: string | undefined
  /** Pass the item through unpacked (e.g. a record already answered by an earlier attempt). */
  readonly passthrough?: boolean | undefined
}

/** A planned unit of work. */
export type Plan<A> =
  | { readonly _tag: "Job"; readonly items: ReadonlyArray<A>; readonly bytes: number }
  | { readonly _tag: "OnDemand"; readonly items: ReadonlyArray<A>; readonly reason: string }
  | { readonly _tag: "Rejected"; readonly item: A; readonly reason: string }
  | { readonly _tag: "Passthrough"; readonly item: A }

interface Group<A> {
  items: Array<A>
  bytes: number
}

/**
 * A streaming planner: feed items with `push`, then call `finish` once.
 * Holds at most two jobs' worth of items.
 */
export class Planner<A extends Sized> {
  private current: Group<A> = { items: [], bytes: 0 }
  private held: Group<A> | undefined = undefined
  private readonly limits: Limits

  constructor(limits: Limits) {
    this.limits = limits
  }

  push(item: A): Array<Plan<A>> {
    if (item.passthrough === true) return [{ _tag: "Passthrough", item }]
    if (item.rejection !== undefined) return [{ _tag: "Rejected", item, reason: item.rejection }]
    if (item.bytes > this.limits.maxBytes) {
      return [{
        _tag: "Rejected",
        item,
        reason: `record of ${item.bytes} bytes exceeds the input-file limit of ${this.limits.maxBytes} bytes`
      }]
    }
    const out: Array<Plan<A>> = []
    if (
      this.current.items.length + 1 > this.limits.maxRecords ||
      this.current.bytes + item.bytes > this.limits.maxBytes
    ) {
      out.push(...this.close())
    }
    this.current.items.push(item)
    this.current.bytes += item.bytes
    return out
  }

  finish(): Array<Plan<A>> {
    const current = this.current
    const held = this.held
    this.current = { items: [], bytes: 0 }
    this.held = undefined
    if (current.items.length === 0) return held === undefined ? [] : [this.job(held)]
    if (held === undefined) {
      return current.items.length >= this.limits.minRecords
        ? [this.job(current)]
        : [
          this.onDemand(
            current,
            `${current.items.length} records, below the minimum of ${this.limits.minRecords} per job`
          )
        ]
    }
    if (current.items.length >= this.limits.minRecords) return [this.job(held), this.job(current)]
    return this.rebalance(held, current)
  }

  /** Close the current group: the previously held job is released, the current one held. */
  private close(): Array<Plan<A>> {
    const closing = this.current
    this.current = { items: [], bytes: 0 }
    if (closing.items.length === 0) return []
    if (closing.items.length < this.limits.minRecords) {
      // Only the byte limit closes a group this small: it can never be a valid job.
      // Release the held job first, so plans keep the input order.
      const released = this.held
      this.held = undefined
      const small = this.onDemand(closing, `byte limit allows only ${closing.items.length} records, below the minimum`)
      return released === undefined ? [small] : [this.job(released), small]
    }
    const released = this.held
    this.held = closing
    return released === undefined ? [] : [this.job(released)]
  }

  /**
   * Held job + a tail below the minimum: two balanced jobs. They never fit in one: the held
   * job was closed by the tail's first record. The split starts at the middle and only moves
   * right: every split up to the held job's end leaves a first job within the limits (it is a
   * prefix of the held job), and moving right only shrinks the second one.
   */
  private rebalance(held: Group<A>, tail: Group<A>): Array<Plan<A>> {
    const all = [...held.items, ...tail.items]
    const bytes = held.bytes + tail.bytes
    const prefix: Array<number> = [0]
    for (const item of all) prefix.push(prefix[prefix.length - 1]! + item.bytes)
    const n = all.length
    const fits = (k: number) =>
      k >= this.limits.minRecords && n - k >= this.limits.minRecords &&
      k <= this.limits.maxRecords && n - k <= this.limits.maxRecords &&
      prefix[k]! <= this.limits.maxBytes && bytes - prefix[k]! <= this.limits.maxBytes
    for (let k = Math.ceil(n / 2); k < n; k++) {
      if (fits(k)) {
        return [
          this.job({ items: all.slice(0, k), bytes: prefix[k]! }),
          this.job({ items: all.slice(k), bytes: bytes - prefix[k]! })
        ]
      }
    }
    return [this.job(held), this.onDemand(tail, "tail below the minimum that no rebalancing can place in a job")]
  }

  private job(group: Group<A>): Plan<A> {
    return { _tag: "Job", items: group.items, bytes: group.bytes }
  }

  private onDemand(group: Group<A>, reason: string): Plan<A> {
    return { _tag: "OnDemand", items: group.items, reason }
  }
}

/** Plan a whole array at once (for tests and small sets). */
export const planAll = <A extends Sized>(items: Iterable<A>, limits: Limits): Array<Plan<A>> => {
  const planner = new Planner<A>(limits)
  const out: Array<Plan<A>> = []
  for (const item of items) out.push(...planner.push(item))
  out.push(...planner.finish())
  return out
}

/**
 * Plan a stream of items into jobs. Memory holds at most two jobs' worth of items (the one
 * being filled and the one held back for rebalancing).
 */
export const plan = <A extends Sized, E, R>(
  items: Stream.Stream<A, E, R>,
  limits: Limits
): Stream.Stream<Plan<A>, E, R> =>
  Stream.suspend(() => {
    const planner = new Planner<A>(limits)
    return items.pipe(
      Stream.mapArray((chunk) => [chunk.flatMap((item) => planner.push(item))] as const),
      Stream.flattenIterable,
      Stream.concat(Stream.suspend(() => Stream.fromIterable(planner.finish())))
    )
  })
