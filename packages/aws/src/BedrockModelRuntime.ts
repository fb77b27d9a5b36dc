/**
 * The live `ModelRuntime` on Amazon Bedrock runtime (`@aws-sdk/client-bedrock-runtime`):
 * `InvokeModel` for native bodies, `Converse` for the Converse invocation type.
 *
 * When to use: the engine's on-demand path (sets too small for a batch job, and records a
 * job could not answer). Configure it with the same region as the batch path (the
 * `BatchConfig.region`); the request carries the same model id and body as a batch record.
 *
 * Details:
 * - `InvokeModel`: the request body is sent as JSON and the response body parsed back, so the
 *   result has exactly the shape of a batch output line's `modelOutput`.
 * - `Converse`: the body is a Converse request without `modelId` (as in a batch record); the
 *   result is the Converse response shape `{output: {message: {content: [{text}]}},
 *   stopReason, usage}`, which is also what a Converse batch job writes.
 * - The runtime client speaks HTTP/2; interrupting a call aborts its stream.
 *
 * Gotchas: on-demand calls are billed at the full price and count against the runtime's
 * token and request quotas; the client never retries (`maxAttempts: 1`).
 *
 * @since 0.1.0
 */
import {
  type BedrockRuntimeClient,
  ConverseCommand,
  type ConverseCommandInput,
  type ConverseCommandOutput,
  InvokeModelCommand
} from "@aws-sdk/client-bedrock-runtime"
import { ModelRuntime, ServiceError } from "@batch-extract/core"
import { type Config, Effect, Layer, type Scope } from "effect"
import * as AwsClients from "./AwsClients.ts"
import * as SdkError from "./SdkError.ts"

/** Options of the live runtime. */
export interface Options {
  /** Client settings (region, endpoint, credentials). */
  readonly client?: AwsClients.ClientSettings | undefined
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** A Converse response → the Converse batch output shape (plain JSON). */
export const fromConverseOutput = (response: ConverseCommandOutput): Record<string, unknown> => {
  const message = response.output !== undefined && "message" in response.output ? response.output.message : undefined
  const content = (message?.content ?? []).map((
    block
  ): unknown => ("text" in block && block.text !== undefined ? { text: block.text } : block))
  return {
    output: { message: { role: message?.role ?? "assistant", content } },
    stopReason: response.stopReason,
    usage: {
      inputTokens: response.usage?.inputTokens ?? 0,
      outputTokens: response.usage?.outputTokens ?? 0,
      totalTokens: response.usage?.totalTokens ?? 0
    }
  }
}

/** Build the runtime on an existing client (the caller owns the client's lifetime). */
export const fromClient = (client: BedrockRuntimeClient): ModelRuntime.ModelRuntime["Service"] => {
  const invokeModel = (modelId: string, body: unknown) =>
    SdkError.attempt("ModelRuntime.invoke", (signal) =>
      client.send(
        new InvokeModelCommand({
          modelId,
          contentType: "application/json",
          accept: "application/json",
          body: encoder.encode(JSON.stringify(body))
        }),
        { abortSignal: signal }
      )).pipe(
        Effect.flatMap((response) =>
          Effect.try({
            try: (): unknown => JSON.parse(decoder.decode(response.body)),
            catch: (cause) =>
              new ServiceError.Unavailable({
                operation: "ModelRuntime.invoke",
                message: "the model's response body is not JSON",
                requestId: response.$metadata.requestId,
                cause
              })
          })
        )
      )

  const converse = (modelId: string, body: unknown) =>
    isRecord(body)
      ? SdkError.attempt("ModelRuntime.invoke", (signal) =>
        client.send(new ConverseCommand({ ...body, modelId } as ConverseCommandInput), { abortSignal: signal })).pipe(
          Effect.map(fromConverseOutput)
        )
      : Effect.fail(
        new ServiceError.InvalidRequest({
          operation: "ModelRuntime.invoke",
          message: "a Converse request body must be an object"
        })
      )

  const invoke = Effect.fn("ModelRuntime.invoke")(function*(request: ModelRuntime.InvokeRequest) {
    return yield* request.invocationType === "Converse"
      ? converse(request.modelId, request.body)
      : invokeModel(request.modelId, request.body)
  })

  return ModelRuntime.ModelRuntime.of({ invoke })
}

/** Build the runtime with its own client, destroyed when the scope closes. */
export const make = (
  options: Options = {}
): Effect.Effect<ModelRuntime.ModelRuntime["Service"], never, Scope.Scope> =>
  Effect.map(AwsClients.bedrockRuntimeClient(options.client), fromClient)

/** The runtime as a Layer, with exactly the given settings. */
export const layer = (options: Options = {}): Layer.Layer<ModelRuntime.ModelRuntime> =>
  Layer.effect(ModelRuntime.ModelRuntime, make(options))

/**
 * The runtime as a Layer whose client settings come from `Config` (`AWS_REGION`,
 * `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`…), with explicit `options.client` settings taking
 * precedence.
 */
export const layerConfig = (options: Options = {}): Layer.Layer<ModelRuntime.ModelRuntime, Config.ConfigError> =>
  Layer.effect(
    ModelRuntime.ModelRuntime,
    Effect.flatMap(
      AwsClients.config({ region: options.client?.region }),
      (settings) => make({ ...options, client: AwsClients.merge(settings, options.client ?? {}) })
    )
  )
