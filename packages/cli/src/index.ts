/**
 * @walstream/cli — the `walstream` command (the executable is `bin.ts`), and its pieces for embedding
 * walstream in a process of your own.
 */

// Run the command as `walstream` would, with your own output and stop signal; exit codes.
export { type CliIo, resolveCommandLine, runCli, usage } from './cli.js';
export { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './command.js';
// The demo of `walstream up --demo`: paced traffic and the exactly-once check.
export { DemoEvent, type DemoOptions, type DemoReport, runDemo } from './demo.js';
// The embedded service of `walstream up`: pchannels on one stack, in this process.
export {
  type EmbeddedOptions,
  type EmbeddedPChannel,
  type EmbeddedService,
  startEmbedded,
} from './embedded.js';
// Its catalog on the local store: checkpoints, terms and the timestamp high-water mark in one JSON file.
export { FileCatalog } from './file-catalog.js';
// The service of `walstream up`: a coordinator and nodes over loopback gRPC, in this process.
export { type Service, type ServiceOptions, startService } from './service.js';
