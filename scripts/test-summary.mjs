// Prints the test totals as one plain line ("N passed, N failed") from vitest's JSON report.
import { existsSync, readFileSync } from "node:fs"

const file = process.argv[2] ?? ".vitest-report.json"
if (!existsSync(file)) process.exit(0)
const report = JSON.parse(readFileSync(file, "utf8"))
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0)
console.log(`${report.numPassedTests} passed, ${report.numFailedTests} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`)
