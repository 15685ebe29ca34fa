import { type ErrorCode, hasCode, type MutableMessage, physicalMsOf } from '@walstream/core';
import { ConformanceFailure, describeError } from '../../runner/assert.js';
import { pause } from '../../runner/wait.js';
import type { Outcome, PlainKind, PlainRecord, TxnEnd, TxnRecord } from '../ledger.js';
import { KEY_PROPERTY, noteMessage, payloadOf } from '../messages.js';
import type { SemanticsStack } from '../stack.js';

/** Txn failures a client must expect: the txn expired, or an exclusive message on its vchannel failed it. */
const TXN_REFUSALS: readonly ErrorCode[] = ['TRANSACTION_EXPIRED', 'INVALID_TRANSACTION_STATE'];

/** Keepalive of txns meant to end normally: long enough that a slow run never expires them. */
export const LONG_KEEPALIVE_MS = 10_000;
/** Keepalive of txns meant to expire or be abandoned: short, so the schedule need not wait long. */
export const SHORT_KEEPALIVE_MS = 40;

export interface ClientRules {
  /**
   * No exclusive message runs beside txns, so a txn step that is not expected to expire must succeed.
   * Off, a txn step may also be refused (an exclusive message failed the txn).
   */
  readonly strictTxns: boolean;
  /**
   * The WAL is being closed or fenced under these operations: any of them may fail with a shutdown,
   * fencing or txn error (and then may or may not have landed).
   */
  readonly termChange?: boolean;
}

/** What an operation caught by a reopening may fail with. */
const TERM_CHANGE_FAILURES: readonly ErrorCode[] = [
  'CHANNEL_FENCED',
  'ON_SHUTDOWN',
  'CLOSED',
  ...TXN_REFUSALS,
];

function toleratedByTermChange(outcome: Outcome, rules: ClientRules | undefined): boolean {
  return (
    rules?.termChange === true &&
    outcome.status === 'failed' &&
    hasCode(outcome.error, ...TERM_CHANGE_FAILURES)
  );
}

async function attempt(
  stack: SemanticsStack,
  message: MutableMessage,
  signal?: AbortSignal,
): Promise<Outcome> {
  try {
    const result = await stack.wal.append(message, signal ? { signal } : undefined);
    return { status: 'acked', result };
  } catch (error) {
    return { status: 'failed', error };
  }
}

function unexpected(what: string, outcome: Outcome): never {
  const error = outcome.status === 'failed' ? outcome.error : undefined;
  throw new ConformanceFailure(`${what} failed: ${describeError(error)}`, { cause: error });
}

/**
 * Appends one plain (or exclusive) message. Without `abortAfterMs` it must succeed — injected errors are
 * the runtime's to retry; with it the client gives up, and only ABORTED is an acceptable failure.
 */
export async function appendPlain(
  stack: SemanticsStack,
  vchannel: string,
  kind: PlainKind,
  abortAfterMs?: number,
  rules?: ClientRules,
): Promise<PlainRecord> {
  const record = stack.ledger.addPlain(kind, vchannel, stack.term);
  const signal = abortAfterMs === undefined ? undefined : AbortSignal.timeout(abortAfterMs);
  record.outcome = await attempt(stack, plainMessage(stack, vchannel, record.key, kind), signal);
  if (
    record.outcome.status === 'failed' &&
    !(signal && hasCode(record.outcome.error, 'ABORTED')) &&
    !toleratedByTermChange(record.outcome, rules)
  ) {
    unexpected(`appending ${kind} ${record.key} to ${vchannel}@${stack.term}`, record.outcome);
  }
  return record;
}

/** The message of a plain append: a note, an exclusive note, or the protocol's Insert. */
function plainMessage(stack: SemanticsStack, vchannel: string, key: string, kind: PlainKind): MutableMessage {
  if (kind !== 'insert') return noteMessage(vchannel, key, kind === 'exclusive');
  return stack.protocol.insert(vchannel, payloadOf(key)).withProperty(KEY_PROPERTY, key);
}

function keepaliveFor(end: TxnEnd): number {
  return end === 'expire' || end === 'abandon' ? SHORT_KEEPALIVE_MS : LONG_KEEPALIVE_MS;
}

/**
 * Begins a txn and appends its bodies one after the other. A begin that is not acknowledged fails the
 * case (it waits for nothing); a refused body ends the bodies (the txn is dead).
 */
export async function beginWithBodies(
  stack: SemanticsStack,
  vchannel: string,
  bodies: number,
  end: TxnEnd,
  rules: ClientRules,
  abortBodiesAfterMs?: number,
  insertBodies = false,
): Promise<TxnRecord> {
  const txn = stack.ledger.addTxn(vchannel, keepaliveFor(end), end);
  const protocol = stack.protocol;
  const begin = protocol.beginTxn(vchannel, txn.keepaliveMs).withProperty(KEY_PROPERTY, txn.key);
  txn.begin = await attempt(stack, begin);
  // Without a context nothing more can be said of this txn: it never commits.
  if (toleratedByTermChange(txn.begin, rules)) return txn;
  if (txn.begin.status === 'failed') unexpected(`beginning txn ${txn.key} on ${vchannel}`, txn.begin);
  const context = txn.begin.result.txn;
  if (!context) {
    throw new ConformanceFailure(
      `the BeginTxn of ${txn.key} was acknowledged without a txn context in its append result`,
    );
  }
  txn.context = context;
  txn.lastActivity = txn.begin.result.timeTick;
  for (let i = 0; i < bodies; i++) {
    const body = stack.ledger.addBody(txn);
    // Never for a txn left to expire: a body that landed unbeknown to the client would move its expiry.
    const signal =
      abortBodiesAfterMs === undefined || end === 'expire'
        ? undefined
        : AbortSignal.timeout(abortBodiesAfterMs);
    const message = plainMessage(stack, vchannel, body.key, insertBodies ? 'insert' : 'plain');
    body.outcome = await attempt(stack, message.withTxnContext(context), signal);
    if (body.outcome.status === 'acked') {
      if (body.outcome.result.timeTick > txn.lastActivity) txn.lastActivity = body.outcome.result.timeTick;
      continue;
    }
    // The client gave up on this body; the txn goes on without knowing whether it landed.
    if (signal && hasCode(body.outcome.error, 'ABORTED')) continue;
    checkRefusal(`body ${body.key} of txn ${txn.key}`, body.outcome, txn, rules);
    break;
  }
  return txn;
}

/** Ends the txn the way the schedule says (a `commitAfterReopen` txn is committed by the caller later). */
export async function endTxn(stack: SemanticsStack, txn: TxnRecord, rules: ClientRules): Promise<void> {
  if (!txn.context) return;
  switch (txn.end) {
    case 'commit':
    case 'commitAfterReopen':
      return commit(stack, txn, rules);
    case 'rollback': {
      const message = stack.protocol
        .rollbackTxn(txn.vchannel, txn.context!)
        .withProperty(KEY_PROPERTY, `${txn.key}/rollback`);
      txn.rollback = await attempt(stack, message);
      if (txn.rollback.status === 'failed')
        checkRefusal(`rolling back txn ${txn.key}`, txn.rollback, txn, rules);
      return;
    }
    case 'expire':
      await untilExpired(txn, stack.signal);
      // The verdict on this commit is the txn case's (it must be refused with TRANSACTION_EXPIRED).
      txn.commit = await attempt(stack, commitMessage(stack, txn));
      return;
    case 'abandon':
      return;
  }
}

async function commit(stack: SemanticsStack, txn: TxnRecord, rules: ClientRules): Promise<void> {
  txn.commit = await attempt(stack, commitMessage(stack, txn));
  if (txn.commit.status === 'failed') checkRefusal(`committing txn ${txn.key}`, txn.commit, txn, rules);
}

function commitMessage(stack: SemanticsStack, txn: TxnRecord): MutableMessage {
  return stack.protocol.commitTxn(txn.vchannel, txn.context!).withProperty(KEY_PROPERTY, `${txn.key}/commit`);
}

function checkRefusal(what: string, outcome: Outcome, txn: TxnRecord, rules: ClientRules): void {
  const error = outcome.status === 'failed' ? outcome.error : undefined;
  const mayExpire = txn.end === 'expire' || txn.end === 'abandon';
  if (mayExpire && hasCode(error, 'TRANSACTION_EXPIRED')) return;
  if (toleratedByTermChange(outcome, rules)) return;
  if (!rules.strictTxns && hasCode(error, ...TXN_REFUSALS)) return;
  unexpected(what, outcome);
}

/** Waits on the clock until the txn's keepalive has run out since its last acknowledged activity. */
async function untilExpired(txn: TxnRecord, signal: AbortSignal): Promise<void> {
  const due = physicalMsOf(txn.lastActivity!) + txn.keepaliveMs + 1;
  for (let now = Date.now(); now < due; now = Date.now()) await pause(due - now, signal);
}
