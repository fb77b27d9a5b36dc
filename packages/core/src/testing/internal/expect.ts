/**
 * Assertions as effects, for the test kit's conformance suites (`StoreContract`): each check
 * succeeds or fails with a {@link ContractViolation} naming what was checked, what was expected
 * and what came. No test framework here: the kit is published, and vitest is not a dependency.
 *
 * @internal
 */
import { Data, Effect } from "effect"

/**
 * A store broke its port's contract: `check` says what was checked, `expected` and `actual` what
 * the contract asks and what the store did.
 *
 * @since 0.5.0
 */
export class ContractViolation extends Data.TaggedError("ContractViolation")<{
  readonly check: string
  readonly expected: unknown
  readonly actual: unknown
  readonly message: string
}> {}

/** A value as text for a message: maps as their entries, `undefined`, `NaN` and `-0` spelled out. */
export const show = (value: unknown): string => {
  if (value === undefined) return "undefined"
  if (Object.is(value, -0)) return "-0"
  return JSON.stringify(value, (_, v: unknown) => {
    if (v instanceof Map) return { Map: [...v] }
    if (v === undefined) return "undefined"
    if (typeof v === "number" && !Number.isFinite(v)) return String(v)
    return v
  }) ?? String(value)
}

/** A violation of `check`. */
export const violation = (check: string, expected: unknown, actual: unknown, message?: string): ContractViolation =>
  new ContractViolation({
    check,
    expected,
    actual,
    message: message ?? `${check}: expected ${show(expected)}, got ${show(actual)}`
  })

/**
 * Deep strict equality of plain data: primitives by `Object.is`, arrays in order, plain objects by
 * their own keys, maps by their entries in any order.
 */
export const same = (a: unknown, b: unknown): boolean => {
  if (Object.is(a, b)) return true
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false
  if (a instanceof Map || b instanceof Map) {
    if (!(a instanceof Map && b instanceof Map) || a.size !== b.size) return false
    for (const [key, value] of a) {
      if (!b.has(key) || !same(value, b.get(key))) return false
    }
    return true
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!(Array.isArray(a) && Array.isArray(b)) || a.length !== b.length) return false
    return a.every((item, i) => same(item, b[i]))
  }
  const left = a as Record<string, unknown>
  const right = b as Record<string, unknown>
  const keys = Object.keys(left)
  return keys.length === Object.keys(right).length &&
    keys.every((key) => Object.hasOwn(right, key) && same(left[key], right[key]))
}

/** `actual` deeply equals `expected` ({@link same}). */
export const equal = (check: string, actual: unknown, expected: unknown): Effect.Effect<void, ContractViolation> =>
  same(actual, expected) ? Effect.void : Effect.fail(violation(check, expected, actual))

/** The condition holds; `actual` is what the message shows when it does not. */
export const isTrue = (check: string, condition: boolean, actual?: unknown): Effect.Effect<void, ContractViolation> =>
  condition ? Effect.void : Effect.fail(violation(check, true, actual ?? condition))

/** `actual` is within `delta` of `expected`. */
export const closeTo = (
  check: string,
  actual: number,
  expected: number,
  delta: number
): Effect.Effect<void, ContractViolation> =>
  Math.abs(actual - expected) <= delta
    ? Effect.void
    : Effect.fail(violation(check, `${expected} ± ${delta}`, actual))

/** `text` contains `part`. */
export const includes = (check: string, text: string, part: string): Effect.Effect<void, ContractViolation> =>
  text.includes(part) ? Effect.void : Effect.fail(violation(check, `a text containing ${show(part)}`, text))

/**
 * The same lines in any order (a multiset); the message lists the lines missing and the lines
 * not expected.
 */
export const sameLines = (
  check: string,
  actual: ReadonlyArray<string>,
  expected: ReadonlyArray<string>
): Effect.Effect<void, ContractViolation> => {
  const left = [...actual].sort()
  const right = [...expected].sort()
  if (same(left, right)) return Effect.void
  const rest = [...left]
  const missing: Array<string> = []
  for (const line of right) {
    const at = rest.indexOf(line)
    if (at === -1) missing.push(line)
    else rest.splice(at, 1)
  }
  const lines = (title: string, items: ReadonlyArray<string>) =>
    items.length === 0 ? "" : `\n  ${title}:${items.map((line) => `\n    ${line}`).join("")}`
  return Effect.fail(
    violation(
      check,
      right,
      left,
      `${check}: ${left.length} lines where ${right.length} were expected${lines("missing", missing)}${
        lines("not expected", rest)
      }`
    )
  )
}

/** The effect fails with the error tagged `tag`, which it returns; any other outcome is a violation. */
export const fails = <A, E extends { readonly _tag: string }, R, Tag extends E["_tag"]>(
  check: string,
  effect: Effect.Effect<A, E, R>,
  tag: Tag
): Effect.Effect<Extract<E, { readonly _tag: Tag }>, ContractViolation, R> =>
  Effect.matchEffect(effect, {
    onFailure: (error) =>
      error._tag === tag
        ? Effect.succeed(error as Extract<E, { readonly _tag: Tag }>)
        : Effect.fail(
          violation(
            check,
            `a failure ${tag}`,
            error,
            `${check}: expected a failure ${tag}, got ${error._tag}: ${show(error)}`
          )
        ),
    onSuccess: (value) =>
      Effect.fail(
        violation(check, `a failure ${tag}`, value, `${check}: expected a failure ${tag}, got a success ${show(value)}`)
      )
  })
