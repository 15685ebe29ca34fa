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
      messageCount: 100,
      timeoutMs: 60_000,
    },
  );
}
