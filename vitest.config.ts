import { defineConfig } from 'vitest/config';
import { unitProject as kafkaUnit } from './packages/adapter-kafka/vitest.config.ts';
import { unitProject as pulsarUnit } from './packages/adapter-pulsar/vitest.config.ts';
import { kafkaProject as cliKafka } from './packages/cli/vitest.config.ts';
import { kafkaProject as coordKafka } from './packages/coord/vitest.config.ts';
import { kafkaProject as nodeKafka } from './packages/node/vitest.config.ts';

export default defineConfig({
  test: {
    projects: [
      'packages/*',
      // The adapters' broker-free tests, in projects without the broker's global setup (vitest 4.1 reads
      // one project from each package's config file; these are the adapters' second ones).
      kafkaUnit,
      pulsarUnit,
      // The node's tests on a real Kafka broker (its broker-free ones are the `node` project).
      nodeKafka,
      // Coordinator and node processes on real etcd and Kafka (its other tests are the `coord` project).
      coordKafka,
      // `walstream coord` and `walstream node` processes on real etcd and Kafka (the rest: the `cli` project).
      cliKafka,
      { test: { name: 'scripts', include: ['scripts/**/*.test.ts'], testTimeout: 120_000 } },
    ],
  },
});
