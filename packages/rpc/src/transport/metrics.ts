import { WalError } from '@walstream/core';
import type { Observability } from '@walstream/core/spi';

// Core's meter type, so this package needs no direct dependency on @opentelemetry/api.
type Meter = Observability['meter'];
type Counter = ReturnType<Meter['createCounter']>;
type Histogram = ReturnType<Meter['createHistogram']>;
type UpDownCounter = ReturnType<Meter['createUpDownCounter']>;

/**
 * The server's instruments (OpenTelemetry conventions, as core's):
 *
 * | instrument | kind | unit | attributes |
 * |---|---|---|---|
 * | `walstream.rpc.server.calls` | counter | {call} | `method`, `outcome` (`ok` or the error code) |
 * | `walstream.rpc.server.duration` | histogram | ms | `method`, `outcome` |
 * | `walstream.rpc.server.active` | up-down counter | {call} | `method` |
 *
 * A call refused before its handler (token, malformed request) counts with its outcome and no duration.
 */
export class ServerMetrics {
  readonly #calls: Counter;
  readonly #duration: Histogram;
  readonly #active: UpDownCounter;

  constructor(meter: Meter) {
    this.#calls = meter.createCounter('walstream.rpc.server.calls', {
      unit: '{call}',
      description: 'Calls ended, by method and outcome',
    });
    this.#duration = meter.createHistogram('walstream.rpc.server.duration', {
      unit: 'ms',
      description: 'Time from a call reaching its handler to its end',
    });
    this.#active = meter.createUpDownCounter('walstream.rpc.server.active', {
      unit: '{call}',
      description: 'Calls whose handler is running',
    });
  }

  refused(method: string, error: WalError): void {
    this.#calls.add(1, { method, outcome: error.code });
  }

  /** Counts a call in; the returned function counts it out with its outcome. */
  started(method: string): (error: unknown) => void {
    const start = performance.now();
    this.#active.add(1, { method });
    return (error) => {
      const outcome = error === undefined ? 'ok' : WalError.is(error) ? error.code : 'UNKNOWN';
      this.#active.add(-1, { method });
      this.#calls.add(1, { method, outcome });
      this.#duration.record(performance.now() - start, { method, outcome });
    };
  }
}
