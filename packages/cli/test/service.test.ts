import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@walstream/client';
import { DeliverPolicy, newMessage, vchannelName } from '@walstream/core';
import { createVChannel } from '@walstream/interceptors';
import { afterAll, describe, expect, it } from 'vitest';
import { TextRecord } from '../src/records.js';
import { startService } from '../src/service.js';

const scratch = mkdtempSync(join(tmpdir(), 'walstream-cli-service-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the service of walstream up', () => {
  it('closing it with appends in flight loses none that was acknowledged: after a restart on the directory each is there once', async () => {
    const dataDir = join(scratch, 'drain');
    const first = await startService({ pchannels: 1, nodes: 2, listen: '127.0.0.1:0', dataDir });
    const vchannel = vchannelName(first.pchannels[0]!, 'drain');
    const client = createClient({ coord: first.address, appendTimeoutMs: 2_000 });
    await client.append(createVChannel(vchannel));
    const acknowledged: number[] = [];
    let closing: Promise<void> | undefined;
    const appends = Array.from({ length: 400 }, (_, seq) =>
      client
        .append(
          newMessage(TextRecord)
            .vchannel(vchannel)
            .property('seq', String(seq))
            .body(new Uint8Array(64))
            .build(),
        )
        .then(() => {
          acknowledged.push(seq);
          // The close starts while most appends are still in flight.
          if (acknowledged.length === 50) closing = first.close();
        }),
    );
    // Each settles: answered by a draining node, or failed once no node is left (appendTimeoutMs).
    await Promise.allSettled(appends);
    await closing;
    await client.close();
    expect(acknowledged.length).toBeGreaterThanOrEqual(50);

    const second = await startService({ pchannels: 1, nodes: 1, listen: '127.0.0.1:0', dataDir });
    const reader = createClient({ coord: second.address });
    const seen = new Map<number, number>();
    const stop = AbortSignal.timeout(15_000);
    try {
      for await (const message of reader.read(vchannel, {
        deliverPolicy: DeliverPolicy.all(),
        signal: stop,
      })) {
        const seq = message.properties.seq;
        if (seq === undefined) continue;
        seen.set(Number(seq), (seen.get(Number(seq)) ?? 0) + 1);
        if (acknowledged.every((s) => seen.has(s))) break;
      }
    } finally {
      await reader.close();
      await second.close();
    }
    expect(acknowledged.filter((seq) => !seen.has(seq))).toEqual([]);
    expect([...seen.values()].every((times) => times === 1)).toBe(true);
  }, 60_000);
});
