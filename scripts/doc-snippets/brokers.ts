import type { Broker } from './markdown.js';

/** A started broker: the environment its blocks get, and how to stop it. */
export interface RunningBroker {
  readonly env: Readonly<Record<string, string>>;
  stop(): Promise<void>;
}

/**
 * Starts one real broker with the testkit harness (Maven Central jars, free loopback ports), the same
 * way the adapter projects' global setups do. Imported lazily: a run without broker blocks loads no
 * harness.
 */
export async function startBroker(broker: Broker, log: (line: string) => void): Promise<RunningBroker> {
  if (broker === 'kafka') {
    const { startKafka } = await import('@walstream/testkit/kafka');
    const kafka = await startKafka({ log: (line) => log(`[kafka] ${line}`) });
    return { env: { KAFKA_BROKERS: kafka.bootstrap }, stop: () => kafka.stop() };
  }
  if (broker === 'etcd') {
    // Installs Debian's etcd-server first when it is missing and this runs as root (a fresh CI machine):
    // here, outside any block's timeout.
    const { startEtcd } = await import('@walstream/testkit/etcd');
    const etcd = await startEtcd({ log: (line) => log(`[etcd] ${line}`) });
    return { env: { ETCD_ENDPOINTS: etcd.endpoints.join(',') }, stop: () => etcd.stop() };
  }
  const { startPulsar } = await import('@walstream/testkit/pulsar');
  const pulsar = await startPulsar({ log: (line) => log(`[pulsar] ${line}`) });
  return {
    env: { PULSAR_SERVICE_URL: pulsar.serviceUrl, PULSAR_ADMIN_URL: pulsar.adminUrl },
    // The data is thrown away: no need for a clean, slower shutdown.
    stop: () => pulsar.stop({ hard: true }),
  };
}
