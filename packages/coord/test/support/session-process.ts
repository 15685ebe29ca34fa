/**
 * A node's etcd session in a process of its own, for the tests that SIGKILL it:
 *
 *   TSX_TSCONFIG_PATH=tsconfig.tests.json node --import tsx \
 *     packages/coord/test/support/session-process.ts '{"endpoints":[...],"prefix":"...","ttlSeconds":2}'
 *
 * Prints one JSON line `{"nodeId": "..."}` once registered, then keeps the session alive until killed.
 */
import { createEtcdClient } from '@walstream/catalog-etcd';
import { EtcdNodeSession } from '@walstream/coord';

const config = JSON.parse(process.argv[2] ?? '{}') as {
  endpoints: string[];
  prefix: string;
  ttlSeconds: number;
};
const session = await EtcdNodeSession.register({
  client: createEtcdClient({ endpoints: config.endpoints }),
  prefix: config.prefix,
  ttlSeconds: config.ttlSeconds,
});
process.stdout.write(`${JSON.stringify({ nodeId: session.nodeId })}\n`);
// The keepalive timers are unref'd; this one holds the process until the test kills it.
setInterval(() => {}, 60_000);
