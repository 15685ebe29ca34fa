import { DeliverPolicy, type ImmutableMessage, type MessageID, pchannel } from '@walstream/core';
import type { RawScanner } from '@walstream/core/spi';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { memoryAdapter } from './adapter.js';
import { asMemoryMessageId } from './message-id.js';
import { isPending, message, within } from './test-helpers.js';

type Op =
  | { readonly kind: 'append'; readonly count: number; readonly concurrent: boolean }
  | {
      readonly kind: 'read';
      readonly policy: 'all' | 'latest' | 'from' | 'after';
      readonly at: number;
      readonly readAhead: number;
    }
  | { readonly kind: 'truncate'; readonly at: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      count: fc.integer({ min: 1, max: 5 }),
      concurrent: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      policy: fc.constantFrom('all' as const, 'latest' as const, 'from' as const, 'after' as const),
      at: fc.nat(),
      readAhead: fc.integer({ min: 1, max: 4 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
);

interface Reader {
  readonly scanner: RawScanner;
  /** The offset the deliver policy names. */
  readonly start: number;
  /** The first retained offset when the reader started. */
  readonly firstAtStart: number;
}

const offsetOf = (m: ImmutableMessage) => asMemoryMessageId(m.id).offset;
const range = (from: number, to: number) =>
  Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

/** Everything `scanner` delivers until it has `lastOffset`, or, when nothing is required, until it idles. */
async function collect(scanner: RawScanner, lastOffset: number | undefined): Promise<ImmutableMessage[]> {
  const iterator = scanner[Symbol.asyncIterator]();
  const got: ImmutableMessage[] = [];
  for (;;) {
    const done = lastOffset !== undefined && got.length > 0 && offsetOf(got.at(-1)!) >= lastOffset;
    const next = iterator.next();
    if (done || lastOffset === undefined) {
      // Nothing more may arrive: every append already happened, and the fetch loop only needs microtasks.
      if (await isPending(next)) return got;
      if (done) throw new Error(`scanner ${scanner.name} delivered past the end`);
    }
    const result = await within(next, 2_000, `${scanner.name}: message after ${got.length}`);
    if (result.done) throw new Error(`scanner ${scanner.name} ended`);
    got.push(result.value);
  }
}

describe('ordering (property)', () => {
  it('any interleaving of appends, reads and truncates yields each reader exactly its suffix', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 30 }), async (ops) => {
        const opener = await memoryAdapter().build();
        try {
          const wal = await opener.open({ channel: pchannel('prop', 1n) });
          const written: MessageID[] = [];
          const readers: Reader[] = [];
          let first = 0;
          for (const op of ops) {
            if (op.kind === 'append') {
              const base = written.length;
              const batch = Array.from({ length: op.count }, (_, k) => message(base + k));
              const ids = op.concurrent
                ? await Promise.all(batch.map((m) => wal.append(m)))
                : await batch.reduce<Promise<MessageID[]>>(
                    async (acc, m) => [...(await acc), await wal.append(m)],
                    Promise.resolve([]),
                  );
              // Ids follow call order, one apart, whatever the concurrency.
              expect(ids.map((id) => asMemoryMessageId(id).offset)).toEqual(range(base, base + op.count));
              written.push(...ids);
            } else if (op.kind === 'truncate') {
              if (written.length === 0) continue;
              const at = op.at % written.length;
              await wal.truncate(written[at]!);
              first = Math.max(first, at);
            } else {
              const pick = written.length === 0 ? undefined : op.at % written.length;
              let policy = DeliverPolicy.all();
              let start = first;
              if (op.policy === 'latest') [policy, start] = [DeliverPolicy.latest(), written.length];
              if (op.policy === 'from' && pick !== undefined)
                [policy, start] = [DeliverPolicy.startFrom(written[pick]!), pick];
              if (op.policy === 'after' && pick !== undefined)
                [policy, start] = [DeliverPolicy.startAfter(written[pick]!), pick + 1];
              const scanner = await wal.read({
                name: `r${readers.length}`,
                deliverPolicy: policy,
                readAheadBufferSize: op.readAhead,
              });
              readers.push({ scanner, start, firstAtStart: first });
            }
          }

          const next = written.length;
          for (const reader of readers) {
            const required = range(Math.max(reader.start, first), next);
            const got = await collect(reader.scanner, required.length > 0 ? next - 1 : undefined);
            const offsets = got.map(offsetOf);
            // Strictly increasing, inside what was retained when the reader started, and nothing retained missing.
            for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBeGreaterThan(offsets[i - 1]!);
            for (const offset of offsets) {
              expect(offset).toBeGreaterThanOrEqual(Math.max(reader.start, reader.firstAtStart));
              expect(offset).toBeLessThan(next);
            }
            expect(offsets.filter((offset) => offset >= first)).toEqual(required);
            // Without a truncate in between, the reader sees exactly its suffix.
            if (first === reader.firstAtStart) expect(offsets).toEqual(required);
            for (const m of got) expect(m.properties.id).toBe(String(offsetOf(m)));
          }
        } finally {
          await opener.close();
        }
      }),
      { numRuns: 150 },
    );
  });
});
