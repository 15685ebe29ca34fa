import { type EtcdServer, startEtcd } from '@walstream/testkit/etcd';
import { afterAll, afterEach, beforeAll, inject } from 'vitest';
import { ProcessCluster } from './process-cluster.js';

/** The session and election TTL of the failover tests, in seconds: etcd's least with default settings. */
export const TTL_SECONDS = 2;

/**
 * Hooks for a failover test file: a real etcd for the file, the run's Kafka broker, and process clusters
 * on them that are killed after each test. Returns the factory of clusters.
 */
export function failoverEnv(): (pchannels: readonly string[]) => Promise<ProcessCluster> {
  const bootstrap = inject('kafkaBootstrap');
  let etcd: EtcdServer;
  const clusters: ProcessCluster[] = [];
  beforeAll(async () => {
    etcd = await startEtcd();
  }, 120_000);
  afterEach(async () => {
    for (const c of clusters.splice(0)) await c.close();
  });
  afterAll(async () => {
    await etcd?.stop();
  });
  return async (pchannels) => {
    const c = new ProcessCluster(etcd.endpoints, bootstrap, pchannels, TTL_SECONDS);
    clusters.push(c);
    await c.open();
    return c;
  };
}
