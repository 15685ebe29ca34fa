import { ConformanceFailure } from '../../runner/assert.js';
import type { Ledger } from '../ledger.js';
import { describeMessage, identify, payloadOf } from '../messages.js';
import type { ReadRecord } from '../reader.js';
import { expectedFor, inVChannelScope, summarize } from './scope.js';

/**
 * Exactly once: a reader that reached the end delivered every acknowledged append in its scope once,
 * with the id and timetick the append returned; a failed append at most once; and nothing the schedule
 * did not append as a plain message.
 */
export function assertExactlyOnce(reader: ReadRecord, ledger: Ledger): void {
  const problems: string[] = [];
  const seen = new Map<string, { index: number; id: string; tt: bigint }[]>();
  reader.delivered.forEach((message, index) => {
    const identified = identify(message);
    if (identified.kind !== 'plain' && identified.kind !== 'txn') return;
    const key = identified.key;
    if (identified.kind === 'plain') {
      const record = ledger.plain.get(key);
      if (!record) {
        const owner = ledger.bodyOwner.get(key);
        problems.push(
          owner
            ? `#${index} ${describeMessage(message)} is a body of txn ${owner.key} delivered as a plain message`
            : `#${index} ${describeMessage(message)} was never appended`,
        );
        return;
      }
      if (!inVChannelScope(reader.scope, message.vchannel)) {
        problems.push(`#${index} ${describeMessage(message)} is on a vchannel the reader did not ask for`);
      }
      if (message.vchannel !== record.vchannel) {
        problems.push(`#${index} ${describeMessage(message)} was appended to ${record.vchannel}`);
      }
      if (!sameBytes(message.payload, payloadOf(key))) {
        problems.push(`#${index} ${describeMessage(message)} carries other payload bytes than were appended`);
      }
    } else if (!ledger.txnOfCommitKey(key)) {
      problems.push(`#${index} ${describeMessage(message)} is a txn the schedule never committed`);
      return;
    }
    const list = seen.get(key) ?? [];
    list.push({ index, id: message.id.toString(), tt: message.timeTick });
    seen.set(key, list);
  });
  for (const [key, list] of seen) {
    if (list.length > 1) {
      problems.push(
        `${key} was delivered ${list.length} times (at ${list.map((entry) => `#${entry.index}`).join(', ')})`,
      );
    }
  }
  for (const expected of expectedFor(ledger, reader.scope)) {
    const delivered = seen.get(expected.key);
    if (!delivered) {
      problems.push(
        `the acknowledged ${expected.what} ${expected.key} (tt=${expected.timeTick}, id=${expected.messageIdText}) was never delivered`,
      );
      continue;
    }
    const first = delivered[0]!;
    if (first.id !== expected.messageIdText || first.tt !== expected.timeTick) {
      problems.push(
        `${expected.key} was delivered as id=${first.id} tt=${first.tt}, but its append returned id=${expected.messageIdText} tt=${expected.timeTick}`,
      );
    }
  }
  if (problems.length > 0) {
    throw new ConformanceFailure(
      `reader ${reader.label} (${reader.delivered.length} deliveries) did not deliver exactly what was acknowledged:\n${summarize(problems)}`,
    );
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
