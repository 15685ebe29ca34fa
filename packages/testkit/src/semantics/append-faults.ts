import { type MessageID, type MutableMessage, WalError } from '@walstream/core';
import type { AppendOptions, WalImpls, WalImplsBuilder, WalImplsOpener } from '@walstream/core/spi';
import type { AppendFaultSwitch } from './types.js';

/** The append error rate of one pchannel, switched by the suite's schedules. */
export class AppendFaults implements AppendFaultSwitch {
  rate = 0;

  set(config: { readonly appendErrorRate: number }): this {
    this.rate = config.appendErrorRate;
    return this;
  }
}

/** An adapter wrapped by {@link withAppendFaults}: the same adapter, plus a fault switch per pchannel. */
export interface AppendFaultsAdapter extends WalImplsBuilder {
  switchOf(pchannel: string): AppendFaults;
}

/**
 * Injected append errors for an adapter that has no fault switch of its own (a real broker): an append the
 * switch fails is rejected UNAVAILABLE before it reaches the adapter, so it never lands — what the memory
 * adapter's own switch does. The runtime's retries and the lock and txn paths then run against real ids
 * and real latency. Pass `faults: (adapter, pchannel) => adapter.switchOf(pchannel)` to the suite.
 */
export function withAppendFaults(inner: WalImplsBuilder): AppendFaultsAdapter {
  const switches = new Map<string, AppendFaults>();
  const switchOf = (pchannel: string): AppendFaults => {
    let found = switches.get(pchannel);
    if (!found) {
      found = new AppendFaults();
      switches.set(pchannel, found);
    }
    return found;
  };
  const wrapWal = (wal: WalImpls): WalImpls => {
    const faults = switchOf(wal.channel.name);
    return {
      walName: wal.walName,
      channel: wal.channel,
      append(message: MutableMessage, options?: AppendOptions): Promise<MessageID> {
        // An append whose signal already fired never leaves the client, so no send failure can precede
        // its ABORTED: the adapter answers it.
        const alreadyAborted = options?.signal?.aborted === true;
        if (!alreadyAborted && faults.rate > 0 && Math.random() < faults.rate) {
          return Promise.reject(
            new WalError('UNAVAILABLE', `injected append error on ${wal.channel.name} (not written)`, {
              details: { injected: true, written: false },
            }),
          );
        }
        return wal.append(message, options);
      },
      truncate: (id, options) => wal.truncate(id, options),
      read: (options) => wal.read(options),
      close: () => wal.close(),
      [Symbol.asyncDispose]: () => wal.close(),
    };
  };
  return {
    name: inner.name,
    capabilities: inner.capabilities,
    switchOf,
    async build(options): Promise<WalImplsOpener> {
      const opener = await inner.build(options);
      return {
        open: async (openOptions) => wrapWal(await opener.open(openOptions)),
        close: () => opener.close(),
        [Symbol.asyncDispose]: () => opener.close(),
      };
    },
  };
}
