/**
 * The quotas of a new run: the quota settings the user gave (flag, environment, config file),
 * the rest read from the account's quotas in AWS Service Quotas for the run's model and region
 * (`--backend aws`), or the documented defaults — when they cannot be read (with one warning
 * naming the cause), and on the local backend (its emulation takes its quotas from the
 * settings). The values go into the run's recorded settings, so a resumed run and every
 * worker use them without reading again, and into its summary.
 */
import { ServiceQuotasAccountQuotas } from "@batch-extract/aws"
import { AccountQuotas, BatchConfig } from "@batch-extract/core"
import { Console, Effect } from "effect"
import * as Run from "./Run.ts"

/** The run's settings with its quotas (recorded), and its configuration with them. */
export interface WithQuotas {
  readonly recorded: Run.RecordedRun
  readonly batch: BatchConfig.BatchConfig
}

/**
 * Fill a run's quota settings before it is recorded, and say which values it uses (and, when
 * the account's could not be read, why) on stderr. Fails only when the account's quotas make a
 * setting the user gave invalid (e.g. `--max-batch-size` above the account's records per job).
 */
export const forRun = (
  recorded: Run.RecordedRun,
  batch: BatchConfig.BatchConfig
): Effect.Effect<WithQuotas, Run.InvalidInput> =>
  Effect.gen(function*() {
    const configured = recorded.backend === "local"
      ? AccountQuotas.configureOffline(
        recorded.batch,
        "the local backend's emulation takes its quotas from the settings: nothing read"
      )
      : AccountQuotas.configure(recorded.batch).pipe(
        Effect.provide(ServiceQuotasAccountQuotas.layerConfig({ client: { region: batch.region } })),
        // The SDK environment could not be read (a malformed variable): as if unreachable.
        Effect.catchTag("ConfigError", (error) =>
          AccountQuotas.configureOffline(recorded.batch).pipe(
            Effect.map((offline): AccountQuotas.Configured => ({
              ...offline,
              quotas: {
                ...offline.quotas,
                warning: `could not read the account's quotas from Service Quotas: ${error.message}; ` +
                  "used the documented defaults for the quotas not set"
              }
            }))
          ))
      )
    const { config, input, quotas } = yield* configured.pipe(
      Effect.mapError((invalid) => new Run.InvalidInput({ issues: invalid.issues }))
    )
    yield* Console.error(AccountQuotas.describe(quotas))
    if (quotas.warning !== undefined) yield* Console.error(`batch-extract: warning: ${quotas.warning}`)
    return {
      recorded: { ...recorded, batch: input as BatchConfig.BatchConfigInput, quotas },
      batch: config
    }
  })
