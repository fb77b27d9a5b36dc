/**
 * A plan of an extraction: what a run of these documents would send, and what it would cost,
 * before anything is sent. Documents are read and chunked, records built and packed into jobs
 * by the same code a run uses — `Extraction.chunksOf`, `Prompts`, `BatchRunner.packable` and
 * the `Packer` with the run's limits — but nothing is staged, no job is created, no model is
 * called and nothing is recorded.
 *
 * When to use: before a run (`batch-extract plan`, `extract --dry-run`), to see per stage the
 * records, the jobs with their record counts and bytes, what would go on demand and why, the
 * tokens and the estimated cost at batch and at on-demand prices.
 *
 * Details:
 * - Stage 1 (propositions) is planned from the records a run would build: its records, jobs,
 *   bytes and on-demand sets are the run's (for a run that asks nothing again), and its input
 *   tokens are counted offline with the chunker's tokenizer (cl100k_base; the model's own
 *   tokenizer counts somewhat differently).
 * - Output tokens are estimates: the stage's input tokens times a ratio ({@link
 *   defaultOutputRatios}, measured on the demo corpus; a real model answers at its own length).
 * - Stage 2 (topics) records depend on stage-1 answers: each chunk's is built from a stand-in
 *   for its propositions (the chunk's own text, repeated or cut to the expected length of its
 *   stage-1 answer) and packed like the run would; its bytes, jobs, tokens and cost are
 *   estimates. Without stage 1 (`enablePropositionExtraction: false`) its records are the run's.
 * - With `inferEntityClassifications`, the inference's on-demand calls are planned from the
 *   chunks it would sample (its prompts counted, its answers estimated) and the topic prompts
 *   offer the preferred classifications in their stead (an estimate).
 * - Each figure an estimate is named in its stage's `estimated`. Costs are `null` for a model
 *   without a price (`Pricing`), with a note.
 * - A run splits its inputs into parts and packs each part's records apart: give the plan the
 *   same parts (`RunStore.partitioner`) and it packs them apart too. A chunk in two parts is
 *   planned in the first.
 *
 * Gotchas: the plan assumes every record is answered the first time — no retries, no cut-off
 * answer asked again — and that no chunk was extracted before (a run skips chunks already in
 * its output).
 *
 * @since 0.3.0
 */
import { Effect, Stream } from "effect"
import * as BatchConfig from "../engine/BatchConfig.ts"
import * as BatchRunner from "../engine/BatchRunner.ts"
import type * as ModelFamily from "../engine/ModelFamily.ts"
import * as Packer from "../engine/Packer.ts"
import * as Pricing from "../engine/Pricing.ts"
import * as Chunker from "./Chunker.ts"
import * as ClassificationInference from "./ClassificationInference.ts"
import * as Extraction from "./Extraction.ts"
import * as ExtractionEvents from "./ExtractionEvents.ts"
import * as Prompts from "./Prompts.ts"

// -----------------------------------------------------------------------------
// Model
// -----------------------------------------------------------------------------

/**
 * Output tokens per input token, per stage: what the plan estimates answers with. Measured on
 * the demo corpus (`npm run demo`: 20 State of the Union addresses, 661 chunks) with the
 * offline model: propositions 188,305 / 336,316, topics 290,917 / 469,682. Classification
 * inference answers are estimated at {@link classificationAnswerTokens} tokens a call instead.
 */
export const defaultOutputRatios = { propositions: 0.56, topics: 0.62 } as const

/** Tokens a classification-inference answer is estimated at (a short list between tags). */
export const classificationAnswerTokens = 60

/** The stages of a plan (those of `Extraction`). */
export type Stage = Extraction.Stage

/** A planned batch job. */
export interface PlannedJob {
  /** The part of the run it belongs to (a run packs each part apart). */
  readonly part: number
  readonly records: number
  /** Bytes of its input file (the serialized records, one line each). */
  readonly bytes: number
}

/** Records that would go on demand, and why. */
export interface PlannedOnDemand {
  readonly part: number
  readonly records: number
  readonly reason: string
}

/** A record that would be refused without being sent, and why. */
export interface PlannedRejection {
  readonly part: number
  readonly recordId: string
  readonly reason: string
}

/** The estimated cost of a stage (US dollars): as planned, and all on demand. */
export interface PlannedCost {
  /** Records in jobs at the batch price, records going on demand at the on-demand price. */
  readonly batch: number
  /** Every record at the on-demand price (what the run would cost without batch). */
  readonly onDemand: number
}

/** One stage of the plan. */
export interface StagePlan {
  readonly stage: Stage
  readonly model: string
  readonly records: number
  /** Bytes of every record (serialized lines). */
  readonly bytes: number
  readonly jobs: ReadonlyArray<PlannedJob>
  readonly onDemand: ReadonlyArray<PlannedOnDemand>
  readonly rejected: ReadonlyArray<PlannedRejection>
  /** Input tokens (counted) and output tokens (estimated), in all and by how they would be billed. */
  readonly tokens: {
    readonly input: number
    readonly output: number
    readonly batch: Pricing.Tokens
    readonly onDemand: Pricing.Tokens
  }
  readonly cost: PlannedCost | null
  /** The figures of this stage that are estimates (`"tokens.output"`, `"bytes"`, …). */
  readonly estimated: ReadonlyArray<string>
}

/** The classification inference's calls (with `inferEntityClassifications`): on demand, estimated. */
export interface ClassificationsPlan {
  readonly calls: number
  readonly sampledChunks: number
  readonly tokens: Pricing.Tokens
  readonly cost: PlannedCost | null
  readonly estimated: ReadonlyArray<string>
}

/** A plan of an extraction run. */
export interface Plan {
  readonly model: string
  /** Documents read (with text). */
  readonly documents: number
  readonly skippedDocuments: ReadonlyArray<{ readonly path: string; readonly reason: string }>
  /** Chunks of the documents, duplicates included. */
  readonly chunks: number
  /** Chunks seen before in the run (not sent again). */
  readonly duplicateChunks: number
  /** Parts the run's inputs are split into. */
  readonly parts: number
  readonly stages: ReadonlyArray<StagePlan>
  readonly classifications?: ClassificationsPlan | undefined
  /** Every stage's tokens (and the classification calls'). */
  readonly tokens: Pricing.Tokens
  readonly cost: PlannedCost | null
  /** The prices used (`null` for a model without a price). */
  readonly prices: ReturnType<typeof Pricing.describePrice> | null
  /** The output/input ratios the estimates use. */
  readonly outputRatios: Readonly<Record<"propositions" | "topics", number>>
  readonly notes: ReadonlyArray<string>
}

/** What {@link plan} needs. */
export interface PlanOptions {
  readonly batch: BatchConfig.BatchConfig
  readonly extraction: Extraction.ExtractionConfig
  /** Output/input token ratios per stage (default {@link defaultOutputRatios}). */
  readonly outputRatios?: Partial<Record<"propositions" | "topics", number>> | undefined
}

// -----------------------------------------------------------------------------
// Packing
// -----------------------------------------------------------------------------

interface Item extends BatchRunner.Packable {
  readonly inputTokens: number
  readonly outputTokens: number
}

/** One stage's packing, part after part, as the run's runner of that stage would pack it. */
class StagePacker {
  readonly jobs: Array<PlannedJob> = []
  readonly onDemand: Array<PlannedOnDemand> = []
  readonly rejected: Array<PlannedRejection> = []
  records = 0
  bytes = 0
  batch: Pricing.Tokens = Pricing.noTokens
  onDemandTokens: Pricing.Tokens = Pricing.noTokens
  private readonly limits: Packer.Limits
  private planner: Packer.Planner<Item>
  private part = 0

  constructor(limits: Packer.Limits) {
    this.limits = limits
    this.planner = new Packer.Planner<Item>(limits)
  }

  /** Start the next part: its records are packed apart from the previous part's. */
  startPart(part: number) {
    this.take(this.planner.finish())
    this.planner = new Packer.Planner<Item>(this.limits)
    this.part = part
  }

  push(item: Item) {
    this.records += 1
    this.bytes += item.bytes
    this.take(this.planner.push(item))
  }

  finish() {
    this.take(this.planner.finish())
  }

  private take(plans: ReadonlyArray<Packer.Plan<Item>>) {
    for (const plan of plans) {
      switch (plan._tag) {
        case "Job":
          this.jobs.push({ part: this.part, records: plan.items.length, bytes: plan.bytes })
          this.batch = Pricing.addTokens(this.batch, tokensOf(plan.items))
          break
        case "OnDemand":
          this.onDemand.push({ part: this.part, records: plan.items.length, reason: plan.reason })
          this.onDemandTokens = Pricing.addTokens(this.onDemandTokens, tokensOf(plan.items))
          break
        case "Rejected":
          this.rejected.push({ part: this.part, recordId: plan.item.record.recordId, reason: plan.reason })
          break
        case "Passthrough":
          break
      }
    }
  }
}

const tokensOf = (items: ReadonlyArray<Item>): Pricing.Tokens =>
  items.reduce((sum, item) => ({ input: sum.input + item.inputTokens, output: sum.output + item.outputTokens }), {
    input: 0,
    output: 0
  })

/** Tokens of a prompt, counted offline (cl100k_base). */
export const promptTokens = (prompt: ModelFamily.Prompt): number =>
  (prompt.system === undefined ? 0 : Chunker.countTokens(prompt.system)) + Chunker.countTokens(prompt.user)

/**
 * A stand-in for a chunk's stage-1 answer of about `characters` characters: the chunk's own
 * text, repeated or cut at a word — text of the chunk's vocabulary, so its tokens are near
 * what the answer's would be.
 */
export const standInPropositions = (text: string, characters: number): string => {
  const source = text.trim()
  if (source === "" || characters <= 0) return ""
  let out = source
  while (out.length < characters) out += `\n${source}`
  if (out.length === characters) return out
  const cut = out.lastIndexOf(" ", characters)
  return out.slice(0, cut > characters / 2 ? cut : characters)
}

const rounded = (n: number) => Math.round(n)

// -----------------------------------------------------------------------------
// The plan
// -----------------------------------------------------------------------------

/**
 * Plan an extraction of documents, given part by part (each element: one part's documents, in
 * the run's order; one element for a run of one part). Reads and chunks every document; sends
 * nothing. Fails only when the configuration names no model family.
 */
export const plan = <E, R>(
  parts: Stream.Stream<Stream.Stream<Extraction.DocumentInput, E, R>, E, R>,
  options: PlanOptions
): Effect.Effect<Plan, E | ModelFamily.UnknownModelFamily, R> =>
  Effect.gen(function*() {
    const { batch, extraction } = options
    const ratios = { ...defaultOutputRatios, ...options.outputRatios }
    const family = yield* Effect.fromResult(BatchConfig.modelFamily(batch))
    const parameters = BatchConfig.inferenceParameters(batch)
    const limits = Packer.limitsOf(batch)
    const model = batch.model.modelId
    const withPropositions = extraction.enablePropositionExtraction
    const inference = extraction.inferEntityClassifications ? ClassificationInference.optionsOf(extraction) : undefined
    const topicsOptions: Prompts.TopicsOptions = {
      template: extraction.topicsPrompt,
      // Inferred classifications are not known before the run: the preferred ones stand in.
      preferredEntityClassifications: extraction.preferredEntityClassifications,
      preferredTopics: extraction.preferredTopics
    }

    const stage1 = new StagePacker(limits)
    const stage2 = new StagePacker(limits)
    const sample: Array<ClassificationInference.SampleChunk> = []
    const sampleSize = inference === undefined ? 0 : ClassificationInference.sampleSize(inference)
    const admitted = new Set<string>()
    let documents = 0
    let chunks = 0
    let duplicateChunks = 0
    const skippedDocuments: Array<{ path: string; reason: string }> = []
    const counting: ExtractionEvents.Handler = {
      publish: (event) =>
        Effect.sync(() => {
          if (event._tag === "DocumentRead") {
            if (event.chunks > 0) documents += 1
            chunks += event.chunks
            duplicateChunks += event.duplicateChunks + event.skippedChunks
          } else if (event._tag === "DocumentSkipped") {
            skippedDocuments.push({ path: event.path, reason: event.reason })
          }
        })
    }

    const planChunk = (chunk: Chunker.Chunk) => {
      if (sample.length < sampleSize) sample.push({ id: chunk.id, text: chunk.text })
      let expectedPropositions: ReadonlyArray<string> | undefined = undefined
      if (withPropositions) {
        const prompt = Prompts.propositionsPrompt(chunk, { template: extraction.propositionsPrompt })
        const inputTokens = promptTokens(prompt)
        const record = Prompts.propositionsRecord(chunk, family, parameters, {
          template: extraction.propositionsPrompt
        })
        stage1.push({ ...BatchRunner.packable(record), inputTokens, outputTokens: inputTokens * ratios.propositions })
        // The answer's expected length, in characters of the prompt's own density.
        const characters = (prompt.system ?? "").length + prompt.user.length
        expectedPropositions = [standInPropositions(chunk.text, Math.round(characters * ratios.propositions))]
      }
      const prompt = Prompts.topicsPrompt(chunk, expectedPropositions, topicsOptions)
      const inputTokens = promptTokens(prompt)
      const record = Prompts.topicsRecord(chunk, expectedPropositions, family, parameters, topicsOptions)
      stage2.push({ ...BatchRunner.packable(record), inputTokens, outputTokens: inputTokens * ratios.topics })
    }

    let partCount = 0
    yield* parts.pipe(
      Stream.runForEach((documentsOfPart) =>
        Effect.gen(function*() {
          const part = partCount++
          if (part > 0) {
            stage1.startPart(part)
            stage2.startPart(part)
          }
          yield* Extraction.chunksOf(documentsOfPart, {
            chunking: Extraction.chunkingOf(extraction),
            extractionBatchSize: extraction.extractionBatchSize,
            // A chunk already in an earlier part is that part's (as the run state admits it).
            admitChunks: (fresh) =>
              Effect.sync(() =>
                fresh.filter((chunk) => (admitted.has(chunk.id) ? false : (admitted.add(chunk.id), true)))
              )
          }).pipe(
            Stream.runForEach((chunk) => Effect.sync(() => planChunk(chunk))),
            Effect.provideService(ExtractionEvents.ExtractionEvents, counting)
          )
        })
      )
    )
    stage1.finish()
    stage2.finish()

    const priced = Pricing.lookup(model, batch.prices)
    const costOf = (tokens: Pricing.TokensByVia): PlannedCost | null =>
      priced === undefined ? null : {
        batch: Pricing.costOf(priced.price, tokens).total,
        onDemand: Pricing.costOf(priced.price, {
          batch: Pricing.noTokens,
          onDemand: Pricing.addTokens(tokens.batch, tokens.onDemand)
        }).total
      }
    const stagePlan = (stage: Stage, packer: StagePacker, estimated: ReadonlyArray<string>): StagePlan => {
      const batchTokens = { input: packer.batch.input, output: rounded(packer.batch.output) }
      const onDemandTokens = { input: packer.onDemandTokens.input, output: rounded(packer.onDemandTokens.output) }
      return {
        stage,
        model,
        records: packer.records,
        bytes: packer.bytes,
        jobs: packer.jobs,
        onDemand: packer.onDemand,
        rejected: packer.rejected,
        tokens: {
          input: batchTokens.input + onDemandTokens.input,
          output: batchTokens.output + onDemandTokens.output,
          batch: batchTokens,
          onDemand: onDemandTokens
        },
        cost: costOf({ batch: batchTokens, onDemand: onDemandTokens }),
        estimated: priced === undefined ? estimated : [...estimated, "cost"]
      }
    }
    const stages: Array<StagePlan> = []
    if (withPropositions) stages.push(stagePlan("propositions", stage1, ["tokens.output"]))
    stages.push(
      stagePlan(
        "topics",
        stage2,
        withPropositions ? ["bytes", "jobs.bytes", "tokens.input", "tokens.output"] : ["tokens.output"]
      )
    )

    const notes: Array<string> = [
      "input tokens are counted offline with the cl100k_base tokenizer; the model's tokenizer counts differently",
      `output tokens are estimates: input tokens × ${ratios.propositions} (propositions) and × ${ratios.topics} ` +
      "(topics), ratios measured on the demo corpus",
      "the plan assumes every record is answered the first time: retries and cut-off answers asked again on " +
      "demand are not planned"
    ]
    if (withPropositions) {
      notes.push(
        "topic records depend on the propositions the model answers: their sizes, jobs' bytes and tokens are " +
          "estimated from a stand-in of the expected length"
      )
    }
    let classifications: ClassificationsPlan | undefined = undefined
    if (inference !== undefined) {
      const rounds = ClassificationInference.rounds(sample, inference)
      const calls = rounds.length === 0 ? 0 : rounds.length + 1
      const proposed = Array.from(
        { length: Math.min(inference.numClassifications, 5 * rounds.length) },
        (_, i) => `Classification ${i + 1}`
      )
      const input = rounds.reduce((n, round) =>
        n + promptTokens(ClassificationInference.roundPrompt(round, inference)), 0) +
        (calls === 0 ? 0 : promptTokens(ClassificationInference.rankPrompt(proposed)))
      const tokens = { input, output: calls * classificationAnswerTokens }
      classifications = {
        calls,
        sampledChunks: sample.length,
        tokens,
        cost: costOf({ batch: Pricing.noTokens, onDemand: tokens }),
        estimated: ["tokens.input", "tokens.output", ...(priced === undefined ? [] : ["cost"])]
      }
      notes.push(
        "entity classifications are inferred on demand before the topic stage: the topic prompts are planned " +
          "with the preferred classifications in their stead"
      )
    }
    if (priced === undefined) notes.push(Pricing.unknownModelNote(model))

    const allTokens = [
      ...stages.map((s) => s.tokens),
      ...(classifications === undefined ? [] : [classifications.tokens])
    ]
    const tokens = allTokens.reduce<Pricing.Tokens>(
      (sum, t) => ({ input: sum.input + t.input, output: sum.output + t.output }),
      Pricing.noTokens
    )
    const costs = [...stages.map((s) => s.cost), classifications?.cost]
    const cost = priced === undefined ? null : costs.reduce<PlannedCost>(
      (sum, c) =>
        c === null || c === undefined ? sum : {
          batch: Pricing.roundUsd(sum.batch + c.batch),
          onDemand: Pricing.roundUsd(sum.onDemand + c.onDemand)
        },
      { batch: 0, onDemand: 0 }
    )
    return {
      model,
      documents,
      skippedDocuments,
      chunks,
      duplicateChunks,
      parts: partCount,
      stages,
      ...(classifications === undefined ? {} : { classifications }),
      tokens,
      cost,
      prices: priced === undefined ? null : Pricing.describePrice(priced),
      outputRatios: ratios,
      notes
    }
  })
