import { fileURLToPath } from 'node:url';
import { PulsarMessageId } from '@walstream/adapter-pulsar';
import { processWriterFreezer, registerWalImplsConformance } from '@walstream/testkit';
import { describe, test } from 'vitest';
import { adapter, broker } from './env.js';

// The walimpls conformance suite against the real Pulsar standalone of this test run.
registerWalImplsConformance(
  { describe, test },
  {
    builder: () => adapter(),
    suiteName: 'pulsar walimpls conformance',
    // The frozen writer is a process stopped with SIGSTOP, for 3.5 s: past its 1 s keep-alive and 3 s
    // operation timeout (fixtures/suite-writer.ts).
    writerFreezer: processWriterFreezer({
      execArgv: ['--import', 'tsx'],
      env: { TSX_TSCONFIG_PATH: fileURLToPath(new URL('../../../tsconfig.tests.json', import.meta.url)) },
      script: fileURLToPath(new URL('./fixtures/suite-writer.ts', import.meta.url)),
      args: [broker().serviceUrl, broker().adminUrl],
      stoppedMs: 3_500,
    }),
    // Positions spread over (ledger, entry) as the broker makes them: ledger in the high bits.
    messageIds: {
      max: 2n ** 62n - 1n,
      at: (position) =>
        new PulsarMessageId({
          ledgerId: position >> 24n,
          entryId: position & 0xff_ffffn,
          partition: -1,
          batchIndex: -1,
          batchSize: 0,
        }),
    },
  },
);
