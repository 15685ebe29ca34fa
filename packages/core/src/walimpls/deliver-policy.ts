import type { MessageID } from '../message-id/message-id.js';

/**
 * Where a reader starts. `startFrom` includes the message with that id; `startAfter` excludes it;
 * `latest` sees only messages appended after the reader started.
 */
export type DeliverPolicy =
  | { readonly kind: 'all' }
  | { readonly kind: 'latest' }
  | { readonly kind: 'startFrom'; readonly id: MessageID }
  | { readonly kind: 'startAfter'; readonly id: MessageID };

export const DeliverPolicy = {
  all: (): DeliverPolicy => ({ kind: 'all' }),
  latest: (): DeliverPolicy => ({ kind: 'latest' }),
  startFrom: (id: MessageID): DeliverPolicy => ({ kind: 'startFrom', id }),
  startAfter: (id: MessageID): DeliverPolicy => ({ kind: 'startAfter', id }),
} as const;

export function describeDeliverPolicy(policy: DeliverPolicy): string {
  return policy.kind === 'all' || policy.kind === 'latest'
    ? policy.kind
    : `${policy.kind}(${policy.id.toString()})`;
}
