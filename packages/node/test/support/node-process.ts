/**
 * A StreamingNode in its own process, for the cross-process tests and the bench:
 *
 *   TSX_TSCONFIG_PATH=tsconfig.tests.json node --expose-gc --import tsx \
 *     packages/node/test/support/node-process.ts '<NodeProcessConfig JSON>'
 *
 * Prints one JSON line `{"address": "...", "nodeId": "..."}` once it serves. Then reads JSON lines on
 * stdin: `{"cmd":"stats"}` answers `{"stats": {...}}` (flow control, and the heap after a full GC when
 * --expose-gc is on), `{"cmd":"close"}` closes the
 * node gracefully and exits 0. SIGTERM closes gracefully too; SIGKILL is the crash the tests want.
 */
import { createInterface } from 'node:readline';
import { MemoryCatalog } from '@walstream/core';
import type { WalImplsBuilder } from '@walstream/core/spi';
import { startNode } from '@walstream/node';

export interface NodeProcessConfig {
  readonly adapter: 'memory' | 'local' | 'kafka';
  /** adapter-local: the data directory. */
  readonly directory?: string;
  /** adapter-kafka: bootstrap address. */
  readonly bootstrap?: string;
  /** adapter-kafka: topic prefix, so runs do not share topics. */
  readonly topicPrefix?: string;
  readonly nodeId?: string;
  /** adapter-memory: each append on `slowPChannels` waits this long (ms) before it writes. */
  readonly appendDelayMs?: number;
  readonly slowPChannels?: readonly string[];
  readonly flowControl?: {
    readonly maxInFlightPerStream?: number;
    readonly maxBytesInFlight?: number;
  };
  readonly token?: string;
  /** The write-ahead buffer's capacity (walSemantics' wab.capacityBytes). */
  readonly wabCapacityBytes?: number;
  readonly consumerReadAhead?: number;
}

export interface NodeProcessStats {
  readonly appendsInFlight: number;
  readonly bytesInFlight: number;
  readonly peakAppendsInFlight: number;
  readonly peakBytesInFlight: number;
  readonly rejected: number;
  readonly level: string;
  readonly heapUsed: number;
  readonly rss: number;
}

async function adapterOf(config: NodeProcessConfig): Promise<WalImplsBuilder> {
  switch (config.adapter) {
    case 'memory': {
      const { memoryAdapter } = await import('@walstream/adapter-memory');
      const adapter = memoryAdapter();
      // Faults are per pchannel and may be set before the pchannel opens.
      for (const name of config.slowPChannels ?? []) {
        adapter.store.faults(name).set({ appendDelayMs: config.appendDelayMs ?? 0 });
      }
      return adapter;
    }
    case 'local': {
      const { localAdapter } = await import('@walstream/adapter-local');
      if (!config.directory) throw new Error('adapter local needs a directory');
      return localAdapter({ directory: config.directory });
    }
    case 'kafka': {
      const { kafkaAdapter } = await import('@walstream/adapter-kafka');
      if (!config.bootstrap) throw new Error('adapter kafka needs a bootstrap address');
      return kafkaAdapter({
        driver: 'kafkajs',
        brokers: [config.bootstrap],
        ...(config.topicPrefix ? { topicPrefix: config.topicPrefix } : {}),
      });
    }
  }
}

const config = JSON.parse(process.argv[2] ?? '{}') as NodeProcessConfig;
const node = await startNode({
  adapter: await adapterOf(config),
  catalog: new MemoryCatalog(),
  listen: '127.0.0.1:0',
  ...(config.nodeId ? { nodeId: BigInt(config.nodeId) } : {}),
  ...(config.flowControl ? { flowControl: config.flowControl } : {}),
  ...(config.token ? { token: config.token } : {}),
  ...(config.wabCapacityBytes ? { semantics: { wab: { capacityBytes: config.wabCapacityBytes } } } : {}),
  ...(config.consumerReadAhead ? { consumerReadAhead: config.consumerReadAhead } : {}),
});
process.stdout.write(`${JSON.stringify({ address: node.address, nodeId: node.nodeId.toString() })}\n`);

let closing = false;
async function closeAndExit(): Promise<void> {
  if (closing) return;
  closing = true;
  await node.close();
  process.exit(0);
}
process.on('SIGTERM', () => void closeAndExit());

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const command = JSON.parse(line) as { cmd: string };
  if (command.cmd === 'stats') {
    (globalThis as { gc?: () => void }).gc?.();
    const memory = process.memoryUsage();
    const stats: NodeProcessStats = { ...node.flowControl(), heapUsed: memory.heapUsed, rss: memory.rss };
    process.stdout.write(`${JSON.stringify({ stats })}\n`);
  } else if (command.cmd === 'close') void closeAndExit();
});
// The parent went away without a word: do not outlive it.
lines.on('close', () => void closeAndExit());
