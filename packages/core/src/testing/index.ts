/**
 * The batch-extract test kit: in-memory and simulated Layers for every port, driven by
 * Effect's `Clock` so `TestClock` controls every timed path, and the conformance suite of the
 * graph and vector store ports ({@link StoreContract}). For this project's tests, for users
 * testing their own pipelines offline, and for adapters of other stores.
 *
 * @since 0.1.0
 */
export * as BedrockBatchModel from "./BedrockBatchModel.ts"
export * as DeterministicModelRuntime from "./DeterministicModelRuntime.ts"
export * as InMemoryObjectStore from "./InMemoryObjectStore.ts"
export * as OfflineModel from "./OfflineModel.ts"
export * as RequestBodies from "./RequestBodies.ts"
export * as SeededRandom from "./SeededRandom.ts"
export * as SimulatedBatchInference from "./SimulatedBatchInference.ts"
export * as StoreContract from "./StoreContract.ts"
export * as TestBackend from "./TestBackend.ts"
