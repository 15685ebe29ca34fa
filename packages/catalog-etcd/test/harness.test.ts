import { existsSync } from 'node:fs';
import { startEtcd } from '@walstream/testkit/etcd';
import { describe, expect, test } from 'vitest';

describe('startEtcd', () => {
  test('a binary that does not exist is an error naming it, before anything starts', async () => {
    await expect(startEtcd({ binary: '/nonexistent/etcd', log: () => undefined })).rejects.toThrow(
      /\/nonexistent\/etcd does not exist/,
    );
  });

  test('serves on loopback, keeps its data across a restart, and removes its work dir on stop', async () => {
    const lines: string[] = [];
    const etcd = await startEtcd({ log: (line) => lines.push(line) });
    try {
      expect(etcd.endpoints).toEqual([`http://127.0.0.1:${etcd.clientPort}`]);
      expect(etcd.clientPort).not.toBe(2379);
      expect(etcd.version).toMatch(/^\d+\.\d+\.\d+/);
      const put = await fetch(`${etcd.endpoints[0]}/v3/kv/put`, {
        method: 'POST',
        body: JSON.stringify({ key: btoa('k'), value: btoa('v') }),
      });
      expect(put.status).toBe(200);
      await etcd.restart();
      expect(etcd.running).toBe(true);
      const range = await fetch(`${etcd.endpoints[0]}/v3/kv/range`, {
        method: 'POST',
        body: JSON.stringify({ key: btoa('k') }),
      });
      const body = (await range.json()) as { kvs?: { value: string }[] };
      expect(body.kvs?.map((kv) => atob(kv.value))).toEqual(['v']);
    } finally {
      await etcd.stop();
    }
    expect(etcd.running).toBe(false);
    expect(existsSync(etcd.workDir)).toBe(false);
    expect(lines.filter((line) => line.includes('ready on'))).toHaveLength(2);
  });
});
