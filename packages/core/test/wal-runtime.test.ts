import { memoryAdapter } from '@walstream/adapter-memory';
import {
  appendOutcome,
  createWal,
  DeliverFilter,
  DeliverPolicy,
  defineMessageType,
  type ImmutableMessage,
  type MutableMessage,
  newMessage,
  pchannel,
  type Scanner,
  SystemMessageType,
  WalError,
  type WalState,
} from '@walstream/core';
import type {
  AppendContext,
  AppendNext,
  Interceptor,
  InterceptorBuilder,
  WalImpls,
  WalImplsBuilder,
} from '@walstream/core/spi';
import { firstValueFrom, lastValueFrom, Observable, take, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';

const Note = defineMessageType({ name: 'RuntimeTestNote', code: 4101, flags: {} });
const Other = defineMessageType({ name: 'RuntimeTestOther', code: 4102, flags: {} });

function note(vchannel: string, seq: number, type = Note): MutableMessage {
  return newMessage(type)
    .vchannel(vchannel)
    .property('seq', String(seq))
    .body(new Uint8Array([seq & 0xff]))
    .build();
}

async function take$(scanner: Scanner, count: number): Promise<ImmutableMessage[]> {
  const seen: ImmutableMessage[] = [];
  for await (const message of scanner) {
    seen.push(message);
    if (seen.length === count) break;
  }
  return seen;
}

async function openWal(adapter = memoryAdapter(), interceptors: InterceptorBuilder[] = [], term = 1n) {
  const opener = await createWal({ runtime: { appendRetry: { initialMs: 1, maxMs: 5 } } })
    .adapter(adapter)
    .use(...interceptors)
    .build();
  const wal = await opener.open({ channel: pchannel('rt', term) });
  return { adapter, opener, wal };
}

describe('WAL runtime: append', () => {
  it('stamps an increasing timetick and the writer term on every message', async () => {
    const { wal, opener, adapter } = await openWal();
    const results = [];
    for (let i = 0; i < 20; i++) results.push(await wal.append(note('rt_av0', i)));
    const ticks = results.map((result) => result.timeTick);
    expect([...ticks].sort((a, b) => (a < b ? -1 : 1))).toEqual(ticks);
    expect(new Set(ticks).size).toBe(ticks.length);
    const stored = adapter.store.messages('rt');
    expect(stored.map((message) => message.walTerm)).toEqual(stored.map(() => 1n));
    expect(stored.map((message) => message.timeTick)).toEqual(ticks);
    await opener.close();
  });

  it('retries passing faults until the append lands, exactly once', async () => {
    const { wal, opener, adapter } = await openWal();
    adapter.store.faults('rt').set({ appendErrorRate: 0.5 });
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => wal.append(note('rt_av0', i))));
    adapter.store.faults('rt').clear();
    const stored = adapter.store.messages('rt');
    expect(stored).toHaveLength(50);
    expect(new Set(stored.map((message) => message.properties.seq)).size).toBe(50);
    expect(results.map((result) => result.messageId.marshal()).sort()).toEqual(
      stored.map((message) => message.id.marshal()).sort(),
    );
    await opener.close();
  });

  it('does not retry permanent failures: capacity is reported at once', async () => {
    const { wal, opener } = await openWal(memoryAdapter({ maxEntriesPerChannel: 2 }));
    await wal.append(note('rt_av0', 1));
    await wal.append(note('rt_av0', 2));
    await expect(wal.append(note('rt_av0', 3))).rejects.toMatchObject({
      code: 'CAPACITY_EXCEEDED',
      retriable: false,
    });
    await opener.close();
  });

  it('a fenced WAL turns unavailable: state fenced, later appends fail fast, reads keep working', async () => {
    const adapter = memoryAdapter();
    const { wal: old, opener } = await openWal(adapter, [], 1n);
    const states: WalState[] = [];
    old.state$.subscribe((state) => states.push(state));
    const landed = await old.append(note('rt_av0', 1));
    const newer = await opener.open({ channel: pchannel('rt', 2n) });
    await expect(old.append(note('rt_av0', 2))).rejects.toMatchObject({
      code: 'CHANNEL_FENCED',
      retriable: false,
    });
    expect(old.state).toBe('fenced');
    await expect(old.append(note('rt_av0', 3))).rejects.toMatchObject({ code: 'CHANNEL_FENCED' });
    expect(adapter.store.messages('rt').map((message) => message.properties.seq)).toEqual(['1']);
    await using scanner = await old.read({ deliverPolicy: DeliverPolicy.startFrom(landed.messageId) });
    expect((await take$(scanner, 1))[0]?.properties.seq).toBe('1');
    await newer.close();
    await opener.close();
    expect(states).toEqual(['available', 'fenced', 'closing', 'closed']);
  });

  it('an aborted append is not retried and says ABORTED', async () => {
    const { wal, opener, adapter } = await openWal();
    adapter.store.faults('rt').set({ appendDelayMs: 10_000 });
    const controller = new AbortController();
    const pending = wal.append(note('rt_av0', 1), { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });
    adapter.store.faults('rt').clear();
    await opener.close();
  });

  it('an abort while retrying appends that were not written ends it ABORTED, with nothing in the log', async () => {
    const { wal, opener, adapter } = await openWal();
    adapter.store.faults('rt').set({ appendErrorRate: 1 });
    const controller = new AbortController();
    const pending = wal.append(note('rt_av0', 1), { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });
    expect(adapter.store.messages('rt')).toEqual([]);
    await opener.close();
  });

  it('an append that may have been written is carried through an abort; its copies share one timetick', async () => {
    const { wal, opener, adapter } = await openWal();
    // Every attempt lands, and loses its acknowledgement, until the faults are cleared.
    adapter.store.faults('rt').set({ lostAckRate: 1 });
    const controller = new AbortController();
    const pending = wal.append(note('rt_av0', 1), { signal: controller.signal });
    await expect.poll(() => adapter.store.messages('rt').length).toBeGreaterThanOrEqual(2);
    controller.abort();
    adapter.store.faults('rt').clear();
    const result = await pending;
    const copies = adapter.store.messages('rt');
    expect(new Set(copies.map((message) => message.timeTick))).toEqual(new Set([result.timeTick]));
    // The acknowledged copy is the last one written.
    expect(result.messageId.marshal()).toBe(copies.at(-1)!.id.marshal());
    await opener.close();
  });

  it('a close while an append that may have landed is retried ends it ON_SHUTDOWN, not retriable', async () => {
    const { wal, opener, adapter } = await openWal();
    adapter.store.faults('rt').set({ lostAckRate: 1 });
    const pending = wal.append(note('rt_av0', 1));
    await expect.poll(() => adapter.store.messages('rt').length).toBeGreaterThanOrEqual(1);
    const closing = opener.close();
    await expect(pending).rejects.toMatchObject({
      code: 'ON_SHUTDOWN',
      retriable: false,
      details: { written: 'unknown' },
    });
    await closing;
  });

  it('read-only WALs reject appends with READ_ONLY', async () => {
    const adapter = memoryAdapter();
    const opener = await createWal().adapter(adapter).build();
    const wal = await opener.open({ channel: pchannel('rt', 1n, 'ro') });
    await expect(wal.append(note('rt_av0', 1))).rejects.toMatchObject({ code: 'READ_ONLY' });
    await opener.close();
  });

  it('close drains in-flight appends, then rejects with CLOSED, not retriable', async () => {
    const { wal, opener, adapter } = await openWal();
    adapter.store.faults('rt').set({ appendDelayMs: 20 });
    const inFlight = Promise.all([wal.append(note('rt_av0', 1)), wal.append(note('rt_av0', 2))]);
    const closed = wal.close();
    await expect(wal.append(note('rt_av0', 3))).rejects.toMatchObject({ code: 'CLOSED', retriable: false });
    await expect(inFlight).resolves.toHaveLength(2);
    await closed;
    expect(adapter.store.messages('rt')).toHaveLength(2);
    await opener.close();
  });

  it('publishes each append on appended$ with ids only', async () => {
    const { wal, opener } = await openWal();
    const seen = firstValueFrom(wal.appended$.pipe(take(2), toArray()));
    const a = await wal.append(note('rt_av0', 1));
    const b = await wal.append(note('rt_bv0', 2));
    const notifications = await seen;
    expect(notifications.map((n) => [n.messageId.marshal(), n.vchannel, n.timeTick])).toEqual([
      [a.messageId.marshal(), 'rt_av0', a.timeTick],
      [b.messageId.marshal(), 'rt_bv0', b.timeTick],
    ]);
    expect(Object.keys(notifications[0]!)).not.toContain('payload');
    await opener.close();
  });
});

describe('WAL runtime: interceptor chain', () => {
  function recorder(
    name: string,
    log: string[],
    effect?: (message: MutableMessage, context: AppendContext) => void,
  ): InterceptorBuilder {
    return {
      name,
      build: (): Interceptor => ({
        name,
        async doAppend(message: MutableMessage, context: AppendContext, next: AppendNext) {
          log.push(`${name}:before`);
          effect?.(message, context);
          const id = await next(message, context);
          log.push(`${name}:after`);
          return id;
        },
        async close() {
          log.push(`${name}:close`);
        },
      }),
    };
  }

  it('runs the onion outermost first, and returns what interceptors put in the result', async () => {
    const log: string[] = [];
    const { wal, opener } = await openWal(memoryAdapter(), [
      recorder('outer', log),
      recorder('inner', log, (message, context) => {
        message.withTimeTick(7n);
        context.result.timeTick = 7n;
        context.result.extra = { segment: 3 };
      }),
    ]);
    const result = await wal.append(note('rt_av0', 1));
    expect(log).toEqual(['outer:before', 'inner:before', 'inner:after', 'outer:after']);
    expect(result.timeTick).toBe(7n);
    expect(result.extra).toEqual({ segment: 3 });
    await opener.close();
    expect(log.slice(-2)).toEqual(['inner:close', 'outer:close']);
  });

  it('an interceptor can answer without writing (skipWriteWith)', async () => {
    const adapter = memoryAdapter();
    const { wal: first, opener } = await openWal(adapter);
    const existing = (await first.append(note('rt_av0', 1))).messageId;
    const skipper: InterceptorBuilder = {
      name: 'skip',
      build: () => ({
        name: 'skip',
        doAppend: (message, context, next) => {
          context.skipWriteWith = existing;
          return next(message, context);
        },
      }),
    };
    const wal = await (await createWal().adapter(adapter).use(skipper).build()).open({
      channel: pchannel('rt', 1n),
    });
    expect((await wal.append(note('rt_av0', 2))).messageId.marshal()).toBe(existing.marshal());
    expect(adapter.store.messages('rt')).toHaveLength(1);
    await opener.close();
  });

  it('appends wait for interceptors that are not ready yet', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const waiting: InterceptorBuilder = {
      name: 'gate',
      build: () => ({
        name: 'gate',
        ready: () => gate,
        doAppend: (message, context, next) => next(message, context),
      }),
    };
    const { wal, opener, adapter } = await openWal(memoryAdapter(), [waiting]);
    const pending = wal.append(note('rt_av0', 1));
    await Promise.resolve();
    expect(adapter.store.messages('rt')).toHaveLength(0);
    release();
    await pending;
    expect(adapter.store.messages('rt')).toHaveLength(1);
    await opener.close();
  });
});

describe('WAL runtime: scanner', () => {
  it('keeps one vchannel (plus all-vchannel messages) in append order', async () => {
    const { wal, opener } = await openWal();
    await using _closeOpener = { [Symbol.asyncDispose]: () => opener.close() };
    for (let i = 0; i < 10; i++) await wal.append(note(i % 2 === 0 ? 'rt_av0' : 'rt_bv0', i));
    await wal.append(newMessage(Note).allVChannels().property('seq', 'all').build());
    await using scanner = await wal.read({ vchannel: 'rt_bv0' });
    expect((await take$(scanner, 6)).map((message) => message.properties.seq)).toEqual([
      '1',
      '3',
      '5',
      '7',
      '9',
      'all',
    ]);
  });

  it('applies timetick and type filters, never dropping system types', async () => {
    const { wal, opener } = await openWal();
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await wal.append(note('rt_av0', i, i % 2 === 0 ? Note : Other)));
    await using scanner = await wal.read({
      filters: [DeliverFilter.timeTickGT(results[1]!.timeTick), DeliverFilter.messageType(Note.code)],
    });
    expect((await take$(scanner, 2)).map((message) => message.properties.seq)).toEqual(['2', '4']);
    expect(() => DeliverFilter.messageType(1)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    await opener.close();
  });

  it('deliveries$ pauses while the window is unacknowledged and resumes on ack', async () => {
    const { wal, opener, adapter } = await openWal();
    for (let i = 0; i < 40; i++) await wal.append(note('rt_av0', i));
    const scanner = await wal.read({ readAheadBufferSize: 4 });
    const held: { ack(): void }[] = [];
    const received: string[] = [];
    const subscription = scanner.deliveries$({ window: 3 }).subscribe((delivery) => {
      received.push(delivery.message.properties.seq!);
      held.push(delivery);
    });
    await expect.poll(() => received.length, { timeout: 2_000 }).toBe(3);
    // Give the pull loop every chance to overrun the window before checking it did not.
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(received).toHaveLength(3);
    expect(adapter.store.stats('rt').openScanners).toBe(1);
    held.shift()!.ack();
    await expect.poll(() => received.length, { timeout: 2_000 }).toBe(4);
    subscription.unsubscribe();
    await scanner.done;
    expect(adapter.store.stats('rt').openScanners).toBe(0);
    expect(received).toEqual(['0', '1', '2', '3']);
    await opener.close();
  });

  it('deliveries$ counts a delivery acknowledged twice once', async () => {
    const { wal, opener } = await openWal();
    for (let i = 0; i < 10; i++) await wal.append(note('rt_av0', i));
    const scanner = await wal.read();
    const held: { ack(): void }[] = [];
    const subscription = scanner.deliveries$({ window: 2 }).subscribe((delivery) => held.push(delivery));
    await expect.poll(() => held.length, { timeout: 2_000 }).toBe(2);
    held[0]!.ack();
    held[0]!.ack();
    await expect.poll(() => held.length, { timeout: 2_000 }).toBe(3);
    // Give the pull loop every chance to use a second credit it must not have.
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(held).toHaveLength(3);
    subscription.unsubscribe();
    await scanner.done;
    await opener.close();
  });

  it('deliveries$ with concatMap-style acking delivers everything in order', async () => {
    const { wal, opener } = await openWal();
    for (let i = 0; i < 100; i++) await wal.append(note('rt_av0', i));
    const scanner = await wal.read();
    const seqs = await lastValueFrom(
      new Observable<string>((subscriber) => {
        const inner = scanner.deliveries$({ window: 8 }).subscribe((delivery) => {
          subscriber.next(delivery.message.properties.seq!);
          setImmediate(() => delivery.ack());
        });
        return inner;
      }).pipe(take(100), toArray()),
    );
    expect(seqs).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
    await opener.close();
  });

  it('state$ and progress$ report without payloads; close ends iteration; WAL close closes scanners', async () => {
    const { wal, opener, adapter } = await openWal();
    const a = await wal.append(note('rt_av0', 1));
    const scanner = await wal.read();
    const progress = firstValueFrom(scanner.progress$);
    const states: string[] = [];
    scanner.state$.subscribe((state) => states.push(state));
    await scanner.next();
    expect((await progress).messageId.marshal()).toBe(a.messageId.marshal());
    await wal.close();
    expect(await scanner.done).toBeUndefined();
    expect(states).toEqual(['running', 'closed']);
    expect((await scanner.next()).done).toBe(true);
    expect(adapter.store.stats('rt').openScanners).toBe(0);
    await expect(wal.read()).rejects.toMatchObject({ code: 'CLOSED', retriable: false });
    await opener.close();
  });

  it('orders reads by timetick up to the last TimeTick only when an interceptor declares it writes TimeTicks', async () => {
    // The interceptor hands out timeticks out of append order: 20, 10, then a TimeTick at 30.
    function scripted(writesTimeTicks: boolean): InterceptorBuilder {
      const ticks = [20n, 10n, 30n];
      return {
        name: 'scripted-ticks',
        build: (): Interceptor => ({
          name: 'scripted-ticks',
          writesTimeTicks,
          doAppend(message, context, next) {
            const tick = ticks.shift()!;
            message.withTimeTick(tick);
            context.result.timeTick = tick;
            return next(message, context);
          },
        }),
      };
    }
    async function readSeqs(writesTimeTicks: boolean): Promise<string[]> {
      const { wal, opener } = await openWal(memoryAdapter(), [scripted(writesTimeTicks)]);
      await wal.append(note('rt_av0', 1));
      await wal.append(note('rt_av0', 2));
      await wal.append(newMessage(SystemMessageType.TimeTick).allVChannels().build());
      await using scanner = await wal.read({ vchannel: 'rt_av0' });
      const seen = (await take$(scanner, 3)).map(
        (message) => message.properties.seq ?? `tt${message.timeTick}`,
      );
      await opener.close();
      return seen;
    }
    expect(await readSeqs(true)).toEqual(['2', '1', 'tt30']);
    expect(await readSeqs(false)).toEqual(['1', '2', 'tt30']);
  });

  it('an AbortSignal closes the scanner', async () => {
    const { wal, opener } = await openWal();
    const controller = new AbortController();
    const scanner = await wal.read({ signal: controller.signal });
    const pending = scanner.next();
    controller.abort();
    expect((await pending).done).toBe(true);
    await opener.close();
  });
});

describe('WAL runtime: outcome of a retried append', () => {
  it('a permanent "not written" after an attempt that may have landed is reported as unknown', async () => {
    const memory = memoryAdapter();
    let attempts = 0;
    // The store under the runtime: the first attempt lands and loses its acknowledgement, the retry is
    // refused for good with "nothing written" — true of the retry, not of the append.
    const scripted: WalImplsBuilder = {
      name: memory.name,
      capabilities: memory.capabilities,
      async build(options) {
        const opener = await memory.build(options);
        return {
          close: () => opener.close(),
          [Symbol.asyncDispose]: () => opener.close(),
          async open(openOptions) {
            const impls = await opener.open(openOptions);
            const scriptedImpls: WalImpls = {
              walName: impls.walName,
              channel: impls.channel,
              read: (readOptions) => impls.read(readOptions),
              truncate: (id) => impls.truncate(id),
              close: () => impls.close(),
              [Symbol.asyncDispose]: () => impls.close(),
              append: async (message: MutableMessage) => {
                attempts++;
                if (attempts > 1) {
                  throw new WalError('CAPACITY_EXCEEDED', 'full', { details: { written: false } });
                }
                await impls.append(message);
                throw new WalError('UNAVAILABLE', 'ack lost', { details: { written: true } });
              },
            };
            return scriptedImpls;
          },
        };
      },
    };
    const opener = await createWal({ runtime: { appendRetry: { initialMs: 1, maxMs: 5 } } })
      .adapter(scripted)
      .build();
    const wal = await opener.open({ channel: pchannel('rt', 1n) });
    const error = await wal.append(note('rt_av0', 1)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(attempts).toBe(2);
    expect(error).toMatchObject({ code: 'CAPACITY_EXCEEDED', retriable: false });
    expect(appendOutcome(error)).toBe('unknown');
    await opener.close();
  });
});
