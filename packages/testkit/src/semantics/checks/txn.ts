import { hasCode, SystemMessageType } from '@walstream/core';
import { ConformanceFailure, describeError } from '../../runner/assert.js';
import { isAcked, type Ledger, type TxnRecord } from '../ledger.js';
import { describeMessage, identify, KEY_PROPERTY } from '../messages.js';
import type { ReadRecord } from '../reader.js';
import { inVChannelScope, summarize } from './scope.js';

/** Whether a txn may be delivered: its commit was appended and it was not meant to expire. */
function mayBeVisible(txn: TxnRecord): boolean {
  return txn.commit !== undefined && txn.end !== 'expire' && !isAcked(txn.rollback);
}

/**
 * A committed txn is seen whole: one Txn message carrying its begin and every acknowledged body (a failed
 * body may or may not be there), in append order, each body at the commit's timetick, the Txn itself at
 * the acknowledged commit timetick; delivered at most once, and exactly once by a reader that reached the
 * end. None of its parts is ever delivered on its own.
 */
export function assertCommittedWhole(reader: ReadRecord, ledger: Ledger, complete: boolean): void {
  const problems: string[] = [];
  const counts = new Map<string, number>();
  reader.delivered.forEach((message, index) => {
    const seen = identify(message);
    const at = `#${index} ${describeMessage(message)}`;
    if (seen.kind === 'txnPart' || seen.kind === 'plain') {
      const owner = seen.key ? ownerOf(ledger, seen.key) : undefined;
      if (owner && mayBeVisible(owner))
        problems.push(`${at} is a part of the committed txn ${owner.key} delivered on its own`);
      return;
    }
    if (seen.kind !== 'txn') return;
    const txn = ledger.txnOfCommitKey(seen.key);
    if (!txn || !mayBeVisible(txn)) return;
    counts.set(txn.key, (counts.get(txn.key) ?? 0) + 1);
    const txnMessage = seen.message;
    const begin = txnMessage.begin;
    if (begin.messageType !== SystemMessageType.BeginTxn || begin.properties[KEY_PROPERTY] !== txn.key) {
      problems.push(`${at}: its begin is ${describeMessage(begin)}, expected the BeginTxn ${txn.key}`);
    }
    if (txnMessage.vchannel !== txn.vchannel) problems.push(`${at}: txn ${txn.key} was on ${txn.vchannel}`);
    if (isAcked(txn.commit) && txnMessage.timeTick !== txn.commit.result.timeTick) {
      problems.push(`${at}: the commit was acknowledged at tt=${txn.commit.result.timeTick}`);
    }
    problems.push(...bodyProblems(at, txn, seen.bodyKeys, txnMessage));
  });
  for (const txn of ledger.txns.values()) {
    const count = counts.get(txn.key) ?? 0;
    if (count > 1) problems.push(`txn ${txn.key} was delivered ${count} times`);
    if (count === 0 && complete && isAcked(txn.commit) && mayBeVisible(txn) && inScope(reader, txn)) {
      problems.push(
        `txn ${txn.key} was committed (acknowledged at tt=${txn.commit.result.timeTick}) but never delivered`,
      );
    }
  }
  if (problems.length > 0) {
    throw new ConformanceFailure(
      `reader ${reader.label}: a committed txn was not seen whole, once:\n${summarize(problems)}`,
    );
  }
}

/**
 * A txn that was rolled back, left to expire, abandoned, or never got a commit is never seen: no Txn,
 * and none of its begin, bodies, commit or rollback in any other form.
 */
export function assertUncommittedInvisible(reader: ReadRecord, ledger: Ledger): void {
  const problems: string[] = [];
  reader.delivered.forEach((message, index) => {
    const seen = identify(message);
    const at = `#${index} ${describeMessage(message)}`;
    let owner: TxnRecord | undefined;
    if (seen.kind === 'txn') {
      // A Txn ending in something other than the schedule's commit (e.g. built from its rollback).
      owner = ownerOf(ledger, seen.key);
      if (!owner) {
        problems.push(`${at} is a Txn of no txn the schedule began`);
        return;
      }
      if (!seen.key.endsWith('/commit')) {
        problems.push(
          `${at} is txn ${owner.key} (${fate(owner)}) closed by ${seen.key}: only its commit may close it`,
        );
        return;
      }
    } else if (seen.kind === 'txnPart' || seen.kind === 'plain') {
      owner = seen.key ? ownerOf(ledger, seen.key) : undefined;
      if (!owner && seen.kind === 'txnPart') {
        problems.push(`${at} is a txn message of no txn the schedule began`);
        return;
      }
    }
    if (owner && !mayBeVisible(owner)) {
      problems.push(
        `${at} belongs to txn ${owner.key}, which was ${fate(owner)}: it must never be delivered`,
      );
    }
  });
  if (problems.length > 0) {
    throw new ConformanceFailure(
      `reader ${reader.label} delivered a txn that never committed:\n${summarize(problems)}`,
    );
  }
}

function inScope(reader: ReadRecord, txn: TxnRecord): boolean {
  if (!isAcked(txn.commit) || !inVChannelScope(reader.scope, txn.vchannel)) return false;
  const after = reader.scope.afterTimeTick;
  return after === undefined || txn.commit.result.timeTick > after;
}

function bodyProblems(
  at: string,
  txn: TxnRecord,
  bodyKeys: readonly string[],
  message: {
    readonly timeTick: bigint;
    readonly bodies: readonly { readonly timeTick: bigint; readonly vchannel: string | undefined }[];
  },
): string[] {
  const problems: string[] = [];
  const order = new Map(txn.bodies.map((body, index) => [body.key, index]));
  let previous = -1;
  for (const [position, key] of bodyKeys.entries()) {
    const index = order.get(key);
    if (index === undefined) {
      problems.push(`${at}: body ${key} is not a body of txn ${txn.key}`);
      continue;
    }
    if (index <= previous) problems.push(`${at}: body ${key} is out of append order (or repeated)`);
    previous = Math.max(previous, index);
    const body = message.bodies[position]!;
    if (body.timeTick !== message.timeTick) {
      problems.push(
        `${at}: body ${key} carries tt=${body.timeTick}, not the commit's tt=${message.timeTick}`,
      );
    }
    if (body.vchannel !== txn.vchannel) problems.push(`${at}: body ${key} is on ${String(body.vchannel)}`);
  }
  const present = new Set(bodyKeys);
  for (const body of txn.bodies) {
    if (isAcked(body.outcome) && !present.has(body.key)) {
      problems.push(`${at}: the acknowledged body ${body.key} is missing (the txn is not whole)`);
    }
  }
  return problems;
}

/** The txn a begin, body, commit or rollback key belongs to. */
function ownerOf(ledger: Ledger, key: string): TxnRecord | undefined {
  return (
    ledger.txns.get(key) ??
    ledger.bodyOwner.get(key) ??
    ledger.txnOfCommitKey(key) ??
    (key.endsWith('/rollback') ? ledger.txns.get(key.slice(0, -'/rollback'.length)) : undefined)
  );
}

function fate(txn: TxnRecord): string {
  if (isAcked(txn.rollback)) return 'rolled back';
  if (txn.end === 'expire') return 'left to expire';
  if (txn.commit === undefined) return txn.end === 'abandon' ? 'abandoned' : 'never committed';
  return isAcked(txn.commit) ? 'committed' : `not committed (${describeError(txn.commit.error)})`;
}

/**
 * A txn left to expire is refused at commit with TRANSACTION_EXPIRED: the writer may not believe in a
 * commit that readers drop.
 */
export function assertExpiredCommitsRefused(ledger: Ledger): void {
  const problems: string[] = [];
  for (const txn of ledger.txns.values()) {
    if (txn.end !== 'expire' || !txn.commit) continue;
    if (txn.commit.status === 'acked') {
      problems.push(`txn ${txn.key} (keepalive ${txn.keepaliveMs} ms) committed after its keepalive ran out`);
    } else if (!hasCode(txn.commit.error, 'TRANSACTION_EXPIRED', 'INVALID_TRANSACTION_STATE')) {
      // INVALID_TRANSACTION_STATE: an exclusive message on the vchannel failed the txn first.
      problems.push(
        `txn ${txn.key}: the late commit failed with ${describeError(txn.commit.error)}, expected TRANSACTION_EXPIRED`,
      );
    }
  }
  if (problems.length > 0)
    throw new ConformanceFailure(`expired txns were not refused:\n${summarize(problems)}`);
}
