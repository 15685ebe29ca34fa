import type { InRecord, KafkaDriver } from './driver/types.js';
import { type Stamp, stampOf } from './records.js';
import { bounded } from './util.js';

/** Looking further back than this many offsets for a stamp is not worth it: the log was not ours. */
const MAX_LOOKBACK = 1n << 16n;

/** The committed records in [from, until). */
export async function readRange(
  driver: KafkaDriver,
  topic: string,
  from: bigint,
  until: bigint,
  timeoutMs: number,
): Promise<InRecord[]> {
  const out: InRecord[] = [];
  const controller = new AbortController();
  try {
    await bounded(
      driver.consume(
        topic,
        'fence-check',
        from,
        {
          onRecords: async (records) => {
            for (const record of records) if (record.offset < until) out.push(record);
            return records[records.length - 1]!.offset + 1n < until;
          },
          onProgress: (next) => next < until,
        },
        controller.signal,
      ),
      timeoutMs,
      `reading offsets ${from}..${until} of ${topic}`,
    );
  } finally {
    controller.abort();
  }
  return out;
}

/**
 * The stamp of the last committed record of the topic that carries one, or undefined (empty log, or
 * nothing written by this adapter). Reads backwards in growing windows from the last stable offset; a
 * transactional writer's log ends with [data records][commit marker], so the first window usually hits.
 */
export async function readLastStamp(
  driver: KafkaDriver,
  topic: string,
  timeoutMs: number,
): Promise<Stamp | undefined> {
  const { start, end } = await driver.bounds(topic);
  let until = end;
  let window = 4n;
  while (until > start && end - until < MAX_LOOKBACK) {
    const from = until - window > start ? until - window : start;
    const records = await readRange(driver, topic, from, until, timeoutMs);
    for (let i = records.length - 1; i >= 0; i--) {
      const stamp = stampOf(records[i]!);
      if (stamp) return stamp;
    }
    until = from;
    window *= 4n;
  }
  return undefined;
}
