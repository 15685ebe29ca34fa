import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localAdapter } from '@walstream/adapter-local';
import {
  createWal,
  DeliverPolicy,
  defineMessageType,
  hasCode,
  MemoryCatalog,
  type MessageTypeDefinition,
  messageTypes,
  newMessage,
  pchannel,
  type Wal,
  WalError,
} from '@walstream/core';
import { createVChannel, walSemantics } from '@walstream/interceptors';
import { createWalManager, type WalLifetimeEvent, type WalManager } from '@walstream/node';
import { afterEach, describe, expect, it } from 'vitest';
import { type MemoryStack, memoryStack, recording, until } from './wal-manager-support.js';

const Note: MessageTypeDefinition<unknown> =
  messageTypes.byName('NodeWalManagerNote') ??
  defineMessageType({ name: 'NodeWalManagerNote', code: 4311, flags: {} });

const note = (vchannel: string, seq: number) =>
  newMessage(Note)
    .vchannel(vchannel)
    .body(new Uint8Array([seq]))
    .build();

async function rejection(promise: Promise<unknown>): Promise<WalError> {
  try {
    await promise;
  } catch (error) {
    if (WalError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

function thrown(run: () => unknown): WalError {
  try {
    run();
  } catch (error) {
    if (WalError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a throw');
}

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

async function setup(): Promise<{ stack: MemoryStack; manager: WalManager; events: WalLifetimeEvent[] }> {
  const stack = await memoryStack();
  const manager = createWalManager({ opener: stack.opener, catalog: stack.catalog });
  const events: WalLifetimeEvent[] = [];
  manager.state$.subscribe((event) => events.push(event));
  cleanup.push(async () => {
    await manager.close();
    await stack.opener.close();
  });
  return { stack, manager, events };
}

const steps = (events: WalLifetimeEvent[], name: string) =>
  events.filter((event) => event.pchannel === name).map((event) => `${event.state}@${event.term}`);

describe('WalManager', () => {
  it('assign returns before the WAL is open; the WAL becomes ready in the background and appends', async () => {
    const { manager, events } = await setup();
    manager.assign(pchannel('a', 1n));
    expect(manager.status()[0]!.state).toBe('recovering');
    expect(steps(events, 'a')).not.toContain('ready@1');
    const wal = await manager.get('a', 1n);
    expect(steps(events, 'a')).toEqual(['recovering@1', 'ready@1']);
    await wal.append(createVChannel('a_xv0'));
    const result = await wal.append(note('a_xv0', 1));
    expect(result.timeTick).toBeGreaterThan(0n);
  });

  it('rejects a lower term with UNMATCHED_CHANNEL_TERM and the same term with IGNORED_OPERATION', async () => {
    const { manager } = await setup();
    manager.assign(pchannel('a', 5n));
    const lower = thrown(() => manager.assign(pchannel('a', 4n)));
    expect(lower.code).toBe('UNMATCHED_CHANNEL_TERM');
    expect(lower.retriable).toBe(false);
    expect(thrown(() => manager.assign(pchannel('a', 5n))).code).toBe('IGNORED_OPERATION');
    expect(
      thrown(() => manager.assign({ name: 'a', term: 6 as unknown as bigint, accessMode: 'rw' })).code,
    ).toBe('INVALID_ARGUMENT');
    await manager.get('a', 5n);
  });

  it('a higher term closes the old WAL before it opens the new one', async () => {
    const { stack, manager, events } = await setup();
    manager.assign(pchannel('a', 1n));
    const first = await manager.get('a', 1n);
    manager.assign(pchannel('a', 2n));
    await manager.get('a', 2n);
    expect(steps(events, 'a')).toEqual([
      'recovering@1',
      'ready@1',
      'closing@1',
      'closed@1',
      'recovering@2',
      'ready@2',
    ]);
    expect(stack.opener.overlaps).toEqual([]);
    expect(stack.opener.openWals('a')).toHaveLength(1);
    expect(stack.opener.openWals('a')[0]!.channel.term).toBe(2n);
    expect(first.state).toBe('closed');
  });

  it('a higher term while the first is still recovering abandons it without calling it ready', async () => {
    const { stack, manager, events } = await setup();
    // Every append (the fence of the open included) waits: the open is slow.
    stack.adapter.store.faults('a').set({ appendDelayMs: 20 });
    manager.assign(pchannel('a', 1n));
    await until(() => stack.opener.opens.length === 1, 'the first open to start');
    manager.assign(pchannel('a', 2n));
    stack.adapter.store.faults('a').clear();
    await manager.get('a', 2n);
    const seen = steps(events, 'a');
    expect(seen).not.toContain('ready@1');
    expect(seen.slice(-2)).toEqual(['recovering@2', 'ready@2']);
    expect(seen).toContain('closed@1');
    expect(stack.opener.overlaps).toEqual([]);
    expect(stack.opener.opens.map((channel) => channel.term)).toEqual([1n, 2n]);
  });

  it('a failed open goes to failed with its error; a later term opens again', async () => {
    const { stack, manager, events } = await setup();
    stack.adapter.store.faults('a').set({ fenced: true });
    manager.assign(pchannel('a', 1n));
    const error = await rejection(manager.get('a', 1n));
    expect(error.code).toBe('CHANNEL_FENCED');
    expect(steps(events, 'a')).toEqual(['recovering@1', 'failed@1']);
    expect(events.at(-1)!.error?.code).toBe('CHANNEL_FENCED');
    expect(manager.status()[0]).toMatchObject({ state: 'failed', error: { code: 'CHANNEL_FENCED' } });
    // Not retried by itself: it stays failed until a new assignment.
    expect(stack.opener.opens).toHaveLength(1);
    stack.adapter.store.faults('a').clear();
    manager.assign(pchannel('a', 2n));
    await manager.get('a', 2n);
    expect(steps(events, 'a').slice(-2)).toEqual(['recovering@2', 'ready@2']);
  });

  it('remove closes the WAL at exactly that term; unknown pchannels and other terms are IGNORED_OPERATION', async () => {
    const { stack, manager, events } = await setup();
    manager.assign(pchannel('a', 3n));
    const wal = await manager.get('a', 3n);
    expect((await rejection(manager.remove(pchannel('b', 3n)))).code).toBe('IGNORED_OPERATION');
    expect((await rejection(manager.remove(pchannel('a', 2n)))).code).toBe('IGNORED_OPERATION');
    expect((await rejection(manager.remove(pchannel('a', 4n)))).code).toBe('IGNORED_OPERATION');
    await manager.remove(pchannel('a', 3n));
    expect(wal.state).toBe('closed');
    expect(stack.opener.openWals('a')).toHaveLength(0);
    expect(steps(events, 'a').slice(-2)).toEqual(['closing@3', 'closed@3']);
    await manager.remove(pchannel('a', 3n));
    expect((await rejection(manager.get('a', 3n))).code).toBe('CHANNEL_NOT_EXIST');
    expect(thrown(() => manager.assign(pchannel('a', 3n))).code).toBe('IGNORED_OPERATION');
    expect(manager.status()[0]).toMatchObject({ channel: { name: 'a', term: 3n }, state: 'closed' });
  });

  it('remove while recovering closes what the open produced', async () => {
    const { stack, manager, events } = await setup();
    stack.adapter.store.faults('a').set({ appendDelayMs: 20 });
    manager.assign(pchannel('a', 1n));
    await until(() => stack.opener.opens.length === 1, 'the open to start');
    await manager.remove(pchannel('a', 1n));
    expect(stack.opener.openWals('a')).toHaveLength(0);
    expect(steps(events, 'a')).not.toContain('ready@1');
    expect(steps(events, 'a').at(-1)).toBe('closed@1');
  });

  it('get: unknown → CHANNEL_NOT_EXIST, other term → UNMATCHED_CHANNEL_TERM, recovering → waits, aborted → ABORTED', async () => {
    const { stack, manager } = await setup();
    expect((await rejection(manager.get('a', 1n))).code).toBe('CHANNEL_NOT_EXIST');
    stack.adapter.store.faults('a').set({ appendDelayMs: 20 });
    manager.assign(pchannel('a', 1n));
    expect((await rejection(manager.get('a', 2n))).code).toBe('UNMATCHED_CHANNEL_TERM');
    const controller = new AbortController();
    const waiting = rejection(manager.get('a', 1n, controller.signal));
    controller.abort();
    expect((await waiting).code).toBe('ABORTED');
    const ready = manager.get('a', 1n);
    stack.adapter.store.faults('a').clear();
    const wal: Wal = await ready;
    expect(wal.channel.term).toBe(1n);
    // Only the manager closes its WALs.
    await wal.close();
    expect(wal.state).toBe('available');
  });

  it('status reports recovery and last-synced timeticks, the saved checkpoint and appends in flight', async () => {
    const { stack, manager } = await setup();
    manager.assign(pchannel('a', 1n));
    const wal = await manager.get('a', 1n);
    await wal.append(createVChannel('a_xv0'));
    stack.adapter.store.faults('a').set({ appendDelayMs: 30 });
    const slow = wal.append(note('a_xv0', 1));
    const status = manager.status()[0]!;
    expect(status.appendsInFlight).toBe(1);
    expect(status.recoveryTimeTick).toBeGreaterThan(0n);
    expect(status.checkpoint?.timeTick).toBe(status.recoveryTimeTick);
    stack.adapter.store.faults('a').clear();
    const result = await slow;
    await until(
      () => (manager.status()[0]!.lastSyncedTimeTick ?? 0n) >= result.timeTick,
      'a TimeTick sync past the append',
    );
    expect(manager.status()[0]!.appendsInFlight).toBe(0);
  });

  it('a WAL fenced by a newer term elsewhere goes to failed with CHANNEL_FENCED', async () => {
    const { stack, manager, events } = await setup();
    manager.assign(pchannel('a', 1n));
    const wal = await manager.get('a', 1n);
    await wal.append(createVChannel('a_xv0'));
    // Another node takes the pchannel at term 2 on the same store.
    const other = await stack.opener.open({ channel: pchannel('a', 2n) });
    const failure = await rejection(wal.append(note('a_xv0', 1)));
    expect(failure.code).toBe('CHANNEL_FENCED');
    await until(() => events.some((event) => event.state === 'failed'), 'the failed event');
    expect(events.at(-1)).toMatchObject({
      pchannel: 'a',
      term: 1n,
      state: 'failed',
      error: { code: 'CHANNEL_FENCED' },
    });
    expect((await rejection(manager.get('a', 1n))).code).toBe('CHANNEL_FENCED');
    await until(() => stack.opener.openWals('a').length === 1, 'the fenced WAL to be closed');
    await other.close();
  });

  it('close closes every WAL with a final checkpoint, then refuses with ON_SHUTDOWN and completes state$', async () => {
    const { stack, manager } = await setup();
    let completed = false;
    manager.state$.subscribe({ complete: () => (completed = true) });
    manager.assign(pchannel('a', 1n));
    manager.assign(pchannel('b', 1n));
    const wal = await manager.get('a', 1n);
    await manager.get('b', 1n);
    await wal.append(createVChannel('a_xv0'));
    const last = await wal.append(note('a_xv0', 1));
    await manager.close();
    expect(stack.opener.openWals('a')).toHaveLength(0);
    expect(stack.opener.openWals('b')).toHaveLength(0);
    expect(completed).toBe(true);
    // The successor replays nothing the closed term wrote before its close.
    const checkpoint = await stack.catalog.getCheckpoint('a');
    expect(checkpoint!.timeTick).toBeGreaterThan(last.timeTick);
    expect(thrown(() => manager.assign(pchannel('c', 1n))).code).toBe('ON_SHUTDOWN');
    expect((await rejection(manager.get('a', 1n))).code).toBe('ON_SHUTDOWN');
    expect(manager.status().map((status) => status.state)).toEqual(['closed', 'closed']);
    expect(
      hasCode(
        thrown(() => manager.assign(pchannel('a', 9n))),
        'ON_SHUTDOWN',
      ),
    ).toBe(true);
  });

  it('on the local adapter a higher term reopens the log and reads what the first term wrote', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'walstream-wal-manager-'));
    const catalog = new MemoryCatalog();
    const opener = recording(
      await createWal({ catalog })
        .adapter(localAdapter({ directory }))
        .use(...walSemantics())
        .build(),
    );
    const manager = createWalManager({ opener, catalog });
    cleanup.push(async () => {
      await manager.close();
      await opener.close();
      await rm(directory, { recursive: true, force: true });
    });
    manager.assign(pchannel('a', 1n));
    const first = await manager.get('a', 1n);
    await first.append(createVChannel('a_xv0'));
    const written = await first.append(note('a_xv0', 7));
    manager.assign(pchannel('a', 2n));
    const second = await manager.get('a', 2n);
    expect(opener.overlaps).toEqual([]);
    const scanner = await second.read({ vchannel: 'a_xv0', deliverPolicy: DeliverPolicy.all() });
    const seen: bigint[] = [];
    for await (const message of scanner) {
      if (message.messageType === Note.code) seen.push(message.timeTick);
      if (seen.length === 1) break;
    }
    expect(seen).toEqual([written.timeTick]);
  });

  it('checks its options', async () => {
    const stack = await memoryStack();
    cleanup.push(() => stack.opener.close());
    expect(thrown(() => createWalManager({ opener: stack.opener } as never)).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => createWalManager({ catalog: stack.catalog } as never)).code).toBe('INVALID_ARGUMENT');
    expect(
      thrown(() => createWalManager({ opener: stack.opener, catalog: stack.catalog, extra: 1 } as never))
        .code,
    ).toBe('INVALID_ARGUMENT');
  });
});
