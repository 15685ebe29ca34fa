import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hasCode } from '../errors/wal-error.js';
import type { MessageID } from '../message-id/message-id.js';
import { registerMessageIdCodec } from '../message-id/message-id.js';
import {
  decodeBroadcastHeader,
  encodeBroadcastHeader,
  exclusiveResourceKey,
  ResourceDomain,
  sharedResourceKey,
} from './broadcast.js';
import { newMessage, splitBroadcast } from './builder.js';
import { MutableMessage } from './message.js';
import { SystemMessageType } from './message-type.js';
import { decodeBase36, encodeBase36, SystemProperty } from './properties.js';
import { decodeTxnContext, encodeTxnContext, INFINITE_KEEPALIVE_MS } from './txn-context.js';

class SeqId implements MessageID {
  readonly walName = 'seq-test';
  constructor(readonly value: number) {}
  compare(other: MessageID): number {
    return this.value - (other as SeqId).value;
  }
  marshal(): string {
    return String(this.value);
  }
  toString(): string {
    return `seq(${this.value})`;
  }
}
registerMessageIdCodec('seq-test', (text) => new SeqId(Number(text)));

describe('property encodings', () => {
  it('base-36 round-trips every uint64 and writes what the original writes', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (value) => {
        expect(decodeBase36(encodeBase36(value))).toBe(value);
      }),
    );
    expect(encodeBase36(35n)).toBe('z');
    expect(encodeBase36(36n)).toBe('10');
  });

  it('rejects text that is not base-36 with INVALID_ARGUMENT', () => {
    expect(() => decodeBase36('12!')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('txn context round-trips, including the infinite keepalive', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
        fc.integer({ min: -1, max: 2 ** 40 }),
        (txnId, keepaliveMs) => {
          expect(decodeTxnContext(encodeTxnContext({ txnId, keepaliveMs }))).toEqual({ txnId, keepaliveMs });
        },
      ),
    );
    expect(
      decodeTxnContext(encodeTxnContext({ txnId: 7n, keepaliveMs: INFINITE_KEEPALIVE_MS })).keepaliveMs,
    ).toBe(-1);
  });

  it('broadcast header round-trips resource keys and vchannels', () => {
    const header = {
      broadcastId: 42n,
      vchannels: ['p_1v0', 'p_2v0'],
      resourceKeys: [
        exclusiveResourceKey(ResourceDomain.CollectionName, 'db:c'),
        sharedResourceKey(ResourceDomain.Cluster, ''),
      ],
    };
    expect(decodeBroadcastHeader(encodeBroadcastHeader(header))).toEqual(header);
  });

  it('a corrupt header is a coded error, not a crash', () => {
    expect(() => decodeTxnContext('////')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

describe('message builder', () => {
  it('writes type, version, vchannel and user properties', () => {
    const message = newMessage('Flush')
      .vchannel('p_1v0')
      .property('k', 'v')
      .body(new Uint8Array([1, 2]))
      .build();
    expect(message.messageType).toBe(SystemMessageType.Flush);
    expect(message.version).toBe(2);
    expect(message.vchannel).toBe('p_1v0');
    expect(message.userProperties).toEqual({ k: 'v' });
    expect([...message.payload]).toEqual([1, 2]);
  });

  it('rejects reserved user keys, missing or double targets, and unknown types', () => {
    const expectCode = (fn: () => unknown, code: string) => {
      try {
        fn();
      } catch (error) {
        expect(hasCode(error, code as never)).toBe(true);
        return;
      }
      throw new Error('expected a coded error');
    };
    expectCode(() => newMessage('Flush').vchannel('v').property('_tt', '1'), 'INVALID_ARGUMENT');
    expectCode(() => newMessage('Flush').build(), 'INVALID_ARGUMENT');
    expectCode(() => newMessage('Flush').vchannel('v').allVChannels(), 'INVALID_ARGUMENT');
    expectCode(() => newMessage('NoSuchType'), 'NOT_REGISTERED');
    expectCode(() => newMessage('Flush').vchannel('v').notPersisted(), 'INVALID_ARGUMENT');
  });

  it('splits a broadcast into one message per deduplicated vchannel once it has an id', () => {
    const message = newMessage('ManualFlush').broadcast(['a_1v0', 'b_1v0', 'a_1v0']).build();
    expect(() => splitBroadcast(message)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    message.withBroadcastHeader({ ...message.broadcastHeader!, broadcastId: 9n });
    const parts = splitBroadcast(message);
    expect(parts.map((part) => part.vchannel)).toEqual(['a_1v0', 'b_1v0']);
    expect(parts.every((part) => part.broadcastHeader?.broadcastId === 9n)).toBe(true);
  });
});

describe('mutable and immutable messages', () => {
  it('set-once properties reject a second, different value', () => {
    const message = new MutableMessage(new Uint8Array(), {});
    message.withWalTerm(3n).withWalTerm(3n);
    expect(() => message.withWalTerm(4n)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('last-confirmed is the own id with _lcs, the marshalled id with _lc', () => {
    const self = new MutableMessage(new Uint8Array(), {})
      .withTimeTick(5n)
      .withLastConfirmedUseMessageId()
      .intoImmutable(new SeqId(3));
    expect((self.lastConfirmedId as SeqId).value).toBe(3);
    const other = new MutableMessage(new Uint8Array(), {})
      .withTimeTick(6n)
      .withLastConfirmed(new SeqId(1))
      .intoImmutable(new SeqId(4));
    expect((other.lastConfirmedId as SeqId).value).toBe(1);
    expect(other.properties[SystemProperty.lastConfirmedIsSelf]).toBeUndefined();
  });

  it('an immutable message does not change when its mutable source does', () => {
    const mutable = new MutableMessage(new Uint8Array(), { a: '1' }).withTimeTick(1n);
    const immutable = mutable.intoImmutable(new SeqId(0));
    mutable.withProperty('a', '2').withTimeTick(2n);
    expect(immutable.properties.a).toBe('1');
    expect(immutable.timeTick).toBe(1n);
    expect(Object.isFrozen(immutable.properties)).toBe(true);
  });

  it('immutable forms share one property snapshot until the mutable message changes', () => {
    const edits = fc.array(fc.tuple(fc.constantFrom('a', 'b', SystemProperty.timeTick), fc.string()), {
      maxLength: 6,
    });
    fc.assert(
      fc.property(edits, (changes) => {
        const mutable = new MutableMessage(new Uint8Array(), { a: 'x' });
        let previous = mutable.intoImmutable(new SeqId(0));
        const seen: [ReturnType<MutableMessage['intoImmutable']>, Record<string, string>][] = [];
        for (const [key, value] of changes) {
          const again = mutable.intoImmutable(new SeqId(1));
          // No change since the last snapshot: the same frozen object is shared, not copied.
          expect(again.properties).toBe(previous.properties);
          mutable.withProperty(key, value);
          previous = mutable.intoImmutable(new SeqId(2));
          seen.push([previous, { ...mutable.properties }]);
        }
        // Every snapshot kept exactly the properties of its moment.
        for (const [immutable, expected] of seen) expect({ ...immutable.properties }).toEqual(expected);
      }),
    );
  });

  it('reading the timetick of a message without one is a coded error', () => {
    const message = new MutableMessage(new Uint8Array(), {}).intoImmutable(new SeqId(0));
    expect(() => message.timeTick).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
