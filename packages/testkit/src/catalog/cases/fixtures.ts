import type { BroadcastTaskRecord, PChannelMeta, WalCheckpoint } from '@walstream/core';
import fc from 'fast-check';

/** Beyond 64 bits: a store that keeps bigints as doubles or int64 fails on it. */
export const HUGE = 2n ** 70n + 1n;

export function meta(name: string, term: bigint, extra: Partial<PChannelMeta> = {}): PChannelMeta {
  return {
    channel: { name, term, accessMode: 'rw' },
    state: 'assigned',
    nodeId: 'node-1',
    history: [],
    ...extra,
  };
}

export function task(broadcastId: bigint, extra: Partial<BroadcastTaskRecord> = {}): BroadcastTaskRecord {
  return {
    broadcastId,
    state: 'pending',
    message: { payload: Uint8Array.of(1, 2, 3), properties: { kind: 'test' } },
    acked: [],
    ...extra,
  };
}

/** A checkpoint whose timetick identifies the save that wrote it. */
export function checkpoint(term: bigint | undefined, timeTick: bigint): WalCheckpoint {
  return {
    messageId: `id-${timeTick}`,
    walName: 'conformance',
    timeTick,
    ...(term === undefined ? {} : { term }),
  };
}

/** Lets `hops` turns of the event loop pass, so calls start interleaved with others' I/O. */
export async function hops(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** How a drawn race is shown in a failure. */
export const stringify = (value: unknown): string => fc.stringify(value);
