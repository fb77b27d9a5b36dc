/**
 * The simulated Bedrock batch service as a `BatchInference` Layer: the port-level face of
 * {@link BedrockBatchModel}, the one model of the service that the HTTP emulator of
 * `@batch-extract/aws/local` also serves. It runs on Effect's `Clock`, so `TestClock` drives
 * it: jobs pass through the real status sequence with realistic timings (minutes), read
 * their input from the `ObjectStore`, and write the real output layout when they end.
 *
 * When to use: engine and pipeline tests, and tests of your own pipelines
 * (`@batch-extract/core/testing`). The state advances when the service is called — as a
 * client observes it — and always to the exact times the timings give.
 *
 * @since 0.1.0
 */
import { Effect, Layer, Result, Stream } from "effect"
import { BatchInference, type JobDescription } from "../engine/BatchInference.ts"
import type * as ObjectStore from "../engine/ObjectStore.ts"
import * as Model from "./BedrockBatchModel.ts"

export type {
  /** Counters the model keeps, for assertions. */
  Counters,
  Faults,
  ImposedStatus,
  Quotas,
  Timings
} from "./BedrockBatchModel.ts"

/** Default timings: about 3 minutes of queueing, then 0.1 s per record (at least a minute). */
export const defaultTimings: Model.Timings = {
  submittedMs: 5_000,
  validatingMs: 60_000,
  scheduledMs: 120_000,
  inProgressMs: 60_000,
  perRecordMs: 100,
  stoppingMs: 30_000,
  expireAfterMs: 60_000
}

/** Options of the simulation: the model's, with timings defaulting to {@link defaultTimings}. */
export interface Options extends Omit<Model.Options, "timings"> {
  readonly timings?: Partial<Model.Timings> | undefined
}

/** The simulation plus inspection helpers. */
export interface SimulatedBatchInference {
  readonly service: BatchInference["Service"]
  readonly counters: Effect.Effect<Model.Counters>
  /** Every job created so far, with its current status, newest first. */
  readonly jobs: Effect.Effect<ReadonlyArray<JobDescription>>
  /** Live (quota-counted) jobs right now. */
  readonly liveJobs: Effect.Effect<number>
  /** The model behind it (faults and quotas can be changed while it runs). */
  readonly model: Model.BedrockBatchModel
}

/** Build a simulation reading and writing files through the given store. */
export const make = (
  options: Options = {}
): Effect.Effect<SimulatedBatchInference, never, ObjectStore.ObjectStore> =>
  Effect.gen(function*() {
    const model = yield* Model.make({ ...options, timings: { ...defaultTimings, ...options.timings } })

    /** Count the call, roll its throttling, then run the operation; refusals become port errors. */
    const operate = <A>(
      operation: string,
      port: string,
      run: Effect.Effect<Result.Result<A, Model.Refusal>>
    ) =>
      Effect.gen(function*() {
        const throttled = yield* model.call(operation, "control")
        if (throttled !== undefined) return yield* Effect.fail(Model.toServiceError(port, throttled))
        const result = yield* run
        return Result.isFailure(result)
          ? yield* Effect.fail(Model.toServiceError(port, result.failure))
          : result.success
      })

    const service = BatchInference.of({
      createJob: (request) =>
        operate("CreateModelInvocationJob", "BatchInference.createJob", model.create(request)).pipe(
          Effect.map((job) => ({ jobArn: job.arn }))
        ),
      getJob: (id) =>
        operate("GetModelInvocationJob", "BatchInference.getJob", model.get(id)).pipe(Effect.map(Model.describe)),
      stopJob: (id) => operate("StopModelInvocationJob", "BatchInference.stopJob", model.stop(id)),
      listJobs: (request) =>
        Stream.unwrap(
          operate(
            "ListModelInvocationJobs",
            "BatchInference.listJobs",
            Effect.map(
              model.list({
                nameContains: request.nameContains,
                statusEquals: request.statusEquals,
                submitTimeAfter: request.submitTimeAfter?.getTime()
              }),
              Result.succeed
            )
          ).pipe(Effect.map((jobs) => Stream.fromIterable(jobs.map(Model.describe))))
        )
    })

    return {
      service,
      counters: model.counters,
      jobs: Effect.map(model.jobs, (jobs) => jobs.map(Model.describe)),
      liveJobs: model.liveJobs,
      model
    }
  })

/** A Layer with a fresh simulation (needs an `ObjectStore`). */
export const layer = (options: Options = {}): Layer.Layer<BatchInference, never, ObjectStore.ObjectStore> =>
  Layer.effect(BatchInference, Effect.map(make(options), (sim) => sim.service))
