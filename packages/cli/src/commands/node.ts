import { resolve } from 'node:path';
import { createEtcdClient, EtcdCatalog } from '@walstream/catalog-etcd';
import { CoordinatorTso, registerNode } from '@walstream/coord';
import type { WalImplsBuilder } from '@walstream/core/spi';
import { startNode } from '@walstream/node';
import {
  address,
  type CliIo,
  defineCommand,
  durationOption,
  integer,
  nonEmpty,
  type OptionValues,
  usageError,
} from '../command.js';
import { etcdEndpoints } from './coord.js';
import { stayUp } from './up.js';

/** The log store a node writes to. */
export type NodeStore =
  | { readonly kind: 'kafka'; readonly brokers: readonly string[]; readonly topicPrefix: string | undefined }
  | {
      readonly kind: 'pulsar';
      readonly serviceUrl: string;
      readonly adminUrl: string;
      readonly topicPrefix: string | undefined;
    }
  | { readonly kind: 'local'; readonly directory: string };

/** What `walstream node` was asked to do. */
export interface NodeOptions {
  readonly etcd: readonly string[];
  readonly prefix: string;
  readonly listen: string;
  readonly store: NodeStore;
  readonly ttlSeconds: number;
  /** How long a graceful stop waits for the coordinator to move the node's pchannels away. */
  readonly drainTimeoutMs: number;
  readonly advertise: string | undefined;
  readonly token: string | undefined;
}

export const node = defineCommand<NodeOptions>({
  name: 'node',
  summary: 'run a StreamingNode registered in etcd: serves the pchannels the coordinator assigns to it',
  description: `Runs a StreamingNode on a log store (--kafka, --pulsar or --data-dir) and
registers it in etcd under a lease of --ttl seconds with a node id never
handed out before and its --listen address; the elected \`walstream coord\` on
the same --etcd and --prefix assigns it pchannels. Checkpoints go to the
catalog in etcd, so another node can take a pchannel over, and timeticks come
from the active coordinator's TSO, so the next owner of a pchannel stamps
above the last one (appends wait while no coordinator is active and the batch
in hand is used up). A node that crashes is given up once its lease runs out
(about --ttl seconds); Ctrl-C stops gracefully: the session is marked
stopping, the coordinator moves the node's pchannels away, then the node
closes and the session ends.

--data-dir (the local store) keeps the log in this node's directory: another
node cannot read it, so use it for a single node only.`,
  options: [
    { flags: '--etcd <urls>', description: 'etcd client URLs, comma-separated', parse: etcdEndpoints },
    {
      flags: '--listen <host:port>',
      description: 'where the node serves (port 0 picks a free one); published in its session',
      default: '127.0.0.1:0',
      parse: address,
    },
    {
      flags: '--kafka <brokers>',
      description: 'Kafka bootstrap brokers, comma-separated host:port',
      parse: address,
    },
    { flags: '--pulsar <url>', description: 'Pulsar service URL (pulsar://host:6650)', parse: nonEmpty },
    {
      flags: '--pulsar-admin <url>',
      description: "Pulsar's admin REST URL (http://host:8080)",
      parse: nonEmpty,
    },
    {
      flags: '--topic-prefix <prefix>',
      description: 'prepended to pchannel names to make topic names',
      parse: nonEmpty,
    },
    {
      flags: '--data-dir <dir>',
      description: 'the local store in this directory (a single node only)',
      parse: nonEmpty,
    },
    {
      flags: '--prefix <prefix>',
      description: 'prefix of every etcd key',
      default: 'walstream/',
      parse: nonEmpty,
    },
    {
      flags: '--ttl <seconds>',
      description: 'lease TTL of the session (etcd raises anything below 2 to 2)',
      default: 10,
      parse: integer(1, 3_600),
    },
    {
      flags: '--drain-timeout <duration>',
      description: "how long Ctrl-C waits for the node's pchannels to move away before it closes the node",
      default: 30_000,
      defaultText: '30s',
      parse: durationOption,
    },
    {
      flags: '--advertise <host:port>',
      description:
        'the address others reach this node at, when it differs from --listen (e.g. --listen 0.0.0.0:7801)',
      parse: address,
    },
    { flags: '--token <token>', description: 'a bearer token every call must carry', parse: nonEmpty },
  ],
  helpAfter: `
Example:
  walstream node --etcd http://127.0.0.1:2379 --kafka 127.0.0.1:9092 --listen 127.0.0.1:7801 --ttl 2`,
  resolve: resolveNode,
  run: runNodeCommand,
});

function resolveNode(values: OptionValues): NodeOptions {
  if (values.etcd === undefined) throw usageError('--etcd is required: the etcd the coordinator uses');
  const stores = ['kafka', 'pulsar', 'dataDir'].filter((key) => values[key] !== undefined);
  if (stores.length !== 1) {
    throw usageError('give exactly one log store: --kafka <brokers>, --pulsar <url> or --data-dir <dir>');
  }
  const topicPrefix = values.topicPrefix as string | undefined;
  let store: NodeStore;
  if (values.kafka !== undefined) {
    store = { kind: 'kafka', brokers: (values.kafka as string).split(','), topicPrefix };
  } else if (values.pulsar !== undefined) {
    if (values.pulsarAdmin === undefined)
      throw usageError('--pulsar needs --pulsar-admin (topics are created over REST)');
    store = {
      kind: 'pulsar',
      serviceUrl: values.pulsar as string,
      adminUrl: values.pulsarAdmin as string,
      topicPrefix,
    };
  } else {
    if (topicPrefix !== undefined) throw usageError('--topic-prefix applies to --kafka and --pulsar');
    store = { kind: 'local', directory: resolve(values.dataDir as string) };
  }
  return {
    etcd: values.etcd as readonly string[],
    prefix: values.prefix as string,
    listen: values.listen as string,
    store,
    ttlSeconds: values.ttl as number,
    drainTimeoutMs: values.drainTimeout as number,
    advertise: values.advertise as string | undefined,
    token: values.token as string | undefined,
  };
}

async function adapterFor(store: NodeStore): Promise<WalImplsBuilder> {
  switch (store.kind) {
    case 'kafka': {
      const { kafkaAdapter } = await import('@walstream/adapter-kafka');
      return kafkaAdapter({
        driver: 'kafkajs',
        brokers: store.brokers,
        ...(store.topicPrefix === undefined ? {} : { topicPrefix: store.topicPrefix }),
      });
    }
    case 'pulsar': {
      const { pulsarAdapter } = await import('@walstream/adapter-pulsar');
      return pulsarAdapter({
        serviceUrl: store.serviceUrl,
        adminUrl: store.adminUrl,
        ...(store.topicPrefix === undefined ? {} : { topicPrefix: store.topicPrefix }),
      });
    }
    case 'local': {
      const { localAdapter } = await import('@walstream/adapter-local');
      return localAdapter({ directory: store.directory });
    }
  }
}

async function runNodeCommand(options: NodeOptions, io: CliIo): Promise<number> {
  const adapter = await adapterFor(options.store);
  const client = createEtcdClient({ endpoints: options.etcd });
  const tso = new CoordinatorTso({
    client,
    prefix: options.prefix,
    ...(options.token === undefined ? {} : { rpc: { token: options.token } }),
  });
  try {
    const registration = await registerNode({
      client,
      prefix: options.prefix,
      ttlSeconds: options.ttlSeconds,
      ...(options.advertise === undefined ? {} : { advertise: options.advertise }),
      start: (nodeId) =>
        startNode({
          adapter,
          catalog: new EtcdCatalog({ client, prefix: options.prefix }),
          // The coordinator's TSO: a pchannel's next owner stamps above its last one, whatever the clocks.
          allocator: tso,
          listen: options.listen,
          nodeId,
          ...(options.token === undefined ? {} : { token: options.token }),
        }),
      holdsWals: (n) => n.walManager.status().some((wal) => wal.state !== 'closed'),
      drainTimeoutMs: options.drainTimeoutMs,
    });
    io.out(
      `walstream node: node ${registration.nodeId} serving on ${registration.node.address} (${options.store.kind} store), session TTL ${registration.session.grantedTtlSeconds} s`,
    );
    const lost = new AbortController();
    void registration.closed.then(() => lost.abort());
    await stayUp(undefined, AbortSignal.any([lost.signal, ...(io.stop ? [io.stop] : [])]));
    if (lost.signal.aborted && registration.session.signal.aborted && !io.stop?.aborted) {
      io.err(`node ${registration.nodeId} lost its session (no keepalive got through): it stopped serving`);
      return 1;
    }
    io.out("stopping: the coordinator moves this node's pchannels away ...");
    await registration.stop();
    io.out('closed');
    return 0;
  } finally {
    tso.close();
    client.close();
  }
}
