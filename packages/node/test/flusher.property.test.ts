import { MemoryLogStore, memoryAdapter } from '@walstream/adapter-memory';
import { createWal, MemoryCatalog, pchannel, type Wal, type WalOpener } from '@walstream/core';
import { type SemanticsCheckpoint, walSemantics } from '@walstream/interceptors';
import { createWalManager, type WalManager } from '@walstream/node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Appended, appendNotes, byVChannel, createVChannels, MemorySink } from './flusher-support.js';
import { until } from './wal-manager-support.js';

/** `NUM_RUNS=200` for a soak. */
const NUM_RUNS = process.env.NUM_RUNS ? Number(process.env.NUM_RUNS) : 40;
const P = 'fp';
const VCHANNELS = [`${P}_av0`, `${P}_bv0`, `${P}_cv0`];

type Command =
  | { kind: 'append'; count: number }
  | { kind: 'stall'; sink: number }
  | { kind: 'release'; sink: number }
  /** Close the node (a stalled sink is given up after closeTimeoutMs) and start the next term. */
  | { kind: 'restart' }
  /** Let the flusher, the saves and the truncation run a few event-loop turns. */
  | { kind: 'turns'; count: number }
  /** Wait until the catalog holds a checkpoint saved after the last append. */
  | { kind: 'saved' };

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('append' as const), count: fc.integer({ min: 1, max: 8 }) }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('stall' as const), sink: fc.nat(1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), sink: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('turns' as const), count: fc.integer({ min: 1, max: 30 }) }),
  },
  { weight: 4, arbitrary: fc.constant({ kind: 'saved' as const }) },
);

/** `divergentChecks`: checks made while the WAL was truncated and the two sinks held different messages. */
const coverage = { divergentChecks: 0, restartsWithStalledSink: 0, truncations: 0 };

describe('flusher (property)', () => {
  it('never truncates what a sink lacks, and every sink ends with every message once, in order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 24 }), async (commands) => {
        const store = new MemoryLogStore();
        const catalog = new MemoryCatalog();
        const sinks = [new MemorySink('one'), new MemorySink('two')];
        const appended: Appended[] = [];
        let term = 0n;
        let node: { opener: WalOpener; manager: WalManager; wal: Wal } | undefined;
        const start = async () => {
          term++;
          const opener = await createWal({ catalog, runtime: { appendRetry: { initialMs: 1, maxMs: 5 } } })
            .adapter(memoryAdapter({ store }))
            .use(...walSemantics({ recovery: { persistIntervalMs: 2 }, timeTick: { syncGapMs: 1 } }))
            .build();
          const manager = createWalManager({
            opener,
            catalog,
            flusher: { sinks, syncIntervalMs: 1, closeTimeoutMs: 20, maxPendingMessages: 8 },
          });
          manager.assign(pchannel(P, term));
          node = { opener, manager, wal: await manager.get(P, term) };
        };
        const stop = async () => {
          await node?.manager.close();
          await node?.opener.close();
          node = undefined;
        };
        const firstId = () => store.messages(P)[0]?.id.marshal();
        /** Every appended message the store dropped is durable in every sink. */
        const checkTruncation = () => {
          const kept = new Set(store.messages(P).map((message) => message.timeTick));
          for (const entry of appended) {
            if (kept.has(entry.timeTick)) continue;
            for (const sink of sinks)
              expect(sink.has(entry), `${sink.name} lacks a dropped message`).toBe(true);
          }
          const truncated = firstId() !== '0';
          if (truncated && appended.some((entry) => sinks[0]!.has(entry) !== sinks[1]!.has(entry))) {
            coverage.divergentChecks++;
          }
        };
        try {
          await start();
          appended.push(...(await createVChannels(node!.wal, VCHANNELS)));
          for (const step of commands) {
            const before = firstId();
            if (step.kind === 'append') {
              appended.push(...(await appendNotes(node!.wal, VCHANNELS, step.count, appended.length)));
            } else if (step.kind === 'stall') {
              sinks[step.sink]!.stall();
            } else if (step.kind === 'release') {
              sinks[step.sink]!.release();
            } else if (step.kind === 'restart') {
              if (sinks.some((sink) => sink.stalled)) coverage.restartsWithStalledSink++;
              await stop();
              // A sink given up at close comes back with the next term (a restarted process).
              for (const sink of sinks) sink.release();
              await start();
            } else if (step.kind === 'saved') {
              const last = appended.at(-1)!.timeTick;
              const record = async () => (await catalog.getCheckpoint(P)) as SemanticsCheckpoint | undefined;
              const flushedTimeTick = (saved: SemanticsCheckpoint | undefined) =>
                saved?.flushed ? BigInt((JSON.parse(saved.flushed) as { timeTick: string }).timeTick) : -1n;
              // Past the last append: the checkpoint, and while no sink is stalled the flushed position too.
              const healthy = sinks.every((sink) => !sink.stalled);
              await until(async () => {
                const saved = await record();
                return (saved?.timeTick ?? -1n) > last && (!healthy || flushedTimeTick(saved) >= last);
              }, 'a checkpoint saved past the last append');
              // And one more save, which the flusher answers with a truncation when it may.
              const seen = (await catalog.getCheckpoint(P))!.timeTick;
              await until(
                async () => (await catalog.getCheckpoint(P))!.timeTick > seen,
                'the next checkpoint save',
              );
              for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
            } else {
              for (let i = 0; i < step.count; i++) await new Promise((resolve) => setImmediate(resolve));
            }
            checkTruncation();
            if (firstId() !== before) coverage.truncations++;
          }
          for (const sink of sinks) sink.release();
          await stop();
          await start();
          await until(
            () => sinks.every((sink) => appended.every((entry) => sink.has(entry))),
            'every sink to hold every message',
          );
          checkTruncation();
          const expected = byVChannel(appended);
          for (const sink of sinks) {
            for (const vchannel of VCHANNELS)
              expect(sink.timeTicks(vchannel)).toEqual(expected.get(vchannel));
          }
        } finally {
          for (const sink of sinks) sink.release();
          await stop();
        }
      }),
      {
        numRuns: NUM_RUNS,
        // Run first, so each coverage check below has at least one case to count however the random runs
        // fall: a truncation with both sinks healthy, one while a stalled sink lags the other, and a
        // restart with that sink still stalled (40 random runs missed the last in one CI run).
        examples: [
          [
            [
              { kind: 'append', count: 8 },
              { kind: 'saved' },
              { kind: 'stall', sink: 1 },
              { kind: 'append', count: 8 },
              { kind: 'saved' },
              { kind: 'restart' },
              { kind: 'append', count: 4 },
              { kind: 'saved' },
            ],
          ],
        ],
      },
    );
    expect(coverage.truncations).toBeGreaterThan(0);
    expect(coverage.divergentChecks).toBeGreaterThan(0);
    expect(coverage.restartsWithStalledSink).toBeGreaterThan(0);
  }, 180_000);
});
