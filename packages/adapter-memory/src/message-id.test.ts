import { compareMessageIds, unmarshalMessageId } from '@walstream/core';
import { messageIds } from '@walstream/core/internal';
import { registerMessageIdCodec } from '@walstream/core/spi';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { memoryAdapter } from './adapter.js';
import { asMemoryMessageId, MEMORY_WAL_NAME, MemoryMessageId } from './message-id.js';
import { foreignId, throwsWith } from './test-helpers.js';

describe('MemoryMessageId', () => {
  it('marshals to the decimal offset and unmarshals through the core registry to an equal id', () => {
    fc.assert(
      fc.property(fc.nat({ max: Number.MAX_SAFE_INTEGER }), (offset) => {
        const id = new MemoryMessageId(offset);
        expect(id.marshal()).toBe(offset.toString(10));
        const back = unmarshalMessageId(MEMORY_WAL_NAME, id.marshal());
        expect(back.walName).toBe('memory');
        expect(compareMessageIds(back, id)).toBe(0);
      }),
    );
  });

  it('orders ids as their offsets', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), (a, b) => {
        expect(Math.sign(new MemoryMessageId(a).compare(new MemoryMessageId(b)))).toBe(Math.sign(a - b));
      }),
    );
  });

  it('refuses to compare with another adapter’s id (INVALID_MESSAGE_ID)', () => {
    const id = new MemoryMessageId(3);
    throwsWith(() => id.compare(foreignId(3)), 'INVALID_MESSAGE_ID');
    throwsWith(() => asMemoryMessageId(foreignId(3)), 'INVALID_MESSAGE_ID');
  });

  it.each([
    '',
    '-1',
    '01',
    '1.5',
    'abc',
    ' 1',
    '1e3',
    '9007199254740993',
  ])('rejects %j when unmarshalled', (text) => {
    throwsWith(() => unmarshalMessageId(MEMORY_WAL_NAME, text), 'INVALID_MESSAGE_ID');
    throwsWith(() => MemoryMessageId.unmarshal(text), 'INVALID_MESSAGE_ID');
  });

  it('rejects offsets that are not safe integers ≥ 0', () => {
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53])
      throwsWith(() => new MemoryMessageId(bad), 'INVALID_MESSAGE_ID');
  });

  it('accepts an equal id from another copy of the package (no instanceof)', () => {
    const lookalike = {
      walName: 'memory',
      offset: 7,
      compare: () => 0,
      marshal: () => '7',
      toString: () => 'x',
    };
    expect(asMemoryMessageId(lookalike).offset).toBe(7);
    expect(new MemoryMessageId(8).compare(lookalike)).toBeGreaterThan(0);
  });

  it('registers its codec idempotently: at import and on every memoryAdapter() call', () => {
    expect(messageIds.has(MEMORY_WAL_NAME)).toBe(true);
    expect(() => {
      registerMessageIdCodec(MEMORY_WAL_NAME, MemoryMessageId.unmarshal);
      memoryAdapter();
      memoryAdapter();
    }).not.toThrow();
    expect(unmarshalMessageId('memory', '42').toString()).toBe('memory:42');
  });
});
