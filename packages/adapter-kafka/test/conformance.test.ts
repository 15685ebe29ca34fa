import { KafkaMessageId } from '@walstream/adapter-kafka';
import { registerWalImplsConformance } from '@walstream/testkit';
import { beforeEach, describe, test } from 'vitest';
import { adapterFor, DRIVERS, showBrokerLogOnFailure } from './helpers.js';

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
    },
  );
}
