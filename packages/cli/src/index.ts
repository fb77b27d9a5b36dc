/**
 * The `batch-extract` command as a library: its command tree (`Cli.command`, `Cli.main`),
 * each command's program (`Extract.run`, `Build.run`, `Query.execute`, `Plan.run`, `Resume.run`,
 * `Status.run`, `Stop.run`), the
 * settings it reads and the progress display it draws.
 *
 * When to use: to embed the command in another program or script (the demo runs
 * `Extract.run`); to run it, use the `batch-extract` executable this package installs.
 *
 * @since 0.1.0
 */
export * as Cli from "./Cli.ts"
export * as Build from "./commands/Build.ts"
export * as Extract from "./commands/Extract.ts"
export * as Plan from "./commands/Plan.ts"
export * as Query from "./commands/Query.ts"
export * as Resume from "./commands/Resume.ts"
export * as Status from "./commands/Status.ts"
export * as Stop from "./commands/Stop.ts"
export * as Faults from "./Faults.ts"
export * as Progress from "./Progress.ts"
export * as Run from "./Run.ts"
export * as Settings from "./Settings.ts"
