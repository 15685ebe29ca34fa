export {
  type AppendTraceContext,
  diagnosticChannelNames,
  type ReadTraceContext,
} from './channels.js';
export { type Logger, silentLogger } from './logger.js';
export {
  type BackgroundErrorEvent,
  createObservability,
  noObservability,
  type Observability,
  type ObservabilityOptions,
} from './observability.js';
