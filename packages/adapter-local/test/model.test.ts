import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type LocalAdapter, LocalMessageId, localAdapter } from '@walstream/adapter-local';
import { DeliverPolicy, pchannel } from '@walstream/core';
import type { WalImpls, WalImplsOpener } from '@walstream/core/spi';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { message, scratchDirectory, seqOf, take } from './helpers.js';

/**
 * Segment roll, index lookup and truncation against a model: a list of records with a truncation point.
 * Drawn sequences of appends (of drawn sizes, in drawn batches), truncations at drawn points, reopenings
 * and reads from drawn positions run against 1 KiB segments with drawn index intervals; after every step
 * the log must read like the model and the directory must hold exactly the segments the stats list —
 * contiguous, none wholly below the truncation point, each rolled only when the next record did not fit.
 */
const root = scratchDirectory('model');
const SEGMENT_BYTES = 1024;
const CHANNEL = 'model';

type Step =
  | { readonly kind: 'append'; readonly sizes: readonly number[] }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'reopen' }
  | { readonly kind: 'read'; readonly policy: 'all' | 'startFrom' | 'startAfter'; readonly at: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      sizes: fc.array(fc.nat(700), { minLength: 1, maxLength: 8 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('truncate' as const),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      policy: fc.constantFrom('all' as const, 'startFrom' as const, 'startAfter' as const),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  },
);

/** The on-disk size of `message(seq, size)`'s record: framing, offset, one property, payload. */
function recordBytes(seq: number, size: number): number {
  const text = `message-${seq}`;
  return 8 + 12 + (4 + 3 + 4 + String(seq).length) + Math.max(size, text.length);
}

interface Model {
  /** Record size by offset, for every offset ever written. */
  sizes: number[];
  truncatedBefore: number;
}

describe('segment roll, index lookup and truncation against a model', () => {
  it('every drawn sequence of appends, truncations, reopenings and reads agrees with the model', async () => {
    const seen = {
      'a segment rolled': 0,
      'a truncation deleted segments': 0,
      'a read seeked into a sealed segment': 0,
      'a reopen after a truncation': 0,
    };
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { minLength: 3, maxLength: 14 }),
        fc.constantFrom(1, 100, 1024),
        async (steps, indexIntervalBytes) => {
          const directory = join(root, `run-${++run}`);
          const options = {
            directory,
            durability: 'none' as const,
            segmentBytes: SEGMENT_BYTES,
            indexIntervalBytes,
          };
          let adapter: LocalAdapter = localAdapter(options);
          let opener: WalImplsOpener = await adapter.build();
          let wal: WalImpls = await opener.open({ channel: pchannel(CHANNEL, 1n) });
          const model: Model = { sizes: [], truncatedBefore: 0 };
          let truncated = false;
          try {
            for (const s of steps) {
              switch (s.kind) {
                case 'append': {
                  const first = model.sizes.length;
                  const ids = await Promise.all(
                    s.sizes.map((size, i) => wal.append(message(first + i, size))),
                  );
                  expect(ids.map((id) => id.marshal())).toEqual(s.sizes.map((_, i) => String(first + i)));
                  for (const [i, size] of s.sizes.entries()) model.sizes.push(recordBytes(first + i, size));
                  break;
                }
                case 'truncate': {
                  const live = model.sizes.length - model.truncatedBefore;
                  if (live === 0) break;
                  const at = model.truncatedBefore + Math.min(live - 1, Math.floor(s.at * live));
                  const before = (await adapter.stats(CHANNEL))!.segments.length;
                  await wal.truncate(new LocalMessageId(at));
                  model.truncatedBefore = Math.max(model.truncatedBefore, at);
                  if ((await adapter.stats(CHANNEL))!.segments.length < before)
                    seen['a truncation deleted segments']++;
                  truncated = true;
                  break;
                }
                case 'reopen': {
                  await opener.close();
                  adapter = localAdapter(options);
                  opener = await adapter.build();
                  wal = await opener.open({ channel: pchannel(CHANNEL, 1n) });
                  if (truncated) seen['a reopen after a truncation']++;
                  break;
                }
                case 'read': {
                  const end = model.sizes.length;
                  const from =
                    s.policy === 'all'
                      ? model.truncatedBefore
                      : Math.floor(s.at * (end + 1)) - (s.policy === 'startAfter' ? 1 : 0);
                  const policy =
                    s.policy === 'all'
                      ? DeliverPolicy.all()
                      : s.policy === 'startFrom'
                        ? DeliverPolicy.startFrom(new LocalMessageId(Math.max(0, from)))
                        : DeliverPolicy.startAfter(new LocalMessageId(Math.max(0, from)));
                  const start = Math.max(
                    model.truncatedBefore,
                    s.policy === 'startAfter' ? Math.max(0, from) + 1 : Math.max(0, from),
                  );
                  const stats = (await adapter.stats(CHANNEL))!;
                  const holder = stats.segments.find(
                    (seg) => seg.base <= start && start < seg.base + seg.records,
                  );
                  if (holder?.sealed && start > holder.base) seen['a read seeked into a sealed segment']++;
                  const scanner = await wal.read({
                    name: 'model',
                    deliverPolicy: policy,
                    readAheadBufferSize: 7,
                  });
                  const expected = Array.from({ length: Math.max(0, end - start) }, (_, i) => start + i);
                  try {
                    // One at a time, so a wrong record fails at once rather than a missing one at the bound.
                    for (const offset of expected) {
                      const [got] = await take(scanner, 1);
                      expect([Number(got!.id.marshal()), seqOf(got!)]).toEqual([offset, offset]);
                    }
                  } finally {
                    await scanner.close();
                  }
                  break;
                }
              }
              await checkLayout(adapter, directory, model);
            }
            if ((await adapter.stats(CHANNEL))!.segments.length > 1) seen['a segment rolled']++;
          } finally {
            await opener.close();
          }
        },
      ),
      {
        numRuns: 40,
        // One run that surely rolls, reads into a sealed segment, truncates whole segments and reopens after.
        examples: [
          [
            [
              { kind: 'append', sizes: [600, 600, 600, 600, 600, 600, 600, 600] },
              { kind: 'read', policy: 'startFrom', at: 0.5 },
              { kind: 'truncate', at: 0.9 },
              { kind: 'reopen' },
              { kind: 'read', policy: 'all', at: 0 },
            ],
            100,
          ],
        ],
      },
    );
    for (const [what, count] of Object.entries(seen)) expect(count, what).toBeGreaterThan(0);
  }, 120_000);
});

/** The directory holds exactly the listed segments, and they follow the rules of roll and truncation. */
async function checkLayout(adapter: LocalAdapter, directory: string, model: Model): Promise<void> {
  const stats = (await adapter.stats(CHANNEL))!;
  expect(stats.nextOffset).toBe(model.sizes.length);
  expect(stats.firstOffset).toBe(model.truncatedBefore);
  const files = (await readdir(join(directory, CHANNEL))).sort();
  // Segments are <base>.log; next.log, made ahead of the next roll, is not one yet.
  const logs = files.filter((name) => /^\d{20}\.log$/.test(name)).map((name) => Number(name.slice(0, -4)));
  const indexes = files.filter((name) => name.endsWith('.idx')).map((name) => Number(name.slice(0, -4)));
  expect(logs).toEqual(stats.segments.map((segment) => segment.base));
  // A sparse index beside every sealed segment (the active one gets its index when it is sealed).
  expect(indexes).toEqual(stats.segments.filter((segment) => segment.sealed).map((segment) => segment.base));
  for (const [i, segment] of stats.segments.entries()) {
    const next = stats.segments[i + 1];
    if (next) expect(segment.base + segment.records).toBe(next.base);
    if (i === 1) expect(segment.base).toBeGreaterThan(model.truncatedBefore); // nothing wholly below the point
    if (next && segment.records > 0) {
      // Rolled only because the next record did not fit; a lone record may be larger than a segment.
      expect(segment.bytes + model.sizes[next.base]!).toBeGreaterThan(SEGMENT_BYTES);
      if (segment.records > 1) expect(segment.bytes).toBeLessThanOrEqual(SEGMENT_BYTES);
    }
  }
}
