import { type ImmutableMessage, type ImmutableTxnMessage, SystemMessageType } from '@walstream/core';
import { encodeTxnContext } from '@walstream/core/internal';
import { SystemProperty } from '@walstream/core/spi';
import { describe, expect, it } from 'vitest';
import { testMessage } from '../testing.js';
import { RecoveryTxnBuffer } from './txn-buffer.js';

const txnProps = (type: number, txnId: bigint, keepaliveMs = 1_000) => ({
  [SystemProperty.messageType]: String(type),
  [SystemProperty.vchannel]: 'v',
  [SystemProperty.txnContext]: encodeTxnContext({ txnId, keepaliveMs }),
});

describe('RecoveryTxnBuffer', () => {
  const collect = (buffer: RecoveryTxnBuffer, messages: ImmutableMessage[]) => {
    const out: ImmutableMessage[] = [];
    for (const message of messages) buffer.push(message, (m) => out.push(m));
    return out;
  };

  it('emits a committed txn as one Txn message whose bodies carry the commit timetick', () => {
    const buffer = new RecoveryTxnBuffer();
    const out = collect(buffer, [
      testMessage(1, 10n, txnProps(SystemMessageType.BeginTxn, 7n)),
      testMessage(2, 11n, txnProps(4999, 7n)),
      testMessage(3, 12n),
      testMessage(4, 13n, txnProps(SystemMessageType.CommitTxn, 7n)),
    ]);
    expect(out.map((m) => m.messageType)).toEqual([4999, SystemMessageType.Txn]);
    const txn = out[1] as ImmutableTxnMessage;
    expect(txn.bodies.map((b) => b.timeTick)).toEqual([13n]);
    expect(buffer.size).toBe(0);
  });

  it('drops rolled-back and expired txns, ignores unknown commits, keeps open ones', () => {
    const buffer = new RecoveryTxnBuffer();
    const out = collect(buffer, [
      testMessage(1, 10n, txnProps(SystemMessageType.BeginTxn, 1n)),
      testMessage(2, 11n, txnProps(4999, 1n)),
      testMessage(3, 12n, txnProps(SystemMessageType.RollbackTxn, 1n)),
      testMessage(4, 13n, txnProps(SystemMessageType.CommitTxn, 99n)),
      testMessage(5, 14n, txnProps(SystemMessageType.BeginTxn, 2n, 1)),
      testMessage(6, 15n, txnProps(SystemMessageType.BeginTxn, 3n, 100_000)),
      testMessage(7, 16n, txnProps(4999, 3n)),
    ]);
    expect(out).toEqual([]);
    // Keepalive 1 ms = 1 << 18 in hybrid timeticks.
    buffer.expire(14n + (1n << 18n));
    const open = buffer.open();
    expect(open.map((t) => [t.txnId, t.bodies.length, t.lastTimeTick])).toEqual([[3n, 1, 16n]]);
  });

  it('drops the open txns an exclusive message crosses: on its vchannel, or all for the pchannel', () => {
    const buffer = new RecoveryTxnBuffer({ failOnExclusive: { pchannel: 'p' } });
    const begin = (id: number, tt: bigint, txnId: bigint, vchannel: string) =>
      testMessage(id, tt, {
        ...txnProps(SystemMessageType.BeginTxn, txnId),
        [SystemProperty.vchannel]: vchannel,
      });
    const exclusive = (id: number, tt: bigint, vchannel?: string) =>
      testMessage(id, tt, {
        [SystemProperty.messageType]: String(SystemMessageType.ManualFlush),
        ...(vchannel ? { [SystemProperty.vchannel]: vchannel } : {}),
      });
    collect(buffer, [begin(1, 10n, 1n, 'a'), begin(2, 11n, 2n, 'b'), exclusive(3, 12n, 'a')]);
    expect(buffer.open().map((t) => t.txnId)).toEqual([2n]);
    collect(buffer, [begin(4, 13n, 3n, 'a'), exclusive(5, 14n)]);
    expect(buffer.open()).toEqual([]);
    const plain = new RecoveryTxnBuffer();
    collect(plain, [begin(6, 15n, 4n, 'a'), exclusive(7, 16n, 'a')]);
    expect(plain.open().map((t) => t.txnId)).toEqual([4n]);
  });
});
