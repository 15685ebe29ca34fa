import { type LocalAdapterOptions, LocalMessageId, localAdapter } from '@walstream/adapter-local';
import { unmarshalMessageId, type WalError } from '@walstream/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { throwsWith } from './helpers.js';

/** The INVALID_ARGUMENT `fn` throws, checked to name `option` in its text and in `details.option`. */
function rejectsOption(fn: () => unknown, option: string): WalError {
  const error = throwsWith(fn, 'INVALID_ARGUMENT');
  expect(error.retriable).toBe(false);
  expect(error.details.option).toBe(option);
  expect(error.message).toContain(option);
  expect(error.message).toContain('localAdapter');
  return error;
}

const directory = '/tmp/walstream-local-options-never-created';

describe('localAdapter options: unknown keys and bad values throw INVALID_ARGUMENT naming the option', () => {
  it('rejects an unknown key and lists the known ones', () => {
    const error = rejectsOption(
      () => localAdapter({ directory, durabilty: 'none' } as unknown as LocalAdapterOptions),
      'durabilty',
    );
    expect(error.message).toContain('durability');
  });

  it('needs a directory', () => {
    rejectsOption(() => localAdapter({} as LocalAdapterOptions), 'directory');
    rejectsOption(() => localAdapter({ directory: '' }), 'directory');
    rejectsOption(() => localAdapter({ directory: 7 } as unknown as LocalAdapterOptions), 'directory');
    expect(
      throwsWith(() => localAdapter(undefined as unknown as LocalAdapterOptions), 'INVALID_ARGUMENT').message,
    ).toContain('directory');
  });

  it('names the option of a bad value', () => {
    rejectsOption(() => localAdapter({ directory, durability: 'sometimes' as 'none' }), 'durability');
    rejectsOption(() => localAdapter({ directory, segmentBytes: 100 }), 'segmentBytes');
    rejectsOption(() => localAdapter({ directory, segmentBytes: 1.5 * 1024 * 1024 * 1024 }), 'segmentBytes');
    rejectsOption(
      () => localAdapter({ directory, segmentBytes: 4096, indexIntervalBytes: 8192 }),
      'indexIntervalBytes',
    );
    rejectsOption(() => localAdapter({ directory, maxRecordBytes: 10 }), 'maxRecordBytes');
    rejectsOption(() => localAdapter({ directory, maxBatchBytes: Number.NaN }), 'maxBatchBytes');
    rejectsOption(
      () => localAdapter({ directory, durability: 'interval', syncIntervalMs: 0 }),
      'syncIntervalMs',
    );
  });

  it('refuses syncIntervalMs unless durability is interval', () => {
    const error = rejectsOption(() => localAdapter({ directory, syncIntervalMs: 50 }), 'syncIntervalMs');
    expect(error.message).toContain('"fsync"');
    expect(
      localAdapter({ directory, durability: 'interval', syncIntervalMs: 50 }).options.syncIntervalMs,
    ).toBe(50);
  });

  it('fills in the defaults', () => {
    expect(localAdapter({ directory }).options).toEqual({
      directory,
      durability: 'fsync',
      syncIntervalMs: 100,
      segmentBytes: 64 * 1024 * 1024,
      indexIntervalBytes: 4096,
      maxRecordBytes: 16 * 1024 * 1024,
      maxBatchBytes: 256 * 1024,
    });
    expect(localAdapter({ directory, segmentBytes: 2048 }).options.indexIntervalBytes).toBe(2048);
  });
});

describe('local MessageIDs', () => {
  it('marshal to the decimal offset, unmarshal through the registry and compare like their offsets', () => {
    fc.assert(
      fc.property(fc.nat(Number.MAX_SAFE_INTEGER), fc.nat(Number.MAX_SAFE_INTEGER), (a, b) => {
        const id = new LocalMessageId(a);
        const back = unmarshalMessageId('local', id.marshal());
        expect(back.marshal()).toBe(String(a));
        expect(Math.sign(back.compare(new LocalMessageId(b)))).toBe(Math.sign(a - b));
      }),
    );
    expect(new LocalMessageId(42).toString()).toBe('local:42');
  });

  it('refuses text that is not an offset, and ids of other adapters', () => {
    for (const text of ['', '-1', '01', '1.5', ' 1', '9007199254740993', 'x']) {
      throwsWith(() => LocalMessageId.unmarshal(text), 'INVALID_MESSAGE_ID');
    }
    const foreign = { walName: 'memory', offset: 1, compare: () => 0, marshal: () => '1' };
    throwsWith(() => new LocalMessageId(1).compare(foreign), 'INVALID_MESSAGE_ID');
  });
});
