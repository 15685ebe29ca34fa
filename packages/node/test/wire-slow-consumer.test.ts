/**
 * A consumer that stops reading must not make the node buffer the log for it: the consume loop waits for
 * the transport to drain, the scanner's read-ahead is bounded, and the rest stays in the store. Measured
 * in the node process (heap after a full GC), on the local adapter so the log itself is on disk.
 */
// Registers the `local` MessageID codec, so messages of the node's local store decode here.
import '@walstream/adapter-local';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeliverPolicy, pchannel } from '@walstream/core';
import { createVChannel } from '@walstream/interceptors';
import {
  ConsumeRequestSchema,
  connectRpc,
  create,
  toWireDeliverPolicy,
  toWirePChannel,
} from '@walstream/rpc';
import { afterEach, describe, expect, it } from 'vitest';
import { userMessage } from './support/in-process.js';
import { type NodeChild, spawnNode } from './support/spawn-node.js';
import { assignReady, WireProducer } from './support/wire.js';

let node: NodeChild | undefined;
let directory: string | undefined;
afterEach(async () => {
  await node?.kill();
  if (directory) rmSync(directory, { recursive: true, force: true });
});

const MESSAGES = 12_000;
const SIZE = 1024;

describe('a consumer that stops reading', () => {
  it('does not grow the node: 12 MiB appended behind it leave the node heap within 4 MiB, then it reads all in order', async () => {
    directory = mkdtempSync(join(tmpdir(), 'walstream-node-slow-'));
    node = await spawnNode({
      adapter: 'local',
      directory,
      wabCapacityBytes: 256 * 1024,
      consumerReadAhead: 32,
    });
    const rpc = connectRpc(node.address);
    await assignReady(rpc, 'slow', 1n);
    const producer = await WireProducer.open(rpc, 'slow', 1n);
    const created = await producer.append(createVChannel('slow_v0'));

    const call = rpc.nodeHandler.consume();
    await call.send(
      create(ConsumeRequestSchema, {
        request: {
          case: 'open',
          value: {
            pchannel: toWirePChannel(pchannel('slow', 1n)),
            vchannel: 'slow_v0',
            deliverPolicy: toWireDeliverPolicy(DeliverPolicy.startAfter(created.messageId)),
          },
        },
      }),
    );
    const responses = call[Symbol.asyncIterator]();
    expect((await responses.next()).value?.response.case).toBe('opened');
    const before = await node.stats();

    // The consumer reads nothing while the producer appends 12 MiB, 256 at a time.
    for (let start = 0; start < MESSAGES; start += 256) {
      await Promise.all(
        Array.from({ length: Math.min(256, MESSAGES - start) }, (_, i) =>
          producer.append(userMessage('slow_v0', start + i, SIZE)),
        ),
      );
    }
    const after = await node.stats();
    expect(after.heapUsed - before.heapUsed).toBeLessThan(4 * 1024 * 1024);

    // Then it reads: everything, in order.
    let next = 0;
    while (next < MESSAGES) {
      const { value, done } = await responses.next();
      expect(done).toBe(false);
      if (value?.response.case === 'message' && value.response.value.properties.seq !== undefined) {
        expect(Number(value.response.value.properties.seq)).toBe(next++);
      }
    }
    call.cancel();
    await producer.close();
    rpc.close();
  });
});
