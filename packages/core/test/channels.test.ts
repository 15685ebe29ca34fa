import { type PChannelInfo, pchannel, pchannelOfVChannel, vchannelName, WalError } from '@walstream/core';
import { assertPChannelInfo } from '@walstream/core/spi';
import { describe, expect, it } from 'vitest';

function invalid(fn: () => unknown): WalError {
  try {
    fn();
  } catch (error) {
    expect(WalError.is(error), String(error)).toBe(true);
    expect((error as WalError).code).toBe('INVALID_ARGUMENT');
    return error as WalError;
  }
  throw new Error('expected INVALID_ARGUMENT');
}

describe('pchannel info', () => {
  it('takes a non-empty name, a term ≥ 0 (0 included) and rw or ro', () => {
    expect(pchannel('p')).toEqual({ name: 'p', term: 0n, accessMode: 'rw' });
    expect(pchannel('p', 0n, 'ro')).toEqual({ name: 'p', term: 0n, accessMode: 'ro' });
    expect(pchannel('p', 7)).toEqual({ name: 'p', term: 7n, accessMode: 'rw' });
  });

  it('refuses an empty name, a negative term and another access mode', () => {
    expect(invalid(() => pchannel('')).message).toContain('non-empty');
    expect(invalid(() => pchannel('p', -1n)).message).toContain('term must be a bigint ≥ 0');
    expect(invalid(() => pchannel('p', 1n, 'wr' as never)).message).toContain('"rw" or "ro"');
  });

  it('assertPChannelInfo refuses what did not come from pchannel(): a non-string name, a number term', () => {
    const bad = (info: Partial<Record<keyof PChannelInfo, unknown>>) =>
      invalid(() => assertPChannelInfo({ name: 'p', term: 1n, accessMode: 'rw', ...info } as PChannelInfo));
    bad({ name: 5 });
    expect(bad({ term: 1 }).message).toContain('got 1');
    bad({ term: -2n });
    bad({ accessMode: undefined });
    expect(() => assertPChannelInfo({ name: 'p', term: 0n, accessMode: 'ro' })).not.toThrow();
  });
});

describe('vchannel names', () => {
  it('vchannelName composes <pchannel>_<name>v<index>', () => {
    expect(vchannelName('by-dev-rootcoord-dml_0', 'c42')).toBe('by-dev-rootcoord-dml_0_c42v0');
    expect(vchannelName('p', 42n, 3)).toBe('p_42v3');
  });

  it('pchannelOfVChannel is everything before the last "_"', () => {
    expect(pchannelOfVChannel('by-dev-rootcoord-dml_0_c42v0')).toBe('by-dev-rootcoord-dml_0');
    expect(pchannelOfVChannel('p_42v3')).toBe('p');
    expect(pchannelOfVChannel(vchannelName('a_b', 'x', 1))).toBe('a_b');
  });

  it('a name without a "_" after its first character is not a vchannel', () => {
    for (const bad of ['plain', '_v0', '']) {
      expect(invalid(() => pchannelOfVChannel(bad)).message).toContain('is not a vchannel name');
    }
  });
});
