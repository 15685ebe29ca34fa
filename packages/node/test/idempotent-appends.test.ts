/**
 * IdempotentAppends over a real WAL stack (memory adapter, walSemantics(), one catalog): the window a
 * WAL at a newer term reads from the log answers repeats of what the older term wrote.
 */
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { memoryAdapter } from '@walstream/adapter-memory';
import {
  type AppendResult,
  createWal,
  hasCode,
  MemoryCatalog,
  MutableMessage,
  messageIdEquals,
  pchannel,
  type Wal,
  type WalAppendOptions,
  WalError,
  type WalOpener,
} from '@walstream/core';
import { noObservability } from '@walstream/core/spi';
import { createVChannel, walSemantics } from '@walstream/interceptors';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type IdempotenceOptions,
  IdempotentAppends,
  observeIdempotence,
  PRODUCER_ID_PROPERTY,
  PRODUCER_SEQUENCE_PROPERTY,
  resolveIdempotence,
} from '../src/dedup/index.js';
import { ManagedWal } from '../src/wal-manager/managed-wal.js';

const NAME = 'idem';
const VCHANNEL = `${NAME}_v0`;
const adapter = memoryAdapter();
const catalog = new MemoryCatalog();
let opener: WalOpener | undefined;

afterEach(async () => {
  await opener?.close();
  opener = undefined;
});

async function openAt(term: bigint): Promise<Wal> {
  opener ??= await createWal({ catalog })
    .adapter(adapter)
    .use(...walSemantics())
    .build();
  return opener.open({ channel: pchannel(NAME, term) });
}

function note(n: number): MutableMessage {
  return new MutableMessage(new Uint8Array([n]), { n: String(n), _t: '3001' }).withVChannel(VCHANNEL);
}

function appends(options: IdempotenceOptions = {}): IdempotentAppends {
  return new IdempotentAppends(resolveIdempotence('test', options), noObservability);
}

/** The copies of (producer, sequence) in the store, whatever any WAL says. */
function copies(producerId: string, sequence: number): number {
  return adapter.store
    .messages(NAME)
    .filter(
      (m) =>
        m.properties[PRODUCER_ID_PROPERTY] === producerId &&
        m.properties[PRODUCER_SEQUENCE_PROPERTY] === sequence.toString(36),
    ).length;
}

describe('IdempotentAppends on a WAL stack', () => {
  it('answers a repeat at a newer term with the result the older term gave, read from the log', async () => {
    const first = await openAt(1n);
    await first.append(createVChannel(VCHANNEL));
    const before = appends();
    const r1 = await before.append(first, note(1), { producerId: 'p', sequence: 1n });
    const r2 = await before.append(first, note(2), { producerId: 'p', sequence: 2n });
    const again = await before.append(first, note(1), { producerId: 'p', sequence: 1n });
    expect(messageIdEquals(again.messageId, r1.messageId)).toBe(true);
    expect(again.timeTick).toBe(r1.timeTick);

    // The next owner: a WAL at term 2 on another node (its own window), fencing term 1.
    const second = await openAt(2n);
    const after = appends();
    const repeat = await after.append(second, note(2), { producerId: 'p', sequence: 2n });
    expect(messageIdEquals(repeat.messageId, r2.messageId)).toBe(true);
    expect(repeat.timeTick).toBe(r2.timeTick);
    const fresh = await after.append(second, note(3), { producerId: 'p', sequence: 3n });
    expect(fresh.timeTick).toBeGreaterThan(r2.timeTick);
    expect(after.stats()).toEqual({ duplicates: 1, rebuilds: 1 });
    expect([copies('p', 1), copies('p', 2), copies('p', 3)]).toEqual([1, 1, 1]);
  });

  it('writes concurrent repeats of one sequence once and gives each the same result', async () => {
    const wal = await openAt(3n);
    const idem = appends();
    const results = await Promise.all(
      Array.from({ length: 5 }, () => idem.append(wal, note(9), { producerId: 'q', sequence: 1n })),
    );
    for (const r of results) expect(messageIdEquals(r.messageId, results[0]!.messageId)).toBe(true);
    expect(copies('q', 1)).toBe(1);
    expect(idem.stats().duplicates).toBe(4);
    // The same figures through a meter provider.
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const meterProvider = new MeterProvider({ readers: [reader] });
    const unobserve = observeIdempotence(meterProvider.getMeter('test'), idem);
    await reader.forceFlush();
    const metrics = new Map(
      exporter
        .getMetrics()
        .flatMap((batch) => batch.scopeMetrics.flatMap((scope) => scope.metrics))
        .map((metric) => [metric.descriptor.name, metric.dataPoints[0]?.value]),
    );
    expect(metrics.get('walstream.node.produce.duplicates')).toBe(4);
    expect(metrics.get('walstream.node.idempotence.rebuilds')).toBe(1);
    unobserve();
    await meterProvider.shutdown();
  });

  it('refuses a sequence below the window with INVALID_REQUEST_SEQ (not retriable) and writes nothing', async () => {
    const wal = await openAt(4n);
    const idem = appends({ maxSequences: 4 });
    await idem.append(wal, note(1), { producerId: 'r', sequence: 10n });
    const refused = await idem.append(wal, note(2), { producerId: 'r', sequence: 6n }).catch((e) => e);
    expect(WalError.is(refused) && hasCode(refused, 'INVALID_REQUEST_SEQ')).toBe(true);
    expect((refused as WalError).retriable).toBe(false);
    expect(copies('r', 6)).toBe(0);
  });

  it('refuses a bad producer id or sequence as INVALID_ARGUMENT, written false', async () => {
    const wal = await openAt(5n);
    const idem = appends();
    for (const key of [
      { producerId: '', sequence: 1n },
      { producerId: 'has space', sequence: 1n },
      { producerId: 'x'.repeat(65), sequence: 1n },
      { producerId: 'ok', sequence: 0n },
    ]) {
      const error = await idem.append(wal, note(1), key).catch((e) => e);
      expect(
        WalError.is(error) && hasCode(error, 'INVALID_ARGUMENT'),
        JSON.stringify(String(key.producerId)),
      ).toBe(true);
      expect((error as WalError).details.written).toBe(false);
    }
  });

  it('settles an append the WAL failed with its outcome unknown from the log: a repeat of one that landed gets its result, one that did not is written once', async () => {
    const wal = new LosingWal(await openAt(6n));
    const idem = appends();
    await idem.append(wal, note(0), { producerId: 's', sequence: 1n });
    // Written, then the WAL's answer is lost: outcome unknown.
    wal.next = 'lose-answer';
    const lost = await idem.append(wal, note(1), { producerId: 's', sequence: 2n }).catch((e) => e);
    expect(WalError.is(lost) && hasCode(lost, 'UNAVAILABLE')).toBe(true);
    expect(copies('s', 2)).toBe(1);
    const repeat = await idem.append(wal, note(1), { producerId: 's', sequence: 2n });
    const written = adapter.store
      .messages(NAME)
      .find(
        (m) => m.properties[PRODUCER_ID_PROPERTY] === 's' && m.properties[PRODUCER_SEQUENCE_PROPERTY] === '2',
      );
    expect(messageIdEquals(repeat.messageId, written!.id)).toBe(true);
    expect(repeat.timeTick).toBe(written!.timeTick);
    expect(copies('s', 2)).toBe(1);
    // Failed before writing, with nothing said about it: outcome unknown too; the log shows it is not there.
    wal.next = 'fail-before';
    await idem.append(wal, note(3), { producerId: 's', sequence: 3n }).catch(() => {});
    expect(copies('s', 3)).toBe(0);
    await idem.append(wal, note(3), { producerId: 's', sequence: 3n });
    expect(copies('s', 3)).toBe(1);
    expect(idem.stats().rebuilds).toBe(3);
  });
});

/** A WAL whose next append fails UNAVAILABLE (outcome unknown): after writing, or before. */
class LosingWal extends ManagedWal {
  next: 'lose-answer' | 'fail-before' | undefined;

  override async append(message: MutableMessage, options?: WalAppendOptions): Promise<AppendResult> {
    const fault = this.next;
    this.next = undefined;
    if (fault === 'fail-before') throw new WalError('UNAVAILABLE', 'injected: failed before the write');
    const result = await super.append(message, options);
    if (fault === 'lose-answer') throw new WalError('UNAVAILABLE', 'injected: the answer was lost');
    return result;
  }
}
