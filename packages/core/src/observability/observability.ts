import { type Meter, type MeterProvider, metrics } from '@opentelemetry/api';
import { toWalError, type WalError } from '../errors/wal-error.js';
import { type Logger, silentLogger } from './logger.js';

/**
 * A failure in work nobody awaits: a TimeTick sync, a checkpoint save, a flush, a reconnect. The work is
 * retried where `retrying` says so; the event is for alerting, not for recovery.
 */
export interface BackgroundErrorEvent {
  readonly error: WalError;
  /** Which piece of walstream failed: `timeTick`, `checkpoint`, `shard`, `recovery`, an adapter's name, ... */
  readonly component: string;
  /** The pchannel, when the work belongs to one. */
  readonly pchannel?: string;
  /** True when the work is tried again by itself. */
  readonly retrying: boolean;
}

/** How a stack reports what it does. Every option is optional; the default is silent and metric-free. */
export interface ObservabilityOptions {
  /** A pino-compatible logger. Default: silent. */
  readonly logger?: Logger;
  /** Where meters come from. Default: the global OpenTelemetry meter provider (a no-op until one is set). */
  readonly meterProvider?: MeterProvider;
  /** Called for every background failure, after it was logged. Must not throw. */
  readonly onError?: (event: BackgroundErrorEvent) => void;
}

/** The one observability contract every walstream package reports through. */
export interface Observability {
  readonly logger: Logger;
  readonly meter: Meter;
  /** Logs a background failure at `warn` (`error` when it is not retried) and calls `onError`. */
  reportError(event: Omit<BackgroundErrorEvent, 'error'> & { readonly error: unknown }): void;
  /** The same observability with `bindings` on every log line. */
  child(bindings: Record<string, unknown>): Observability;
}

const METER_NAME = '@walstream/core';

class StackObservability implements Observability {
  readonly logger: Logger;
  readonly meter: Meter;
  readonly #onError: ((event: BackgroundErrorEvent) => void) | undefined;

  constructor(logger: Logger, meter: Meter, onError: ((event: BackgroundErrorEvent) => void) | undefined) {
    this.logger = logger;
    this.meter = meter;
    this.#onError = onError;
  }

  reportError(event: Omit<BackgroundErrorEvent, 'error'> & { readonly error: unknown }): void {
    const error = toWalError(event.error);
    const full: BackgroundErrorEvent = { ...event, error };
    const fields = {
      component: event.component,
      pchannel: event.pchannel,
      retrying: event.retrying,
      code: error.code,
      err: error,
    };
    if (event.retrying)
      this.logger.warn(fields, `${event.component} failed and is retried: ${error.message}`);
    else this.logger.error(fields, `${event.component} failed: ${error.message}`);
    try {
      this.#onError?.(full);
    } catch (callbackError) {
      this.logger.error({ err: callbackError }, 'onError callback threw');
    }
  }

  child(bindings: Record<string, unknown>): Observability {
    return new StackObservability(this.logger.child(bindings), this.meter, this.#onError);
  }
}

/** Builds the observability of a stack from its options. */
export function createObservability(options: ObservabilityOptions = {}): Observability {
  const provider = options.meterProvider ?? metrics;
  return new StackObservability(
    options.logger ?? silentLogger,
    provider.getMeter(METER_NAME),
    options.onError,
  );
}

/** Silent, metric-free observability (the default of every component built alone, e.g. in tests). */
export const noObservability: Observability = createObservability();
