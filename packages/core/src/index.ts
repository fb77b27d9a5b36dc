/**
 * batch-extract core: the Bedrock batch-inference engine and its ports.
 *
 * @since 0.1.0
 */
export * as BatchConfig from "./BatchConfig.ts"
export * as BatchInference from "./BatchInference.ts"
export * as ModelFamily from "./ModelFamily.ts"
export * as ModelRuntime from "./ModelRuntime.ts"
export * as ObjectStore from "./ObjectStore.ts"
export * as ServiceError from "./ServiceError.ts"
export * as Document from "./Document.ts"
export * as Ids from "./Ids.ts"
export * as Chunker from "./Chunker.ts"
export * as ParseDiagnostic from "./ParseDiagnostic.ts"
export * as Propositions from "./Propositions.ts"
export * as Topics from "./Topics.ts"
