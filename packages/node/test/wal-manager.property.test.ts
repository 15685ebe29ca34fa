import { pchannel, WalError } from '@walstream/core';
import { createWalManager, type WalLifetimeEvent, type WalLifetimeState } from '@walstream/node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { memoryStack, until } from './wal-manager-support.js';

/** `NUM_RUNS=300` for a soak. */
const NUM_RUNS = process.env.NUM_RUNS ? Number(process.env.NUM_RUNS) : 40;
const CHANNELS = ['p0', 'p1'] as const;

type Command =
  | { kind: 'assign'; channel: number; offset: number; failing: boolean }
  | { kind: 'remove'; channel: number; offset: number; wait: boolean }
  /** Lets the background work run a few event-loop turns (interleaving, not correctness). */
  | { kind: 'turns'; count: number }
  /** Waits until every pchannel reached what its last request implies. */
  | { kind: 'settle' };

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('assign' as const),
      channel: fc.nat(1),
      offset: fc.integer({ min: -1, max: 2 }),
      failing: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('remove' as const),
      channel: fc.nat(1),
      offset: fc.integer({ min: -1, max: 1 }),
      wait: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('turns' as const), count: fc.integer({ min: 1, max: 20 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'settle' as const }) },
);

interface Model {
  term: bigint | undefined;
  wanted: boolean;
  failing: boolean;
}

/** What the last accepted request implies once the worker is done. */
function finalState(model: Model): WalLifetimeState {
  if (!model.wanted) return 'closed';
  return model.failing ? 'failed' : 'ready';
}

const coverage = {
  abandoned: 0,
  failedOpens: 0,
  unmatched: 0,
  ignored: 0,
  replaced: 0,
  removedWhileOpening: 0,
};

describe('WalManager lifetime (property)', () => {
  it('never holds two WALs of a pchannel, never goes back in term, and ends where the last request says', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 14 }), async (commands) => {
        const stack = await memoryStack();
        const manager = createWalManager({ opener: stack.opener, catalog: stack.catalog });
        const events: WalLifetimeEvent[] = [];
        manager.state$.subscribe((event) => events.push(event));
        const models = CHANNELS.map((): Model => ({ term: undefined, wanted: false, failing: false }));
        const removals: Promise<void>[] = [];
        const settled = () =>
          CHANNELS.every((name, index) => {
            const model = models[index]!;
            if (model.term === undefined) return true;
            const status = manager.status().find((entry) => entry.channel.name === name);
            return status?.channel.term === model.term && status.state === finalState(model);
          });
        try {
          for (const step of commands) {
            if (step.kind === 'turns') {
              for (let i = 0; i < step.count; i++) await new Promise((resolve) => setImmediate(resolve));
              continue;
            }
            if (step.kind === 'settle') {
              await Promise.all(removals);
              await until(
                settled,
                `the lifetimes to settle: ${JSON.stringify(manager.status().map((s) => [s.channel.name, String(s.channel.term), s.state]))} vs ${JSON.stringify(models, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`,
                5000,
              );
              continue;
            }
            const name = CHANNELS[step.channel]!;
            const model = models[step.channel]!;
            const base = model.term ?? 1n;
            const term = base + BigInt(step.offset) < 0n ? 0n : base + BigInt(step.offset);
            if (step.kind === 'assign') {
              const expected =
                model.term === undefined || term > model.term
                  ? undefined
                  : term < model.term
                    ? 'UNMATCHED_CHANNEL_TERM'
                    : 'IGNORED_OPERATION';
              if (expected === undefined) {
                stack.adapter.store.faults(name).set({ fenced: step.failing });
                const status = manager.status().find((entry) => entry.channel.name === name);
                if (status && status.state === 'recovering') coverage.replaced++;
              }
              let code: string | undefined;
              try {
                manager.assign(pchannel(name, term));
              } catch (error) {
                code = WalError.is(error) ? error.code : String(error);
              }
              expect(code).toBe(expected);
              if (expected === 'UNMATCHED_CHANNEL_TERM') coverage.unmatched++;
              if (expected === 'IGNORED_OPERATION') coverage.ignored++;
              if (expected === undefined) Object.assign(model, { term, wanted: true, failing: step.failing });
            } else {
              const accepted = model.term !== undefined && term === model.term;
              const status = manager.status().find((entry) => entry.channel.name === name);
              if (accepted && model.wanted && status?.state === 'recovering') coverage.removedWhileOpening++;
              const removal = manager.remove(pchannel(name, term)).then(
                () => expect(accepted).toBe(true),
                (error: unknown) => {
                  expect(accepted).toBe(false);
                  expect(WalError.is(error) && error.code).toBe('IGNORED_OPERATION');
                },
              );
              if (accepted) model.wanted = false;
              if (step.wait) await removal;
              else removals.push(removal);
            }
          }
          await Promise.all(removals);
          await until(
            settled,
            `the lifetimes to settle: ${JSON.stringify(manager.status().map((s) => [s.channel.name, String(s.channel.term), s.state]))} vs ${JSON.stringify(models, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`,
            5000,
          );

          expect(stack.opener.overlaps).toEqual([]);
          CHANNELS.forEach((name, index) => {
            const model = models[index]!;
            const terms = stack.opener.opens
              .filter((channel) => channel.name === name)
              .map((channel) => channel.term);
            // Opens go strictly up in term, and so do the lifetime steps.
            for (let i = 1; i < terms.length; i++) expect(terms[i]).toBeGreaterThan(terms[i - 1]!);
            const seen = events.filter((event) => event.pchannel === name);
            for (let i = 1; i < seen.length; i++)
              expect(seen[i]!.term).toBeGreaterThanOrEqual(seen[i - 1]!.term);
            const open = stack.opener.openWals(name);
            if (model.term !== undefined && finalState(model) === 'ready') {
              expect(open.map((wal) => wal.channel.term)).toEqual([model.term]);
            } else {
              expect(open).toEqual([]);
            }
            // Coverage: opens abandoned before they were ready, opens that failed.
            const byTerm = new Map<bigint, WalLifetimeState[]>();
            for (const event of seen)
              byTerm.set(event.term, [...(byTerm.get(event.term) ?? []), event.state]);
            for (const states of byTerm.values()) {
              if (states[0] === 'recovering' && !states.includes('ready') && states.includes('closed'))
                coverage.abandoned++;
              if (states.includes('failed')) coverage.failedOpens++;
            }
          });
        } finally {
          await manager.close();
          await stack.opener.close();
        }
        expect(stack.opener.overlaps).toEqual([]);
      }),
      { numRuns: NUM_RUNS },
    );
    // The runs exercised what makes the state machine hard, not only the easy path.
    expect(coverage.abandoned).toBeGreaterThan(0);
    expect(coverage.failedOpens).toBeGreaterThan(0);
    expect(coverage.unmatched).toBeGreaterThan(0);
    expect(coverage.ignored).toBeGreaterThan(0);
    expect(coverage.replaced).toBeGreaterThan(0);
    expect(coverage.removedWhileOpening).toBeGreaterThan(0);
  });
});
