import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type LocalAdapter,
  type LocalAdapterOptions,
  LocalMessageId,
  localAdapter,
} from '@walstream/adapter-local';
import type { WalImplsBuilder, WalImplsOpener } from '@walstream/core/spi';
import { registerWalImplsConformance, type StoreProbe, withAppendFaults } from '@walstream/testkit';
import { afterAll, describe, test } from 'vitest';

/**
 * The walimpls suite against real files. Every builder of one run reaches the same directory, as a
 * restarted process would (the `reopen` cases call the factory again and read back through a fresh
 * builder). Run twice: with the default durability (`fsync`, an fdatasync per group commit), and with
 * `none`, 2 KiB segments and an index entry per record, so segments roll and readers seek through
 * sealed segments' indexes in every case.
 */
const root = mkdtempSync(join(tmpdir(), 'walstream-local-conformance-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** After each case the directory is unlocked: every opener the case made (with its WALs and scanners) closed. */
function unlocked(directory: string): void {
  if (existsSync(join(directory, 'LOCK'))) {
    throw new Error(`${directory} is still locked after the case: an opener was left open`);
  }
}

function run(label: string, options: LocalAdapterOptions): void {
  // The newest builder: the probe asks it what readers of a pchannel took from the files.
  let latest: LocalAdapter | undefined;
  const storeProbe: StoreProbe = {
    fetched: async (pchannel) => (await latest?.stats(pchannel))?.fetched ?? 0,
  };
  registerWalImplsConformance(
    { describe, test },
    {
      suiteName: `local adapter (${label}): walimpls conformance`,
      builder: () => {
        latest = localAdapter(options);
        return latest;
      },
      afterCase: (adapter) => unlocked(adapter.options.directory),
      storeProbe,
      messageIds: {
        max: BigInt(Number.MAX_SAFE_INTEGER),
        at: (position) => new LocalMessageId(Number(position)),
      },
    },
  );
}

run('durability fsync', { directory: join(root, 'fsync') });
run('durability none, 2 KiB segments, an index entry per record', {
  directory: join(root, 'small'),
  durability: 'none',
  segmentBytes: 2048,
  indexIntervalBytes: 1,
});

/**
 * The local adapter behind the testkit's `withAppendFaults`, with one append in five failing UNAVAILABLE
 * before it reaches the adapter (so it is not written) on every pchannel as it is opened: the suite
 * retries retriable appends, so every case keeps its meaning while appends and their retries interleave
 * with group commits.
 */
function faultyLocalAdapter(options: LocalAdapterOptions): WalImplsBuilder {
  const adapter = withAppendFaults(localAdapter(options));
  return {
    name: adapter.name,
    capabilities: adapter.capabilities,
    async build(buildOptions) {
      const opener = await adapter.build(buildOptions);
      const faulty: WalImplsOpener = {
        open(openOptions) {
          const name = openOptions.channel?.name;
          // Bad names go through untouched: rejecting them is the adapter's job under test.
          if (typeof name === 'string' && name.length > 0)
            adapter.switchOf(name).set({ appendErrorRate: 0.2 });
          return opener.open(openOptions);
        },
        close: () => opener.close(),
        [Symbol.asyncDispose]: () => opener.close(),
      };
      return faulty;
    },
  };
}

registerWalImplsConformance(
  { describe, test },
  {
    suiteName:
      'local adapter (durability fsync) with injected append faults (withAppendFaults): walimpls conformance',
    builder: () => faultyLocalAdapter({ directory: join(root, 'faulty') }),
    afterCase: () => unlocked(join(root, 'faulty')),
    messageCount: 50,
    messageIds: {
      max: BigInt(Number.MAX_SAFE_INTEGER),
      at: (position) => new LocalMessageId(Number(position)),
    },
  },
);
