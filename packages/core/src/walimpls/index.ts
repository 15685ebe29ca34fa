export { DeliverPolicy, describeDeliverPolicy } from './deliver-policy.js';
export {
  createRawScanner,
  DEFAULT_READ_AHEAD_BUFFER_SIZE,
  type RawScannerSpec,
  type ScannerSink,
} from './raw-scanner.js';
export type {
  AppendOptions,
  BuildOptions,
  OpenOptions,
  RawScanner,
  ReadOnlyWalImpls,
  ReadOptions,
  WalImpls,
  WalImplsBuilder,
  WalImplsCapabilities,
  WalImplsOpener,
} from './spi.js';
