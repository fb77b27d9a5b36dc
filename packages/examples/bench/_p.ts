import { Chunker } from "@batch-extract/core"
import { Effect } from "effect"
import * as fs from "node:fs"
import { addresses, documentOf } from "./corpus.ts"
import { output } from "./throughput.ts"
const pool = addresses().filter((_, i) => i % 3 === 0).flatMap((a) => Effect.runSync(Chunker.chunk(documentOf(a))))
const root = fs.mkdtempSync("/dev/shm/bench-")
for (let i = 0; i < 2; i++) {
  const o = await output(pool, 200000, root)
  console.log(o.ratio, o.cpuRatio, o.seconds, o.floorSeconds)
}
fs.rmSync(root, { recursive: true, force: true })
