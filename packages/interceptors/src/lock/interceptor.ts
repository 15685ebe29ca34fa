import { type MessageID, type MutableMessage, messageTypes } from '@walstream/core';
import type { AppendContext, AppendNext, Interceptor } from '@walstream/core/spi';
import type { TxnManager } from '../timetick/txn-manager.js';
import { KeyedRwLock, type Release, RwLock } from './rw-lock.js';

/** The key of messages without a vchannel (TimeTicks, pchannel-wide messages). */
const NO_VCHANNEL = '';

/**
 * Serialises exclusive messages against everything else, held across timetick allocation and the write
 * so an exclusive message's timetick order equals its id order:
 * - an exclusive type on the pchannel (no vchannel, or the pchannel's name) takes the WAL-wide write lock;
 * - an exclusive type on a vchannel takes that vchannel's write lock and the WAL-wide read lock (the
 *   original skips the latter, letting it overlap a pchannel-wide exclusive message);
 * - everything else takes the WAL-wide read lock and its vchannel's read lock.
 * Before an exclusive lock is released, the open txns it covers are failed: a txn may not straddle it
 * (for good when the exclusive message landed; refused here but still "may commit" when its append failed,
 * since it may not be in the log).
 */
export class LockInterceptor implements Interceptor {
  readonly name = 'lock';
  readonly #pchannel: string;
  readonly #txns: TxnManager | undefined;
  readonly #wal = new RwLock();
  readonly #vchannels = new KeyedRwLock();

  constructor(pchannel: string, txns: TxnManager | undefined) {
    this.#pchannel = pchannel;
    this.#txns = txns;
  }

  doAppend(message: MutableMessage, context: AppendContext, next: AppendNext): Promise<MessageID> {
    const vchannel = message.vchannel;
    if (messageTypes.isExclusiveRequired(message.messageType)) {
      return vchannel === undefined || vchannel === this.#pchannel
        ? this.#pchannelExclusive(message, context, next)
        : this.#vchannelExclusive(vchannel, message, context, next);
    }
    const key = vchannel ?? NO_VCHANNEL;
    // Fast path: both read locks free right now, no extra turn of the event loop.
    const walRelease = this.#wal.tryRead();
    if (walRelease) {
      const keyRelease = this.#vchannels.tryRead(key);
      if (keyRelease) return runReleasing(next, message, context, keyRelease, walRelease);
      walRelease();
    }
    return this.#shared(key, message, context, next);
  }

  async #shared(
    key: string,
    message: MutableMessage,
    context: AppendContext,
    next: AppendNext,
  ): Promise<MessageID> {
    const [keyRelease, walRelease] = await this.#underWalRead(
      (signal) => this.#vchannels.read(key, signal),
      context,
    );
    return runReleasing(next, message, context, keyRelease, walRelease);
  }

  /** The WAL-wide read lock, then a vchannel lock; the first is given back if the second is not had. */
  async #underWalRead(
    takeKeyLock: (signal: AbortSignal | undefined) => Promise<Release>,
    context: AppendContext,
  ): Promise<[keyRelease: Release, walRelease: Release]> {
    const walRelease = await this.#wal.read(context.signal);
    try {
      return [await takeKeyLock(context.signal), walRelease];
    } catch (error) {
      walRelease();
      throw error;
    }
  }

  async #pchannelExclusive(
    message: MutableMessage,
    context: AppendContext,
    next: AppendNext,
  ): Promise<MessageID> {
    const release = await this.#wal.write(context.signal);
    const reason = `an exclusive message (type ${message.messageType}) was appended to the pchannel`;
    try {
      const id = await next(message, context);
      this.#txns?.failAtVChannel(undefined, reason);
      return id;
    } catch (error) {
      this.#txns?.failAtVChannel(undefined, reason, false);
      throw error;
    } finally {
      release();
    }
  }

  async #vchannelExclusive(
    vchannel: string,
    message: MutableMessage,
    context: AppendContext,
    next: AppendNext,
  ): Promise<MessageID> {
    const [keyRelease, walRelease] = await this.#underWalRead(
      (signal) => this.#vchannels.write(vchannel, signal),
      context,
    );
    const reason = `an exclusive message (type ${message.messageType}) was appended to ${vchannel}`;
    try {
      const id = await next(message, context);
      this.#txns?.failAtVChannel(vchannel, reason);
      return id;
    } catch (error) {
      this.#txns?.failAtVChannel(vchannel, reason, false);
      throw error;
    } finally {
      keyRelease();
      walRelease();
    }
  }
}

/** Runs the rest of the chain and releases both locks when it settles, also when it throws synchronously. */
function runReleasing(
  next: AppendNext,
  message: MutableMessage,
  context: AppendContext,
  first: Release,
  second: Release,
): Promise<MessageID> {
  let append: Promise<MessageID>;
  try {
    append = next(message, context);
  } catch (error) {
    first();
    second();
    return Promise.reject(error);
  }
  return append.then(
    (id) => {
      first();
      second();
      return id;
    },
    (error: unknown) => {
      first();
      second();
      throw error;
    },
  );
}
