import type { Counter, Histogram, Meter, ObservableGauge, UpDownCounter } from '@opentelemetry/api';
import { physicalMsOf } from '../timetick/hybrid.js';

/** What a WAL tells its metrics: its pchannel and state. */
export interface MeasuredWal {
  readonly channel: { readonly name: string };
  readonly state: string;
}

/** What a scanner tells its metrics: its pchannel and the timetick of the last message it handed out. */
export interface MeasuredScanner {
  readonly channel: { readonly name: string };
  readonly lastTimeTick: bigint | undefined;
}

/**
 * The instruments of one stack, made once per opener. Names follow OpenTelemetry's conventions
 * (`walstream.` prefix, unit in the metadata, not in the name):
 *
 * | instrument | kind | unit | attributes |
 * |---|---|---|---|
 * | `walstream.append.duration` | histogram | ms | `pchannel`, `outcome` (`ok` or the error code) |
 * | `walstream.append.size` | counter | By | `pchannel` |
 * | `walstream.append.in_flight` | up-down counter | {append} | `pchannel` |
 * | `walstream.wal.state` | gauge (1 per open WAL) | {wal} | `pchannel`, `state` |
 * | `walstream.scanner.lag` | gauge | ms | `pchannel`: now minus the physical time of the last delivered timetick |
 */
export class WalMetrics {
  readonly appendDuration: Histogram;
  readonly appendSize: Counter;
  readonly appendInFlight: UpDownCounter;
  readonly #walState: ObservableGauge;
  readonly #scannerLag: ObservableGauge;
  readonly #wals = new Set<MeasuredWal>();
  readonly #scanners = new Set<MeasuredScanner>();
  readonly #now: () => number;

  constructor(meter: Meter, now: () => number = Date.now) {
    this.#now = now;
    this.appendDuration = meter.createHistogram('walstream.append.duration', {
      unit: 'ms',
      description: 'Time from append() to its acknowledgement or failure',
    });
    this.appendSize = meter.createCounter('walstream.append.size', {
      unit: 'By',
      description: 'Payload and property bytes of acknowledged appends',
    });
    this.appendInFlight = meter.createUpDownCounter('walstream.append.in_flight', {
      unit: '{append}',
      description: 'Appends called and not yet settled',
    });
    this.#walState = meter.createObservableGauge('walstream.wal.state', {
      unit: '{wal}',
      description: 'Open WALs by pchannel and state',
    });
    this.#scannerLag = meter.createObservableGauge('walstream.scanner.lag', {
      unit: 'ms',
      description: 'How far behind the wall clock the last delivered timetick of each scanner is',
    });
    this.#walState.addCallback((result) => {
      for (const wal of this.#wals) result.observe(1, { pchannel: wal.channel.name, state: wal.state });
    });
    this.#scannerLag.addCallback((result) => {
      const now = this.#now();
      for (const scanner of this.#scanners) {
        const tick = scanner.lastTimeTick;
        if (tick !== undefined)
          result.observe(Math.max(0, now - physicalMsOf(tick)), { pchannel: scanner.channel.name });
      }
    });
  }

  /** Reports the WAL's state until the returned function is called. */
  trackWal(wal: MeasuredWal): () => void {
    this.#wals.add(wal);
    return () => this.#wals.delete(wal);
  }

  /** Reports the scanner's lag until the returned function is called. */
  trackScanner(scanner: MeasuredScanner): () => void {
    this.#scanners.add(scanner);
    return () => this.#scanners.delete(scanner);
  }
}
