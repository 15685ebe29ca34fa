import { Registry } from '@walstream/core';
import { describe, expect, it } from 'vitest';
import { registerSemantics, walSemantics } from './builders.js';

describe('builders', () => {
  it('walSemantics returns redo, lock, timeTick, shard in that order', () => {
    expect(walSemantics().map((builder) => builder.name)).toEqual(['redo', 'lock', 'timeTick', 'shard']);
  });

  it('registerSemantics registers the four builders by name, with their options', () => {
    const registry = registerSemantics(new Registry());
    expect(registry.names.interceptors).toEqual(['lock', 'redo', 'shard', 'timeTick']);
    expect(registry.interceptor('timeTick', { timeTick: { syncGapMs: 0 } }).name).toBe('timeTick');
    expect(() => registerSemantics(registry)).toThrow(
      expect.objectContaining({ code: 'ALREADY_REGISTERED' }),
    );
  });

  it('rejects bad options when the WAL is built, with INVALID_ARGUMENT', async () => {
    const { resolveOptions } = await import('./options.js');
    expect(() => resolveOptions({ timeTick: { syncGapMs: -1 } })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => resolveOptions({ txn: { defaultKeepaliveMs: 0 } })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(resolveOptions().syncGapMs).toBe(1);
  });
});
