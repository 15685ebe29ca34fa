import { describe, expect, it } from 'vitest';
import { MessageTypeRegistry } from '../message/message-type.js';
import { Registry } from '../registry/registry.js';
import type { WalImplsBuilder } from '../walimpls/spi.js';
import { createWal } from './create-wal.js';

const nullAdapter = (name: string): WalImplsBuilder => ({
  name,
  capabilities: { truncate: 'noop', fencing: false },
  build: async () => {
    throw new Error('not used');
  },
});

describe('Registry', () => {
  it('finds adapters, interceptors and policies by name and lists them sorted', () => {
    const registry = new Registry(new MessageTypeRegistry());
    registry.registerAdapter('b', () => nullAdapter('b')).registerAdapter('a', () => nullAdapter('a'));
    registry.registerInterceptor('noop', () => ({
      name: 'noop',
      build: () => ({ name: 'noop', doAppend: (m, c, next) => next(m, c) }),
    }));
    registry.registerPolicy({ name: 'keep', balance: () => new Map() });
    expect(registry.adapter('a').name).toBe('a');
    expect(registry.policy('keep').name).toBe('keep');
    expect(registry.names).toEqual({ adapters: ['a', 'b'], interceptors: ['noop'], policies: ['keep'] });
  });

  it('gives NOT_REGISTERED naming what is registered, and ALREADY_REGISTERED for duplicates', () => {
    const registry = new Registry(new MessageTypeRegistry());
    registry.registerAdapter('memory', () => nullAdapter('memory'));
    expect(() => registry.adapter('kafka')).toThrow(
      expect.objectContaining({ code: 'NOT_REGISTERED', message: expect.stringContaining('memory') }),
    );
    expect(() => registry.registerAdapter('memory', () => nullAdapter('memory'))).toThrow(
      expect.objectContaining({ code: 'ALREADY_REGISTERED' }),
    );
    expect(() => registry.interceptor('lock')).toThrow(expect.objectContaining({ code: 'NOT_REGISTERED' }));
  });

  it('message types: user types register once, system numbers and names are taken', () => {
    const types = new MessageTypeRegistry();
    types.register({ name: 'Insert', code: 2, flags: { data: true } });
    expect(types.require('Insert').code).toBe(2);
    expect(() => types.register({ name: 'Insert', code: 3, flags: {} })).toThrow(
      expect.objectContaining({ code: 'ALREADY_REGISTERED' }),
    );
    expect(() => types.register({ name: 'Mine', code: 1, flags: {} })).toThrow(
      expect.objectContaining({ code: 'ALREADY_REGISTERED' }),
    );
    expect(() => types.register({ name: 'Sys', code: 5000, flags: { system: true } })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('createWal', () => {
  it('requires an adapter and rejects an interceptor used twice', async () => {
    await expect(createWal().build()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const interceptor = {
      name: 'x',
      build: () => ({ name: 'x', doAppend: () => Promise.reject(new Error('unused')) }),
    };
    expect(() => createWal().use(interceptor, interceptor)).toThrow(
      expect.objectContaining({ code: 'ALREADY_REGISTERED' }),
    );
    expect(() => createWal({ registry: new Registry(new MessageTypeRegistry()) }).adapter('nope')).toThrow(
      expect.objectContaining({ code: 'NOT_REGISTERED' }),
    );
  });
});

describe('createWal: a built stack cannot change', () => {
  const passThrough = (name: string, outsideOf?: string[]) => ({
    name,
    outsideOf,
    build: () => ({
      name,
      doAppend: (m: never, c: never, next: (m: never, c: never) => Promise<never>) => next(m, c),
    }),
  });
  const store = (): WalImplsBuilder => ({
    name: 'store',
    capabilities: { truncate: 'noop', fencing: false },
    build: async () => ({
      open: () => Promise.reject(new Error('not used')),
      close: async () => {},
      [Symbol.asyncDispose]: async () => {},
    }),
  });

  it('use() and adapter() after build() reject INVALID_ARGUMENT; build() again still works', async () => {
    const builder = createWal().adapter(store()).use(passThrough('a'));
    const first = await builder.build();
    expect(() => builder.use(passThrough('b'))).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', retriable: false, details: { reason: 'frozen' } }),
    );
    expect(() => builder.adapter(store())).toThrow(
      expect.objectContaining({ details: { reason: 'frozen' } }),
    );
    const second = await builder.build();
    await Promise.all([first.close(), second.close()]);
  });

  it('refuses an interceptor placed outside one that must be outside it', async () => {
    const inner = passThrough('inner', ['outer']);
    await expect(createWal().adapter(store()).use(inner, passThrough('outer')).build()).rejects.toMatchObject(
      {
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining('"outer" must come before "inner"'),
      },
    );
    const opener = await createWal().adapter(store()).use(passThrough('outer'), inner).build();
    await opener.close();
    // Absent from the stack: nothing to check.
    await (await createWal().adapter(store()).use(inner).build()).close();
  });

  it('rejects unknown option keys, naming them', () => {
    expect(() => createWal({ catalogue: {} } as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { option: 'catalogue' } }),
    );
    expect(() => createWal({ runtime: { appendRetry: { initialMs: 0, maxMs: 5 } } })).toThrow(
      expect.objectContaining({ details: { option: 'runtime.appendRetry.initialMs' } }),
    );
    expect(() => createWal({ runtime: { retry: {} } as never })).toThrow(
      expect.objectContaining({ details: { option: 'runtime.retry' } }),
    );
  });

  it('types registry options by the registered name (the misspelt key is a tsc error)', () => {
    const registry = new Registry(new MessageTypeRegistry());
    const seen: unknown[] = [];
    registry.registerAdapter('typed-store', (options) => {
      seen.push(options.size satisfies number);
      return store();
    });
    createWal({ registry }).adapter('typed-store', { size: 3 });
    // @ts-expect-error: 'typed-store' declares { size: number }; 'sise' is not one of its keys
    createWal({ registry }).adapter('typed-store', { sise: 3 });
    expect(seen).toEqual([3, undefined]);
  });
});

declare module '@walstream/core' {
  interface RegisteredAdapters {
    'typed-store': { readonly size: number };
  }
}
