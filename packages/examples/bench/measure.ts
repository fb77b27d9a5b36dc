/**
 * Measuring helpers: wall-clock timing (the bench is not library code: `performance.now()` is
 * fine here), a forced garbage collection between measurements, and peak memory.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as v8 from "node:v8"
import * as vm from "node:vm"

v8.setFlagsFromString("--expose-gc")
const collect = vm.runInNewContext("gc") as () => void

/** Collect garbage now, so one measurement does not pay for the previous one's garbage. */
export const gc = (): void => collect()

/** Run `f` and return its result and the wall-clock seconds it took. */
export const time = async <A>(f: () => Promise<A> | A): Promise<[A, number]> => {
  const start = performance.now()
  const result = await f()
  return [result, (performance.now() - start) / 1000]
}

/** Run `f` and return its result, the wall-clock seconds and the CPU seconds (user + system) it took. */
export const timeCpu = async <A>(f: () => Promise<A> | A): Promise<[A, number, number]> => {
  const cpu = process.cpuUsage()
  const start = performance.now()
  const result = await f()
  const wall = (performance.now() - start) / 1000
  const used = process.cpuUsage(cpu)
  return [result, wall, (used.user + used.system) / 1e6]
}

/** Peak resident set size of this process, in MiB (`VmHWM`, else `maxRSS`). */
export const peakRssMiB = (): number => {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync("/proc/self/status", "utf8"))
    if (match !== null) return Number(match[1]) / 1024
  } catch {
    // Not Linux: fall back to the portable figure.
  }
  return process.resourceUsage().maxRSS / 1024
}

/**
 * A scratch directory in memory when the machine has one with room (so disk write-back and
 * `fsync` do not add noise), else in the temporary directory.
 */
export const scratch = (prefix = "batch-extract-bench-"): string => {
  const shm = "/dev/shm"
  try {
    if (fs.statfsSync(shm).bavail * fs.statfsSync(shm).bsize > 4 * 1024 ** 3) {
      return fs.mkdtempSync(path.join(shm, prefix))
    }
  } catch {
    // No /dev/shm: use the temporary directory.
  }
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix))
}
