import { MutableMessage } from '@walstream/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBody, encodeRecord, MIN_RECORD_BYTES, readFrame, sealRecord } from './record.js';

const MAX_BODY = 1 << 20;

function sealed(message: MutableMessage, offset: number): Buffer {
  const record = encodeRecord(message);
  if (!Buffer.isBuffer(record)) throw new Error(`not encodable: ${record.badProperty}`);
  sealRecord(record, offset);
  return record;
}

const text = fc.string({ unit: 'grapheme', maxLength: 12 });

describe('record format', () => {
  it('gives back the offset, every property and the payload bytes, at any position in a buffer', () => {
    fc.assert(
      fc.property(
        fc.dictionary(text, text, { maxKeys: 6 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.nat(Number.MAX_SAFE_INTEGER),
        fc.nat(16),
        (properties, payload, offset, before) => {
          const record = sealed(new MutableMessage(payload, properties), offset);
          const buffer = Buffer.concat([Buffer.alloc(before, 0xee), record, Buffer.alloc(3, 0xee)]);
          const frame = readFrame(buffer, before, buffer.length, MAX_BODY);
          expect(frame).toMatchObject({ kind: 'record', offset, end: before + record.length });
          if (frame.kind !== 'record') return;
          const body = decodeBody(buffer, frame.bodyStart, frame.end);
          expect(body?.properties).toEqual(properties);
          expect(Object.keys(body!.properties)).toEqual(Object.keys(properties));
          expect(body?.payload).toEqual(payload);
          expect(Object.isFrozen(body?.properties)).toBe(true);
        },
      ),
    );
  });

  it('keeps a property named __proto__ as a property', () => {
    const properties = JSON.parse('{"__proto__":"x","a":""}') as Record<string, string>;
    const record = sealed(new MutableMessage(new Uint8Array([1]), properties), 0);
    const frame = readFrame(record, 0, record.length, MAX_BODY);
    if (frame.kind !== 'record') throw new Error(frame.kind);
    const body = decodeBody(record, frame.bodyStart, frame.end)!;
    expect(Object.keys(body.properties)).toEqual(['__proto__', 'a']);
    expect(Object.getOwnPropertyDescriptor(body.properties, '__proto__')?.value).toBe('x');
    expect(Object.getPrototypeOf(body.properties)).toBe(Object.prototype);
  });

  it('refuses a property with a lone surrogate instead of storing a replacement character', () => {
    expect(encodeRecord(new MutableMessage(new Uint8Array(), { ok: 'fine', bad: 'a\ud800b' }))).toEqual({
      badProperty: 'bad',
    });
    expect(encodeRecord(new MutableMessage(new Uint8Array(), { '\udc00': 'v' }))).toEqual({
      badProperty: '\udc00',
    });
  });

  it('a record cut anywhere is short; any one flipped bit makes it unreadable', () => {
    const record = sealed(
      new MutableMessage(new Uint8Array(40).fill(7), { k: 'value', e: '' }),
      123_456_789_012,
    );
    for (let cut = 0; cut < record.length; cut++) {
      expect(readFrame(record, 0, cut, MAX_BODY).kind, `cut at ${cut}`).toBe('short');
    }
    for (let bit = 0; bit < record.length * 8; bit++) {
      const flipped = Buffer.from(record);
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      // A flipped length may also ask for more bytes than there are: either way, no record comes out.
      expect(readFrame(flipped, 0, flipped.length, MAX_BODY).kind, `bit ${bit}`).not.toBe('record');
    }
  });

  it('reads zeros and lengths beyond the limit as no record', () => {
    expect(readFrame(Buffer.alloc(64), 0, 64, MAX_BODY)).toMatchObject({ kind: 'bad' });
    const huge = Buffer.alloc(MIN_RECORD_BYTES);
    huge.writeUInt32LE(MAX_BODY + 1, 0);
    expect(readFrame(huge, 0, huge.length, MAX_BODY)).toMatchObject({ kind: 'bad' });
  });
});
