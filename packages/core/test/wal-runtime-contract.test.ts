import { memoryAdapter } from '@walstream/adapter-memory';
import {
  createWal,
  DeliverPolicy,
  defineMessageType,
  type MutableMessage,
  newMessage,
  pchannel,
  WalError,
  type WalState,
} from '@walstream/core';
import type { InterceptorBuilder, WalImpls, WalImplsBuilder } from '@walstream/core/spi';
import { afterEach, describe, expect, it, vi } from 'vitest';

const Note = defineMessageType({ name: 'RuntimeContractNote', code: 4161, flags: {} });
const note = (seq: number) => newMessage(Note).vchannel('rc_av0').property('seq', String(seq)).build();

/** Counts the appends that reached the interceptor chain. */
function counter(): { builder: InterceptorBuilder; calls: () => number } {
  let calls = 0;
  return {
    calls: () => calls,
    builder: {
      name: 'count',
      build: () => ({
        name: 'count',
        doAppend: (message, context, next) => {
          calls++;
          return next(message, context);
        },
      }),
    },
  };
}

/**
 * The memory adapter with scripted append failures: each queued error is thrown by one attempt (after
 * writing the message when the error says `written: true`); `onAttempt` sees every attempt first.
 */
function scripted(failures: WalError[], onAttempt: (attempt: number) => void = () => {}) {
  const memory = memoryAdapter();
  let attempts = 0;
  const builder: WalImplsBuilder = {
    name: memory.name,
    capabilities: memory.capabilities,
    async build(options) {
      const opener = await memory.build(options);
      return {
        close: () => opener.close(),
        [Symbol.asyncDispose]: () => opener.close(),
        async open(openOptions) {
          const impls = await opener.open(openOptions);
          const wrapped: WalImpls = {
            walName: impls.walName,
            channel: impls.channel,
            read: (readOptions) => impls.read(readOptions),
            truncate: (id) => impls.truncate(id),
            close: () => impls.close(),
            [Symbol.asyncDispose]: () => impls.close(),
            append: async (message: MutableMessage) => {
              onAttempt(++attempts);
              const failure = failures.shift();
              if (failure === undefined) return impls.append(message);
              if (failure.details.written === true) await impls.append(message);
              throw failure;
            },
          };
          return wrapped;
        },
      };
    },
  };
  return { builder, store: memory.store, attempts: () => attempts };
}

const notWritten = () => new WalError('UNAVAILABLE', 'refused', { details: { written: false } });
const ackLost = () => new WalError('UNAVAILABLE', 'ack lost', { details: { written: true } });

afterEach(() => {
  vi.useRealTimers();
});

describe('WAL runtime: what never reaches the interceptors', () => {
  it('a read-only WAL refuses appends READ_ONLY itself', async () => {
    const { builder, calls } = counter();
    await using opener = await createWal().adapter(memoryAdapter()).use(builder).build();
    const wal = await opener.open({ channel: pchannel('rc', 1n, 'ro') });
    await expect(wal.append(note(1))).rejects.toMatchObject({ code: 'READ_ONLY', retriable: false });
    expect(calls()).toBe(0);
  });

  it('a fenced WAL refuses appends CHANNEL_FENCED itself, once it learned it was fenced', async () => {
    const { builder, calls } = counter();
    const adapter = memoryAdapter();
    await using opener = await createWal().adapter(adapter).use(builder).build();
    const old = await opener.open({ channel: pchannel('rc', 1n) });
    const states: WalState[] = [];
    old.state$.subscribe((state) => states.push(state));
    await opener.open({ channel: pchannel('rc', 2n) });
    // Two appends learn it together: the state changes once.
    const first = await Promise.allSettled([old.append(note(1)), old.append(note(2))]);
    expect(first.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected']);
    expect(calls()).toBe(2);
    await expect(old.append(note(3))).rejects.toMatchObject({ code: 'CHANNEL_FENCED', retriable: false });
    expect(calls()).toBe(2);
    expect(states).toEqual(['available', 'fenced']);
  });

  it('options other than signal, a signal that is no AbortSignal, or one already aborted', async () => {
    const { builder, calls } = counter();
    await using opener = await createWal().adapter(memoryAdapter()).use(builder).build();
    const wal = await opener.open({ channel: pchannel('rc', 1n) });
    await expect(wal.append(note(1), { timeoutMs: 5 } as never)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: { option: 'timeoutMs' },
    });
    await expect(wal.append(note(1), { signal: {} as AbortSignal })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      retriable: false,
      details: { option: 'signal' },
    });
    await expect(wal.append(note(1), { signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: 'ABORTED',
    });
    expect(calls()).toBe(0);
    await wal.append(note(2), { signal: new AbortController().signal });
    expect(calls()).toBe(1);
  });
});

describe('WAL runtime: failures that are not fencing', () => {
  it('a permanent failure leaves the WAL available for the next append', async () => {
    const failing = scripted([new WalError('INVALID_ARGUMENT', 'too odd')]);
    await using opener = await createWal().adapter(failing.builder).build();
    const wal = await opener.open({ channel: pchannel('rc', 1n) });
    await expect(wal.append(note(1))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(wal.state).toBe('available');
    await wal.append(note(2));
    expect(failing.store.messages('rc').map((m) => m.properties.seq)).toEqual(['2']);
  });

  it('passing faults are retried after initialMs, then twice as long each time, up to maxMs', async () => {
    vi.useFakeTimers();
    const times: number[] = [];
    const start = Date.now();
    const failing = scripted([notWritten(), notWritten(), notWritten(), notWritten()], () =>
      times.push(Date.now() - start),
    );
    const opener = await createWal({ runtime: { appendRetry: { initialMs: 10, maxMs: 40 } } })
      .adapter(failing.builder)
      .build();
    const wal = await opener.open({ channel: pchannel('rc', 1n) });
    const appended = wal.append(note(1));
    await vi.runAllTimersAsync();
    await appended;
    expect(times).toEqual([0, 10, 30, 70, 110]);
    await opener.close();
  });

  it('once an attempt may have been written, an abort no longer cancels: the append lands', async () => {
    const controller = new AbortController();
    const failing = scripted([notWritten(), ackLost()], (attempt) => {
      if (attempt === 2) controller.abort();
    });
    await using opener = await createWal({ runtime: { appendRetry: { initialMs: 1, maxMs: 2 } } })
      .adapter(failing.builder)
      .build();
    const wal = await opener.open({ channel: pchannel('rc', 1n) });
    const result = await wal.append(note(1), { signal: controller.signal });
    expect(failing.attempts()).toBe(3);
    expect(result.messageId).toBeDefined();
  });

  it('while no attempt may have been written, an abort cancels the retries: ABORTED', async () => {
    const controller = new AbortController();
    const failing = scripted([notWritten(), notWritten()], (attempt) => {
      if (attempt === 2) controller.abort();
    });
    await using opener = await createWal({ runtime: { appendRetry: { initialMs: 1, maxMs: 2 } } })
      .adapter(failing.builder)
      .build();
    const wal = await opener.open({ channel: pchannel('rc', 1n) });
    await expect(wal.append(note(1), { signal: controller.signal })).rejects.toMatchObject({
      code: 'ABORTED',
    });
    expect(failing.attempts()).toBe(2);
    expect(failing.store.messages('rc')).toEqual([]);
  });
});

describe('WAL runtime: reads', () => {
  it('read options are checked, each failure naming its option', async () => {
    await using opener = await createWal().adapter(memoryAdapter()).build();
    const wal = await opener.open({ channel: pchannel('rc', 1n) });
    const option = (options: object) =>
      wal.read(options).then(
        () => undefined,
        (error: WalError) => [error.code, error.details.option],
      );
    expect(await option({ name: '' })).toEqual(['INVALID_ARGUMENT', 'name']);
    expect(await option({ vchannel: '' })).toEqual(['INVALID_ARGUMENT', 'vchannel']);
    expect(await option({ vchannel: 7 })).toEqual(['INVALID_ARGUMENT', 'vchannel']);
    expect(await option({ filters: [null] })).toEqual(['INVALID_ARGUMENT', 'filters']);
    expect(await option({ filters: [{ kind: 'nope' }] })).toEqual(['INVALID_ARGUMENT', 'filters']);
    expect(await option({ signal: {} })).toEqual(['INVALID_ARGUMENT', 'signal']);
  });

  it('scanners get distinct default names, counting up per WAL', async () => {
    await using opener = await createWal().adapter(memoryAdapter()).build();
    const wal = await opener.open({ channel: pchannel('rc', 3n) });
    await using first = await wal.read({ deliverPolicy: DeliverPolicy.latest() });
    await using second = await wal.read({ deliverPolicy: DeliverPolicy.latest() });
    expect([first.name, second.name]).toEqual(['rc/3/1', 'rc/3/2']);
  });

  it('after close: read and open answer CLOSED', async () => {
    const opener = await createWal().adapter(memoryAdapter()).build();
    const wal = await opener.open({ channel: pchannel('rc', 1n) });
    await wal.close();
    await expect(wal.read()).rejects.toMatchObject({ code: 'CLOSED', retriable: false });
    await opener.close();
    await expect(opener.open({ channel: pchannel('rc', 2n) })).rejects.toMatchObject({
      code: 'CLOSED',
      retriable: false,
    });
  });
});
