import type { ImmutableMessage } from '@walstream/core';
import { isAcked, type Ledger, type Outcome } from '../ledger.js';
import type { ReaderScope } from '../reader.js';

/** Whether a message on `vchannel` (undefined: every vchannel) is for a reader of `scope`. */
export function inVChannelScope(scope: ReaderScope, vchannel: string | undefined): boolean {
  return scope.vchannel === undefined || vchannel === undefined || vchannel === scope.vchannel;
}

/** An acknowledged append the reader must deliver: on its vchannels and above its resume bound. */
export interface Expected {
  /** The key a reader sees: the plain message's, or the txn's commit key. */
  readonly key: string;
  readonly vchannel: string;
  readonly timeTick: bigint;
  readonly messageIdText: string;
  readonly what: string;
}

/** Every acknowledged plain message and committed txn in the reader's scope, by ascending timetick. */
export function expectedFor(ledger: Ledger, scope: ReaderScope): Expected[] {
  const expected: Expected[] = [];
  const consider = (key: string, vchannel: string, outcome: Outcome | undefined, what: string) => {
    if (!isAcked(outcome) || !inVChannelScope(scope, vchannel)) return;
    const { timeTick, messageId } = outcome.result;
    if (scope.afterTimeTick !== undefined && timeTick <= scope.afterTimeTick) return;
    expected.push({ key, vchannel, timeTick, messageIdText: messageId.toString(), what });
  };
  for (const record of ledger.plain.values())
    consider(record.key, record.vchannel, record.outcome, record.kind);
  for (const txn of ledger.txns.values())
    consider(`${txn.key}/commit`, txn.vchannel, txn.commit, 'txn commit');
  return expected.sort((a, b) => (a.timeTick < b.timeTick ? -1 : a.timeTick > b.timeTick ? 1 : 0));
}

export function ttOf(message: ImmutableMessage): bigint | undefined {
  return message.hasTimeTick ? message.timeTick : undefined;
}

/** The first `limit` lines of a list of problems, and how many more there were. */
export function summarize(problems: readonly string[], limit = 8): string {
  const shown = problems.slice(0, limit).map((line) => `  - ${line}`);
  if (problems.length > limit) shown.push(`  … and ${problems.length - limit} more`);
  return shown.join('\n');
}
