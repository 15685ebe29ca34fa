import { PulsarMessageId } from '@walstream/adapter-pulsar';
import { registerWalImplsConformance } from '@walstream/testkit';
import { describe, test } from 'vitest';
import { adapter } from './env.js';

// The walimpls conformance suite against the real Pulsar standalone of this test run.
registerWalImplsConformance(
  { describe, test },
  {
    builder: () => adapter(),
    suiteName: 'pulsar walimpls conformance',
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
