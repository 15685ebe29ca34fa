import { type MessageID, type MutableMessage, WalError } from '@walstream/core';
import type { AppendOptions, WalImpls, WalImplsBuilder, WalImplsOpener } from '@walstream/core/spi';
import { KEY_PROPERTY } from './messages.js';

/**
 * The suite's own "lost acknowledgement": an append of one term that the adapter wrote is rejected
 * UNAVAILABLE (`written: true`), so the runtime retries it, as after a store that wrote the message and
 * lost the reply. Armed for one term at a time by the schedules' reopenings during a wave: the first lost
 * acknowledgement starts the reopening, so it always meets appends whose retries it cuts short.
 */
export class AckLoss {
  #term: bigint | undefined;
  #onFirst: (() => void) | undefined;
  /** Acknowledgements dropped since the last {@link arm}. */
  dropped = 0;

  /** Loses the acknowledgement of every suite append written by the WAL of `term` until {@link disarm}. */
  arm(term: bigint, onFirst: () => void): void {
    this.#term = term;
    this.#onFirst = onFirst;
    this.dropped = 0;
  }

  disarm(): void {
    this.#term = undefined;
    this.#onFirst = undefined;
  }

  /** Whether the written `message` of a WAL at `term` loses its acknowledgement; the first one fires. */
  take(term: bigint, message: MutableMessage): boolean {
    if (this.#term !== term || message.properties[KEY_PROPERTY] === undefined) return false;
    this.dropped++;
    const first = this.#onFirst;
    this.#onFirst = undefined;
    // After the append's rejection is on its way, before the runtime's first retry (a timer).
    if (first) queueMicrotask(first);
    return true;
  }
}

/** `inner` with the suite's {@link AckLoss} on every WAL it opens. */
export function withAckLoss(inner: WalImplsBuilder, loss: AckLoss): WalImplsBuilder {
  const wrap = (wal: WalImpls): WalImpls => ({
    walName: wal.walName,
    channel: wal.channel,
    async append(message: MutableMessage, options?: AppendOptions): Promise<MessageID> {
      const id = await wal.append(message, options);
      if (loss.take(wal.channel.term, message)) {
        throw new WalError(
          'UNAVAILABLE',
          `append to pchannel ${wal.channel.name}: written, but the semantics suite dropped its acknowledgement`,
          { retriable: true, details: { injected: true, written: true } },
        );
      }
      return id;
    },
    truncate: (id, options) => wal.truncate(id, options),
    read: (options) => wal.read(options),
    close: () => wal.close(),
    [Symbol.asyncDispose]: () => wal.close(),
  });
  return {
    name: inner.name,
    capabilities: inner.capabilities,
    async build(options): Promise<WalImplsOpener> {
      const opener = await inner.build(options);
      return {
        open: async (openOptions) => wrap(await opener.open(openOptions)),
        close: () => opener.close(),
        [Symbol.asyncDispose]: () => opener.close(),
      };
    },
  };
}
