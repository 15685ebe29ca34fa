import { DeliverPolicy } from '@walstream/core';
import { messageIds } from '@walstream/core/internal';
import fc from 'fast-check';
import { check } from '../../runner/assert.js';
import { assertCovered, draw, drawAsync } from '../../runner/property.js';
import { checkIdSpace, checkPair, checkTransitive, PURE_RUNS_FACTOR, roundTrip } from '../ids.js';
import {
  assertDelivered,
  assertStrictlyIncreasing,
  assertUnchanged,
  copyOf,
  dataMessage,
  describeDrawn,
  drawnMessage,
  fromDrawn,
  isMarker,
  roundTripMessages,
  type Written,
} from '../messages.js';
import { appendAll, readUntil } from '../reading.js';
import type { WalImplsCaseDefinition } from '../types.js';
import { appendMarker, seeded } from './shared.js';

/** Ids the id cases append: enough for pairs far apart and every kind of neighbour. */
const ID_LOG = 24;

/** Names, echoes and the identity of what was written: the cheapest checks, and the first to look at. */
export const basics: readonly WalImplsCaseDefinition[] = [
  {
    group: 'basics',
    name: 'open echoes the channel name, term and access mode',
    async run(t) {
      check(
        typeof t.walName === 'string' && t.walName.length > 0,
        `builder.name must be a non-empty string, got ${JSON.stringify(t.walName)}`,
      );
      const name = t.channelName('echo');
      for (const term of [0n, 7n]) {
        const wal = await t.open(name, term);
        check(
          wal.walName === t.walName,
          `wal.walName is ${JSON.stringify(wal.walName)}, expected the builder's ${JSON.stringify(t.walName)}`,
        );
        check(
          wal.channel.name === name,
          `wal.channel.name is ${JSON.stringify(wal.channel.name)}, expected ${JSON.stringify(name)}`,
        );
        check(
          wal.channel.term === term,
          `wal.channel.term is ${String(wal.channel.term)} (${typeof wal.channel.term}), expected ${term}n (a bigint)`,
        );
        check(
          wal.channel.accessMode === 'rw',
          `wal.channel.accessMode is ${JSON.stringify(wal.channel.accessMode)}, expected "rw"`,
        );
        await wal.close();
      }
    },
  },
  {
    group: 'basics',
    name: 'read echoes the scanner name',
    async run(t) {
      const { wal } = await seeded(t, 'scannername', 1);
      for (const name of ['scanner1', 'scanner2', 'conformance.scanner-3_x']) {
        const scanner = await t.read(wal, { name, deliverPolicy: DeliverPolicy.all() });
        check(
          scanner.name === name,
          `scanner.name is ${JSON.stringify(scanner.name)}, expected ${JSON.stringify(name)}`,
        );
      }
    },
  },
  {
    group: 'basics',
    name: 'append returns strictly increasing ids of this adapter',
    async run(t) {
      const { written } = await seeded(t, 'ids', ID_LOG);
      for (const { id } of written) {
        check(id !== null && typeof id === 'object', `append resolved ${String(id)}, expected a MessageID`);
        check(
          id.walName === t.walName,
          `append returned an id with walName ${JSON.stringify(id.walName)}, expected ${JSON.stringify(t.walName)}`,
        );
      }
      const ids = written.map((w) => w.id);
      assertStrictlyIncreasing(ids, 'ids of appends made one after the other');
      // Any two of them, not just neighbours: compare must order the whole log, both ways round.
      const n = ids.length;
      const seen = {
        'an id with itself': 0,
        'an earlier with a later id': 0,
        'a later with an earlier id': 0,
        'ids more than half the log apart': 0,
      };
      const index = fc.nat(n - 1);
      draw<[number, number]>(
        'pairs of ids appended one after the other',
        fc.tuple(index, index),
        ([i, j]) => {
          if (i === j) seen['an id with itself']++;
          else seen[i < j ? 'an earlier with a later id' : 'a later with an earlier id']++;
          if (Math.abs(i - j) > n / 2) seen['ids more than half the log apart']++;
          checkPair(t.walName, ids[i]!, ids[j]!, i < j ? -1 : i > j ? 1 : 0, `append #${i} and #${j}`);
        },
        {
          numRuns: t.numRuns * PURE_RUNS_FACTOR,
          seed: t.seed,
          examples: [
            [0, n - 1],
            [n - 1, 0],
            [0, 0],
          ],
          describe: ([i, j]) => `appends #${i} (${ids[i]!.toString()}) and #${j} (${ids[j]!.toString()})`,
          shrink: true,
        },
      );
      assertCovered('pairs of ids appended one after the other', seen);
      draw<[number, number, number]>(
        'triples of ids appended one after the other',
        fc.tuple(index, index, index),
        ([i, j, k]) => checkTransitive(ids[i]!, ids[j]!, ids[k]!, `appends #${i}, #${j} and #${k}`),
        {
          numRuns: t.numRuns * PURE_RUNS_FACTOR,
          seed: t.seed,
          examples: [[n - 1, Math.floor(n / 2), 0]],
          shrink: true,
        },
      );
    },
  },
  {
    group: 'basics',
    name: 'ids round-trip through the MessageID registry',
    async run(t) {
      check(
        messageIds.has(t.walName),
        `no MessageID codec is registered for ${JSON.stringify(t.walName)}: call registerMessageIdCodec when the adapter module loads`,
      );
      const { written } = await seeded(t, 'marshal', ID_LOG);
      const decoded = written.map(({ id }) => {
        check(id.toString().length > 0, 'MessageID.toString() returned an empty string');
        return roundTrip(t.walName, id, 'unmarshal(marshal(id)) of an appended id');
      });
      // The decoded ids keep the order: a checkpointed id still compares right with live ones.
      const n = decoded.length;
      const index = fc.nat(n - 1);
      draw<[number, number]>(
        'pairs of an unmarshalled and an appended id',
        fc.tuple(index, index),
        ([i, j]) =>
          checkPair(
            t.walName,
            decoded[i]!,
            written[j]!.id,
            i < j ? -1 : i > j ? 1 : 0,
            `unmarshalled #${i} and appended #${j}`,
          ),
        {
          numRuns: t.numRuns * PURE_RUNS_FACTOR,
          seed: t.seed,
          examples: [
            [0, n - 1],
            [n - 1, 0],
          ],
          shrink: true,
        },
      );
    },
  },
  {
    group: 'basics',
    name: "ids across the adapter's whole range compare and round-trip like their positions",
    async run(t) {
      const space = t.messageIds;
      if (space === undefined) {
        return t.skip('no messageIds option: ids beyond the few hundred the suite appends are not checked');
      }
      checkIdSpace(t.walName, space, { numRuns: t.numRuns, seed: t.seed });
    },
  },
  {
    group: 'basics',
    name: 'a message is read back with its id, payload bytes and properties',
    async run(t) {
      const name = t.channelName('roundtrip');
      const wal = await t.open(name, 1);
      const written: Written[] = await appendAll(t, wal, roundTripMessages(name));
      const scanner = await t.read(wal, { deliverPolicy: DeliverPolicy.all() });
      const end = await appendMarker(t, wal, 'end');
      const delivered = await readUntil(scanner, isMarker('end'), t.signal, {
        max: 10,
        what: 'reading the round-trip messages',
      });
      assertDelivered(delivered, [...written, end], 'read back after append');
    },
  },
  {
    group: 'basics',
    name: 'messages of drawn payload sizes and properties are read back exactly',
    async run(t) {
      const name = t.channelName('drawn');
      const wal = await t.open(name, 1);
      let round = 0;
      const seen = {
        'an empty payload': 0,
        'a payload of 64 KiB': 0,
        'no user properties': 0,
        'an empty property value': 0,
      };
      await drawAsync(
        'messages read back after append',
        fc.array(drawnMessage(), { minLength: 1, maxLength: 3 }),
        async (drawn) => {
          const label = `drawn-${++round}`;
          for (const d of drawn) {
            if (d.length === 0) seen['an empty payload']++;
            if (d.length === 64 * 1024) seen['a payload of 64 KiB']++;
            if (Object.keys(d.properties).length === 0) seen['no user properties']++;
            if (Object.values(d.properties).includes('')) seen['an empty property value']++;
          }
          const written = await appendAll(
            t,
            wal,
            drawn.map((d, i) => fromDrawn(d, `${label}/${i}`)),
          );
          const scanner = await t.read(wal, { deliverPolicy: DeliverPolicy.startFrom(written[0]!.id) });
          const end = await appendMarker(t, wal, label);
          const delivered = await readUntil(scanner, isMarker(label), t.signal, {
            max: written.length + 1,
            what: `reading back drawn messages (${label})`,
          });
          await scanner.close();
          assertDelivered(delivered, [...written, end], `drawn messages read back (${label})`);
        },
        {
          numRuns: t.numRuns,
          seed: t.seed,
          examples: [
            [{ length: 0, seed: 1, properties: {} }],
            [
              {
                length: 64 * 1024,
                seed: 2,
                properties: { empty: '', 'a=b;c': 'd=e;f\n', 'ünï 🚀': '"\\\u0000"' },
              },
              { length: 1, seed: 3, properties: { constructor: 'toString', hasOwnProperty: '' } },
            ],
          ],
          describe: (drawn) => `[${drawn.map(describeDrawn).join(', ')}]`,
        },
      );
      assertCovered('messages read back after append', seen);
    },
  },
  {
    group: 'basics',
    name: 'append stores the message as it was: later changes to the caller message do not reach the log, and append leaves it unchanged',
    async run(t) {
      const name = t.channelName('alias');
      const wal = await t.open(name, 1);
      // The runtime appends one MutableMessage again when it retries, and interceptors change it in between.
      const message = dataMessage(name, 1, 1).withProperty('stage', 'first').withLastConfirmedUseMessageId();
      const asFirst = copyOf(message);
      const first = await t.append(wal, message);
      assertUnchanged(message, asFirst, 'after append');
      message
        .withProperty('stage', 'second')
        .withProperty('added', 'after the first append')
        .withLastConfirmed(first);
      const asSecond = copyOf(message);
      const second = await t.append(wal, message);
      assertUnchanged(message, asSecond, 'after the second append');
      // And a change after the last append: no entry may show it.
      message.withProperty('stage', 'changed after the last append').withProperty('late', 'yes');
      const scanner = await t.read(wal, { deliverPolicy: DeliverPolicy.all() });
      const end = await appendMarker(t, wal, 'alias-end');
      const delivered = await readUntil(scanner, isMarker('alias-end'), t.signal, {
        max: 3,
        what: 'reading back a message changed after its append',
      });
      assertDelivered(
        delivered,
        [{ id: first, message: asFirst }, { id: second, message: asSecond }, end],
        'the log after the caller changed its message (each entry must hold what the message held when it was appended)',
      );
    },
  },
];
