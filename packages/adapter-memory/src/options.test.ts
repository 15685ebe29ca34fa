import { WalError } from '@walstream/core';
import { describe, expect, it } from 'vitest';
import { type MemoryAdapterOptions, memoryAdapter } from './adapter.js';
import { ChannelFaults, type FaultConfig } from './faults.js';
import { MemoryLogStore, type MemoryLogStoreOptions } from './store.js';
import { throwsWith } from './test-helpers.js';

/** The INVALID_ARGUMENT `fn` throws, checked to name `option` in its text and in `details.option`. */
function rejectsOption(fn: () => unknown, option: string): WalError {
  const error = throwsWith(fn, 'INVALID_ARGUMENT');
  expect(error.retriable).toBe(false);
  expect(error.details.option).toBe(option);
  expect(error.message).toContain(option);
  return error;
}

describe('options are checked: unknown keys and bad values throw INVALID_ARGUMENT naming the option', () => {
  it('memoryAdapter rejects an unknown key (there is no `faults` option: faults are set on the store)', () => {
    const error = rejectsOption(
      () => memoryAdapter({ faults: { errorRat: 0.1 } } as unknown as MemoryAdapterOptions),
      'faults',
    );
    expect(error.message).toContain('memoryAdapter');
    // The text lists what is known, so a misspelling is easy to fix.
    expect(error.message).toContain('maxEntriesPerChannel');
    rejectsOption(
      () => memoryAdapter({ maxEntriesPerChanel: 3 } as unknown as MemoryAdapterOptions),
      'maxEntriesPerChanel',
    );
  });

  it('memoryAdapter names the option of a bad value, and a store that is not a MemoryLogStore', () => {
    expect(rejectsOption(() => memoryAdapter({ seed: 0.5 }), 'seed').message).toContain('memoryAdapter');
    rejectsOption(() => memoryAdapter({ maxBytesPerChannel: 0 }), 'maxBytesPerChannel');
    rejectsOption(() => memoryAdapter({ store: {} as MemoryLogStore }), 'store');
    rejectsOption(() => memoryAdapter({ store: new MemoryLogStore(), seed: 2 }), 'seed');
    const notAnObject = throwsWith(
      () => memoryAdapter('fast' as unknown as MemoryAdapterOptions),
      'INVALID_ARGUMENT',
    );
    expect(notAnObject.message).toContain('memoryAdapter: options must be an object');
  });

  it('new MemoryLogStore rejects an unknown key', () => {
    const error = rejectsOption(
      () => new MemoryLogStore({ sed: 3 } as unknown as MemoryLogStoreOptions),
      'sed',
    );
    expect(error.message).toContain('MemoryLogStore');
  });

  it('faults.set rejects an unknown fault naming it and the pchannel, and changes nothing', () => {
    const faults = new ChannelFaults('orders', 1);
    const error = rejectsOption(
      () => faults.set({ errorRat: 0.1, fenced: true } as unknown as FaultConfig),
      'errorRat',
    );
    expect(error.message).toContain('orders');
    expect(error.message).toContain('appendErrorRate');
    expect(faults.config.fenced).toBe(false);
    rejectsOption(() => faults.set({ appendErrorRate: 1.5 }), 'appendErrorRate');
    rejectsOption(() => faults.set({ fenced: 'yes' as unknown as boolean }), 'fenced');
    rejectsOption(() => new MemoryLogStore().faults('a').set({ readDelayMs: -1 }), 'readDelayMs');
  });

  it('Infinity is still a valid limit; the defaults stay', () => {
    const store = new MemoryLogStore({ maxEntriesPerChannel: Number.POSITIVE_INFINITY });
    expect(store.maxEntriesPerChannel).toBe(Number.POSITIVE_INFINITY);
    expect(store.seed).toBe(1);
    expect(WalError.is(memoryAdapter({ maxEntriesPerChannel: 5 }).store)).toBe(false);
    expect(memoryAdapter({ maxEntriesPerChannel: 5 }).store.maxEntriesPerChannel).toBe(5);
  });
});
