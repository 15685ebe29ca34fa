import { type Catalog, composeTimeTick, hasCode, MemoryCatalog } from '@walstream/core';
import { registerTimestampAllocatorConformance } from '@walstream/testkit';
import { describe, expect, test } from 'vitest';
import { Tso } from '../src/index.js';

/** The catalog of each TSO the suite made: its restart is a new TSO on the same catalog. */
const catalogs = new WeakMap<object, Catalog>();
function tsoOn(catalog: Catalog): Tso {
  const tso = new Tso({ catalog });
  catalogs.set(tso, catalog);
  return tso;
}

registerTimestampAllocatorConformance(
  { describe, test },
  {
    suiteName: 'Tso on a MemoryCatalog',
    allocator: () => tsoOn(new MemoryCatalog()),
    restart: (previous) => tsoOn(catalogs.get(previous) as Catalog),
    allocations: 4_000,
  },
);

/** A MemoryCatalog that counts mark writes and can be told to fail them. */
class CountingCatalog extends MemoryCatalog {
  saves = 0;
  failing = false;
  override async saveTimestampHighWater(value: bigint): Promise<void> {
    if (this.failing) throw new Error('catalog unreachable');
    this.saves++;
    await super.saveTimestampHighWater(value);
  }
}

describe('Tso', () => {
  test('10 restarts on one catalog, the wall clock set back 10 s at each, hand out strictly increasing timeticks', async () => {
    const catalog = new MemoryCatalog();
    let clock = Date.now();
    const all: bigint[] = [];
    for (let restart = 0; restart <= 10; restart++) {
      clock -= 10_000;
      const tso = new Tso({ catalog, now: () => clock });
      for (let i = 0; i < 500; i++)
        all.push(i % 2 === 0 ? await tso.allocate() : (tso.allocateNow() ?? (await tso.allocate())));
      const batch = await tso.allocateBatch(100);
      all.push(batch.first, batch.first + 99n);
    }
    for (let i = 1; i < all.length; i++) expect(all[i]! > all[i - 1]!, `#${i}`).toBe(true);
    expect(all.length).toBe(11 * 502);
  });

  test('never hands out a timetick above the saved mark, and saves it about once per window', async () => {
    const catalog = new CountingCatalog();
    const tso = new Tso({ catalog, windowMs: 60_000 });
    for (let i = 0; i < 10_000; i++) {
      const value = await tso.allocate();
      expect(value <= (await catalog.getTimestampHighWater())).toBe(true);
    }
    // 10 000 allocations take well under the 60 s window: the first save and at most one renewal.
    expect(catalog.saves).toBeGreaterThanOrEqual(1);
    expect(catalog.saves).toBeLessThanOrEqual(2);
  });

  test('a batch is consecutive and the next allocation comes after it', async () => {
    const tso = new Tso({ catalog: new MemoryCatalog() });
    const batch = await tso.allocateBatch(1_000);
    expect(batch.count).toBe(1_000);
    const next = await tso.allocate();
    expect(next > batch.first + 999n).toBe(true);
    await expect(tso.allocateBatch(0)).rejects.toThrow(/count/);
  });

  test('a catalog that fails the save makes allocate() reject UNAVAILABLE, and it recovers with the catalog', async () => {
    const catalog = new CountingCatalog();
    catalog.failing = true;
    const tso = new Tso({ catalog });
    let error: unknown;
    await tso.allocate().catch((e: unknown) => {
      error = e;
    });
    expect(hasCode(error, 'UNAVAILABLE')).toBe(true);
    expect(tso.allocateNow()).toBeUndefined();
    catalog.failing = false;
    const value = await tso.allocate();
    expect(value <= (await catalog.getTimestampHighWater())).toBe(true);
  });

  test('starts above a mark saved ahead of the clock', async () => {
    const catalog = new MemoryCatalog();
    const ahead = composeTimeTick(Date.now() + 3_600_000);
    await catalog.saveTimestampHighWater(ahead);
    expect((await new Tso({ catalog }).allocate()) > ahead).toBe(true);
  });
});
