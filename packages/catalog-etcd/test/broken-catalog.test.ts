/**
 * The catalog suite's races are worth something on etcd only if they catch an etcd catalog that is not
 * atomic: this one reads the stored term and then puts, two round trips with a window between them.
 * (A linearizable read may already see a put sent after it, so without the extra turn some runs would
 * pass by luck.)
 */
import type { WalCheckpoint } from '@walstream/core';
import { catalogRaceCases, runCatalogConformance } from '@walstream/testkit';
import { expect, test } from 'vitest';
import { EtcdCatalog } from '../src/index.js';
import { endpoints, freshPrefix } from './helpers.js';

class CheckThenPutCatalog extends EtcdCatalog {
  override async saveCheckpoint(pchannel: string, checkpoint: WalCheckpoint): Promise<boolean> {
    const stored = (await this.getCheckpoint(pchannel))?.term ?? 0n;
    if (stored > (checkpoint.term ?? 0n)) return false;
    // The window between the read and the write: one event-loop turn, as a busy process would have.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const { term, timeTick, ...rest } = checkpoint;
    await this.client.put(`${this.prefix}checkpoints/${pchannel}`).value(
      JSON.stringify({
        format: 1,
        messageId: rest.messageId,
        walName: rest.walName,
        timeTick: timeTick.toString(),
        ...(term === undefined ? {} : { term: term.toString() }),
      }),
    );
    return true;
  }
}

test('an etcd catalog that reads the term and then puts fails both checkpoint races by name', async () => {
  const make = (prefix: string) => new CheckThenPutCatalog({ endpoints: endpoints(), prefix });
  const report = await runCatalogConformance<CheckThenPutCatalog>({
    catalog: () => make(freshPrefix('broken')),
    reopen: (catalog) => make(catalog.prefix),
    concurrentHandles: true,
    close: (catalog) => (catalog as EtcdCatalog).close(),
    cases: catalogRaceCases.filter((c) => c.name.startsWith('checkpoint')),
    numRuns: 40,
  });
  expect(report.results.map((r) => [r.name.slice(0, 40), r.status])).toEqual([
    ['checkpoint saves racing at drawn terms: ', 'failed'],
    ['checkpoint saves racing through two hand', 'failed'],
  ]);
  for (const result of report.results) {
    expect(String(result.error)).toMatch(
      /stored term is|a reader saw|a read started after|resolved true although|highest term, yet/,
    );
  }
});
