/**
 * The TSO of coordinator processes (`runCoordinator` on a real etcd) across 10 restarts: each new
 * coordinator hands out timeticks above every one an earlier coordinator handed out.
 */
import { AllocateRequestSchema, connectRpc, create } from '@walstream/rpc';
import { describe, expect, test } from 'vitest';
import { failoverEnv } from '../support/failover-env.js';
import type { JsonChild } from '../support/json-child.js';

const cluster = failoverEnv();

describe('the active coordinator process restarted', () => {
  test('the TSO rises strictly across 10 coordinator restarts (8 resignations, 2 SIGKILLs)', async () => {
    const c = await cluster(['ts0']);
    // Standbys are started ahead (three at a time), so a restart waits for the election, not for a
    // process to start.
    const pool: JsonChild[] = [c.spawnCoordinator(), c.spawnCoordinator(), c.spawnCoordinator()];
    const nextActive = async (): Promise<{ child: JsonChild; address: string }> =>
      Promise.any(pool.map(async (child) => ({ child, address: await c.whenActive(child, 60_000) })));
    let { child: current, address } = await nextActive();
    const batches: { first: bigint; last: bigint }[] = [];
    const allocate = async (at: string): Promise<void> => {
      const rpc = connectRpc(at);
      try {
        const batch = await rpc.tso.allocate(create(AllocateRequestSchema, { count: 16 }));
        batches.push({ first: batch.first, last: batch.first + BigInt(batch.count) - 1n });
      } finally {
        rpc.close();
      }
    };
    for (let restart = 1; restart <= 10; restart++) {
      await allocate(address);
      pool.splice(pool.indexOf(current), 1);
      if (restart % 5 === 0) await current.kill();
      else current.send({ cmd: 'close' });
      if (restart <= 8) pool.push(c.spawnCoordinator());
      ({ child: current, address } = await nextActive());
    }
    await allocate(address);
    expect(batches).toHaveLength(11);
    for (let i = 1; i < batches.length; i++) expect(batches[i]!.first).toBeGreaterThan(batches[i - 1]!.last);
  });
});
