import { type MemoryAdapter, memoryAdapter } from '@walstream/adapter-memory';
import { MemoryCatalog, type MessageID, type WalCheckpoint, WalError } from '@walstream/core';
import type { WalImpls } from '@walstream/core/spi';
import { beginTxnMessage } from '@walstream/interceptors';
import type { SemanticsProtocol } from '../../src/index.js';

/** Broken stacks for the semantics suite's self-tests, added with the issue "the conformance suites tell right from wrong". */

/**
 * An adapter that mishandles a client's abort: an append whose signal fires while it is being written
 * lands, yet rejects ABORTED saying it was not written. The WAL believes it failed (the write-ahead
 * buffer never holds it), a TimeTick covers it, and only readers of the store deliver it: tailing and
 * store readers disagree — the model of "a failed append is read at most once" alone let this through.
 */
export function writesAbortedAppends(): MemoryAdapter {
  const inner = memoryAdapter();
  const wrap = (wal: WalImpls): WalImpls => ({
    walName: wal.walName,
    channel: wal.channel,
    async append(message, options) {
      const signal = options?.signal;
      if (!signal || signal.aborted) return wal.append(message, options);
      // Hold the write until the client gives up (it aborts within a few ms), then write it anyway.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 20);
        signal.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            resolve();
          },
          { once: true },
        );
      });
      const id = await wal.append(message);
      if (!signal.aborted) return id;
      throw new WalError('ABORTED', `append to pchannel ${wal.channel.name} aborted`, {
        retriable: false,
        details: { written: false },
      });
    },
    truncate: (id, options) => wal.truncate(id, options),
    read: (options) => wal.read(options),
    close: () => wal.close(),
    [Symbol.asyncDispose]: () => wal.close(),
  });
  return wrapped(inner, wrap);
}

/** `inner` with `wrap` around every WAL it opens; the fault switch (`store`) stays the inner adapter's. */
function wrapped(inner: MemoryAdapter, wrap: (wal: WalImpls) => WalImpls): MemoryAdapter {
  return {
    name: inner.name,
    capabilities: inner.capabilities,
    store: inner.store,
    async build(options) {
      const opener = await inner.build(options);
      return {
        open: async (openOptions) => wrap(await opener.open(openOptions)),
        close: () => opener.close(),
        [Symbol.asyncDispose]: () => opener.close(),
      };
    },
  };
}

/**
 * An adapter whose append answers with the id of the previous append on its pchannel (its own for the
 * first): the message lands under one id, the writer is told another.
 */
export function returnsWrongIds(): MemoryAdapter {
  const inner = memoryAdapter();
  const wrap = (wal: WalImpls): WalImpls => {
    let previous: MessageID | undefined;
    return {
      walName: wal.walName,
      channel: wal.channel,
      async append(message, options) {
        const id = await wal.append(message, options);
        const answer = previous ?? id;
        previous = id;
        return answer;
      },
      truncate: (id, options) => wal.truncate(id, options),
      read: (options) => wal.read(options),
      close: () => wal.close(),
      [Symbol.asyncDispose]: () => wal.close(),
    };
  };
  return wrapped(inner, wrap);
}

/** A txn manager that ignores the keepalive a BeginTxn asks for: no txn ever expires in the suite's time. */
export const keepsTxnsAlive: Partial<SemanticsProtocol> = {
  beginTxn: (vchannel: string) => beginTxnMessage(vchannel, { keepaliveMs: 60_000 }),
};

/** A catalog whose saveCheckpoint is no compare-and-swap: a fenced WAL's late save replaces the newer term's record. */
export class OverwritingCatalog extends MemoryCatalog {
  readonly #records = new Map<string, WalCheckpoint>();
  override async getCheckpoint(pchannel: string): Promise<WalCheckpoint | undefined> {
    return this.#records.get(pchannel);
  }
  override async saveCheckpoint(pchannel: string, checkpoint: WalCheckpoint): Promise<boolean> {
    this.#records.set(pchannel, checkpoint);
    return true;
  }
}
