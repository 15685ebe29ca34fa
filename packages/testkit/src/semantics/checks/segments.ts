import { type ImmutableMessage, ImmutableTxnMessage } from '@walstream/core';
import { ConformanceFailure } from '../../runner/assert.js';
import { describeMessage } from '../messages.js';
import type { ReadRecord } from '../reader.js';
import type { SegmentEvent } from '../types.js';
import { summarize } from './scope.js';

/** What one reader saw of segments: how many were made and sealed, per vchannel. */
export interface SegmentTally {
  readonly created: number;
  readonly flushed: number;
  /** Inserts delivered (plain or in a Txn). */
  readonly inserts: number;
  /** The most segments one vchannel got. */
  readonly mostPerVChannel: number;
}

/**
 * Inserts land in segments the WAL made for them: on each vchannel a reader that started at the beginning
 * of the log delivers a segment's CreateSegment before every Insert assigned to it, and its Flush (if it
 * was sealed) after all of them; a segment is created once and flushed at most once. An Insert inside a
 * Txn counts at the Txn. Returns what the reader saw.
 */
export function assertInsertsInSegments(
  reader: ReadRecord,
  segmentEvent: (message: ImmutableMessage) => SegmentEvent | undefined,
): SegmentTally {
  const problems: string[] = [];
  const segments = new Map<string, { created: string; flushed?: string; vchannel: string | undefined }>();
  const perVChannel = new Map<string, number>();
  let created = 0;
  let flushed = 0;
  let inserts = 0;
  const see = (message: ImmutableMessage, at: string) => {
    const event = segmentEvent(message);
    if (!event) return;
    const segment = segments.get(event.segment);
    switch (event.kind) {
      case 'create':
        created++;
        if (segment)
          problems.push(`${at} creates segment ${event.segment} again (first: ${segment.created})`);
        else {
          segments.set(event.segment, { created: at, vchannel: message.vchannel });
          const key = message.vchannel ?? '*';
          perVChannel.set(key, (perVChannel.get(key) ?? 0) + 1);
        }
        return;
      case 'flush':
        flushed++;
        if (!segment) problems.push(`${at} flushes segment ${event.segment}, which was never created`);
        else if (segment.flushed)
          problems.push(`${at} flushes segment ${event.segment} again (first: ${segment.flushed})`);
        else segment.flushed = at;
        return;
      case 'insert':
        inserts++;
        if (!segment)
          problems.push(`${at} went to segment ${event.segment}, which was not created before it`);
        else if (segment.flushed)
          problems.push(`${at} went to segment ${event.segment} after its Flush ${segment.flushed}`);
        else if (segment.vchannel !== message.vchannel)
          problems.push(`${at} went to segment ${event.segment} of vchannel ${segment.vchannel ?? '*'}`);
        return;
    }
  };
  reader.delivered.forEach((message, index) => {
    const at = `#${index} ${describeMessage(message)}`;
    if (message instanceof ImmutableTxnMessage) {
      for (const [position, body] of message.bodies.entries()) see(body, `${at} body ${position}`);
      return;
    }
    see(message, at);
  });
  if (problems.length > 0) {
    throw new ConformanceFailure(
      `reader ${reader.label}: an Insert did not land in a segment made before it and sealed after it:\n${summarize(problems)}`,
    );
  }
  return { created, flushed, inserts, mostPerVChannel: Math.max(0, ...perVChannel.values()) };
}
