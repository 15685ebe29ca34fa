import {
  compareMessageIds,
  type MessageID,
  messageIdEquals,
  unmarshalMessageId,
  WalError,
} from '@walstream/core';
import { MessageIdRegistry, maxMessageId, messageIdLess } from '@walstream/core/internal';
import { assertSameWal } from '@walstream/core/spi';
import { describe, expect, it } from 'vitest';

/** An id of adapter `walName` at `offset`: orders by offset, as adapters do. */
function id(walName: string, offset: number): MessageID & { offset: number } {
  return {
    walName,
    offset,
    compare: (other) => offset - (other as unknown as { offset: number }).offset,
    marshal: () => String(offset),
    toString: () => `${walName}:${offset}`,
  };
}

function thrown(fn: () => unknown): WalError {
  try {
    fn();
  } catch (error) {
    expect(WalError.is(error), String(error)).toBe(true);
    return error as WalError;
  }
  throw new Error('expected a throw');
}

describe('MessageID registry', () => {
  it('register refuses a second codec for one adapter name; ensure keeps the first', () => {
    const registry = new MessageIdRegistry();
    const first = (text: string) => id('a', Number(text));
    registry.register('a', first);
    const clash = thrown(() => registry.register('a', () => id('a', 99)));
    expect(clash.code).toBe('ALREADY_REGISTERED');
    expect(clash.message).toContain('"a"');
    registry.ensure('a', () => id('a', 99));
    expect(registry.unmarshal('a', '7').compare(id('a', 7))).toBe(0);
    registry.ensure('b', (text) => id('b', Number(text) * 2));
    expect(registry.has('b')).toBe(true);
    expect((registry.unmarshal('b', '4') as unknown as { offset: number }).offset).toBe(8);
  });

  it('unmarshal: an unknown adapter is NOT_REGISTERED; a codec that throws becomes INVALID_MESSAGE_ID', () => {
    const registry = new MessageIdRegistry();
    expect(registry.has('nope')).toBe(false);
    expect(thrown(() => registry.unmarshal('nope', '1')).code).toBe('NOT_REGISTERED');
    const cause = new RangeError('bad digits');
    registry.register('strict', () => {
      throw cause;
    });
    const error = thrown(() => registry.unmarshal('strict', 'x!'));
    expect(error).toMatchObject({ code: 'INVALID_MESSAGE_ID', retriable: false, cause });
    expect(error.message).toContain('"x!"');
  });

  it('the process-wide registry answers unmarshalMessageId', () => {
    expect(thrown(() => unmarshalMessageId('no-such-adapter', '1')).code).toBe('NOT_REGISTERED');
  });
});

describe('comparing MessageIDs', () => {
  it('ids of two adapters never compare: INVALID_MESSAGE_ID naming both', () => {
    const a = id('kafka', 1);
    const b = id('pulsar', 1);
    for (const compare of [
      () => assertSameWal(a, b),
      () => compareMessageIds(a, b),
      () => messageIdEquals(a, b),
      () => messageIdLess(a, b),
      () => maxMessageId(a, b),
    ]) {
      const error = thrown(compare);
      expect(error).toMatchObject({ code: 'INVALID_MESSAGE_ID', retriable: false });
      expect(error.details).toEqual({ left: 'kafka:1', right: 'pulsar:1' });
    }
    expect(() => assertSameWal(a, id('kafka', 5))).not.toThrow();
  });

  it('equals, less and max follow compare', () => {
    const one = id('m', 1);
    const two = id('m', 2);
    expect(compareMessageIds(one, two)).toBeLessThan(0);
    expect(messageIdEquals(one, id('m', 1))).toBe(true);
    expect(messageIdEquals(one, two)).toBe(false);
    expect(messageIdLess(one, two)).toBe(true);
    expect(messageIdLess(two, one)).toBe(false);
    expect(messageIdLess(one, id('m', 1))).toBe(false);
    expect(maxMessageId(one, two)).toBe(two);
    expect(maxMessageId(two, one)).toBe(two);
    // On a tie the first argument is kept.
    const same = id('m', 1);
    expect(maxMessageId(one, same)).toBe(one);
  });
});
