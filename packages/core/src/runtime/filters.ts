import { WalError } from '../errors/wal-error.js';
import type { ImmutableMessage } from '../message/message.js';
import { messageTypes, SystemMessageType } from '../message/message-type.js';

/**
 * Reader-side filters, ANDed. Timetick filters judge non-txn messages, TimeTicks and commits; txn begin
 * and body messages always pass (the commit decides). Type filters never drop system types.
 */
export type DeliverFilter =
  | { readonly kind: 'timeTickGT'; readonly timeTick: bigint }
  | { readonly kind: 'timeTickGTE'; readonly timeTick: bigint }
  | { readonly kind: 'messageType'; readonly types: readonly number[] };

export const DeliverFilter = {
  timeTickGT: (timeTick: bigint): DeliverFilter => ({ kind: 'timeTickGT', timeTick }),
  timeTickGTE: (timeTick: bigint): DeliverFilter => ({ kind: 'timeTickGTE', timeTick }),
  messageType: (...types: number[]): DeliverFilter => {
    for (const type of types) {
      if (!messageTypes.get(type))
        throw new WalError('INVALID_ARGUMENT', `message type ${type} is not registered`);
      if (messageTypes.isSystem(type)) {
        throw new WalError(
          'INVALID_ARGUMENT',
          `system message type ${type} cannot be filtered on: system types always pass`,
        );
      }
    }
    return { kind: 'messageType', types };
  },
} as const;

function isTxnPart(message: ImmutableMessage): boolean {
  const type = message.messageType;
  return (
    type === SystemMessageType.BeginTxn ||
    (message.properties._tx !== undefined && type !== SystemMessageType.CommitTxn)
  );
}

function compileFilter(filter: DeliverFilter): (message: ImmutableMessage) => boolean {
  switch (filter.kind) {
    case 'timeTickGT':
      return (message) => isTxnPart(message) || message.timeTick > filter.timeTick;
    case 'timeTickGTE':
      return (message) => isTxnPart(message) || message.timeTick >= filter.timeTick;
    case 'messageType': {
      const allowed = new Set(filter.types);
      return (message) => messageTypes.isSystem(message.messageType) || allowed.has(message.messageType);
    }
  }
}

/** Builds one predicate from the filters; `undefined` when nothing is filtered. */
export function compileFilters(
  filters: readonly DeliverFilter[],
): ((message: ImmutableMessage) => boolean) | undefined {
  if (filters.length === 0) return undefined;
  const checks = filters.map(compileFilter);
  return (message) => checks.every((check) => check(message));
}
