import type { ImmutableMessage, MutableMessage } from '@walstream/core';
import { describe, expect, it } from 'vitest';
import { TestId } from '../testing.js';
import { shardMessages, walShardMessages } from './messages.js';
import { ShardState } from './state.js';

let id = 0;
const at = (message: MutableMessage, tt: bigint): ImmutableMessage =>
  message.withTimeTick(tt).intoImmutable(new TestId(++id));

describe('ShardState', () => {
  it('applies the vchannel lifecycle and segment events, and round-trips through JSON', () => {
    const state = new ShardState();
    state.apply(
      at(shardMessages.createCollection('p_av0', { collectionId: 5n, partitionIds: [1n, 2n] }), 10n),
    );
    state.apply(
      at(
        walShardMessages.createSegment('p_av0', {
          collectionId: 5n,
          partitionId: 1n,
          segmentId: 100n,
          maxRows: 10,
          maxBytes: 1_000,
        }),
        11n,
      ),
    );
    state.apply(
      at(
        shardMessages.insert('p_av0', { partitionId: 1n, rows: 3, segmentId: 100n }, new Uint8Array(7)),
        12n,
      ),
    );
    state.apply(at(shardMessages.createPartition('p_av0', { collectionId: 5n, partitionId: 3n }), 13n));
    expect(state.vchannels.get('p_av0')).toMatchObject({
      collectionId: 5n,
      state: 'normal',
      fenceTimeTick: 10n,
    });
    expect([...state.vchannels.get('p_av0')!.partitions]).toEqual([1n, 2n, 3n]);
    expect(state.segments.get(100n)).toMatchObject({ rows: 3, bytes: 7, createTimeTick: 11n });

    const copy = ShardState.fromJSON(JSON.parse(JSON.stringify(state.toJSON())));
    expect(copy.toJSON()).toEqual(state.toJSON());

    state.apply(
      at(walShardMessages.flush('p_av0', { collectionId: 5n, partitionId: 1n, segmentId: 100n }), 14n),
    );
    expect(state.segments.size).toBe(0);
    state.apply(at(shardMessages.dropCollection('p_av0', { collectionId: 5n }), 15n));
    expect(state.vchannels.get('p_av0')).toMatchObject({ state: 'dropped' });
    expect(state.inconsistencies).toBe(0);
  });

  it('counts and skips inconsistent messages instead of failing', () => {
    const state = new ShardState();
    state.apply(at(shardMessages.insert('p_bv0', { rows: 1, segmentId: 9n }), 10n));
    state.apply(
      at(
        walShardMessages.createSegment('p_bv0', {
          collectionId: 1n,
          partitionId: 0n,
          segmentId: 1n,
          maxRows: 1,
          maxBytes: 1,
        }),
        11n,
      ),
    );
    expect(state.inconsistencies).toBe(2);
    expect(state.segments.size).toBe(0);
  });

  it('ManualFlush removes the segments it names and raises the fence; DropPartition removes its segments', () => {
    const state = new ShardState();
    state.apply(
      at(shardMessages.createCollection('p_cv0', { collectionId: 1n, partitionIds: [0n, 1n] }), 10n),
    );
    for (const [segmentId, partitionId] of [
      [1n, 0n],
      [2n, 0n],
      [3n, 1n],
    ] as const) {
      state.apply(
        at(
          walShardMessages.createSegment('p_cv0', {
            collectionId: 1n,
            partitionId,
            segmentId,
            maxRows: 9,
            maxBytes: 9,
          }),
          10n + segmentId,
        ),
      );
    }
    const flush = shardMessages.manualFlush('p_cv0');
    flush.withProperty('_h', Buffer.from(JSON.stringify({ segmentIds: ['1'] })).toString('base64'));
    state.apply(at(flush, 20n));
    expect([...state.segments.keys()]).toEqual([2n, 3n]);
    expect(state.vchannels.get('p_cv0')!.fenceTimeTick).toBe(20n);
    state.apply(at(shardMessages.dropPartition('p_cv0', { collectionId: 1n, partitionId: 0n }), 21n));
    expect([...state.segments.keys()]).toEqual([3n]);
  });
});
