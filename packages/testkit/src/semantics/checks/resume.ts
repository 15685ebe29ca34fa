import { type ImmutableMessage, ImmutableTxnMessage } from '@walstream/core';
import { ConformanceFailure } from '../../runner/assert.js';
import { describeMessage, identify } from '../messages.js';
import type { ReadRecord } from '../reader.js';

/** How a delivery is compared across readers: data by key, WAL-written messages by id; ticks are left out. */
function identity(message: ImmutableMessage): string | undefined {
  const seen = identify(message);
  switch (seen.kind) {
    case 'tick':
      return undefined;
    case 'plain':
      return seen.key;
    case 'txn':
      return `txn ${seen.key}`;
    default:
      return `${describeMessage(message)}`;
  }
}

/** The deliveries up to and including the last of `markerKeys` (what the schedule wrote, nothing later). */
export function throughMarkers(reader: ReadRecord, markerKeys: readonly string[]): ImmutableMessage[] {
  const wanted = new Set(markerKeys);
  let end = -1;
  reader.delivered.forEach((message, index) => {
    const seen = identify(message);
    if (seen.kind === 'plain' && wanted.has(seen.key)) end = index;
  });
  return reader.delivered.slice(0, end + 1);
}

/**
 * Resuming after the reference's delivery at `index` yields exactly the rest of the reference: the same
 * messages in the same order, none missing (a gap) and none repeated (a duplicate).
 */
export function assertResumedExactly(
  reference: readonly ImmutableMessage[],
  index: number,
  resumed: readonly ImmutableMessage[],
  label: string,
): void {
  const from = reference[index]!;
  const expected = reference
    .slice(index + 1)
    .map(identity)
    .filter((id) => id !== undefined);
  const actual = resumed.map(identity).filter((id) => id !== undefined);
  const length = Math.max(expected.length, actual.length);
  for (let i = 0; i < length; i++) {
    if (expected[i] === actual[i]) continue;
    const missing = expected[i] !== undefined && !actual.includes(expected[i]!);
    const repeated =
      actual[i] !== undefined &&
      reference.slice(0, index + 1).some((message) => identity(message) === actual[i]);
    const what = missing
      ? `a gap: ${expected[i]} is missing${lcHint(reference, index, expected[i]!)}`
      : repeated
        ? `a duplicate: ${actual[i]} was delivered before the resume point`
        : `expected ${expected[i] ?? 'the end'}, got ${actual[i] ?? 'the end'}`;
    throw new ConformanceFailure(
      `${label}: resuming after #${index} ${describeMessage(from)} with startFrom(${from.lastConfirmedId.toString()}) + ` +
        `timeTickGT(${from.timeTick}) did not yield exactly the rest — at position ${i} of the rest, ${what}\n` +
        `  expected: ${window(expected, i)}\n  resumed:  ${window(actual, i)}`,
    );
  }
}

/** When a missing Txn began before the resume position, the LC moved past the begin of an open txn. */
function lcHint(reference: readonly ImmutableMessage[], index: number, missing: string): string {
  const from = reference[index]!;
  const txn = reference.find((message) => identity(message) === missing);
  if (!(txn instanceof ImmutableTxnMessage)) return '';
  if (txn.begin.id.compare(from.lastConfirmedId) >= 0) return '';
  return (
    ` (its BeginTxn ${txn.begin.id.toString()} lies before the resume position ${from.lastConfirmedId.toString()}: ` +
    `the last-confirmed id of ${describeMessage(from)} passed the begin of a txn that was still open)`
  );
}

function window(list: readonly string[], at: number): string {
  const start = Math.max(0, at - 2);
  const shown = list
    .slice(start, at + 3)
    .map((entry, offset) => (start + offset === at ? `[${entry}]` : entry));
  return `${start > 0 ? '… ' : ''}${shown.join(', ')}${at + 3 < list.length ? ' …' : ''} (${list.length} in all)`;
}
