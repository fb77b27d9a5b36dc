/**
 * The on-demand model port (bedrock-runtime): one model call, used for sets too small for a
 * batch job and for records a job could not answer.
 *
 * It takes exactly the `modelInput` a batch record carries and returns what a batch output
 * line would carry as `modelOutput`, so the same model, parameters and output reader serve
 * both paths.
 *
 * @since 0.1.0
 */
import { Context, type Effect } from "effect"
import type { InvocationType } from "./BatchInference.ts"
import type { ServiceError } from "./ServiceError.ts"

/** One on-demand call. */
export interface InvokeRequest {
  readonly modelId: string
  readonly invocationType: InvocationType
  /** The model's native body (InvokeModel) or a Converse request without `modelId`. */
  readonly body: unknown
}

/**
 * The on-demand model service.
 *
 * Gotchas: on-demand calls are billed at the full price and are subject to the runtime's
 * token and request quotas; the engine bounds their concurrency.
 */
export class ModelRuntime extends Context.Service<ModelRuntime, {
  /** Invoke the model once and return its response body (the batch `modelOutput` shape). */
  readonly invoke: (request: InvokeRequest) => Effect.Effect<unknown, ServiceError>
}>()("@batch-extract/core/ModelRuntime") {}
