import { consoleLog4j2, propertiesText } from '../shared/config.js';

/** The ports a standalone Pulsar listens on; all bound to 127.0.0.1. */
export interface PulsarPorts {
  readonly broker: number;
  readonly web: number;
  readonly bookie: number;
}

export type ConfigValue = string | number | boolean;

/** The broker's `maxMessageSize` (its default, spelled out: the bookie's frame limit is derived from it). */
export const MAX_MESSAGE_SIZE = 5 * 1024 * 1024;

/**
 * A minimal `standalone.conf`. Keys missing from the file take `ServiceConfiguration`'s defaults, which
 * differ from the shipped standalone.conf (ensemble size 2, the modular load manager, ...), so a
 * one-bookie standalone needs the quorum and load-manager keys spelled out. The WAL keys keep data:
 * journal written and fsynced before an entry is acknowledged, unlimited retention (non-durable readers
 * retain nothing), and no deletion of inactive topics.
 */
export function standaloneConfig(
  ports: PulsarPorts,
  extra: Readonly<Record<string, ConfigValue>> = {},
): string {
  const config: Record<string, ConfigValue> = {
    clusterName: 'standalone',
    metadataStoreUrl: '',
    brokerServicePort: ports.broker,
    webServicePort: ports.web,
    bindAddress: '127.0.0.1',
    advertisedAddress: '127.0.0.1',
    managedLedgerDefaultEnsembleSize: 1,
    managedLedgerDefaultWriteQuorum: 1,
    managedLedgerDefaultAckQuorum: 1,
    loadManagerClassName: 'org.apache.pulsar.broker.loadbalance.NoopLoadManager',
    loadBalancerEnabled: false,
    webSocketServiceEnabled: false,
    functionsWorkerEnabled: false,
    transactionCoordinatorEnabled: false,
    allowAutoTopicCreation: true,
    allowAutoTopicCreationType: 'non-partitioned',
    // The embedded bookie reads its settings from the same file.
    ledgerStorageClass: 'org.apache.bookkeeper.bookie.storage.ldb.DbLedgerStorage',
    allowLoopback: true,
    // Without it the standalone ignores --bookkeeper-port and picks a port of its own, which binds
    // 0.0.0.0 and may differ after a restart (the bookie's cookie records its address).
    allowEphemeralPorts: true,
    listeningInterface: 'lo',
    maxMessageSize: MAX_MESSAGE_SIZE,
    // The broker accepts an entry of maxMessageSize plus 10 KiB of metadata, and the bookie's frame
    // carries that entry plus its own headers: at the bookie's default (5 MiB, the broker's default
    // maxMessageSize) one maximum-size message is refused frame by frame and wedges the bookie.
    nettyMaxFrameSizeBytes: MAX_MESSAGE_SIZE + 1024 * 1024,
    dbStorage_writeCacheMaxSizeMb: 32,
    dbStorage_readAheadCacheMaxSizeMb: 32,
    managedLedgerCacheSizeMB: 64,
    journalWriteData: true,
    journalSyncData: true,
    brokerDeleteInactiveTopicsEnabled: false,
    defaultRetentionTimeInMinutes: -1,
    defaultRetentionSizeInMB: -1,
    ...extra,
  };
  return propertiesText(config);
}

/**
 * The shipped log4j2.yaml needs a Prometheus appender and a script engine; this one writes to the
 * console. INFO for the lines that explain a test failure (start, producers and consumers coming and
 * going, fencing), WARN for the rest.
 */
export const LOG4J2_XML = consoleLog4j2('[%d] %p %m (%c{1})%n', [
  'org.apache.pulsar.PulsarStandalone',
  'org.apache.pulsar.broker.PulsarService',
  'org.apache.pulsar.broker.service.ServerCnx',
  'org.apache.pulsar.broker.service.AbstractTopic',
  'org.apache.pulsar.broker.service.persistent.PersistentTopic',
]);

/** What `bin/pulsar` passes on Java 9+: netty and BookKeeper reach into JDK internals. */
export const JVM_OPENS = [
  'java.base/java.io',
  'java.base/java.util.zip',
  'java.base/java.nio',
  'java.base/jdk.internal.misc',
  'java.base/sun.net',
  'java.base/java.lang',
  'java.management/sun.management',
].flatMap((module) => ['--add-opens', `${module}=ALL-UNNAMED`]);
