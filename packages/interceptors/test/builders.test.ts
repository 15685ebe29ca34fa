import { memoryAdapter } from '@walstream/adapter-memory';
import { createWal, Registry } from '@walstream/core';
import { lock, redo, registerSemantics, shard, timeTick, walSemantics } from '@walstream/interceptors';
import { describe, expect, it } from 'vitest';

describe('builders', () => {
  it('walSemantics returns redo, lock, timeTick, shard, each naming the interceptors that must sit outside it', () => {
    expect(walSemantics().map((builder) => [builder.name, builder.outsideOf ?? []])).toEqual([
      ['redo', []],
      ['lock', ['redo']],
      ['timeTick', ['redo', 'lock']],
      ['shard', ['redo', 'lock', 'timeTick']],
    ]);
  });

  it('createWal refuses a stack that puts a semantics interceptor inside one it must run outside', async () => {
    const options = {};
    for (const order of [
      [shard(options), timeTick(options)],
      [timeTick(options), lock(options)],
      [lock(options), redo(options)],
      [redo(options), shard(options), lock(options)],
    ]) {
      await expect(
        createWal()
          .adapter(memoryAdapter())
          .use(...order)
          .build(),
      ).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    }
    // Partial stacks in the right order are fine (the benchmark builds them).
    const opener = await createWal()
      .adapter(memoryAdapter())
      .use(lock(options), timeTick(options), shard(options))
      .build();
    await opener.close();
  });

  it('registerSemantics registers the four builders by name, taking SemanticsOptions', () => {
    const registry = registerSemantics(new Registry());
    expect(registry.names.interceptors).toEqual(['lock', 'redo', 'shard', 'timeTick']);
    expect(registry.interceptor('timeTick', { timeTick: { syncGapMs: 0 } }).name).toBe('timeTick');
    // Typed at compile time, and checked at run time for options that come from configuration.
    // @ts-expect-error: timetik is not a semantics option
    expect(() => registry.interceptor('timeTick', { timetik: {} })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { option: 'timetik' } }),
    );
    expect(() => registerSemantics(registry)).toThrow(
      expect.objectContaining({ code: 'ALREADY_REGISTERED' }),
    );
  });
});
