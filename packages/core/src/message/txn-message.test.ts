import { describe, expect, it } from 'vitest';
import { type MessageID, registerMessageIdCodec } from '../message-id/message-id.js';
import { composeTimeTick, MAX_TIMETICK } from '../timetick/hybrid.js';
import { newMessage } from './builder.js';
import { type ImmutableMessage, MutableMessage } from './message.js';
import { SystemMessageType } from './message-type.js';
import { INFINITE_KEEPALIVE_MS } from './txn-context.js';
import { ImmutableTxnMessageBuilder } from './txn-message.js';

class N implements MessageID {
  readonly walName = 'txn-test';
  constructor(readonly value: number) {}
  compare(other: MessageID): number {
    return this.value - (other as N).value;
  }
  marshal(): string {
    return String(this.value);
  }
  toString(): string {
    return String(this.value);
  }
}

registerMessageIdCodec('txn-test', (text) => new N(Number(text)));

function written(type: string | number, id: number, tt: bigint, keepaliveMs = 1_000): ImmutableMessage {
  const message =
    typeof type === 'string'
      ? newMessage(type).vchannel('p_1v0').build()
      : new MutableMessage(new Uint8Array([id]), { _t: String(type), _vc: 'p_1v0', k: `body-${id}` });
  return message
    .withTimeTick(tt)
    .withTxnContext({ txnId: 7n, keepaliveMs })
    .withLastConfirmedUseMessageId()
    .intoImmutable(new N(id));
}

describe('ImmutableTxnMessageBuilder', () => {
  it('gives every body the commit timetick and a last-confirmed id that is not the body itself', () => {
    const builder = new ImmutableTxnMessageBuilder(written('BeginTxn', 1, composeTimeTick(100)));
    builder.add(written(2, 2, composeTimeTick(101))).add(written(2, 3, composeTimeTick(102)));
    const txn = builder.build(written('CommitTxn', 4, composeTimeTick(110)));
    expect(txn.messageType).toBe(SystemMessageType.Txn);
    expect((txn.id as N).value).toBe(4);
    expect(txn.bodies.map((body) => body.timeTick)).toEqual([composeTimeTick(110), composeTimeTick(110)]);
    expect(txn.bodies.map((body) => (body.lastConfirmedId as N).value)).toEqual([4, 4]);
    expect(txn.bodies.map((body) => body.properties.k)).toEqual(['body-2', 'body-3']);
    expect([...txn.flatten()].map((message) => (message.id as N).value)).toEqual([1, 2, 3, 4]);
  });

  it('expires keepalive after the last activity, never when the keepalive is infinite', () => {
    const builder = new ImmutableTxnMessageBuilder(written('BeginTxn', 1, composeTimeTick(100)));
    expect(builder.expiredTimeTick()).toBe(composeTimeTick(1_100));
    builder.add(written(2, 2, composeTimeTick(500)));
    expect(builder.expiredTimeTick()).toBe(composeTimeTick(1_500));
    const forever = new ImmutableTxnMessageBuilder(
      written('BeginTxn', 1, composeTimeTick(100), INFINITE_KEEPALIVE_MS),
    );
    expect(forever.expiredTimeTick()).toBe(MAX_TIMETICK);
  });

  it('refuses to start from anything but a BeginTxn with a txn context', () => {
    expect(() => new ImmutableTxnMessageBuilder(written(2, 1, 1n))).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});
