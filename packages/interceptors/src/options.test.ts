import { describe, expect, it } from 'vitest';
import { redo, walSemantics } from './builders.js';
import { resolveOptions, type SemanticsOptions } from './options.js';

/** Options as they may come from configuration: any shape. */
const given = (options: unknown): SemanticsOptions => options as SemanticsOptions;

describe('semantics options', () => {
  it.each([
    [{ timetik: {} }, 'timetik'],
    [{ onError: () => undefined }, 'onError'],
    [{ timeTick: { syncGap: 1 } }, 'timeTick.syncGap'],
    [{ wab: { capacity: 1 } }, 'wab.capacity'],
    [{ txn: { keepaliveMs: 1 } }, 'txn.keepaliveMs'],
    [{ redo: { attempts: 1 } }, 'redo.attempts'],
    [{ shard: { requireVchannel: false } }, 'shard.requireVchannel'],
    [{ shard: { segment: { maxRow: 1 } } }, 'shard.segment.maxRow'],
    [{ shard: { workerRetry: { initial: 1 } } }, 'shard.workerRetry.initial'],
    [{ recovery: { persistEveryMs: 1 } }, 'recovery.persistEveryMs'],
  ])('walSemantics(%j) is refused at once, naming the unknown key %s', (options, key) => {
    expect(() => walSemantics(given(options))).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        retriable: false,
        details: { option: key },
        message: expect.stringContaining(`unknown option ${key}`),
      }),
    );
  });

  it.each([
    [{ timeTick: { syncGapMs: -1 } }, 'timeTick.syncGapMs'],
    [{ timeTick: { maxPendingAcks: 0.5 } }, 'timeTick.maxPendingAcks'],
    [{ timeTick: 5 }, 'timeTick'],
    [{ wab: { capacityBytes: 0 } }, 'wab.capacityBytes'],
    [{ wab: { keepaliveMs: '1s' } }, 'wab.keepaliveMs'],
    [{ txn: { defaultKeepaliveMs: 0 } }, 'txn.defaultKeepaliveMs'],
    [{ redo: { maxAttempts: Number.NaN } }, 'redo.maxAttempts'],
    [{ shard: { requireVChannel: 'no' } }, 'shard.requireVChannel'],
    [{ shard: { segment: { maxAgeMs: -5 } } }, 'shard.segment.maxAgeMs'],
    [{ shard: { workerRetry: { initialMs: 100, maxMs: 10 } } }, 'shard.workerRetry.maxMs'],
    [{ recovery: { replayReadAhead: 0 } }, 'recovery.replayReadAhead'],
    [{ now: 1_700_000_000_000 }, 'now'],
  ])('walSemantics(%j) is refused at once, naming %s', (options, name) => {
    expect(() => walSemantics(given(options))).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        details: { option: name },
        message: expect.stringContaining(name),
      }),
    );
  });

  it('errors name the function the options were given to', () => {
    expect(() => redo(given({ redo: { maxAttempts: 0 } }))).toThrow(/^redo: option redo.maxAttempts/);
    expect(() => walSemantics(given({ nope: 1 }))).toThrow(/^walSemantics: unknown option nope/);
  });

  it('fills the defaults of the docs', () => {
    const resolved = resolveOptions(undefined, 'test');
    expect(resolved).toMatchObject({
      syncGapMs: 1,
      maxPendingAcks: 256,
      idleTickIntervalMs: 100,
      closeTimeoutMs: 3_000,
      wab: { capacityBytes: 64 * 1024 * 1024, keepaliveMs: 30_000 },
      defaultKeepaliveMs: 10_000,
      maxRedoAttempts: 1_000,
      requireVChannel: true,
      segment: { maxRows: 1_000_000, maxBytes: 128 * 1024 * 1024, maxAgeMs: 600_000, checkIntervalMs: 1_000 },
      workerRetry: { initialMs: 10, maxMs: 1_000 },
      persistIntervalMs: 10_000,
      maxDirtyMessages: 100,
      replayReadAhead: 128,
    });
    expect(resolveOptions({ shard: { workerRetry: { initialMs: 2_000 } } }, 'test').workerRetry).toEqual({
      initialMs: 2_000,
      maxMs: 2_000,
    });
  });
});
