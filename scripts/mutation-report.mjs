// The mutation run's figures for TESTING.md (`npm run mutation:report`): the score per module and
// per group (engine, extraction) from Stryker's JSON report, and every surviving mutant (survived
// or not covered) as a table row, with the judgement TESTING.md already gives it, matched by
// file, line, mutator and replacement. A row without a judgement says so: it is a mutant to judge
// (equivalent, or a missing test to write).
//
//   node scripts/mutation-report.mjs [reports/mutation/mutation.json] [TESTING.md]
import { readFileSync } from "node:fs"

const [reportPath = "reports/mutation/mutation.json", testingPath = "TESTING.md"] = process.argv.slice(2)
const report = JSON.parse(readFileSync(reportPath, "utf8"))

const detected = new Set(["Killed", "Timeout"])
const undetected = new Set(["Survived", "NoCoverage"])

/** The group a mutated file belongs to, and its short name. */
const moduleOf = (path) => {
  const match = /packages\/core\/src\/(engine|extraction)\/(.+)\.ts$/.exec(path)
  return match ? { group: match[1], name: match[2] } : { group: "other", name: path }
}

const tally = () => ({ killed: 0, timeout: 0, survived: 0, noCoverage: 0, ignored: 0, errors: 0 })
const add = (counts, status) => {
  if (status === "Killed") counts.killed++
  else if (status === "Timeout") counts.timeout++
  else if (status === "Survived") counts.survived++
  else if (status === "NoCoverage") counts.noCoverage++
  else if (status === "Ignored") counts.ignored++
  else counts.errors++
}
const percent = (part, whole) => (whole === 0 ? "n/a" : `${((100 * part) / whole).toFixed(2)}%`)
const score = (c) => percent(c.killed + c.timeout, c.killed + c.timeout + c.survived + c.noCoverage)
/** The score if every static mutant (not run) had survived: a lower bound. */
const floor = (c) => percent(c.killed + c.timeout, c.killed + c.timeout + c.survived + c.noCoverage + c.ignored)

const cell = (text, max = 60) => {
  const flat = text.replace(/\s+/g, " ").trim()
  return (flat.length > max ? flat.slice(0, max - 1) + "…" : flat).replaceAll("|", "\\|").replaceAll("`", "'")
}

// Judgements already written: the last cell of a survivors row, by its first three cells
// (where, mutator, change), which stay the same across runs while the code does not move.
const judged = new Map()
try {
  for (const line of readFileSync(testingPath, "utf8").split("\n")) {
    const cells = line.split(/ (?<!\\)\| /)
    if (/^\| (engine|extraction)\//.test(line) && cells.length >= 4) {
      const judgement = cells.at(-1).replace(/ \|$/, "")
      if (judgement !== "to judge") judged.set(cells.slice(0, 3).join(" | "), judgement)
    }
  }
} catch {
  // No TESTING.md yet: every survivor is to judge.
}

const modules = new Map()
const groups = new Map()
const survivors = []
for (const [path, file] of Object.entries(report.files)) {
  const { group, name } = moduleOf(path)
  const counts = modules.get(`${group}/${name}`) ?? tally()
  const groupCounts = groups.get(group) ?? tally()
  for (const mutant of file.mutants) {
    add(counts, mutant.status)
    add(groupCounts, mutant.status)
    if (undetected.has(mutant.status)) {
      const lines = file.source.split("\n")
      const { start, end } = mutant.location
      const original = start.line === end.line
        ? lines[start.line - 1].slice(start.column - 1, end.column - 1)
        : lines[start.line - 1].slice(start.column - 1) + " …"
      const where = `| ${group}/${name}:${start.line}:${start.column}`
      const change = `\`${cell(original, 50)}\` → \`${cell(mutant.replacement ?? "", 50)}\``
      survivors.push({ key: [where, mutant.mutatorName, change].join(" | "), status: mutant.status, line: start.line })
    }
  }
  modules.set(`${group}/${name}`, counts)
  groups.set(group, groupCounts)
}

const row = (name, c) =>
  `| ${name} | ${c.killed} | ${c.timeout} | ${c.survived} | ${c.noCoverage} | ${c.ignored} | ${c.errors} | ${score(c)} | ${floor(c)} |`
const out = []
out.push("| module | killed | timed out | survived | no coverage | static (not run) | errors | score | static counted as survived |")
out.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for (const [group, counts] of [...groups].sort()) {
  out.push(row(`**${group}**`, counts))
  for (const [name, c] of [...modules].filter(([name]) => name.startsWith(`${group}/`)).sort()) {
    out.push(row(name.slice(group.length + 1), c))
  }
}
out.push("")
out.push("| where | mutator | change | status | judgement |")
out.push("|---|---|---|---|---|")
let unjudged = 0
for (const survivor of survivors.sort((a, b) => a.key.localeCompare(b.key, "en", { numeric: true }))) {
  const judgement = judged.get(survivor.key) ?? "to judge"
  if (judgement === "to judge") unjudged++
  out.push(`${survivor.key} | ${survivor.status} | ${judgement} |`)
}
process.stdout.write(out.join("\n") + "\n")
process.stderr.write(`${survivors.length} surviving mutants, ${unjudged} to judge\n`)
