/**
 * batch-extract core: the Bedrock batch-inference engine and its ports.
 *
 * @since 0.1.0
 */
export * as BatchConfig from "./BatchConfig.ts"
export * as BatchInference from "./BatchInference.ts"
export * as BatchJob from "./BatchJob.ts"
export * as BatchRecord from "./BatchRecord.ts"
export * as BatchRunner from "./BatchRunner.ts"
export * as Chunker from "./Chunker.ts"
export * as Document from "./Document.ts"
export * as Extraction from "./Extraction.ts"
export * as Ids from "./Ids.ts"
export * as JobSlots from "./JobSlots.ts"
export * as ModelFamily from "./ModelFamily.ts"
export * as ModelRuntime from "./ModelRuntime.ts"
export * as ObjectStore from "./ObjectStore.ts"
export * as Packer from "./Packer.ts"
export * as ParseDiagnostic from "./ParseDiagnostic.ts"
export * as Prompts from "./Prompts.ts"
export * as Propositions from "./Propositions.ts"
export * as RunEvents from "./RunEvents.ts"
export * as RunLedger from "./RunLedger.ts"
export * as RunSummary from "./RunSummary.ts"
export * as ServiceError from "./ServiceError.ts"
export * as Topics from "./Topics.ts"
