/**
 * One crash round: start the crash writer on a directory, SIGKILL it after a number of acknowledgements
 * drawn from a seeded RNG (0 = as soon as it is ready), then reopen the directory in this process and
 * check it: the log from earlier rounds is unchanged, this round's records follow it in append order with
 * every acknowledged one at the id it was acknowledged with, and the log takes an append again.
 * Shared by crash.test.ts (a few rounds in CI) and crash-campaign.ts (many, with a summary).
 */
import { type LocalAdapter, localAdapter } from '@walstream/adapter-local';
import { DeliverPolicy, type ImmutableMessage, MutableMessage, pchannel } from '@walstream/core';
import { CRASH_CHANNEL, CRASH_SEGMENT_BYTES, isCrashRecord } from './crash-records.js';
import { spawnFixture, watch } from './processes.js';

/** What the log must hold from earlier rounds: (round, seq) per offset; seq -1 marks the checker's own append. */
export interface LogModel {
  readonly entries: { round: number; seq: number }[];
}

export interface RoundReport {
  readonly round: number;
  /** Acknowledgements after which the writer was killed (0: as soon as it was ready). */
  readonly killAfter: number;
  /** Acknowledgements the parent saw (a few more may arrive between the decision and the kill). */
  readonly acknowledged: number;
  /** Records of this round found after the restart: every acknowledged one and any that landed unacknowledged. */
  readonly recovered: number;
  /** Bytes of a torn tail recovery cut, 0 when there was none. */
  readonly cutBytes: number;
  readonly segments: number;
}

/** A small seeded RNG (mulberry32): the same seed draws the same kill points. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class CrashCheckFailure extends Error {}

function check(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new CrashCheckFailure(message());
}

export async function crashRound(
  directory: string,
  round: number,
  killAfter: number,
  model: LogModel,
): Promise<RoundReport> {
  const writerTerm = 2 * round + 1;
  const child = spawnFixture('crash-writer.ts', [directory, String(writerTerm)]);
  const acks = new Map<number, string>();
  let killed = false;
  const kill = () => {
    if (!killed) {
      killed = true;
      child.kill('SIGKILL');
    }
  };
  const exit = await watch(child, (line) => {
    if (line === 'ready' && killAfter === 0) kill();
    const ack = /^ack (\d+) (\d+)$/.exec(line);
    if (ack) {
      acks.set(Number(ack[1]), ack[2]!);
      if (acks.size >= killAfter) kill();
    }
  });
  check(
    exit.signal === 'SIGKILL',
    () => `round ${round}: the writer ended by itself (${exit.code}): ${exit.stderr}`,
  );

  const adapter = localAdapter({ directory, segmentBytes: CRASH_SEGMENT_BYTES });
  const opener = await adapter.build();
  try {
    const wal = await opener.open({ channel: pchannel(CRASH_CHANNEL, BigInt(writerTerm + 1)) });
    const stats = (await adapter.stats(CRASH_CHANNEL))!;
    const log = await readLog(wal, adapter);
    const before = model.entries.length;
    check(
      log.length >= before,
      () => `round ${round}: the log has ${log.length} records, ${before} were there before`,
    );
    for (let offset = 0; offset < before; offset++) {
      const { round: r, seq } = model.entries[offset]!;
      const found = log[offset]!;
      check(
        seq < 0 ? found.properties.checker === String(r) : isCrashRecord(found, r, seq),
        () => `round ${round}: offset ${offset} no longer holds round ${r} record ${seq}`,
      );
    }
    const mine = log.slice(before);
    for (const [seq, message] of mine.entries()) {
      check(
        isCrashRecord(message, writerTerm, seq) && message.id.marshal() === String(before + seq),
        () => `round ${round}: offset ${before + seq} should hold record ${seq} of this round`,
      );
    }
    for (const [seq, id] of acks) {
      check(
        seq < mine.length,
        () => `round ${round}: acknowledged record ${seq} (id ${id}) is gone: ${mine.length} survived`,
      );
      check(
        id === String(before + seq),
        () => `round ${round}: record ${seq} was acknowledged as ${id}, is at ${before + seq}`,
      );
    }
    for (let seq = 0; seq < mine.length; seq++) model.entries.push({ round: writerTerm, seq });
    const id = await wal.append(
      new MutableMessage(new Uint8Array([round & 0xff]), { checker: String(writerTerm) }),
    );
    check(
      id.marshal() === String(model.entries.length),
      () => `round ${round}: the append after the restart got ${id.marshal()}`,
    );
    model.entries.push({ round: writerTerm, seq: -1 });
    return {
      round,
      killAfter,
      acknowledged: acks.size,
      recovered: mine.length,
      cutBytes: stats.recovery.cut?.bytes ?? 0,
      segments: stats.segments.length,
    };
  } finally {
    await opener.close();
  }
}

async function readLog(
  wal: Awaited<ReturnType<Awaited<ReturnType<LocalAdapter['build']>>['open']>>,
  adapter: LocalAdapter,
) {
  const stats = (await adapter.stats(CRASH_CHANNEL))!;
  const scanner = await wal.read({
    name: 'check',
    deliverPolicy: DeliverPolicy.all(),
    readAheadBufferSize: 1024,
  });
  const log: ImmutableMessage[] = [];
  try {
    if (stats.nextOffset > 0) {
      for await (const message of scanner) {
        log.push(message);
        if (log.length >= stats.nextOffset) break;
      }
    }
  } finally {
    await scanner.close();
  }
  return log;
}
