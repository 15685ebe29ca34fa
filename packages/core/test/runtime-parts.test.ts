import { memoryAdapter } from '@walstream/adapter-memory';
import {
  type BackgroundErrorEvent,
  createWal,
  DeliverFilter,
  defineMessageType,
  ImmutableMessage,
  type MessageID,
  WalError,
} from '@walstream/core';
import { BoundedBuffer, compileFilters, encodeTxnContext } from '@walstream/core/internal';
import { createObservability, encodeBase36, type InterceptorBuilder } from '@walstream/core/spi';
import { type LogLine, recordingLogger } from '@walstream/testkit';
import { describe, expect, it } from 'vitest';
import { holdProcessWhileWaiting } from '../src/runtime/keep-alive.js';

class Seq implements MessageID {
  readonly walName = 'parts-test';
  constructor(readonly value: number) {}
  compare(other: MessageID): number {
    return this.value - (other as Seq).value;
  }
  marshal(): string {
    return String(this.value);
  }
  toString(): string {
    return `parts-test:${this.value}`;
  }
}

const Kept = defineMessageType({ name: 'PartsKept', code: 4181, flags: {} });
const Dropped = defineMessageType({ name: 'PartsDropped', code: 4182, flags: {} });

function read(type: number, timeTick: bigint, txn?: bigint): ImmutableMessage {
  const props: Record<string, string> = { _t: String(type), _tt: encodeBase36(timeTick) };
  if (txn !== undefined) props._tx = encodeTxnContext({ txnId: txn, keepaliveMs: 1_000 });
  return new ImmutableMessage(new Seq(0), new Uint8Array(), props);
}

describe('deliver filters', () => {
  it('none: no predicate at all', () => {
    expect(compileFilters([])).toBeUndefined();
  });

  it('timeTickGT and timeTickGTE judge at the boundary; begin and body of a txn always pass, its commit is judged', () => {
    const gt = compileFilters([DeliverFilter.timeTickGT(10n)])!;
    const gte = compileFilters([DeliverFilter.timeTickGTE(10n)])!;
    expect([gt(read(Kept.code, 10n)), gt(read(Kept.code, 11n))]).toEqual([false, true]);
    expect([gte(read(Kept.code, 9n)), gte(read(Kept.code, 10n))]).toEqual([false, true]);
    for (const check of [gt, gte]) {
      expect(check(read(900, 1n, 5n))).toBe(true); // BeginTxn
      expect(check(read(Kept.code, 1n, 5n))).toBe(true); // a body
      expect(check(read(901, 1n, 5n))).toBe(false); // CommitTxn, old
      expect(check(read(901, 20n, 5n))).toBe(true); // CommitTxn, new
    }
  });

  it('a type filter keeps the listed types and every system type; filters are ANDed', () => {
    const types = compileFilters([DeliverFilter.messageType(Kept.code)])!;
    expect(types(read(Kept.code, 1n))).toBe(true);
    expect(types(read(Dropped.code, 1n))).toBe(false);
    expect(types(read(1, 1n))).toBe(true); // TimeTick
    const both = compileFilters([DeliverFilter.messageType(Kept.code), DeliverFilter.timeTickGT(5n)])!;
    expect([both(read(Kept.code, 6n)), both(read(Kept.code, 5n)), both(read(Dropped.code, 6n))]).toEqual([
      true,
      false,
      false,
    ]);
  });
});

describe('BoundedBuffer', () => {
  it('a waiting producer gets room when the consumer takes an item, in order', async () => {
    const buffer = new BoundedBuffer<number>(1);
    expect(buffer.tryPush(1)).toBe(true);
    expect(buffer.tryPush(2)).toBe(false);
    const waiting = buffer.push(2);
    expect(await buffer.pull()).toEqual({ value: 1, done: false });
    expect(await waiting).toBe(true);
    expect(await buffer.pull()).toEqual({ value: 2, done: false });
  });

  it('after end: pushes are refused, waiting producers are told, buffered items still come out', async () => {
    const buffer = new BoundedBuffer<number>(1);
    buffer.tryPush(1);
    const waiting = buffer.push(2);
    buffer.end();
    expect(await waiting).toBe(false);
    expect(await buffer.push(3)).toBe(false);
    expect(buffer.tryPush(3)).toBe(false);
    expect(await buffer.pull()).toEqual({ value: 1, done: false });
    expect(await buffer.pull()).toEqual({ value: undefined, done: true });
  });

  it('the first failure wins and comes after the buffered items', async () => {
    const buffer = new BoundedBuffer<number>(2);
    buffer.tryPush(1);
    buffer.fail(new Error('first'));
    buffer.fail(new Error('second'));
    expect(await buffer.pull()).toEqual({ value: 1, done: false });
    await expect(buffer.pull()).rejects.toThrow('first');
  });

  it('items pass in order through many wrap-arounds', async () => {
    const buffer = new BoundedBuffer<number>(3);
    const out: number[] = [];
    const producing = (async () => {
      for (let i = 0; i < 3_000; i++) await buffer.push(i);
      buffer.end();
    })();
    for (let next = await buffer.pull(); !next.done; next = await buffer.pull()) out.push(next.value);
    await producing;
    expect(out).toEqual(Array.from({ length: 3_000 }, (_, i) => i));
  });
});

describe('background errors (Observability.reportError)', () => {
  it('logs warn while retrying and error when not, hands onError a coded error, survives a throwing onError', () => {
    const lines: LogLine[] = [];
    const events: BackgroundErrorEvent[] = [];
    const observability = createObservability({
      logger: recordingLogger(lines),
      onError: (event) => {
        events.push(event);
        if (events.length === 2) throw new Error('callback broke');
      },
    });
    observability.reportError({ component: 'c', pchannel: 'p', retrying: true, error: new Error('flaky') });
    observability.reportError({
      component: 'c',
      pchannel: 'p',
      retrying: false,
      error: new WalError('CHANNEL_FENCED', 'fenced'),
    });
    expect(events.map((e) => [e.error.code, e.retrying])).toEqual([
      ['UNKNOWN', true],
      ['CHANNEL_FENCED', false],
    ]);
    expect(WalError.is(events[0]!.error)).toBe(true);
    expect(lines.map((line) => [line.level, line.message])).toEqual([
      ['warn', 'c failed and is retried: flaky'],
      ['error', 'c failed: fenced'],
      ['error', 'onError callback threw'],
    ]);
    expect(lines[0]!.fields).toMatchObject({
      component: 'c',
      pchannel: 'p',
      retrying: true,
      code: 'UNKNOWN',
    });
  });
});

describe('keeping the process alive while a consumer waits', () => {
  const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

  it('one referenced timer while anyone waits, none once the last one released; a release counts once', () => {
    const before = timers();
    const first = holdProcessWhileWaiting();
    expect(timers()).toBe(before + 1);
    const second = holdProcessWhileWaiting();
    expect(timers()).toBe(before + 1);
    first();
    first();
    expect(timers()).toBe(before + 1);
    second();
    expect(timers()).toBe(before);
    const again = holdProcessWhileWaiting();
    expect(timers()).toBe(before + 1);
    again();
    expect(timers()).toBe(before);
  });
});

describe('createWal: interceptor order', () => {
  const named = (name: string, outsideOf?: string[]): InterceptorBuilder => ({
    name,
    ...(outsideOf ? { outsideOf } : {}),
    build: () => ({ name, doAppend: (message, context, next) => next(message, context) }),
  });

  it('an interceptor that must sit inside another is refused outside it, naming both', async () => {
    const wrong = createWal()
      .adapter(memoryAdapter())
      .use(named('inner', ['outer']), named('outer'));
    await expect(wrong.build()).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      retriable: false,
      details: { interceptor: 'inner', outside: 'outer' },
    });
    const right = await createWal()
      .adapter(memoryAdapter())
      .use(named('outer'), named('inner', ['outer']))
      .build();
    await right.close();
    const absent = await createWal()
      .adapter(memoryAdapter())
      .use(named('inner', ['outer']))
      .build();
    await absent.close();
  });

  it('build without an adapter, or with an unknown option, is refused', async () => {
    await expect(createWal().build()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', retriable: false });
    await expect(
      createWal()
        .adapter(memoryAdapter())
        .build({ timeoutMs: 1 } as never),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: { option: 'timeoutMs' },
    });
  });
});
