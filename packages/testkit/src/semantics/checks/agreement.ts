import { type ImmutableMessage, messageTypes } from '@walstream/core';
import { ConformanceFailure } from '../../runner/assert.js';
import { isAcked, type Ledger } from '../ledger.js';
import { describeMessage, identify } from '../messages.js';
import type { ReadRecord } from '../reader.js';
import { inVChannelScope, summarize } from './scope.js';

/** One message some reader of the WAL delivered: what every other reader of its vchannel must deliver too. */
export interface LogEntry {
  /** What the message is across readers: type, suite key (or vchannel) and timetick — never the id. */
  readonly key: string;
  /** The key, plus the body keys of a Txn: two readers must assemble a txn alike. */
  readonly detail: string;
  readonly timeTick: bigint;
  readonly vchannel: string | undefined;
  /** The suite key of a plain message or the commit key of a Txn. */
  readonly suiteKey: string | undefined;
  /** The first reader that delivered it, and how. */
  readonly by: string;
  readonly line: string;
}

function typeName(message: ImmutableMessage): string {
  return messageTypes.get(message.messageType)?.name ?? `type ${message.messageType}`;
}

/**
 * What a delivery is across readers; undefined for TimeTicks (a tailing reader also gets non-persisted
 * ones, and a tick may be delivered where another reader got a later one). Copies of one append (a retry
 * after a lost acknowledgement writes it again under another id) are one entry.
 */
export function entryOf(message: ImmutableMessage, by: string, index: number): LogEntry | undefined {
  const seen = identify(message);
  if (seen.kind === 'tick') return undefined;
  const suiteKey = seen.kind === 'plain' || seen.kind === 'txn' ? seen.key : undefined;
  const what =
    suiteKey === undefined
      ? `${typeName(message)}${seen.kind === 'txnPart' && seen.key ? ` ${seen.key}` : ''} vc=${message.vchannel ?? '*'}`
      : `${typeName(message)} ${suiteKey}`;
  const key = `${what} tt=${message.timeTick}`;
  return {
    key,
    detail: seen.kind === 'txn' ? `${key} with bodies [${seen.bodyKeys.join(', ')}]` : key,
    timeTick: message.timeTick,
    vchannel: message.vchannel,
    suiteKey,
    by,
    line: `#${index} ${describeMessage(message)}`,
  };
}

/** Every message any of `readers` delivered, once, by its {@link LogEntry.key}. */
export function logOf(readers: readonly ReadRecord[]): Map<string, LogEntry> {
  const log = new Map<string, LogEntry>();
  for (const reader of readers) {
    reader.delivered.forEach((message, index) => {
      const entry = entryOf(message, reader.label, index);
      if (entry && !log.has(entry.key)) log.set(entry.key, entry);
    });
  }
  return log;
}

/**
 * Up to where a reader can be held to the log: the first end marker of its scope (what the schedule
 * wrote; the WAL's own later messages may land after it), or its last delivery if it stopped short.
 */
function horizonOf(reader: ReadRecord, ledger: Ledger): bigint | undefined {
  let horizon: bigint | undefined;
  for (const marker of ledger.markers()) {
    if (!isAcked(marker.outcome) || !inVChannelScope(reader.scope, marker.vchannel)) continue;
    const tt = marker.outcome.result.timeTick;
    if (horizon === undefined || tt < horizon) horizon = tt;
  }
  const last = reader.delivered.at(-1);
  if (last === undefined) return undefined;
  const lastTt = last.timeTick;
  return horizon === undefined || lastTt < horizon ? lastTt : horizon;
}

/**
 * Readers of one WAL agree: a tailing reader (served by the write-ahead buffer), a catch-up reader and a
 * reader of the store (a read-only replica) deliver the same messages — each vchannel in the same order,
 * every txn with the same bodies — up to where each was followed. What one of them delivered is in the
 * log, so it is owed by every reader of its vchannel, whatever the outcome its append reported: an
 * append that failed "may have landed" (`ON_SHUTDOWN` when a close cut its retry short) and did land is
 * read by all of them, or by none.
 */
export function assertReadersAgree(readers: readonly ReadRecord[], ledger: Ledger): void {
  const log = logOf(readers);
  const problems: string[] = [];
  for (const reader of readers) {
    const horizon = horizonOf(reader, ledger);
    if (horizon === undefined) continue;
    const after = reader.scope.afterTimeTick;
    const own = new Map<string, { entry: LogEntry; count: number }>();
    const order = new Map<string, LogEntry[]>();
    reader.delivered.forEach((message, index) => {
      const entry = entryOf(message, reader.label, index);
      if (!entry || entry.timeTick > horizon) return;
      const seen = own.get(entry.key);
      if (seen) {
        seen.count++;
        return;
      }
      own.set(entry.key, { entry, count: 1 });
      const list = order.get(entry.vchannel ?? '*') ?? [];
      list.push(entry);
      order.set(entry.vchannel ?? '*', list);
    });
    const expectedOrder = new Map<string, LogEntry[]>();
    for (const entry of log.values()) {
      if (entry.timeTick > horizon || (after !== undefined && entry.timeTick <= after)) continue;
      if (!inVChannelScope(reader.scope, entry.vchannel)) continue;
      const list = expectedOrder.get(entry.vchannel ?? '*') ?? [];
      list.push(entry);
      expectedOrder.set(entry.vchannel ?? '*', list);
      const mine = own.get(entry.key);
      if (!mine) {
        problems.push(
          `reader ${reader.label} never delivered ${entry.line} (by ${entry.by}), though it delivered up to tt=${horizon}`,
        );
      } else if (mine.entry.detail !== entry.detail) {
        problems.push(
          `reader ${reader.label} delivered ${mine.entry.line} as ${mine.entry.detail}, reader ${entry.by} as ${entry.detail}`,
        );
      }
    }
    for (const { entry, count } of own.values()) {
      if (count > 1) problems.push(`reader ${reader.label} delivered ${entry.line} ${count} times`);
    }
    for (const [vchannel, expected] of expectedOrder) {
      expected.sort((a, b) => (a.timeTick < b.timeTick ? -1 : a.timeTick > b.timeTick ? 1 : 0));
      const got = (order.get(vchannel) ?? []).map((entry) => entry.key);
      const want = expected.map((entry) => entry.key).filter((key) => own.has(key));
      const at = want.findIndex((key, i) => got[i] !== key);
      if (at >= 0 && got.length === want.length) {
        problems.push(
          `reader ${reader.label} delivered ${vchannel} in another order than the log: at position ${at}, ${got[at]} where ${want[at]} belongs`,
        );
      }
    }
  }
  if (problems.length > 0) {
    throw new ConformanceFailure(
      `readers of one WAL disagree: a tailing reader, a catch-up reader and a reader of the store must deliver the same messages:\n${summarize(problems)}`,
    );
  }
}
