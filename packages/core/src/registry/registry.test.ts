import { describe, expect, it } from 'vitest';
import { MessageTypeRegistry } from '../message/message-type.js';
import type { WalImplsBuilder } from '../walimpls/spi.js';
import { createWal } from './builder.js';
import { Registry } from './registry.js';

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
