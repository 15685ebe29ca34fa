import { DeliverPolicy, unmarshalMessageId } from '@walstream/core';
import { messageIds } from '@walstream/core/internal';
import { check, describeError, fail } from '../../runner/assert.js';
import {
  assertDelivered,
  assertStrictlyIncreasing,
  isMarker,
  roundTripMessages,
  type Written,
} from '../messages.js';
import { appendAll, readUntil } from '../reading.js';
import type { WalImplsCaseDefinition } from '../types.js';
import { appendMarker, seeded } from './shared.js';

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
      const { written } = await seeded(t, 'ids', 12);
      for (const { id } of written) {
        check(id !== null && typeof id === 'object', `append resolved ${String(id)}, expected a MessageID`);
        check(
          id.walName === t.walName,
          `append returned an id with walName ${JSON.stringify(id.walName)}, expected ${JSON.stringify(t.walName)}`,
        );
      }
      assertStrictlyIncreasing(
        written.map((w) => w.id),
        'ids of appends made one after the other',
      );
      const [first, second] = [written[0]!.id, written[1]!.id];
      check(
        first.compare(first) === 0,
        `${first.toString()}.compare(itself) is ${first.compare(first)}, expected 0`,
      );
      check(
        second.compare(first) > 0,
        `${second.toString()}.compare(${first.toString()}) is ${second.compare(first)}, expected > 0 (compare must be antisymmetric)`,
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
      const { written } = await seeded(t, 'marshal', 5);
      for (const { id } of written) {
        const text = id.marshal();
        check(
          typeof text === 'string',
          `${id.toString()}.marshal() returned ${typeof text}, expected a string`,
        );
        let decoded: ReturnType<typeof unmarshalMessageId>;
        try {
          decoded = unmarshalMessageId(t.walName, text);
        } catch (error) {
          fail(
            `unmarshalMessageId(${JSON.stringify(t.walName)}, ${JSON.stringify(text)}) threw ${describeError(error)}`,
            error,
          );
        }
        check(
          decoded.walName === t.walName,
          `the unmarshalled id has walName ${JSON.stringify(decoded.walName)}`,
        );
        check(
          decoded.compare(id) === 0 && id.compare(decoded) === 0,
          `unmarshal(marshal(${id.toString()})) = ${decoded.toString()} does not compare equal to it`,
        );
        check(
          decoded.marshal() === text,
          `marshal is not stable: ${JSON.stringify(text)} became ${JSON.stringify(decoded.marshal())}`,
        );
        check(id.toString().length > 0, 'MessageID.toString() returned an empty string');
      }
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
];
