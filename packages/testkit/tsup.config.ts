import { existsSync } from 'node:fs';
import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.shared.ts';

// The broker harnesses are separate entries (`@walstream/testkit/kafka`, `/pulsar`, `/etcd`): they spawn brokers. The
// reference adapter (`/reference`) is one too: importing it registers its MessageID codec.
const harnesses = ['src/harness/kafka.ts', 'src/harness/pulsar.ts', 'src/harness/etcd.ts'].filter((entry) =>
  existsSync(entry),
);

export default defineConfig(
  packageBuild({
    index: 'src/index.ts',
    'reference/index': 'src/reference/index.ts',
    ...Object.fromEntries(harnesses.map((entry) => [entry.slice(4, -3), entry])),
  }),
);
