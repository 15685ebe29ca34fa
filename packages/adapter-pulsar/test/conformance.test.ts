import { registerWalImplsConformance } from '@walstream/testkit';
import { describe, test } from 'vitest';
import { adapter } from './env.js';

// The walimpls conformance suite against the real Pulsar standalone of this test run.
registerWalImplsConformance(
  { describe, test },
  { builder: () => adapter(), suiteName: 'pulsar walimpls conformance' },
);
