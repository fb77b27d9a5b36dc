/**
 * Apache AGE's `agtype` text as JavaScript values, and the result columns of an openCypher
 * query (AGE's `cypher()` needs them spelled out in SQL).
 */

/**
 * The text without AGE's type annotations (`::vertex`, `::edge`, `::path`, `::numeric`), which
 * follow a value outside strings and make the text invalid JSON.
 */
export const stripAnnotations = (text: string): string => {
  let out = ""
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (inString) {
      out += c
      if (c === "\\") {
        out += text[i + 1] ?? ""
        i++
      } else if (c === "\"") {
        inString = false
      }
      continue
    }
    if (c === "\"") {
      inString = true
      out += c
      continue
    }
    if (c === ":" && text[i + 1] === ":") {
      let j = i + 2
      while (j < text.length && /[A-Za-z_]/.test(text[j]!)) j++
      i = j - 1
      continue
    }
    out += c
  }
  return out
}

/**
 * An `agtype` column (PGlite hands them over as text) as a JavaScript value: maps, lists,
 * vertices (`{id, label, properties}`), edges (`{id, label, start_id, end_id, properties}`),
 * paths (lists of those), scalars. Text that is not JSON once stripped (`NaN`, `Infinity`)
 * comes back as it is.
 *
 * Gotcha: graph ids (`id`, `start_id`, `end_id`) can exceed 2^53 and lose precision.
 */
export const parseAgtype = (text: unknown): unknown => {
  if (typeof text !== "string") return text ?? null
  try {
    return JSON.parse(stripAnnotations(text))
  } catch {
    return text
  }
}

/** Marks every character that is not top-level query text (strings, comments, brackets). */
const topLevelMask = (query: string): string => {
  const hidden = "\u0001"
  let out = ""
  let depth = 0
  let i = 0
  while (i < query.length) {
    const c = query[i]!
    const next = query[i + 1]
    if (c === "'" || c === "\"" || c === "`") {
      let j = i + 1
      while (j < query.length) {
        if (query[j] === "\\" && c !== "`") {
          j += 2
          continue
        }
        if (query[j] === c) {
          if (c === "`" && query[j + 1] === "`") {
            j += 2
            continue
          }
          break
        }
        j++
      }
      const end = Math.min(j + 1, query.length)
      // A quoted identifier at top level stays visible (it can be an alias), a string does not.
      out += depth === 0 && c === "`" ? query.slice(i, end) : hidden.repeat(end - i)
      i = end
      continue
    }
    if (c === "/" && (next === "/" || next === "*")) {
      const close = next === "/" ? query.indexOf("\n", i) : query.indexOf("*/", i + 2)
      const end = close === -1 ? query.length : next === "/" ? close : close + 2
      out += hidden.repeat(end - i)
      i = end
      continue
    }
    if (c === "(" || c === "[" || c === "{") depth++
    const visible = depth === 0
    if (c === ")" || c === "]" || c === "}") depth = Math.max(0, depth - 1)
    out += visible && c !== ")" && c !== "]" && c !== "}" ? c : hidden
    i++
  }
  return out
}

const unquote = (name: string): string =>
  name.startsWith("`") && name.endsWith("`") && name.length >= 2 ? name.slice(1, -1).replace(/``/g, "`") : name

/**
 * The columns of an openCypher query's last `RETURN` clause: each item's alias (`AS name`) or
 * its text. `undefined` when there is no `RETURN` or it is `RETURN *` (name the columns then).
 */
export const returnColumns = (query: string): ReadonlyArray<string> | undefined => {
  const mask = topLevelMask(query)
  let start = -1
  for (const match of mask.matchAll(/\bRETURN\b/gi)) start = match.index + match[0].length
  if (start === -1) return undefined
  const tail = mask.slice(start)
  const stop = /\b(ORDER\s+BY|SKIP|LIMIT|UNION)\b|;/i.exec(tail)
  const end = start + (stop === null ? tail.length : stop.index)
  let from = start
  const distinct = /^\s*DISTINCT\b/i.exec(mask.slice(start, end))
  if (distinct !== null) from += distinct[0].length
  const columns: Array<string> = []
  let itemStart = from
  for (let i = from; i <= end; i++) {
    if (i < end && mask[i] !== ",") continue
    const item = query.slice(itemStart, i).trim()
    const itemMask = mask.slice(itemStart, i)
    const alias = [...itemMask.matchAll(/\sAS\s+(`(?:[^`]|``)+`|[A-Za-z_][A-Za-z0-9_]*)\s*$/gi)].at(-1)
    columns.push(alias === undefined ? item : unquote(alias[1]!))
    itemStart = i + 1
  }
  if (columns.length === 1 && columns[0] === "*") return undefined
  return columns.some((column) => column === "") ? undefined : columns
}
