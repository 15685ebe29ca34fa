import type { WalImpls } from '@walstream/core/spi';
import { dataMessage, markerMessage, type Written } from '../messages.js';
import { appendAll } from '../reading.js';
import type { WalImplsTestContext } from '../types.js';

/** The smaller message count the groups other than `readWrite` use. */
export function smallCount(t: WalImplsTestContext): number {
  return Math.max(8, Math.min(50, Math.floor(t.messageCount / 4)));
}

export interface Seeded {
  readonly name: string;
  readonly wal: WalImpls;
  /** `count` data messages, in id order. */
  readonly written: Written[];
}

/** A fresh pchannel opened RW at `term` with `count` data messages written one after the other. */
export async function seeded(
  t: WalImplsTestContext,
  label: string,
  count: number,
  term = 1,
): Promise<Seeded> {
  const name = t.channelName(label);
  const wal = await t.open(name, term);
  const written = await appendAll(
    t,
    wal,
    Array.from({ length: count }, (_, seq) => dataMessage(name, term, seq)),
  );
  return { name, wal, written };
}

/** Appends the end marker `label`; readers read until it to know they saw everything before it. */
export async function appendMarker(
  t: WalImplsTestContext,
  wal: WalImpls,
  label: string,
  extra: Record<string, string> = {},
): Promise<Written> {
  const message = markerMessage(wal.channel.name, label, extra);
  return { id: await t.append(wal, message), message };
}
