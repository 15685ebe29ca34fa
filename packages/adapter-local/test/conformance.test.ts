import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type LocalAdapter,
  type LocalAdapterOptions,
  LocalMessageId,
  localAdapter,
} from '@walstream/adapter-local';
import { registerWalImplsConformance, type StoreProbe } from '@walstream/testkit';
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
function unlocked(adapter: LocalAdapter): void {
  if (existsSync(join(adapter.options.directory, 'LOCK'))) {
    throw new Error(`${adapter.options.directory} is still locked after the case: an opener was left open`);
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
      afterCase: unlocked,
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
