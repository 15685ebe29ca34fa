import { DeliverPolicy } from '@walstream/core';
import { check } from '../../runner/assert.js';
import {
  assertDelivered,
  assertStrictlyIncreasing,
  dataMessage,
  isMarker,
  sortById,
  type Written,
} from '../messages.js';
import { appendAll, readUntil } from '../reading.js';
import type { WalImplsCaseDefinition, WalImplsTestContext } from '../types.js';
import { appendMarker } from './shared.js';

const PCHANNELS = 3;
const TERMS = 3;
const IN_FLIGHT = 5;
const READ_AHEAD = 128;

/**
 * The Milvus round (`walimpls/test_framework.go`), with payloads and properties compared as well: per
 * pchannel and term, a producer with ≤5 appends in flight races two full scans that stop at the term's
 * marker. Every read list must be in strictly increasing id order and equal the id-sorted union of
 * everything written so far, message for message.
 */
async function pchannelRounds(t: WalImplsTestContext, index: number): Promise<void> {
  const name = t.channelName(`rw${index}`);
  const written: Written[] = [];
  for (let term = 1; term <= TERMS; term++) {
    const wal = await t.open(name, term);
    const marker = `term${term}`;
    const readers = ['scanner1', 'scanner2'].map(async (scannerName) => {
      const scanner = await t.read(wal, {
        name: scannerName,
        deliverPolicy: DeliverPolicy.all(),
        readAheadBufferSize: READ_AHEAD,
      });
      check(
        scanner.name === scannerName,
        `scanner.name is ${JSON.stringify(scanner.name)}, expected ${JSON.stringify(scannerName)}`,
      );
      const delivered = await readUntil(scanner, isMarker(marker), t.signal, {
        max: (t.messageCount + 1) * TERMS,
        what: `${scannerName} on ${name}@${term} reading until marker ${marker}`,
      });
      await scanner.close();
      return { scannerName, delivered };
    });
    const writer = (async () => {
      const data = Array.from({ length: t.messageCount - 1 }, (_, seq) => dataMessage(name, term, seq));
      const round = await appendAll(t, wal, data, IN_FLIGHT);
      // The marker goes last, after every data append resolved, so a reader that sees it saw them all.
      round.push(await appendMarker(t, wal, marker, { term: String(term) }));
      return round;
    })();
    const [round, ...reads] = await Promise.all([writer, ...readers]);
    written.push(...round);
    const expected = sortById(written);
    assertStrictlyIncreasing(
      expected.map((w) => w.id),
      `ids returned by append on ${name} up to term ${term} (duplicates?)`,
    );
    for (const { scannerName, delivered } of reads) {
      const where = `${scannerName} on ${name}@${term}`;
      assertStrictlyIncreasing(
        delivered.map((m) => m.id),
        where,
      );
      assertDelivered(delivered, expected, `${where} compared with everything written (sorted by id)`);
    }
    await wal.close();
  }
}

export const readWrite: readonly WalImplsCaseDefinition[] = [
  {
    group: 'readWrite',
    name: '3 pchannels x 3 terms: concurrent appends and two full scans agree',
    async run(t) {
      await Promise.all(Array.from({ length: PCHANNELS }, (_, i) => pchannelRounds(t, i)));
    },
  },
];
