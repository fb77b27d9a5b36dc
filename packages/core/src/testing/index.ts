/**
 * The batch-extract test kit: in-memory and simulated Layers for every port, driven by
 * Effect's `Clock` so `TestClock` controls every timed path. For this project's tests and
 * for users testing their own pipelines offline.
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
export * as TestBackend from "./TestBackend.ts"
