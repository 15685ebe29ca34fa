/**
 * Broken catalogs, each differing from core's MemoryCatalog in one bug, and the cases of the catalog
 * suite that catch it, by name.
 */
import {
  type BroadcastTaskRecord,
  type Catalog,
  MemoryCatalog,
  type PChannelMeta,
  type WalCheckpoint,
} from '@walstream/core';
import { describe, expect, test } from 'vitest';
import { type CatalogConformanceReport, runCatalogConformance } from '../src/index.js';

/** Passes everything to a MemoryCatalog but keeps checkpoints and the mark itself, for subclasses to break. */
class Delegating implements Catalog {
  readonly inner = new MemoryCatalog();
  readonly records = new Map<string, WalCheckpoint>();
  mark = 0n;
  listPChannels(): Promise<PChannelMeta[]> {
    return this.inner.listPChannels();
  }
  savePChannels(metas: readonly PChannelMeta[]): Promise<void> {
    return this.inner.savePChannels(metas);
  }
  listBroadcastTasks(): Promise<BroadcastTaskRecord[]> {
    return this.inner.listBroadcastTasks();
  }
  saveBroadcastTask(task: BroadcastTaskRecord): Promise<void> {
    return this.inner.saveBroadcastTask(task);
  }
  removeBroadcastTask(broadcastId: bigint): Promise<void> {
    return this.inner.removeBroadcastTask(broadcastId);
  }
  async getCheckpoint(pchannel: string): Promise<WalCheckpoint | undefined> {
    return this.records.get(pchannel);
  }
  async saveCheckpoint(pchannel: string, checkpoint: WalCheckpoint): Promise<boolean> {
    if ((this.records.get(pchannel)?.term ?? 0n) > (checkpoint.term ?? 0n)) return false;
    this.records.set(pchannel, checkpoint);
    return true;
  }
  async getTimestampHighWater(): Promise<bigint> {
    return this.mark;
  }
  async saveTimestampHighWater(value: bigint): Promise<void> {
    if (value > this.mark) this.mark = value;
  }
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Reads the stored term, lets other calls run, then writes: the window the contract forbids. */
class CheckThenWrite extends Delegating {
  override async saveCheckpoint(pchannel: string, checkpoint: WalCheckpoint): Promise<boolean> {
    const stored = (await this.getCheckpoint(pchannel))?.term ?? 0n;
    if (stored > (checkpoint.term ?? 0n)) return false;
    await turn();
    this.records.set(pchannel, checkpoint);
    return true;
  }
}

/** Writes every checkpoint, whatever its term, and says so. */
class LowerTermWins extends Delegating {
  override async saveCheckpoint(pchannel: string, checkpoint: WalCheckpoint): Promise<boolean> {
    this.records.set(pchannel, checkpoint);
    return true;
  }
}

/** Refuses a lower term, but only after writing its record. */
class RefusedButWritten extends Delegating {
  override async saveCheckpoint(pchannel: string, checkpoint: WalCheckpoint): Promise<boolean> {
    const stored = this.records.get(pchannel);
    this.records.set(pchannel, checkpoint);
    if ((stored?.term ?? 0n) > (checkpoint.term ?? 0n)) {
      await turn();
      this.records.set(pchannel, stored!);
      return false;
    }
    return true;
  }
}

/** Compares, lets other calls run, then raises the mark to its own value: a higher one can be lost. */
class MarkCheckThenWrite extends Delegating {
  override async saveTimestampHighWater(value: bigint): Promise<void> {
    if (value <= this.mark) return;
    await turn();
    this.mark = value;
  }
}

/** Sorts broadcast ids as strings: 10 before 9. */
class TextOrderedTasks extends Delegating {
  override async listBroadcastTasks(): Promise<BroadcastTaskRecord[]> {
    const tasks = await this.inner.listBroadcastTasks();
    return tasks.sort((a, b) => a.broadcastId.toString().localeCompare(b.broadcastId.toString()));
  }
}

/** Keeps only the fields of WalCheckpoint, dropping what a writer added (the semantics state). */
class DropsExtraFields extends Delegating {
  override async saveCheckpoint(pchannel: string, checkpoint: WalCheckpoint): Promise<boolean> {
    const { messageId, walName, timeTick, term } = checkpoint;
    return super.saveCheckpoint(pchannel, {
      messageId,
      walName,
      timeTick,
      ...(term === undefined ? {} : { term }),
    });
  }
}

const RACE =
  'checkpoint saves racing at drawn terms: the highest term ends stored, a lower term resolves false and no reader sees its record';
const LOWER = 'a save at a lower term resolves false and leaves the stored record as it was';
const NO_TERM = 'a save without a term counts as term 0: refused over a record of term 1';
const DURABLE_FENCE = 'a new handle refuses a checkpoint of a lower term than one saved before it was opened';
const MARK_RACE = 'high-water saves racing: the mark ends at the highest and no reader sees it go down';
const TASK_ORDER = 'broadcast tasks list in broadcastId order, compared as numbers';
const TASK_ROUND_TRIP =
  'a broadcast task round-trips exactly: an id beyond 64 bits, payload bytes, properties, acked vchannels';
const ROUND_TRIP =
  'a checkpoint round-trips with its term, a timetick beyond 63 bits and the fields a writer added';

function run(make: () => Catalog, groups?: readonly string[]): Promise<CatalogConformanceReport> {
  const off = groups
    ? Object.fromEntries(
        ['pchannels', 'broadcasts', 'checkpoints', 'timestamps', 'durability', 'sharing']
          .filter((g) => !groups.includes(g))
          .map((g) => [g, false]),
      )
    : {};
  return runCatalogConformance({ catalog: make, numRuns: 30, timeoutMs: 20_000, groups: off });
}

const failed = (report: CatalogConformanceReport) =>
  report.results
    .filter((r) => r.status === 'failed')
    .map((r) => r.name)
    .sort();

function messageOf(report: CatalogConformanceReport, name: string): string {
  const error = report.results.find((r) => r.name === name)?.error;
  return error instanceof Error ? error.message : String(error);
}

describe('the catalog suite catches broken catalogs by name', () => {
  test('core MemoryCatalog passes every case that needs no second handle', async () => {
    const report = await run(() => new MemoryCatalog());
    expect(failed(report)).toEqual([]);
    expect(report.passed).toBe(report.results.length - report.skipped);
    expect(report.results.filter((r) => r.status === 'skipped').map((r) => r.name)).toHaveLength(4);
  });

  test('a saveCheckpoint that checks the term, yields, then writes fails the race case', async () => {
    const report = await run(() => new CheckThenWrite(), ['checkpoints']);
    expect(failed(report)).toEqual([RACE]);
    expect(messageOf(report, RACE)).toMatch(/replay with the option \{ seed: -?\d+ \}/);
  });

  test('a saveCheckpoint that lets a lower term win fails the term cases and the race', async () => {
    const report = await run(() => new LowerTermWins(), ['checkpoints']);
    expect(failed(report)).toEqual([LOWER, NO_TERM, RACE].sort());
  });

  test('a saveCheckpoint that refuses a lower term only after writing it fails the race', async () => {
    const report = await run(() => new RefusedButWritten(), ['checkpoints']);
    expect(failed(report)).toEqual([RACE]);
    expect(messageOf(report, RACE)).toMatch(/a reader saw|stored term is/);
  });

  test('a high-water save that compares, yields, then writes fails the high-water race', async () => {
    const report = await run(() => new MarkCheckThenWrite(), ['timestamps']);
    expect(failed(report)).toEqual([MARK_RACE]);
  });

  test('broadcast tasks sorted by the text of their ids fail the order and round-trip cases', async () => {
    const report = await run(() => new TextOrderedTasks(), ['broadcasts']);
    expect(failed(report)).toEqual([TASK_ROUND_TRIP, TASK_ORDER].sort());
  });

  test('a catalog that drops the fields a writer added to a checkpoint fails the round trip', async () => {
    const report = await run(() => new DropsExtraFields(), ['checkpoints']);
    expect(failed(report)).toEqual([ROUND_TRIP]);
  });

  test('a reopen that forgets the stored term fails the durable fence case', async () => {
    const report = await runCatalogConformance({
      catalog: () => new MemoryCatalog(),
      reopen: () => new MemoryCatalog(),
      groups: { pchannels: false, broadcasts: false, checkpoints: false, timestamps: false, sharing: false },
    });
    expect(failed(report)).toEqual(
      [DURABLE_FENCE, 'every record is there through a new handle once its save resolved'].sort(),
    );
  });
});
