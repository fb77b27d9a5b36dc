/**
 * A lock file that lets one opener at a time work on a directory: created with `wx` (fails when
 * it exists), holding the process id and host; a lock whose process is gone is taken over.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs"
import { hostname } from "node:os"

/** Who holds a lock. */
export interface Holder {
  readonly pid: number
  readonly host: string
}

/** The outcome of an attempt to take a lock. */
export type Attempt =
  | { readonly _tag: "Acquired" }
  | { readonly _tag: "Held"; readonly holder: Holder; readonly thisProcess: boolean }

/** The lock files this process holds (a second open in the same process must fail too). */
const heldHere = new Set<string>()

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

const readHolder = (file: string): Holder | undefined => {
  try {
    const holder = JSON.parse(readFileSync(file, "utf8")) as Partial<Holder>
    return typeof holder.pid === "number" && typeof holder.host === "string"
      ? { pid: holder.pid, host: holder.host }
      : undefined
  } catch {
    return undefined
  }
}

/** Whether a lock's holder still works on the directory. */
const holds = (file: string, holder: Holder): boolean => {
  // Another host's process cannot be checked: its lock stands until removed by hand.
  if (holder.host !== hostname()) return true
  // Our own pid: held only if this process opened it (else a previous process with our pid left it).
  if (holder.pid === process.pid) return heldHere.has(file)
  return alive(holder.pid)
}

/** Take the lock file, or say who holds it. Throws on file-system errors. */
export const acquire = (file: string): Attempt => {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, "wx")
      try {
        writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname() }))
      } finally {
        closeSync(fd)
      }
      heldHere.add(file)
      return { _tag: "Acquired" }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
      const holder = readHolder(file)
      if (holder !== undefined && holds(file, holder)) {
        return { _tag: "Held", holder, thisProcess: holder.pid === process.pid && holder.host === hostname() }
      }
      // Left by a process that is gone (or unreadable): take it over.
      rmSync(file, { force: true })
    }
  }
  throw new Error(`could not take the lock file ${file}`)
}

/** Give the lock back: the file is removed if it is still ours. */
export const release = (file: string): void => {
  heldHere.delete(file)
  const holder = readHolder(file)
  if (holder === undefined || (holder.pid === process.pid && holder.host === hostname())) {
    rmSync(file, { force: true })
  }
}
