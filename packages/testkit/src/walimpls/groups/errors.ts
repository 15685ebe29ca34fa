import { DeliverPolicy, hasCode, type MessageID, type PChannelInfo, WalError } from '@walstream/core';
import {
  describeDeliverPolicy,
  type RawScanner,
  type ReadOnlyWalImpls,
  type ReadOptions,
  type WalImpls,
} from '@walstream/core/spi';
import { check, describeError, expectRejection, fail } from '../../runner/assert.js';
import { abortable } from '../../runner/wait.js';
import {
  assertDelivered,
  assertSameMessage,
  dataMessage,
  isMarker,
  sortById,
  type Written,
} from '../messages.js';
import { nextMessage, readUntil } from '../reading.js';
import type { WalImplsCaseDefinition, WalImplsTestContext } from '../types.js';
import { appendMarker, seeded } from './shared.js';

const FOREIGN_WAL = 'walstream-conformance-foreign';

/** An id from an adapter that does not exist: every adapter must refuse to use it. */
function foreignId(): MessageID {
  return {
    walName: FOREIGN_WAL,
    compare(other: MessageID): number {
      if (other.walName !== FOREIGN_WAL) {
        throw new WalError(
          'INVALID_MESSAGE_ID',
          `cannot compare a ${FOREIGN_WAL} id with a ${other.walName} id`,
        );
      }
      return 0;
    },
    marshal: () => '0',
    toString: () => `${FOREIGN_WAL}:0`,
  };
}

/**
 * A reader started at a foreign id must fail with INVALID_MESSAGE_ID: preferably `read()` rejects, but a
 * scanner that fails before delivering anything is accepted too (some stores only look at the id when the
 * first fetch runs).
 */
async function expectReadRejected(
  t: WalImplsTestContext,
  wal: ReadOnlyWalImpls,
  policy: DeliverPolicy,
): Promise<void> {
  const what = `read(${describeDeliverPolicy(policy)})`;
  let scanner: Awaited<ReturnType<ReadOnlyWalImpls['read']>>;
  try {
    scanner = await t.read(wal, { deliverPolicy: policy });
  } catch (error) {
    if (hasCode(error, 'INVALID_MESSAGE_ID')) return;
    fail(`${what}: expected a rejection coded INVALID_MESSAGE_ID, got ${describeError(error)}`, error);
  }
  try {
    const message = await nextMessage(scanner[Symbol.asyncIterator](), t.signal, `${what} to fail`);
    fail(`${what}: expected INVALID_MESSAGE_ID, but the scanner delivered ${message.id.toString()}`);
  } catch (error) {
    if (hasCode(error, 'INVALID_MESSAGE_ID')) return;
    throw error;
  }
}

/**
 * Read options an adapter must refuse in `read()`, before it starts a reader: a read-ahead size that is
 * not a positive integer (0 included, as `ReadOptions.readAheadBufferSize` says), an unknown policy.
 */
function badReadOptions(): [string, Partial<ReadOptions>][] {
  return [
    ...[0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY].map((size): [string, Partial<ReadOptions>] => [
      `readAheadBufferSize ${size}`,
      { readAheadBufferSize: size },
    ]),
    [
      'an unknown deliver policy',
      { deliverPolicy: { kind: 'sometime' } as unknown as ReadOptions['deliverPolicy'] },
    ],
  ];
}

/**
 * Reads `wal`'s pchannel from the start until an end marker appended through `wal`, and checks it holds
 * exactly `expected`: what an error case must leave behind. `wal` is the case's writer when it still
 * writes, else a new one at the next term (the way a pchannel is taken over).
 */
async function expectLog(
  t: WalImplsTestContext,
  wal: WalImpls,
  expected: readonly Written[],
  label: string,
  what: string,
): Promise<void> {
  const name = wal.channel.name;
  const scanner = await t.read(wal, { deliverPolicy: DeliverPolicy.all() });
  const end = await appendMarker(t, wal, label);
  const delivered = await readUntil(scanner, isMarker(label), t.signal, {
    // Room for a few that should not be there, so the comparison below names the first of them.
    max: expected.length + 16,
    what: `reading ${name} back ${what}`,
  });
  assertDelivered(delivered, [...sortById(expected), end], `the log ${what}`);
}

/** When an in-flight append's signal fires: as soon as append() returned, after a microtask, after a task. */
const ABORT_MOMENTS = ['at once', 'after a microtask', 'after a task'] as const;

function abortAt(moment: (typeof ABORT_MOMENTS)[number], controller: AbortController): Promise<void> {
  const reason = new Error('the caller gave up');
  if (moment === 'at once') {
    controller.abort(reason);
    return Promise.resolve();
  }
  if (moment === 'after a microtask') return Promise.resolve().then(() => controller.abort(reason));
  return new Promise((resolve) =>
    setImmediate(() => {
      controller.abort(reason);
      resolve();
    }),
  );
}

function badChannels(name: string): [string, PChannelInfo][] {
  return [
    ['an empty name', { name: '', term: 1n, accessMode: 'rw' }],
    ['a negative term', { name, term: -1n, accessMode: 'rw' }],
    [
      'an unknown access mode',
      { name, term: 1n, accessMode: 'write' as unknown as PChannelInfo['accessMode'] },
    ],
  ];
}

export const errors: readonly WalImplsCaseDefinition[] = [
  {
    group: 'errors',
    name: 'read from another adapter id rejects INVALID_MESSAGE_ID',
    async run(t) {
      const seed = await seeded(t, 'foreignread', 3);
      await expectReadRejected(t, seed.wal, DeliverPolicy.startFrom(foreignId()));
      await expectReadRejected(t, seed.wal, DeliverPolicy.startAfter(foreignId()));
    },
  },
  {
    group: 'errors',
    name: 'read rejects bad options with INVALID_ARGUMENT and starts nothing',
    async run(t) {
      const seed = await seeded(t, 'badread', 3);
      for (const [what, bad] of badReadOptions()) {
        const where = `read with ${what}`;
        let scanner: RawScanner;
        try {
          // Through t.read: the suite's signal goes along, so a listener left behind fails the case.
          scanner = await t.read(seed.wal, { deliverPolicy: DeliverPolicy.all(), ...bad });
        } catch (error) {
          check(
            hasCode(error, 'INVALID_ARGUMENT'),
            () => `${where}: expected a rejection coded INVALID_ARGUMENT, got ${describeError(error)}`,
          );
          continue;
        }
        fail(
          `${where}: read() resolved scanner ${JSON.stringify(scanner.name)}, expected a rejection coded ` +
            'INVALID_ARGUMENT before any reader starts',
        );
      }
      // The refused reads left the WAL as it was: a good reader still gets the whole log.
      const scanner = await t.read(seed.wal, { deliverPolicy: DeliverPolicy.all(), readAheadBufferSize: 1 });
      const end = await appendMarker(t, seed.wal, 'bad-read-end');
      const delivered = await readUntil(scanner, isMarker('bad-read-end'), t.signal, {
        max: seed.written.length + 1,
        what: 'reading after the refused reads',
      });
      assertDelivered(delivered, [...seed.written, end], 'all after the refused reads');
    },
  },
  {
    group: 'errors',
    name: 'truncate to another adapter id rejects INVALID_MESSAGE_ID',
    async run(t) {
      const seed = await seeded(t, 'foreigntruncate', 3);
      await expectRejection('truncate(foreign id)', () => seed.wal.truncate(foreignId()), [
        'INVALID_MESSAGE_ID',
      ]);
      // Refused means nothing dropped.
      await expectLog(t, seed.wal, seed.written, 'foreign-truncate-end', 'after the refused truncate');
    },
  },
  {
    group: 'errors',
    name: 'comparing an id with another adapter id throws INVALID_MESSAGE_ID',
    async run(t) {
      const seed = await seeded(t, 'foreigncompare', 1);
      const id = seed.written[0]!.id;
      try {
        const result = id.compare(foreignId());
        fail(
          `${id.toString()}.compare(a ${FOREIGN_WAL} id) returned ${result}; use assertSameWal in compare`,
        );
      } catch (error) {
        check(
          hasCode(error, 'INVALID_MESSAGE_ID'),
          () =>
            `${id.toString()}.compare(a ${FOREIGN_WAL} id) threw ${describeError(error)}, expected INVALID_MESSAGE_ID`,
        );
      }
    },
  },
  {
    group: 'errors',
    name: 'a closed WAL rejects append, read and truncate with CLOSED',
    async run(t) {
      const seed = await seeded(t, 'closedwal', 2);
      await abortable(seed.wal.close(), t.signal, 'wal.close()');
      await abortable(seed.wal.close(), t.signal, 'a second wal.close() (must be idempotent)');
      await expectRejection(
        'append on a closed WAL',
        () => seed.wal.append(dataMessage(seed.name, 1, 99)),
        ['CLOSED'],
        5,
      );
      await expectRejection(
        'read on a closed WAL',
        () => seed.wal.read({ name: 'after-close', deliverPolicy: DeliverPolicy.all() }),
        ['CLOSED'],
      );
      await expectRejection('truncate on a closed WAL', () => seed.wal.truncate(seed.written[0]!.id), [
        'CLOSED',
      ]);
      // Refused means nothing written and nothing dropped.
      await expectLog(
        t,
        await t.open(seed.name, 2),
        seed.written,
        'closed-wal-end',
        'after the refused append and truncate',
      );
    },
  },
  {
    group: 'errors',
    name: 'a closed opener rejects open with CLOSED and has closed its WALs',
    async run(t) {
      const opener = await t.newOpener();
      const name = t.channelName('closedopener');
      const wal = await t.open(name, 1, 'rw', opener);
      const first = dataMessage(name, 1, 0);
      const written: Written[] = [{ id: await t.append(wal, first), message: first }];
      // A reader of that WAL, waiting at the end of the log: closing the opener closes it too.
      const scanner = await t.read(wal, { deliverPolicy: DeliverPolicy.all() });
      const iterator = scanner[Symbol.asyncIterator]();
      assertSameMessage(
        await nextMessage(iterator, t.signal, 'the first message'),
        written[0]!,
        'before close',
      );
      const pending = iterator.next();
      await abortable(opener.close(), t.signal, 'opener.close()');
      const outcome = await abortable(pending, t.signal, 'a pending next() to end after opener.close()').then(
        (result) => ({ result }),
        (error: unknown) => ({ error }),
      );
      check('error' in outcome ? hasCode(outcome.error, 'CLOSED') : outcome.result.done === true, () =>
        'error' in outcome
          ? `a next() pending at opener.close() threw ${describeError(outcome.error)}, expected the end or CLOSED`
          : `a next() pending at opener.close() delivered ${String(outcome.result.value?.id)} instead of ending`,
      );
      const done = await abortable(scanner.done, t.signal, 'scanner.done after opener.close()');
      check(
        done === undefined || hasCode(done, 'CLOSED'),
        () =>
          `scanner.done settled with ${describeError(done)} after opener.close(), expected undefined or CLOSED`,
      );
      await abortable(opener.close(), t.signal, 'a second opener.close() (must be idempotent)');
      await expectRejection(
        'open on a closed opener',
        () => opener.open({ channel: { name, term: 2n, accessMode: 'rw' } }),
        ['CLOSED'],
      );
      await expectRejection(
        'append on a WAL whose opener closed',
        () => wal.append(dataMessage(name, 1, 1)),
        ['CLOSED'],
        5,
      );
      await expectLog(
        t,
        await t.open(name, 2),
        written,
        'closed-opener-end',
        'after the append its closed opener refused',
      );
    },
  },
  {
    group: 'errors',
    name: 'open rejects a bad channel with INVALID_ARGUMENT',
    async run(t) {
      const opener = await t.opener();
      for (const [what, channel] of badChannels(t.channelName('bad'))) {
        await expectRejection(`open with ${what}`, async () => {
          const wal = await opener.open({ channel });
          t.defer(() => wal.close());
        }, ['INVALID_ARGUMENT']);
      }
    },
  },
  {
    group: 'errors',
    name: 'append with an aborted signal rejects ABORTED',
    async run(t) {
      const seed = await seeded(t, 'aborted', 1);
      const reason = new Error('the caller gave up');
      await expectRejection(
        'append with an already aborted signal',
        () => seed.wal.append(dataMessage(seed.name, 1, 1), { signal: AbortSignal.abort(reason) }),
        ['ABORTED'],
        5,
      );
      // ABORTED tells the caller nothing was written: the log must agree.
      await expectLog(t, seed.wal, seed.written, 'aborted-end', 'after the append rejected ABORTED');
    },
  },
  {
    group: 'errors',
    name: 'an append whose signal fires in flight lands if it resolves and not if it rejects',
    async run(t) {
      const seed = await seeded(t, 'abortinflight', 1);
      const landed: Written[] = [...seed.written];
      let seq = 1;
      for (const moment of ABORT_MOMENTS) {
        for (let attempt = 0; attempt < 2; attempt++) {
          const message = dataMessage(seed.name, 1, seq++).withProperty('aborted', moment);
          const controller = new AbortController();
          const append = seed.wal.append(message, { signal: controller.signal });
          const [outcome] = await Promise.all([
            abortable(append, t.signal, `an append aborted ${moment}`).then(
              (id) => ({ id }),
              (error: unknown) => ({ error }),
            ),
            abortAt(moment, controller),
          ]);
          if ('id' in outcome) {
            landed.push({ id: outcome.id, message });
            continue;
          }
          // ABORTED: nothing was written. A retriable fault: nothing was written either (the suite's rule).
          check(
            hasCode(outcome.error, 'ABORTED') || (WalError.is(outcome.error) && outcome.error.retriable),
            () =>
              `an append whose signal fired ${moment} rejected with ${describeError(outcome.error)}, expected ` +
              'it to resolve, or to reject ABORTED',
          );
        }
      }
      await expectLog(t, seed.wal, landed, 'abort-in-flight-end', 'after appends aborted in flight');
    },
  },
];
