import {
  appendOutcome,
  type MessageID,
  type MutableMessage,
  messageTypes,
  SystemMessageType,
  WalError,
} from '@walstream/core';
import {
  type AppendContext,
  type AppendNext,
  type Interceptor,
  SystemProperty,
  type TailBuffer,
} from '@walstream/core/spi';
import type { SemanticsStack } from '../semantics-stack.js';
import type { Acker, AckManager } from './ack-manager.js';
import type { TxnManager } from './txn-manager.js';
import { requestedKeepalive } from './txn-messages.js';
import type { TxnSession } from './txn-session.js';

/**
 * Gives every message its timetick and last-confirmed id, tracks txns, and acknowledges each allocation
 * when the append settled — which is what lets the TimeTick sync announce "everything up to X is visible".
 * TimeTicks written by the WAL pass with their own timetick and clean up expired txns.
 */
export class TimeTickInterceptor implements Interceptor {
  readonly name = 'timeTick';
  readonly writesTimeTicks = true;
  readonly tailBuffer: TailBuffer;
  readonly #stack: SemanticsStack;
  readonly #acks: AckManager;
  readonly #txns: TxnManager;

  constructor(stack: SemanticsStack) {
    this.#stack = stack;
    this.#acks = stack.ackManager;
    this.#txns = stack.txnManager;
    this.tailBuffer = stack.wab;
  }

  doAppend(message: MutableMessage, context: AppendContext, next: AppendNext): Promise<MessageID> {
    const type = message.messageType;
    if (type === SystemMessageType.TimeTick) return this.#tick(message, context, next);
    if (
      (type === SystemMessageType.Txn || messageTypes.isSelfControlled(type)) &&
      !this.#stack.own.isOwn(message)
    ) {
      return Promise.reject(
        new WalError(
          'INVALID_ARGUMENT',
          `message type ${type} is written by the WAL itself, not appended by users`,
        ),
      );
    }
    if (type === SystemMessageType.CommitTxn) return this.#finishTxn('commit', message, context, next);
    if (type === SystemMessageType.RollbackTxn) return this.#finishTxn('rollback', message, context, next);
    return this.#append(message, context, next);
  }

  async gracefulClose(): Promise<void> {
    await this.#stack.gracefulClose();
  }

  async close(): Promise<void> {
    await this.#stack.close();
  }

  async #tick(message: MutableMessage, context: AppendContext, next: AppendNext): Promise<MessageID> {
    const own = this.#stack.own;
    if (!own.isOwn(message))
      throw new WalError('INVALID_ARGUMENT', 'TimeTick messages are written by the WAL itself');
    const skip = own.skipWriteFor(message);
    if (skip) context.skipWriteWith = skip;
    const timeTick = message.timeTick!;
    this.#txns.cleanupUntil(timeTick);
    const id = await next(message, context);
    context.result.timeTick = timeTick;
    return id;
  }

  async #append(message: MutableMessage, context: AppendContext, next: AppendNext): Promise<MessageID> {
    const type = message.messageType;
    const isBegin = type === SystemMessageType.BeginTxn;
    let session: TxnSession | undefined;
    let keepaliveMs = 0;
    if (isBegin) {
      if (message.vchannel === undefined)
        throw new WalError('INVALID_ARGUMENT', 'a txn lives on one vchannel: BeginTxn needs one');
      keepaliveMs = this.#txns.resolveKeepalive(requestedKeepalive(message));
    } else {
      const txn = message.txnContext;
      if (txn) {
        if (messageTypes.isExclusiveRequired(type)) {
          throw new WalError(
            'INVALID_ARGUMENT',
            `message type ${type} is exclusive and cannot be part of a txn`,
          );
        }
        session = this.#txns.get(txn.txnId);
        checkVChannel(session, message);
      }
    }

    const barrier = message.barrierTimeTick;
    const allocated = this.#acks.allocate(barrier);
    const acker = allocated instanceof Promise ? await allocated : allocated;
    const timeTick = acker.timeTick;
    message.withTimeTick(timeTick).withProperty(SystemProperty.lastConfirmed, acker.lastConfirmedText);
    try {
      if (isBegin) {
        session = this.#txns.begin(message.vchannel!, keepaliveMs, timeTick);
        message.withTxnContext(session.context);
      } else {
        session?.addBody(timeTick);
      }
    } catch (error) {
      this.#acks.ack(acker, { kind: 'failed' });
      throw error;
    }
    if (session) this.#stack.appendTxn.set(message, session);

    let id: MessageID;
    try {
      id = await next(message, context);
    } catch (error) {
      if (isBegin) this.#txns.abandon(session!, 'its BeginTxn append failed');
      else session?.bodyDone(timeTick, false);
      this.#ackFailed(acker, error);
      throw error;
    }
    if (!isBegin) session?.bodyDone(timeTick, true);
    this.#ackAppended(acker, message, id, session);
    context.result.timeTick = timeTick;
    if (session) context.result.txn = session.context;
    return id;
  }

  async #finishTxn(
    kind: 'commit' | 'rollback',
    message: MutableMessage,
    context: AppendContext,
    next: AppendNext,
  ): Promise<MessageID> {
    const txn = message.txnContext;
    if (!txn)
      throw new WalError(
        'INVALID_ARGUMENT',
        `a ${kind} message needs the txn context (_tx) of its BeginTxn result`,
      );
    const session = this.#txns.get(txn.txnId);
    checkVChannel(session, message);
    // Waiting for the txn's in-flight bodies happens before the timetick is allocated, so the wait does not
    // hold back the confirmed timetick of the whole pchannel (the original allocates first).
    await session.finish(kind, context.signal);

    const allocated = this.#acks.allocate(message.barrierTimeTick);
    const acker = allocated instanceof Promise ? await allocated : allocated;
    const timeTick = acker.timeTick;
    message.withTimeTick(timeTick).withProperty(SystemProperty.lastConfirmed, acker.lastConfirmedText);
    try {
      session.checkFinishTimeTick(timeTick);
    } catch (error) {
      this.#acks.ack(acker, { kind: 'failed' });
      throw error;
    }
    this.#stack.appendTxn.set(message, session);
    let id: MessageID;
    try {
      id = await next(message, context);
    } catch (error) {
      session.finished(false);
      this.#ackFailed(acker, error);
      throw error;
    }
    // Done and acknowledged in one step: the LC may pass the txn's begin only once its end is covered.
    session.finished(true);
    this.#ackAppended(acker, message, id, session);
    context.result.timeTick = timeTick;
    context.result.txn = session.context;
    return id;
  }

  /**
   * The append failed. If it may be in the log all the same (the WAL closed before it was confirmed), a
   * later TimeTick covers its timetick although nothing here knows whether it is there: the checkpoint
   * must not pass it (the next term's replay, which skips what the checkpoint covers, would never apply
   * it), and the write-ahead buffer must send tailing readers to the store for it (the sync tells it).
   */
  #ackFailed(acker: Acker, error: unknown): void {
    const uncertain = mayHaveLanded(error);
    this.#acks.ack(acker, { kind: 'failed', mayHaveLanded: uncertain });
    if (uncertain) this.#stack.recovery.holdBack(acker.timeTick);
  }

  #ackAppended(acker: Acker, message: MutableMessage, id: MessageID, session: TxnSession | undefined): void {
    const immutable = message.intoImmutable(id);
    this.#acks.ack(
      acker,
      session
        ? { kind: 'appended', message: immutable, txn: session }
        : { kind: 'appended', message: immutable },
    );
  }
}

function checkVChannel(session: TxnSession, message: MutableMessage): void {
  if (message.vchannel !== session.vchannel) {
    throw new WalError(
      'INVALID_ARGUMENT',
      `txn ${session.txnId} lives on vchannel ${session.vchannel}, not ${String(message.vchannel)}`,
      { details: { txnId: session.txnId } },
    );
  }
}

/**
 * A failure that says what it left in the store (`details.written`, set by adapters and by the runtime's
 * give-up on close, `'unknown'`) and does not say "nothing": the append may be in the log. Failures that
 * say nothing about it come from before the write (the checks of the chain), or from a store that
 * answered with a permanent error, and count as not written.
 */
function mayHaveLanded(error: unknown): boolean {
  return WalError.is(error) && error.details.written !== undefined && appendOutcome(error) !== 'not-written';
}
