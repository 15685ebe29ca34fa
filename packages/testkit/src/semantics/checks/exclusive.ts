import { messageTypes } from '@walstream/core';
import { ConformanceFailure } from '../../runner/assert.js';
import { describeMessage, identify } from '../messages.js';
import type { ReadRecord } from '../reader.js';
import { summarize } from './scope.js';

/**
 * Exclusive messages are alone on their vchannel: against every other message of the vchannel, an
 * exclusive-required message's timetick order equals its id order. A concurrent append that got its
 * timetick before the exclusive one but landed after it (or the other way round) breaks this.
 */
export function assertExclusiveAlone(reader: ReadRecord): void {
  const problems: string[] = [];
  const byVChannel = new Map<string, { index: number; message: ReadRecord['delivered'][number] }[]>();
  reader.delivered.forEach((message, index) => {
    const vchannel = message.vchannel;
    if (vchannel === undefined) return;
    const kind = identify(message).kind;
    // A Txn stands at its commit (its id and timetick); begin and bodies were appended under the txn.
    if (kind === 'tick' || kind === 'txnPart') return;
    const list = byVChannel.get(vchannel) ?? [];
    list.push({ index, message });
    byVChannel.set(vchannel, list);
  });
  for (const [vchannel, list] of byVChannel) {
    for (const exclusive of list) {
      if (!messageTypes.isExclusiveRequired(exclusive.message.messageType)) continue;
      for (const other of list) {
        if (other === exclusive) continue;
        // A pair of exclusive messages is judged once.
        if (messageTypes.isExclusiveRequired(other.message.messageType) && other.index < exclusive.index)
          continue;
        const byId = Math.sign(exclusive.message.id.compare(other.message.id));
        const a = exclusive.message.timeTick;
        const b = other.message.timeTick;
        const byTt = a < b ? -1 : a > b ? 1 : 0;
        if (byId !== byTt) {
          const order = (sign: number) => (sign < 0 ? 'before' : sign > 0 ? 'after' : 'level with');
          problems.push(
            `on ${vchannel}: exclusive ${describeMessage(exclusive.message)} is ${order(byId)} ` +
              `${describeMessage(other.message)} by id but ${order(byTt)} it by timetick`,
          );
        }
      }
    }
  }
  if (problems.length > 0) {
    throw new ConformanceFailure(
      `reader ${reader.label}: an exclusive message was not alone on its vchannel (${problems.length} pairs):\n${summarize(problems)}`,
    );
  }
}
