/**
 * @walstream/cli: the `walstream` command. Exported for embedding and tests; the executable is `bin.ts`.
 */
export { DEFAULT_DEMO_MS, duration, parseUpArgs, UP_USAGE, type UpOptions } from './args.js';
export { type CliIo, runCli, USAGE } from './cli.js';
export { DemoEvent, type DemoOptions, type DemoReport, runDemo } from './demo.js';
export { type EmbeddedOptions, type EmbeddedService, startEmbedded } from './embedded.js';
