/**
 * A deterministic `ModelRuntime` for tests: it answers with the {@link OfflineModel} in the
 * shape of the family the request belongs to, refuses bodies the service would refuse
 * (`RequestBodies`), counts calls, and can inject throttling and service errors.
 *
 * @since 0.1.0
 */
import { Effect, Layer, Random, Ref, Result } from "effect"
import * as ModelFamily from "../engine/ModelFamily.ts"
import { ModelRuntime } from "../engine/ModelRuntime.ts"
import * as ServiceError from "../engine/ServiceError.ts"
import * as OfflineModel from "./OfflineModel.ts"
import * as RequestBodies from "./RequestBodies.ts"

/** Options of the deterministic runtime. */
export interface Options {
  /** The family of every request (needed for application-inference-profile ARNs). */
  readonly family?: ModelFamily.FamilyName | undefined
  /** Fraction (0..1) of calls throttled. */
  readonly throttleRate?: number | undefined
  /** Fraction (0..1) of calls that fail with `Unavailable`. */
  readonly errorRate?: number | undefined
  /** Replace the offline model's answer (request body → response body or failure). */
  readonly respond?: ((family: ModelFamily.ModelFamily, body: unknown) => Result.Result<unknown, string>) | undefined
}

/** The runtime plus counters for assertions. */
export interface DeterministicModelRuntime {
  readonly service: ModelRuntime["Service"]
  /** Calls received (including failed ones). */
  readonly calls: Effect.Effect<number>
  /** The model ids the calls named. */
  readonly modelIds: Effect.Effect<ReadonlyArray<string>>
}

/** Build a deterministic runtime. */
export const make = (options: Options = {}): Effect.Effect<DeterministicModelRuntime> =>
  Effect.gen(function*() {
    const calls = yield* Ref.make(0)
    // Appended in place: copying the list on every call made a run of n calls cost O(n²).
    const modelIds: Array<string> = []
    const respond = options.respond ?? OfflineModel.respond
    const invoke: ModelRuntime["Service"]["invoke"] = (request) =>
      Effect.gen(function*() {
        yield* Ref.update(calls, (n) => n + 1)
        modelIds.push(request.modelId)
        const roll = yield* Random.next
        if (roll < (options.throttleRate ?? 0)) {
          return yield* new ServiceError.Throttled({
            operation: "ModelRuntime.invoke",
            message: "injected fault: too many requests",
            exceptionName: "ThrottlingException"
          })
        }
        if (roll < (options.throttleRate ?? 0) + (options.errorRate ?? 0)) {
          return yield* new ServiceError.Unavailable({
            operation: "ModelRuntime.invoke",
            message: "injected fault: service unavailable",
            exceptionName: "ServiceUnavailableException"
          })
        }
        const family = ModelFamily.resolve({
          modelId: request.modelId,
          family: options.family,
          invocationType: request.invocationType
        })
        if (Result.isFailure(family)) {
          return yield* new ServiceError.InvalidRequest({
            operation: "ModelRuntime.invoke",
            message: family.failure.message,
            exceptionName: "ValidationException"
          })
        }
        const invalid = RequestBodies.problemOf(family.success.name, request.body)
        if (invalid !== undefined) {
          return yield* new ServiceError.InvalidRequest({
            operation: "ModelRuntime.invoke",
            message: `Malformed input request: ${invalid}`,
            exceptionName: "ValidationException"
          })
        }
        const answer = respond(family.success, request.body)
        if (Result.isFailure(answer)) {
          return yield* new ServiceError.InvalidRequest({
            operation: "ModelRuntime.invoke",
            message: answer.failure,
            exceptionName: "ValidationException"
          })
        }
        return answer.success
      })
    return { service: ModelRuntime.of({ invoke }), calls: Ref.get(calls), modelIds: Effect.sync(() => [...modelIds]) }
  })

/** A Layer with a fresh deterministic runtime. */
export const layer = (options: Options = {}): Layer.Layer<ModelRuntime> =>
  Layer.effect(ModelRuntime, Effect.map(make(options), (runtime) => runtime.service))
