import { describe, expect, test } from 'vitest';
import { committedRecords } from '../../src/driver/platformatic.js';
import type { PltFetchPartition, PltRecordsBatch } from '../../src/driver/platformatic-types.js';

const TRANSACTIONAL = 0x10;
const CONTROL = 0x20;

function data(
  firstOffset: bigint,
  producerId: bigint,
  values: string[],
  transactional = true,
): PltRecordsBatch {
  return {
    firstOffset,
    attributes: transactional ? TRANSACTIONAL : 0,
    lastOffsetDelta: values.length - 1,
    producerId,
    records: values.map((value, i) => ({
      offsetDelta: i,
      key: null,
      value: Buffer.from(value),
      headers: [[Buffer.from('k'), Buffer.from(value)]],
    })),
  };
}

/** A commit (type 1) or abort (type 0) marker. */
function marker(offset: bigint, producerId: bigint, commit: boolean): PltRecordsBatch {
  const key = Buffer.alloc(4);
  key.writeInt16BE(commit ? 1 : 0, 2);
  return {
    firstOffset: offset,
    attributes: TRANSACTIONAL | CONTROL,
    lastOffsetDelta: 0,
    producerId,
    records: [{ offsetDelta: 0, key, value: Buffer.alloc(6), headers: [] }],
  };
}

function partition(
  records: PltRecordsBatch[],
  aborted: { producerId: bigint; firstOffset: bigint }[],
): PltFetchPartition {
  return {
    partitionIndex: 0,
    errorCode: 0,
    highWatermark: 100n,
    lastStableOffset: 100n,
    logStartOffset: 0n,
    abortedTransactions: aborted,
    records,
  };
}

describe('committedRecords (read_committed filtering the platformatic driver does itself)', () => {
  test('drops aborted transactions and markers, keeps committed and non-transactional records', () => {
    const fetched = partition(
      [
        data(0n, 1n, ['a', 'b']),
        marker(2n, 1n, true),
        data(3n, 2n, ['stale']), // a fenced writer's transaction...
        marker(4n, 2n, false), // ...aborted by the new epoch
        data(5n, 1n, ['c']),
        marker(6n, 1n, true),
        data(7n, 3n, ['plain'], false),
        data(8n, 2n, ['later']), // the same producer id again, in a transaction that committed
        marker(9n, 2n, true),
      ],
      [{ producerId: 2n, firstOffset: 3n }],
    );
    const records = committedRecords(fetched, 0n);
    expect(records.map((r) => [r.offset, r.value.toString()])).toEqual([
      [0n, 'a'],
      [1n, 'b'],
      [5n, 'c'],
      [7n, 'plain'],
      [8n, 'later'],
    ]);
    expect(records[0]!.headers).toEqual([['k', Buffer.from('a')]]);
  });

  test('skips records before the requested offset inside the first batch', () => {
    const records = committedRecords(
      partition([data(10n, 1n, ['x', 'y', 'z']), marker(13n, 1n, true)], []),
      11n,
    );
    expect(records.map((r) => r.offset)).toEqual([11n, 12n]);
  });
});
