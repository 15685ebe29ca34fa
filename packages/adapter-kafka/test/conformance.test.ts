import { fileURLToPath } from 'node:url';
import { KafkaMessageId } from '@walstream/adapter-kafka';
import { processWriterFreezer, registerWalImplsConformance } from '@walstream/testkit';
import { beforeEach, describe, test } from 'vitest';
import { adapterFor, bootstrap, DRIVERS, showBrokerLogOnFailure } from './helpers.js';

const TSX = {
  execArgv: ['--import', 'tsx'],
  env: { TSX_TSCONFIG_PATH: fileURLToPath(new URL('../../../tsconfig.tests.json', import.meta.url)) },
};

beforeEach(() => showBrokerLogOnFailure());

// Both drivers against the run's real broker, with the default (transactional) fencing.
for (const driver of DRIVERS) {
  registerWalImplsConformance(
    { describe, test },
    {
      suiteName: `kafka adapter (${driver}): walimpls conformance`,
      builder: () => adapterFor(driver),
      // Offsets are int64: the id range case draws them across all of it.
      messageIds: { max: 2n ** 63n - 1n, at: (position) => new KafkaMessageId(position) },
      messageCount: 100,
      timeoutMs: 60_000,
      // The frozen writer is a process stopped with SIGSTOP, for 3.5 s: past its 3 s operation and
      // transaction timeouts (fixtures/suite-writer.ts).
      writerFreezer: processWriterFreezer({
        ...TSX,
        script: fileURLToPath(new URL('./fixtures/suite-writer.ts', import.meta.url)),
        args: [bootstrap(), driver],
        stoppedMs: 3_500,
      }),
    },
  );
}
