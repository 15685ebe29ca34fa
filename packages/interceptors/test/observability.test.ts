import { memoryAdapter } from '@walstream/adapter-memory';
import {
  type BackgroundErrorEvent,
  type Catalog,
  type CreateWalOptions,
  createWal,
  MemoryCatalog,
  pchannel,
  SystemMessageType,
  WalError,
} from '@walstream/core';
import type { InterceptorBuilder } from '@walstream/core/spi';
import { createVChannel, walSemantics } from '@walstream/interceptors';
import { describe, expect, it } from 'vitest';
import { note } from './support.js';

type MeterProvider = NonNullable<CreateWalOptions['meterProvider']>;
type Meter = ReturnType<MeterProvider['getMeter']>;

/** A meter provider that only counts: `counts.get(name)` sums every counter `add`; other instruments do nothing. */
function countingMeterProvider(): { provider: MeterProvider; counts: Map<string, number> } {
  const counts = new Map<string, number>();
  const ignored = { add() {}, record() {}, addCallback() {}, removeCallback() {} };
  const meter = new Proxy(
    {
      createCounter: (name: string) => ({
        add: (value: number) => counts.set(name, (counts.get(name) ?? 0) + value),
      }),
    },
    { get: (target, key) => (key === 'createCounter' ? target.createCounter : () => ignored) },
  ) as unknown as Meter;
  return { provider: { getMeter: () => meter } as unknown as MeterProvider, counts };
}

/** Fails the next `count` TimeTicks that pass it (a stand-in for a store that refuses them for a while). */
function failingTicks(count: number): InterceptorBuilder {
  let left = count;
  return {
    name: 'failingTicks',
    build: () => ({
      name: 'failingTicks',
      doAppend: (message, context, next) => {
        if (message.messageType === SystemMessageType.TimeTick && left > 0) {
          left--;
          return Promise.reject(new WalError('UNAVAILABLE', 'tick refused by the test'));
        }
        return next(message, context);
      },
    }),
  };
}

/** A catalog whose checkpoint saves fail until `healthy` is set. */
class FlakyCatalog extends MemoryCatalog {
  healthy = true;
  override async saveCheckpoint(...args: Parameters<Catalog['saveCheckpoint']>): Promise<boolean> {
    if (!this.healthy) throw new WalError('UNAVAILABLE', 'catalog down in the test');
    return super.saveCheckpoint(...args);
  }
}

describe('background failures and metrics go through the stack observability', () => {
  it('a failed TimeTick sync reaches onError as timeTick (retrying), and the next sync covers the append', async () => {
    const errors: BackgroundErrorEvent[] = [];
    const adapter = memoryAdapter();
    const opener = await createWal({ onError: (event) => errors.push(event) })
      .adapter(adapter)
      .use(...walSemantics({ timeTick: { idleTickIntervalMs: 60_000 } }), failingTicks(1))
      .build();
    const wal = await opener.open({ channel: pchannel('obs', 1n) });
    const created = await wal.append(createVChannel('obs_av0'));
    await expect.poll(() => errors.length).toBeGreaterThan(0);
    expect(errors[0]).toMatchObject({
      component: 'timeTick',
      pchannel: 'obs',
      retrying: true,
      error: { code: 'UNAVAILABLE' },
    });
    const covered = () =>
      adapter.store
        .messages('obs')
        .some((m) => m.messageType === SystemMessageType.TimeTick && m.timeTick >= created.timeTick);
    await expect.poll(covered).toBe(true);
    await opener.close();
  });

  it('a failed checkpoint save reaches onError as checkpoint (retrying); saves and syncs are counted', async () => {
    const errors: BackgroundErrorEvent[] = [];
    const catalog = new FlakyCatalog();
    const { provider, counts } = countingMeterProvider();
    const opener = await createWal({
      catalog,
      meterProvider: provider,
      onError: (event) => errors.push(event),
    })
      .adapter(memoryAdapter())
      .use(...walSemantics({ recovery: { maxDirtyMessages: 1, persistIntervalMs: 3_600_000 } }))
      .build();
    const wal = await opener.open({ channel: pchannel('obs', 1n) });
    // The open saves the recovered state once.
    expect(counts.get('walstream.checkpoint.saves')).toBe(1);
    catalog.healthy = false;
    await wal.append(createVChannel('obs_av0'));
    await expect.poll(() => errors.some((event) => event.component === 'checkpoint')).toBe(true);
    expect(errors.find((event) => event.component === 'checkpoint')).toMatchObject({
      pchannel: 'obs',
      retrying: true,
      error: { code: 'UNAVAILABLE' },
    });
    catalog.healthy = true;
    await wal.append(note('obs_av0', 1));
    await expect.poll(() => counts.get('walstream.checkpoint.saves')).toBeGreaterThan(1);
    expect(counts.get('walstream.timetick.syncs')).toBeGreaterThan(0);
    await opener.close();
  });
});
