import {
  type AppendOptions,
  type MessageID,
  type MutableMessage,
  WalError,
  type WalImpls,
  type WalImplsBuilder,
  type WalImplsOpener,
} from '@walstream/core';
import type { AppendFaultSwitch } from '@walstream/testkit';
import type { PulsarAdapter } from '../src/index.js';

/**
 * Injected append errors on a real broker: an append the switch fails is rejected UNAVAILABLE before it
 * reaches the producer (so it never lands), exactly what the memory adapter's fault switch does. The
 * runtime's retries, the lock and the txn paths then run on real Pulsar ids and real read latency.
 */
export class FaultSwitch implements AppendFaultSwitch {
  rate = 0;
  set(config: { readonly appendErrorRate: number }): this {
    this.rate = config.appendErrorRate;
    return this;
  }
}

export interface FaultyPulsar extends WalImplsBuilder {
  switchOf(pchannel: string): FaultSwitch;
}

export function faultyPulsar(inner: PulsarAdapter): FaultyPulsar {
  const switches = new Map<string, FaultSwitch>();
  const switchOf = (pchannel: string) => {
    let found = switches.get(pchannel);
    if (!found) {
      found = new FaultSwitch();
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
        if (faults.rate > 0 && Math.random() < faults.rate) {
          return Promise.reject(
            new WalError('UNAVAILABLE', `injected append error on ${wal.channel.name} (not written)`),
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
