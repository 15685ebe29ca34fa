/**
 * `walstream coord` and `walstream node` in processes of their own on a real etcd (started for this
 * file): the node registers, the elected coordinator assigns it every pchannel, Ctrl-C stops both
 * gracefully. Bad usage exits 2 before anything starts.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createEtcdClient, EtcdCatalog } from '@walstream/catalog-etcd';
import { type EtcdServer, startEtcd } from '@walstream/testkit/etcd';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { exited, run, walstream } from './support/processes.js';

let etcd: EtcdServer;
let dataDir: string;
beforeAll(async () => {
  etcd = await startEtcd();
  dataDir = await mkdtemp(join(tmpdir(), 'walstream-node-cmd-'));
}, 120_000);
afterAll(async () => {
  await etcd?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

/** The first stdout line matching `pattern`, within `timeoutMs`. */
function lineOf(
  child: ChildProcessWithoutNullStreams,
  pattern: RegExp,
  timeoutMs = 30_000,
): Promise<RegExpExecArray> {
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    const bound = setTimeout(
      () => reject(new Error(`no line ${pattern} in ${timeoutMs} ms: ${stderr}`)),
      timeoutMs,
    );
    child.once('exit', (code) => reject(new Error(`exited ${code} before ${pattern}: ${stderr}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = pattern.exec(line);
      if (match) {
        clearTimeout(bound);
        resolve(match);
      }
    });
  });
}

describe('walstream coord and walstream node', () => {
  test('a node process registers; the coordinator process is elected and assigns it both pchannels; Ctrl-C stops each with exit 0', async () => {
    const endpoint = etcd.endpoints[0] as string;
    const prefix = `cli-${process.pid}/`;
    const coordinator = walstream([
      'coord',
      ...['--etcd', endpoint, '--listen', '127.0.0.1:0', '--pchannels', 'cli-a,cli-b'],
      ...['--ttl', '2', '--prefix', prefix, '--policy', 'pchannelCount'],
    ]);
    const node = walstream([
      'node',
      ...['--etcd', endpoint, '--data-dir', dataDir, '--ttl', '2', '--prefix', prefix],
      // No other node can take its pchannels: the stop waits this long, then closes the node.
      ...['--drain-timeout', '500ms'],
    ]);
    try {
      await lineOf(coordinator, /^active: serving on (\S+)/);
      const [, nodeId] = await lineOf(node, /^walstream node: node (\d+) serving on/);
      const client = createEtcdClient({ endpoints: etcd.endpoints });
      const catalog = new EtcdCatalog({ client, prefix });
      const deadline = Date.now() + 30_000;
      let metas = await catalog.listPChannels();
      while (!(metas.length === 2 && metas.every((m) => m.state === 'assigned' && m.nodeId === nodeId))) {
        if (Date.now() > deadline) throw new Error(`not assigned: ${JSON.stringify(metas)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
        metas = await catalog.listPChannels();
      }
      expect(metas.map((m) => [m.channel.name, m.channel.term])).toEqual([
        ['cli-a', 1n],
        ['cli-b', 1n],
      ]);
      client.close();
      const stopping = lineOf(node, /^stopping: /);
      node.kill('SIGINT');
      await stopping;
      expect(await exited(node)).toBe(0);
      coordinator.kill('SIGINT');
      expect(await exited(coordinator)).toBe(0);
    } finally {
      node.kill('SIGKILL');
      coordinator.kill('SIGKILL');
    }
  }, 90_000);

  test('bad usage exits 2 naming the problem: no store, two stores, no --etcd, bad pchannel names', async () => {
    const cases: [string[], RegExp][] = [
      [['node', '--etcd', 'http://127.0.0.1:1'], /exactly one log store/],
      [
        ['node', '--etcd', 'http://127.0.0.1:1', '--kafka', '127.0.0.1:9092', '--data-dir', '/tmp/x'],
        /exactly one/,
      ],
      [['coord', '--pchannels', '2'], /--etcd is required/],
      [['coord', '--etcd', 'http://127.0.0.1:1', '--pchannels', 'a_b'], /--pchannels must be/],
      [['coord', '--etcd', '127.0.0.1:2379', '--pchannels', '2'], /--etcd must be etcd client URLs/],
    ];
    for (const [args, message] of cases) {
      const finished = await run(args);
      expect(finished.code, args.join(' ')).toBe(2);
      expect(finished.stderr).toMatch(message);
    }
  }, 90_000);
});
