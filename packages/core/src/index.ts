/**
 * batch-extract core, in two halves:
 *
 * - the engine (`./engine`): configuration, records, the ports (`ObjectStore`,
 *   `BatchInference`, `ModelRuntime`), model families, the packer, job slots, batch jobs, the
 *   runner, run events and summaries — any workload of model calls as Bedrock batch jobs;
 * - the extraction (`./extraction`): documents, the chunker, ids, prompts, the parsers,
 *   `TextNode`, sinks, entity-classification inference and the pipelined two-stage extraction, built on the engine, with its
 *   own events and summary on top of the engine's (`ExtractionEvents`, `ExtractionSummary`).
 *
 * The engine imports nothing from the extraction. The test kit is `@batch-extract/core/testing`.
 *
 * @since 0.1.0
 */
// The engine
export * as AccountQuotas from "./engine/AccountQuotas.ts"
export * as BatchConfig from "./engine/BatchConfig.ts"
export * as BatchInference from "./engine/BatchInference.ts"
export * as BatchJob from "./engine/BatchJob.ts"
export * as BatchRecord from "./engine/BatchRecord.ts"
export * as BatchRunner from "./engine/BatchRunner.ts"
export * as BedrockPrices from "./engine/BedrockPrices.ts"
export * as JobSlots from "./engine/JobSlots.ts"
export * as ModelFamily from "./engine/ModelFamily.ts"
export * as ModelRuntime from "./engine/ModelRuntime.ts"
export * as ObjectStore from "./engine/ObjectStore.ts"
export * as Packer from "./engine/Packer.ts"
export * as Pricing from "./engine/Pricing.ts"
export * as RunEvents from "./engine/RunEvents.ts"
export * as RunState from "./engine/RunState.ts"
export * as RunSummary from "./engine/RunSummary.ts"
export * as ServiceError from "./engine/ServiceError.ts"
export * as Setting from "./engine/Setting.ts"

// The extraction
export * as Chunker from "./extraction/Chunker.ts"
export * as ClassificationInference from "./extraction/ClassificationInference.ts"
export * as Document from "./extraction/Document.ts"
export * as ExtractedChunk from "./extraction/ExtractedChunk.ts"
export * as Extraction from "./extraction/Extraction.ts"
export * as ExtractionConfig from "./extraction/ExtractionConfig.ts"
export * as ExtractionEvents from "./extraction/ExtractionEvents.ts"
export * as ExtractionSummary from "./extraction/ExtractionSummary.ts"
export * as Ids from "./extraction/Ids.ts"
export * as ParseDiagnostic from "./extraction/ParseDiagnostic.ts"
export * as Plan from "./extraction/Plan.ts"
export * as Prompts from "./extraction/Prompts.ts"
export * as Propositions from "./extraction/Propositions.ts"
export * as Sink from "./extraction/Sink.ts"
export * as TextNode from "./extraction/TextNode.ts"
export * as Topics from "./extraction/Topics.ts"

// Durable runs: the run state in SQL and the run as a workflow
export * as ExtractRun from "./run/ExtractRun.ts"
export * as RunStore from "./run/RunStore.ts"
export * as SharedJobSlots from "./run/SharedJobSlots.ts"

// The build stage: the lexical graph, the openCypher that writes it, the store ports
export * as Build from "./build/Build.ts"
export * as BuildConfig from "./build/BuildConfig.ts"
export * as ChunkFiles from "./build/ChunkFiles.ts"
export * as GraphModel from "./build/GraphModel.ts"
export * as GraphStore from "./build/GraphStore.ts"
export * as OpenCypher from "./build/OpenCypher.ts"
export * as VectorStore from "./build/VectorStore.ts"
