import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BoundedBuffer } from './bounded-buffer.js';

describe('BoundedBuffer', () => {
  it('delivers every item in order and never holds more than its capacity', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.integer(), { maxLength: 60 }),
        fc.array(fc.boolean(), { maxLength: 60 }),
        async (capacity, items, yields) => {
          const buffer = new BoundedBuffer<number>(capacity);
          let maxSize = 0;
          const producer = (async () => {
            for (const [index, item] of items.entries()) {
              await buffer.push(item);
              maxSize = Math.max(maxSize, buffer.size);
              if (yields[index]) await Promise.resolve();
            }
            buffer.end();
          })();
          const received: number[] = [];
          for (;;) {
            const next = await buffer.pull();
            if (next.done) break;
            received.push(next.value);
          }
          await producer;
          expect(received).toEqual(items);
          expect(maxSize).toBeLessThanOrEqual(capacity);
        },
      ),
    );
  });

  it('delivers a failure only after the buffered items', async () => {
    const buffer = new BoundedBuffer<number>(4);
    buffer.tryPush(1);
    buffer.tryPush(2);
    buffer.fail(new Error('boom'));
    expect(await buffer.pull()).toEqual({ value: 1, done: false });
    expect(await buffer.pull()).toEqual({ value: 2, done: false });
    await expect(buffer.pull()).rejects.toThrow('boom');
  });

  it('releases a waiting producer with false when cleared', async () => {
    const buffer = new BoundedBuffer<number>(1);
    buffer.tryPush(1);
    const blocked = buffer.push(2);
    buffer.clear();
    expect(await blocked).toBe(false);
    expect(await buffer.pull()).toEqual({ value: undefined, done: true });
  });

  it('rejects a capacity below one', () => {
    expect(() => new BoundedBuffer(0)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
