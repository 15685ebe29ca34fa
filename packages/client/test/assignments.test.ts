/**
 * The assignment watcher against a scripted AssignmentService on a real gRPC server: what it keeps from
 * the snapshots a coordinator sends, and how it reconnects.
 */
import { pchannel } from '@walstream/core';
import {
  AssignmentDiscoverResponseSchema,
  create,
  ReportErrorResponseSchema,
  type RpcServer,
  startRpcServer,
  toWirePChannel,
} from '@walstream/rpc';
import { afterEach, describe, expect, test } from 'vitest';
import { type Assignment, type Client, createClient } from '../src/index.js';
import { waitFor } from './support/cluster.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

function snapshot(global: bigint, local: bigint, term: bigint) {
  return create(AssignmentDiscoverResponseSchema, {
    fullAssignment: {
      version: { global, local },
      assignments: [
        { node: { nodeId: 7n, address: '127.0.0.1:7' }, channels: [toWirePChannel(pchannel('sa0', term))] },
      ],
    },
  });
}

/** A coordinator whose Nth AssignmentDiscover call sends `script[N]` and then ends the stream. */
async function scripted(
  script: ReturnType<typeof snapshot>[][],
): Promise<{ server: RpcServer; calls: () => number }> {
  let calls = 0;
  const server = await startRpcServer({
    listen: '127.0.0.1:0',
    services: {
      assignment: {
        async assignmentDiscover(_request, stream) {
          const batch = script[Math.min(calls++, script.length - 1)] ?? [];
          for (const response of batch) await stream.send(response);
        },
        async reportError() {
          return create(ReportErrorResponseSchema, {});
        },
      },
    },
  });
  cleanup.push(() => server.close({ graceMs: 0 }));
  return { server, calls: () => calls };
}

describe('assignments$', () => {
  test('keeps only snapshots newer than the one held, by global then local version, across reconnects', async () => {
    const { server, calls } = await scripted([
      [snapshot(5n, 2n, 3n), snapshot(5n, 1n, 2n)], // an older local version after a newer one
      [snapshot(4n, 9n, 1n)], // a coordinator of an older incarnation, after a reconnect
      [snapshot(6n, 0n, 4n)], // a newer incarnation
    ]);
    const client: Client = createClient({ coord: server.address, backoff: { initialMs: 10, maxMs: 20 } });
    cleanup.push(() => client.close());
    const seen: Assignment[] = [];
    const subscription = client.assignments$.subscribe((a) => a && seen.push(a));
    await waitFor(() => seen.length >= 2, 'the newer incarnation');
    subscription.unsubscribe();
    expect(
      seen.map((a) => [a.version.global, a.version.local, a.channels.get('sa0')?.pchannel.term]),
    ).toEqual([
      [5n, 2n, 3n],
      [6n, 0n, 4n],
    ]);
    expect(calls()).toBeGreaterThanOrEqual(3);
    expect(client.assignment?.channels.get('sa0')).toEqual({
      pchannel: pchannel('sa0', 4n),
      nodeId: 7n,
      address: '127.0.0.1:7',
    });
  });

  test('with several coordinator addresses, an unreachable one is passed over', async () => {
    const { server } = await scripted([[snapshot(1n, 1n, 1n)]]);
    const client: Client = createClient({
      coord: ['127.0.0.1:1', server.address],
      backoff: { initialMs: 10, maxMs: 20 },
    });
    cleanup.push(() => client.close());
    await waitFor(() => client.assignment !== undefined, 'a snapshot from the reachable coordinator');
    expect(client.assignment?.version).toEqual({ global: 1n, local: 1n });
  });
});
