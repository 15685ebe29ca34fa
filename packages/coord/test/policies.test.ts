import { hasCode } from '@walstream/core';
import { describe, expect, test } from 'vitest';
import { PolicyRegistry, pchannelCountPolicy, vchannelFairPolicy } from '../src/index.js';

const nodes = (...ids: string[]) => ids.map((nodeId) => ({ nodeId, schedulable: true }));

describe('vchannelFair', () => {
  test('places 10 unassigned pchannels on 3 nodes with 3 or 4 each', () => {
    const pchannels = Array.from({ length: 10 }, (_, i) => ({ name: `p${i}`, term: 0n, vchannelCount: 2 }));
    const result = vchannelFairPolicy().balance({ nodes: nodes('1', '2', '3'), pchannels });
    const counts = ['1', '2', '3'].map((id) => [...result.values()].filter((n) => n === id).length);
    expect(counts.sort()).toEqual([3, 3, 4]);
  });

  test('with allowRebalance false it places unassigned pchannels and moves no placed one', () => {
    const pchannels = [
      ...Array.from({ length: 6 }, (_, i) => ({ name: `p${i}`, term: 1n, nodeId: '1', vchannelCount: 1 })),
      { name: 'q', term: 0n, vchannelCount: 1 },
    ];
    const result = vchannelFairPolicy({ allowRebalance: false }).balance({
      nodes: nodes('1', '2'),
      pchannels,
    });
    expect([...result].filter(([, n]) => n === '1').map(([p]) => p)).toEqual([
      'p0',
      'p1',
      'p2',
      'p3',
      'p4',
      'p5',
    ]);
    expect(result.get('q')).toBe('2');
  });

  test('puts the shards of one collection on different nodes when counts are otherwise equal', () => {
    const pchannels = [
      { name: 'a', term: 0n, vchannelCount: 1, collections: ['c1'] },
      { name: 'b', term: 0n, vchannelCount: 1, collections: ['c1'] },
      { name: 'c', term: 0n, vchannelCount: 1, collections: ['c2'] },
      { name: 'd', term: 0n, vchannelCount: 1, collections: ['c2'] },
    ];
    const result = vchannelFairPolicy().balance({ nodes: nodes('1', '2'), pchannels });
    expect(result.get('a')).not.toBe(result.get('b'));
    expect(result.get('c')).not.toBe(result.get('d'));
  });

  test('rejects an unknown or negative option with INVALID_ARGUMENT', () => {
    expect(() => vchannelFairPolicy({ pchannelWeight: -1 })).toThrow(/pchannelWeight/);
    expect(() => vchannelFairPolicy({ typo: 1 } as never)).toThrow(/unknown option typo/);
  });
});

describe('pchannelCount', () => {
  test('a node that joins three nodes of 4 pchannels each takes 3, one from each', () => {
    const pchannels = Array.from({ length: 12 }, (_, i) => ({
      name: `p${String(i).padStart(2, '0')}`,
      term: 1n,
      nodeId: String(1 + (i % 3)),
      vchannelCount: 0,
    }));
    const result = pchannelCountPolicy().balance({ nodes: nodes('1', '2', '3', '4'), pchannels });
    const moved = pchannels.filter((p) => result.get(p.name) !== p.nodeId);
    expect(moved.map((p) => result.get(p.name))).toEqual(['4', '4', '4']);
    expect(new Set(moved.map((p) => p.nodeId)).size).toBe(3);
  });
});

describe('PolicyRegistry', () => {
  test('has both built-ins, emits the names on registration, and codes unknown and duplicate names', () => {
    const registry = PolicyRegistry.withBuiltins();
    const seen: (readonly string[])[] = [];
    const sub = registry.registered$.subscribe((names) => seen.push(names));
    registry.register({ name: 'keep', balance: () => new Map() });
    sub.unsubscribe();
    expect(seen).toEqual([
      ['pchannelCount', 'vchannelFair'],
      ['keep', 'pchannelCount', 'vchannelFair'],
    ]);
    expect(registry.get('vchannelFair').name).toBe('vchannelFair');
    let unknown: unknown;
    try {
      registry.get('nope');
    } catch (error) {
      unknown = error;
    }
    expect(hasCode(unknown, 'NOT_REGISTERED')).toBe(true);
    expect(() => registry.register(pchannelCountPolicy())).toThrow(/already registered/);
  });
});
