import {
  type FaultConfig,
  type MemoryAdapter,
  MemoryLogStore,
  MemoryMessageId,
  memoryAdapter,
} from '@walstream/adapter-memory';
import type { WalImplsOpener } from '@walstream/core/spi';
import { registerWalImplsConformance } from '@walstream/testkit';
import { describe, test } from 'vitest';

/** After each case the store must hold no reader the case opened: close() really released them. */
function noScannerLeft(adapter: MemoryAdapter): void {
  for (const channel of adapter.store.channels()) {
    const { openScanners } = adapter.store.stats(channel);
    if (openScanners !== 0)
      throw new Error(`pchannel ${channel} still has ${openScanners} open scanner(s) after the case`);
  }
}

/**
 * The memory adapter with `faults` set on every pchannel as it is opened (the suite makes up channel
 * names, so faults cannot be set up front).
 */
function faultyMemoryAdapter(faults: FaultConfig, store: MemoryLogStore): MemoryAdapter {
  const adapter = memoryAdapter({ store });
  return {
    ...adapter,
    async build(options) {
      const opener = await adapter.build(options);
      const faulty: WalImplsOpener = {
        open(openOptions) {
          const name = openOptions.channel?.name;
          // Bad names go through untouched: rejecting them is the adapter's job under test.
          if (typeof name === 'string' && name.length > 0) adapter.store.faults(name).set(faults);
          return opener.open(openOptions);
        },
        close: () => opener.close(),
        [Symbol.asyncDispose]: () => opener.close(),
      };
      return faulty;
    },
  };
}

// Every builder of one suite shares a store, as every Kafka builder reaches the same brokers: a builder
// made again (a restarted process, the `reopen` cases) finds what the earlier ones wrote.
const store = new MemoryLogStore();
registerWalImplsConformance(
  { describe, test },
  {
    suiteName: 'memory adapter: walimpls conformance',
    builder: () => memoryAdapter({ store }),
    afterCase: noScannerLeft,
    // Offsets up to the largest safe integer: the id range case draws them across the whole range.
    messageIds: {
      max: BigInt(Number.MAX_SAFE_INTEGER),
      at: (position) => new MemoryMessageId(Number(position)),
    },
  },
);

const faultyStore = new MemoryLogStore();
// With one append in five failing UNAVAILABLE (retriable, nothing written) and every append and every
// delivery delayed by 1 ms: the suite retries retriable appends, so every case keeps its meaning, and
// the delays move appends and reads out of lockstep.
registerWalImplsConformance(
  { describe, test },
  {
    suiteName: 'memory adapter with injected faults: walimpls conformance',
    builder: () =>
      faultyMemoryAdapter({ appendErrorRate: 0.2, appendDelayMs: 1, readDelayMs: 1 }, faultyStore),
    afterCase: noScannerLeft,
    messageCount: 50,
  },
);
