import { WalError } from '../errors/wal-error.js';
import type { MessageID } from '../message-id/message-id.js';
import { integerOption } from '../options/check.js';
import { DeliverPolicy } from './deliver-policy.js';

const POLICY_KINDS: ReadonlySet<string> = new Set(['all', 'latest', 'startFrom', 'startAfter']);

/**
 * A deliver policy a reader of `walName` can start from: one of the four kinds, and for `startFrom` /
 * `startAfter` an id of this very store (INVALID_MESSAGE_ID otherwise, since no order relates ids of two
 * stores). Absent means `all`.
 */
export function checkDeliverPolicy(where: string, policy: unknown, walName: string): DeliverPolicy {
  if (policy === undefined) return DeliverPolicy.all();
  const kind =
    typeof policy === 'object' && policy !== null ? (policy as { kind?: unknown }).kind : undefined;
  if (typeof kind !== 'string' || !POLICY_KINDS.has(kind)) {
    throw new WalError(
      'INVALID_ARGUMENT',
      `${where}: option deliverPolicy must come from DeliverPolicy.all() / latest() / startFrom(id) / startAfter(id)`,
      { retriable: false, details: { option: 'deliverPolicy' } },
    );
  }
  if (kind === 'startFrom' || kind === 'startAfter') {
    const id = (policy as { id?: Partial<MessageID> }).id;
    if (typeof id !== 'object' || id === null || typeof id.compare !== 'function') {
      throw new WalError('INVALID_ARGUMENT', `${where}: option deliverPolicy.${kind} needs a MessageID`, {
        retriable: false,
        details: { option: 'deliverPolicy' },
      });
    }
    if (id.walName !== walName) {
      throw new WalError(
        'INVALID_MESSAGE_ID',
        `${where}: option deliverPolicy.${kind} has an id of ${String(id.walName)}, this WAL is ${walName}`,
        { retriable: false, details: { option: 'deliverPolicy' } },
      );
    }
  }
  return policy as DeliverPolicy;
}

/** The read-ahead bound: a positive integer, or undefined for the default. */
export function checkReadAheadBufferSize(where: string, value: unknown): number | undefined {
  return value === undefined ? undefined : integerOption(where, 'readAheadBufferSize', value, 0, { min: 1 });
}
