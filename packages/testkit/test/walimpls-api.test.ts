import { type MemoryAdapter, MemoryLogStore, memoryAdapter } from '@walstream/adapter-memory';
import { hasCode } from '@walstream/core';
import { describe, expect, expectTypeOf, test } from 'vitest';
import {
  basics,
  fencing,
  type RunnerTestContext,
  registerWalImplsConformance,
  runWalImplsConformance,
  type TestRegistrar,
  type WalImplsCaseDefinition,
  walimplsCaseDefinitions,
  walimplsConformanceCases,
} from '../src/index.js';
import { faultyMemoryAdapter, leaksAbortListenersAdapter } from './support/broken-adapters.js';

/** A registrar that records what it is given instead of running it. */
function recordingRegistrar() {
  const path: string[] = [];
  const tests: {
    path: string;
    fn: (context: RunnerTestContext) => Promise<void>;
    timeout: number | undefined;
  }[] = [];
  const registrar: TestRegistrar = {
    describe(name, fn) {
      path.push(name);
      fn();
      path.pop();
    },
    test(name, fn, timeout) {
      tests.push({ path: [...path, name].join(' > '), fn, timeout });
    },
  };
  return { registrar, tests };
}

describe('registerWalImplsConformance', () => {
  test('registers one test per case under one describe per group, with a timeout above the case budget', () => {
    const { registrar, tests } = recordingRegistrar();
    registerWalImplsConformance(registrar, { builder: () => memoryAdapter(), timeoutMs: 1_000 });
    expect(tests).toHaveLength(walimplsCaseDefinitions.length);
    expect(tests[0]!.path).toBe(`walimpls conformance > basics > ${basics[0]!.name}`);
    expect(tests.at(-1)!.path).toBe(`walimpls conformance > fencing > ${fencing.at(-1)!.name}`);
    for (const t of tests) expect(t.timeout).toBeGreaterThan(1_000);
  });

  test('a turned-off group or skipped name calls the runner skip and does not build an adapter', async () => {
    const { registrar, tests } = recordingRegistrar();
    let built = 0;
    registerWalImplsConformance(registrar, {
      builder: () => {
        built++;
        return memoryAdapter();
      },
      groups: { readWrite: false },
      skip: [basics[0]!.name],
      suiteName: 'memory',
    });
    const skips: (string | undefined)[] = [];
    const context: RunnerTestContext = { skip: (note) => void skips.push(note) };
    await tests.find((t) => t.path.startsWith('memory > readWrite >'))!.fn(context);
    await tests.find((t) => t.path === `memory > basics > ${basics[0]!.name}`)!.fn(context);
    expect(skips).toEqual(['group readWrite is turned off', 'skipped by name']);
    expect(built).toBe(0);
    await tests.find((t) => t.path === `memory > basics > ${basics[1]!.name}`)!.fn(context);
    expect(built).toBe(1);
    expect(skips).toHaveLength(2);
  });

  test('a capability the adapter lacks skips at run time through the runner', async () => {
    const skips: (string | undefined)[] = [];
    const cases = walimplsConformanceCases({
      builder: () => memoryAdapter(),
      capabilities: { fencing: false },
      cases: fencing,
    });
    const statuses: string[] = [];
    for (const c of cases) statuses.push(await c.run({ skip: (note) => void skips.push(note) }));
    // The last fencing case is for adapters without fencing: it runs (and the memory adapter, whose stale
    // appends are rejected and do not land, passes it).
    expect(statuses).toEqual(['skipped', 'skipped', 'skipped', 'passed']);
    expect(skips).toEqual(fencing.slice(0, 3).map(() => 'the adapter does not declare capabilities.fencing'));
  });

  test('a case of your own may name its own group: registered after the built-in ones, turned off by name', async () => {
    const { registrar, tests } = recordingRegistrar();
    const mine: WalImplsCaseDefinition = { group: 'my store', name: 'my case', run: async () => {} };
    let built = 0;
    registerWalImplsConformance(registrar, {
      builder: () => {
        built++;
        return memoryAdapter();
      },
      cases: [mine, basics[0]!],
      groups: { 'my store': false },
    });
    expect(tests.map((t) => t.path)).toEqual([
      `walimpls conformance > basics > ${basics[0]!.name}`,
      'walimpls conformance > my store > my case',
    ]);
    const skips: (string | undefined)[] = [];
    await tests[1]!.fn({ skip: (note) => void skips.push(note) });
    expect(skips).toEqual(['group my store is turned off']);
    expect(built).toBe(0);
    const [bound] = walimplsConformanceCases({ builder: () => memoryAdapter(), cases: [mine] });
    expect(bound!.group).toBe('my store');
    expect(await bound!.run()).toBe('passed');
  });

  test('t.builder and t.newBuilder() have the type of the factory, and newBuilder calls it again', async () => {
    const store = new MemoryLogStore();
    let calls = 0;
    const seen: { builder: MemoryAdapter; fresh: MemoryAdapter }[] = [];
    const mine: WalImplsCaseDefinition<MemoryAdapter> = {
      group: 'my store',
      name: 'looks inside the store',
      async run(t) {
        expectTypeOf(t.builder).toEqualTypeOf<MemoryAdapter>();
        const wal = await t.open(t.channelName('mine'), 1);
        const fresh = await t.newBuilder();
        expectTypeOf(fresh).toEqualTypeOf<MemoryAdapter>();
        // Your own state, without a cast: the store of the builder the case got.
        if (!t.builder.store.channels().includes(wal.channel.name)) throw new Error('not in the store');
        seen.push({ builder: t.builder, fresh });
      },
    };
    const report = await runWalImplsConformance({
      builder: () => {
        calls++;
        return memoryAdapter({ store });
      },
      cases: [mine],
    });
    expect(report.failed).toBe(0);
    expect(calls).toBe(2);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.fresh).not.toBe(seen[0]!.builder);
    expect(seen[0]!.fresh.store).toBe(store);
  });

  test('rejects unknown groups, unknown case names and bad numbers', () => {
    const builder = () => memoryAdapter();
    const invalid = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return hasCode(error, 'INVALID_ARGUMENT') ? error.message : `wrong error: ${String(error)}`;
      }
      return 'no error';
    };
    expect(invalid(() => walimplsConformanceCases({ builder, skip: ['no such case'] }))).toMatch(
      /no case is named/,
    );
    expect(invalid(() => walimplsConformanceCases({ builder, groups: { nope: false } as never }))).toMatch(
      /unknown group/,
    );
    expect(invalid(() => walimplsConformanceCases({ builder, messageCount: 0 }))).toMatch(/messageCount/);
    expect(invalid(() => walimplsConformanceCases({ builder: undefined as never }))).toMatch(/builder/);
    const nameless = { group: '', name: 'x', run: async () => {} };
    expect(invalid(() => walimplsConformanceCases({ builder, cases: [nameless] }))).toMatch(
      /every case needs a non-empty group/,
    );
  });
});

describe('running cases', () => {
  test('appends rejected UNAVAILABLE are retried; with retries off the case fails naming the code', async () => {
    const builder = () => faultyMemoryAdapter({ appendErrorRate: 0.5 });
    const retried = await runWalImplsConformance({ builder, cases: basics });
    expect(retried.failed).toBe(0);
    const strict = await runWalImplsConformance({ builder, cases: basics, appendRetries: 0 });
    const failure = strict.results.find((r) => r.status === 'failed');
    expect(failure?.error).toBeInstanceOf(Error);
    expect((failure!.error as Error).message).toMatch(
      /append to wsconf_\w+@\d+ failed: UNAVAILABLE \(retriable\)/,
    );
  });

  test('an abort listener left behind by the adapter fails the case', async () => {
    const report = await runWalImplsConformance({
      builder: leaksAbortListenersAdapter,
      cases: basics.slice(2, 3),
    });
    expect(report.failed).toBe(1);
    expect(String(report.results[0]!.error)).toMatch(/abort listener\(s\) are still attached/);
  });

  test('afterCase runs with the case builder and its throw fails the case', async () => {
    const seen: string[] = [];
    const report = await runWalImplsConformance({
      builder: () => memoryAdapter(),
      cases: basics.slice(0, 2),
      afterCase(adapter) {
        seen.push(...adapter.store.channels());
        throw new Error('left something behind');
      },
    });
    expect(report.failed).toBe(2);
    expect(String(report.results[0]!.error)).toMatch(/left something behind/);
    expect(seen.length).toBeGreaterThanOrEqual(2);
  });
});
