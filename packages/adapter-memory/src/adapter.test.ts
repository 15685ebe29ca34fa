import { type PChannelInfo, pchannel } from '@walstream/core';
import type { WalImplsOpener } from '@walstream/core/spi';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryAdapter } from './adapter.js';
import { message, rejectsWith } from './test-helpers.js';

const openers: WalImplsOpener[] = [];
afterEach(async () => {
  await Promise.all(openers.splice(0).map((opener) => opener.close()));
});

async function build() {
  const adapter = memoryAdapter();
  const opener = await adapter.build();
  openers.push(opener);
  return { adapter, opener };
}

describe('memoryAdapter', () => {
  it('is named memory, truncates physically and fences', () => {
    const adapter = memoryAdapter();
    expect(adapter.name).toBe('memory');
    expect(adapter.capabilities).toEqual({ truncate: 'physical', fencing: true });
  });

  it('build rejects ABORTED for an aborted signal', async () => {
    const controller = new AbortController();
    controller.abort();
    await rejectsWith(memoryAdapter().build({ signal: controller.signal }), 'ABORTED');
  });
});

describe('opener', () => {
  it('opens a WAL that echoes the channel and makes memory ids', async () => {
    const { opener } = await build();
    const wal = await opener.open({ channel: pchannel('orders', 3n) });
    expect(wal.walName).toBe('memory');
    expect(wal.channel).toEqual({ name: 'orders', term: 3n, accessMode: 'rw' });
    expect((await wal.append(message(0))).walName).toBe('memory');
  });

  it.each<[string, unknown]>([
    ['an empty name', { name: '', term: 1n, accessMode: 'rw' }],
    ['a negative term', { name: 'ch', term: -1n, accessMode: 'rw' }],
    ['a number term', { name: 'ch', term: 1, accessMode: 'rw' }],
    ['an unknown access mode', { name: 'ch', term: 1n, accessMode: 'wo' }],
    ['no channel', undefined],
  ])('rejects %s with INVALID_ARGUMENT', async (_, channel) => {
    const { opener } = await build();
    await rejectsWith(opener.open({ channel: channel as PChannelInfo }), 'INVALID_ARGUMENT');
  });

  it('rejects an aborted open with ABORTED', async () => {
    const { opener } = await build();
    const controller = new AbortController();
    controller.abort();
    await rejectsWith(opener.open({ channel: pchannel('ch', 1n), signal: controller.signal }), 'ABORTED');
  });

  it('close closes every WAL it opened, is idempotent, and refuses later opens with CLOSED', async () => {
    const { opener, adapter } = await build();
    const a = await opener.open({ channel: pchannel('a', 1n) });
    const b = await opener.open({ channel: pchannel('b', 1n) });
    await a.close();
    const closing = opener.close();
    expect(opener.close()).toBe(closing);
    await closing;
    await rejectsWith(b.append(message(0)), 'CLOSED');
    await rejectsWith(opener.open({ channel: pchannel('c', 1n) }), 'CLOSED');
    // The adapter builds new openers over the same store.
    const again = await adapter.build();
    openers.push(again);
    await expect(
      (await again.open({ channel: pchannel('b', 1n) })).append(message(1)),
    ).resolves.toBeDefined();
  });

  it('supports await using', async () => {
    const adapter = memoryAdapter();
    let wal: Awaited<ReturnType<WalImplsOpener['open']>> | undefined;
    {
      await using opener = await adapter.build();
      wal = await opener.open({ channel: pchannel('ch', 1n) });
    }
    await rejectsWith(wal.append(message(0)), 'CLOSED');
  });
});
