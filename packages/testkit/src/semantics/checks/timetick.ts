import { SystemMessageType } from '@walstream/core';
import { ConformanceFailure } from '../../runner/assert.js';
import type { Ledger } from '../ledger.js';
import { describeMessage, identify } from '../messages.js';
import type { ReadRecord } from '../reader.js';
import { entryOf, type LogEntry } from './agreement.js';
import { expectedFor, inVChannelScope, summarize, ttOf } from './scope.js';

/**
 * Per-vchannel timetick order: on every vchannel the reader sees, timeticks never go down. A message for
 * every vchannel (a TimeTick) takes part in the order of each vchannel.
 */
export function assertTimeTickOrder(reader: ReadRecord): void {
  const problems: string[] = [];
  const last = new Map<string, { tt: bigint; line: string }>();
  let everyVChannel: { tt: bigint; line: string } | undefined;
  reader.delivered.forEach((message, index) => {
    const tt = ttOf(message);
    const line = `#${index} ${describeMessage(message)}`;
    if (tt === undefined) {
      problems.push(`${line} carries no timetick`);
      return;
    }
    const vchannel = message.vchannel;
    if (vchannel === undefined) {
      // Compare against the newest message of every vchannel and every earlier all-vchannel message.
      const newest = [...last.values(), ...(everyVChannel ? [everyVChannel] : [])].reduce<
        { tt: bigint; line: string } | undefined
      >((max, entry) => (max === undefined || entry.tt > max.tt ? entry : max), undefined);
      if (newest && tt < newest.tt) problems.push(`${line} came after ${newest.line}`);
      everyVChannel = { tt, line };
      for (const key of last.keys()) last.set(key, { tt, line });
      return;
    }
    const previous = [last.get(vchannel), everyVChannel].reduce<{ tt: bigint; line: string } | undefined>(
      (max, entry) => (entry && (max === undefined || entry.tt > max.tt) ? entry : max),
      undefined,
    );
    if (previous && tt < previous.tt) problems.push(`${line} came after ${previous.line}`);
    last.set(vchannel, { tt: previous && previous.tt > tt ? previous.tt : tt, line });
  });
  if (problems.length > 0) {
    throw new ConformanceFailure(
      `reader ${reader.label} saw timeticks go down on a vchannel (${problems.length} times):\n${summarize(problems)}`,
    );
  }
}

/**
 * The TimeTick contract: once a TimeTick at X was delivered, every message with tt ≤ X was delivered
 * before it. Checked both ways: nothing at or below X comes after the tick, and every acknowledged append
 * in the reader's scope with tt ≤ X came before it — and, given the `log` (what any reader of the WAL
 * delivered, see {@link logOf}), every message of the log in its scope with tt ≤ X, whatever its append
 * reported: an append that failed "may have landed" and landed is covered by the tick like any other.
 */
export function assertTimeTickContract(
  reader: ReadRecord,
  ledger: Ledger,
  log?: ReadonlyMap<string, LogEntry>,
): void {
  const problems: string[] = [];
  const delivered = reader.delivered;
  const firstAt = new Map<string, number>();
  const entryAt = new Map<string, number>();
  const ticks: { index: number; tt: bigint }[] = [];
  delivered.forEach((message, index) => {
    const seen = identify(message);
    if (seen.kind === 'tick') ticks.push({ index, tt: message.timeTick });
    else if ((seen.kind === 'plain' || seen.kind === 'txn') && !firstAt.has(seen.key))
      firstAt.set(seen.key, index);
    const entry = log && entryOf(message, reader.label, index);
    if (entry && !entryAt.has(entry.key)) entryAt.set(entry.key, index);
  });
  // Nothing at or below a delivered tick may follow it.
  let highestTick: { index: number; tt: bigint } | undefined;
  delivered.forEach((message, index) => {
    if (message.messageType === SystemMessageType.TimeTick) {
      if (!highestTick || message.timeTick > highestTick.tt) highestTick = { index, tt: message.timeTick };
      return;
    }
    const tt = ttOf(message);
    if (highestTick && tt !== undefined && tt <= highestTick.tt) {
      problems.push(
        `#${index} ${describeMessage(message)} was delivered after the TimeTick at ${highestTick.tt} (#${highestTick.index}) that covers it`,
      );
    }
  });
  // Every acknowledged append a delivered tick covers came before that tick.
  for (const expected of expectedFor(ledger, reader.scope)) {
    const cover = ticks.find((tick) => tick.tt >= expected.timeTick);
    if (!cover) continue;
    const at = firstAt.get(expected.key);
    if (at === undefined || at > cover.index) {
      problems.push(
        `the TimeTick at ${cover.tt} (#${cover.index}) was delivered before the acknowledged ${expected.what} ` +
          `${expected.key} (tt=${expected.timeTick}, id=${expected.messageIdText}), ` +
          (at === undefined ? 'which never came' : `which came only at #${at}`),
      );
    }
  }
  // Every message of the log a delivered tick covers came before that tick (acknowledged ones were
  // judged above, with the id and timetick their append returned).
  const acked = new Set(
    expectedFor(ledger, { vchannel: undefined, afterTimeTick: undefined }).map((e) => e.key),
  );
  const after = reader.scope.afterTimeTick;
  for (const entry of log?.values() ?? []) {
    if (entry.suiteKey !== undefined && acked.has(entry.suiteKey)) continue;
    if (!inVChannelScope(reader.scope, entry.vchannel)) continue;
    if (after !== undefined && entry.timeTick <= after) continue;
    const cover = ticks.find((tick) => tick.tt >= entry.timeTick);
    if (!cover) continue;
    const at = entryAt.get(entry.key);
    if (at === undefined || at > cover.index) {
      problems.push(
        `the TimeTick at ${cover.tt} (#${cover.index}) was delivered before ${entry.line}, which reader ${entry.by} ` +
          `delivered (it is in the log), ${at === undefined ? 'but this reader never did' : `but this reader only at #${at}`}`,
      );
    }
  }
  if (problems.length > 0) {
    throw new ConformanceFailure(
      `reader ${reader.label} broke the TimeTick contract (${problems.length} times):\n${summarize(problems)}`,
    );
  }
}
