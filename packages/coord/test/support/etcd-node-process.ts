/**
 * A StreamingNode on Kafka registered in etcd, in a process of its own (the cross-process failover tests
 * and `pnpm campaign:failover`):
 *
 *   TSX_TSCONFIG_PATH=tsconfig.tests.json node --import tsx \
 *     packages/coord/test/support/etcd-node-process.ts '<EtcdNodeConfig JSON>'
 *
 * Its id comes from the session counter, its timeticks from the active coordinator (`CoordinatorTso`),
 * its checkpoints go to the etcd catalog. Prints
 * `{"nodeId": "...", "address": "..."}` once it serves and its session is written, then
 * `{"wal": {pchannel, term, state, at}}` at each WAL lifetime step. SIGTERM is the graceful
 * stop (session marked stopping, pchannels moved away, node closed, session revoked), then
 * `{"stopped": true}` and exit 0; SIGKILL is the crash.
 */
import { kafkaAdapter } from '@walstream/adapter-kafka';
import { createEtcdClient, EtcdCatalog } from '@walstream/catalog-etcd';
import { CoordinatorTso, registerNode } from '@walstream/coord';
import { startNode } from '@walstream/node';

export interface EtcdNodeConfig {
  readonly endpoints: readonly string[];
  readonly prefix: string;
  readonly ttlSeconds: number;
  readonly bootstrap: string;
  readonly topicPrefix: string;
}

const config = JSON.parse(process.argv[2] ?? '{}') as EtcdNodeConfig;
const client = createEtcdClient({ endpoints: config.endpoints });
const registration = await registerNode({
  client,
  prefix: config.prefix,
  ttlSeconds: config.ttlSeconds,
  start: (nodeId) =>
    startNode({
      adapter: kafkaAdapter({
        driver: 'kafkajs',
        brokers: [config.bootstrap],
        topicPrefix: config.topicPrefix,
      }),
      catalog: new EtcdCatalog({ client, prefix: config.prefix }),
      // Timeticks from the coordinator's TSO, so a pchannel's next owner stamps above its last one.
      allocator: new CoordinatorTso({ client, prefix: config.prefix }),
      listen: '127.0.0.1:0',
      nodeId,
      closeGraceMs: 2_000,
    }),
  holdsWals: (node) => node.walManager.status().some((wal) => wal.state !== 'closed'),
  drainTimeoutMs: 20_000,
});
process.stdout.write(
  `${JSON.stringify({ nodeId: registration.nodeId.toString(), address: registration.node.address })}\n`,
);
// Each WAL's lifetime steps, with the time, for the campaign's breakdown of a move.
registration.node.walManager.state$.subscribe((event) =>
  process.stdout.write(
    `${JSON.stringify({ wal: { pchannel: event.pchannel, term: event.term.toString(), state: event.state, at: Date.now() } })}\n`,
  ),
);

process.on('SIGTERM', () => {
  void registration.stop().then(
    () => {
      process.stdout.write(`${JSON.stringify({ stopped: true })}\n`);
      process.exit(0);
    },
    (error: unknown) => {
      process.stderr.write(`stop failed: ${String(error)}\n`);
      process.exit(1);
    },
  );
});
// A node that lost its session stops serving; the process goes with it.
void registration.closed.then(() => {
  if (!registration.session.signal.aborted) return;
  setTimeout(() => process.exit(2), 100);
});
setInterval(() => {}, 60_000);
