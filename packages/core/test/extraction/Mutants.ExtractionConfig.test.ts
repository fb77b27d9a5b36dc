/**
 * Extraction settings checked together: an overlap that does not fit the chunk size (only
 * when chunks are sized), prompt templates without their text, each reported at its path.
 */
import { ExtractionConfig, Prompts, Setting } from "@batch-extract/core"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"

const issuesOf = (input: unknown) => Effect.map(Effect.flip(ExtractionConfig.decode(input)), (error) => error.issues)

describe("ExtractionConfig checks across settings", () => {
  it.effect("refuses an overlap as large as the chunk size, unless chunks are not sized", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* issuesOf({ chunkSize: 64, chunkOverlap: 64 }), [
        { path: "extraction.chunkOverlap", message: "must be smaller than chunkSize" }
      ])
      const whole = yield* ExtractionConfig.decode({ chunking: "none", chunkSize: 64, chunkOverlap: 64 })
      assert.strictEqual(whole.chunking, "none")
      assert.strictEqual((yield* ExtractionConfig.make({ chunkSize: 64, chunkOverlap: 63 })).chunkOverlap, 63)
    }))

  it.effect("refuses a prompt template without its text placeholder, at the template's path", () =>
    Effect.gen(function*() {
      const issues = yield* issuesOf({
        propositionsPrompt: { user: "no placeholder" },
        topicsPrompt: { system: "none here either", user: "nor here" }
      })
      assert.deepStrictEqual(issues.map((issue) => issue.path), [
        "extraction.propositionsPrompt",
        "extraction.topicsPrompt"
      ])
      for (const issue of issues) assert.include(issue.message, "{text}")
      // The placeholder may be in the system part.
      const fine = yield* ExtractionConfig.decode({ topicsPrompt: { system: "Read {text}.", user: "Answer." } })
      assert.deepStrictEqual(fine.topicsPrompt, { system: "Read {text}.", user: "Answer." })
      assert.isUndefined(Prompts.templateProblem({ system: "Read {text}.", user: "Answer." }))
    }))

  it.effect("lists every problem of an input at once, each under extraction.", () =>
    Effect.gen(function*() {
      const issues = yield* issuesOf({ chunkSize: "big", extractionBatchSize: 0, unknown: 1 })
      assert.deepStrictEqual(issues.map((issue) => issue.path).sort(), [
        "extraction.chunkSize",
        "extraction.extractionBatchSize",
        "extraction.unknown"
      ])
    }))

  it.effect("reports a layerConfig's problems under extraction., each at its environment variable", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.provide(Effect.service(ExtractionConfig.CurrentExtractionConfig), ExtractionConfig.layerConfig()).pipe(
          Effect.provideService(
            ConfigProvider.ConfigProvider,
            ConfigProvider.fromUnknown({ BATCH_EXTRACT_CHUNK_SIZE: "big", EXTRACTION_BATCH_SIZE: "0" })
          )
        )
      )
      const message = error.cause.message
      assert.match(message, /extraction\.chunkSize: must be a number, got "big"\n {2}at \["BATCH_EXTRACT_CHUNK_SIZE"\]/)
      assert.match(
        message,
        /extraction\.extractionBatchSize: must be a whole number of at least 1, got 0\n {2}at \["EXTRACTION_BATCH_SIZE"\]/
      )
    }))

  it.effect("defaults to no preferred topics", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual((yield* ExtractionConfig.decode({})).preferredTopics, [])
    }))

  it("declares every setting with a kind that fits its default, help text, and a flag of its own", () => {
    const entries = Setting.entries(ExtractionConfig.settings)
    const flags = entries.flatMap((entry) => (entry.flag === undefined ? [] : [entry.flag]))
    assert.strictEqual(new Set(flags).size, flags.length)
    for (const entry of entries) {
      const { setting } = entry
      assert.isAbove(setting.description.length, 0, entry.name)
      if (setting.reference !== undefined) assert.isAbove(setting.reference.length, 0, entry.name)
      if (setting.defaultText !== undefined) assert.isAbove(setting.defaultText.length, 0, entry.name)
      if (entry.flag !== undefined) assert.match(entry.flag, /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/, entry.name)
      const fits: Record<Setting.Kind, (value: unknown) => boolean> = {
        string: (value) => typeof value === "string",
        integer: (value) => Number.isInteger(value),
        number: (value) => typeof value === "number",
        boolean: (value) => typeof value === "boolean",
        list: (value) => Array.isArray(value),
        tags: (value) => typeof value === "object",
        object: (value) => typeof value === "object"
      }
      assert.property(fits, setting.kind, entry.name)
      if (setting.presence === "defaulted") assert.isTrue(fits[setting.kind](setting.default), entry.name)
      // Objects (prompt templates) come from files or code only.
      if (setting.kind === "object") assert.isUndefined(entry.flag, entry.name)
    }
  })
})
