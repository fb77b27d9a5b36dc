/**
 * Seeded, deterministic pseudo-random numbers for the simulated services (fault injection,
 * job ids, output order), so a run with the same seed behaves the same way every time.
 *
 * @since 0.1.0
 */

/** A 32-bit FNV-1a hash of a string. */
export const hash = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** A generator of numbers in [0, 1) from a seed (mulberry32). */
export const generator = (seed: number): () => number => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A copy of a list in a deterministic shuffled order (Fisher-Yates with the generator). */
export const shuffle = <A>(items: ReadonlyArray<A>, next: () => number): Array<A> => {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1))
    const tmp = out[i]!
    out[i] = out[j]!
    out[j] = tmp
  }
  return out
}
