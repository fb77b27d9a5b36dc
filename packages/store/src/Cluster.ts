/**
 * The workflow engine of a process that is one runner of a cluster on a shared database:
 * `effect/cluster`'s socket runners, their messages, replies and shard locks in the database
 * (`SqlMessageStorage`, `SqlRunnerStorage`), runners talking to each other over TCP.
 *
 * Every runner owns a share of the shards (300), and a workflow runs on the runner that owns
 * its shard; runners joining or leaving share the shards out again. A runner that dies keeps
 * its shard locks until they expire: then the others take its workflows over, and the
 * workflows continue from their last completed activity.
 *
 * **Details**
 *
 * - `takeover`: how long a dead runner's shards stay locked (the shard lock's expiry; the
 *   locks are refreshed at a third of it). Takeover after a SIGKILL takes about this long plus
 *   a few seconds; a runner that stops normally hands its shards over at once.
 * - `address` is where the other runners reach this one (it must be reachable from every
 *   host of the cluster); the process listens on `listen`, by default the same address.
 * - Needs the `SqlClient` of the database (PostgreSQL: shard locks are advisory locks).
 *
 * @since 0.3.0
 */
import { NodeClusterSocket } from "@effect/platform-node"
import { Duration, Layer, Option } from "effect"
import {
  ClusterWorkflowEngine,
  RunnerAddress,
  RunnerHealth,
  Runners,
  ShardingConfig,
  SocketRunner,
  SqlMessageStorage,
  SqlRunnerStorage
} from "effect/cluster"
import { Digest } from "effect/crypto"
import { RpcSerialization } from "effect/rpc"

/**
 * Where a runner is reached (and listens).
 *
 * @since 0.3.0
 */
export interface Address {
  readonly host: string
  readonly port: number
}

/**
 * Options of a runner.
 *
 * @since 0.3.0
 */
export interface Options {
  /** Where the other runners reach this one. */
  readonly address: Address
  /** Where this runner listens (default: `address`). */
  readonly listen?: Address | undefined
  /** How long a dead runner's shards stay locked before others take them (default 20 seconds). */
  readonly takeover?: Duration.Input | undefined
  /** How long a stopping runner lets its workflows end before interrupting them (default 1 s). */
  readonly terminationTimeout?: Duration.Input | undefined
}

/**
 * The default takeover time.
 *
 * @since 0.3.0
 */
export const defaultTakeover: Duration.Duration = Duration.seconds(20)

/**
 * The sharding settings of a runner.
 *
 * @since 0.3.0
 */
export const shardingConfig = (options: Options): Partial<ShardingConfig.ShardingConfig["Service"]> => {
  const takeover = Duration.fromInputUnsafe(options.takeover ?? defaultTakeover)
  return {
    runnerAddress: Option.some(RunnerAddress.make(options.address.host, options.address.port)),
    runnerListenAddress: Option.some(
      RunnerAddress.make((options.listen ?? options.address).host, (options.listen ?? options.address).port)
    ),
    shardLockExpiration: takeover,
    shardLockRefreshInterval: Duration.divideUnsafe(takeover, 3),
    entityTerminationTimeout: options.terminationTimeout ?? "1 seconds",
    // Messages stored for this runner (a run submitted while it was away) are found quickly.
    entityMessagePollInterval: "1 seconds",
    refreshAssignmentsInterval: "1 seconds",
    runnerHealthCheckInterval: "5 seconds"
  }
}

/**
 * The workflow engine of one runner of a cluster on the database of the `SqlClient` in the
 * environment.
 *
 * @since 0.3.0
 */
export const layer = (options: Options) => {
  const config = ShardingConfig.layer(shardingConfig(options))
  const serialization = RpcSerialization.layerSchemaBinary({})
  const health = RunnerHealth.layerPing.pipe(
    Layer.provide(Runners.layerRpc),
    Layer.provide(NodeClusterSocket.layerClientProtocol)
  )
  return ClusterWorkflowEngine.layer.pipe(
    Layer.provideMerge(SocketRunner.layer),
    Layer.provide([NodeClusterSocket.layerSocketServer, NodeClusterSocket.layerClientProtocol]),
    Layer.provide(health),
    Layer.provideMerge(SqlMessageStorage.layer),
    Layer.provide(Layer.orDie(SqlRunnerStorage.layer)),
    Layer.provide(config),
    Layer.provide(serialization),
    Layer.provide(Digest.layerWebCrypto)
  )
}
