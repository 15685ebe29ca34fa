import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { decodeStamp, encodeStamp, inspectControl, OPEN_HEADER, STAMP_HEADER } from '../../src/records.js';

describe('the term stamp', () => {
  test('every stamp reads back as written', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.string(), (term, writer) => {
        expect(decodeStamp(encodeStamp({ term, writer }))).toEqual({ term, writer });
      }),
    );
  });

  test('values that are not stamps are refused: the old format, another version, a changed byte', () => {
    const good = encodeStamp({ term: 7n, writer: 'w-1' });
    expect(decodeStamp(Buffer.from('zz.intruder'))).toBeUndefined();
    expect(decodeStamp(Buffer.from(good.toString().replace('ws1.', 'ws2.')))).toBeUndefined();
    for (let at = 0; at < good.length; at++) {
      const changed = Buffer.from(good);
      changed[at] = changed[at]! ^ 0x01;
      expect(decodeStamp(changed), `byte ${at}`).toBeUndefined();
    }
  });

  test('random header values never pass for a stamp', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(decodeStamp(Buffer.from(bytes))).toBeUndefined();
      }),
      { numRuns: 2000 },
    );
  });

  test('only an empty record with a verified stamp is an open marker', () => {
    const stamp = encodeStamp({ term: 3n, writer: 'w' });
    const record = (value: string, headers: [string, Buffer][]) => ({
      offset: 0n,
      value: Buffer.from(value),
      headers,
    });
    expect(
      inspectControl(
        record('', [
          [STAMP_HEADER, stamp],
          [OPEN_HEADER, Buffer.alloc(0)],
        ]),
      ),
    ).toEqual({ kind: 'marker' });
    expect(inspectControl(record('x', [[STAMP_HEADER, stamp]]))).toEqual({ kind: 'data' });
    expect(inspectControl(record('x', []))).toEqual({ kind: 'data' });
    expect(inspectControl(record('', [[OPEN_HEADER, Buffer.alloc(0)]])).kind).toBe('unexpected');
    expect(
      inspectControl(
        record('', [
          [STAMP_HEADER, Buffer.from('zz.intruder')],
          [OPEN_HEADER, Buffer.alloc(0)],
        ]),
      ).kind,
    ).toBe('unexpected');
    expect(
      inspectControl(
        record('x', [
          [STAMP_HEADER, stamp],
          [OPEN_HEADER, Buffer.alloc(0)],
        ]),
      ).kind,
    ).toBe('unexpected');
  });
});
