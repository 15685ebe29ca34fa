import { memoryAdapter } from '@walstream/adapter-memory';
import {
  createWal,
  DeliverPolicy,
  decodeBody,
  defineMessageType,
  foreignReason,
  hasCode,
  MutableMessage,
  newMessage,
  pchannel,
  type Scanner,
  vchannelName,
  WalError,
} from '@walstream/core';
import type { RawScanner, WalImpls, WalImplsBuilder, WalImplsOpener } from '@walstream/core/spi';
import { createVChannel, walSemantics } from '@walstream/interceptors';
import { type LogLine, recordingLogger } from '@walstream/testkit';
import { describe, expect, test } from 'vitest';

/**
 * Records in a pchannel's log that are not walstream messages — another client's, or one with a garbage
 * timetick — under the stack's `runtime.foreignRecords` policy: `skip` (default) passes over them, warns
 * once per reader and counts them; `fail` ends the reader (done settles, state failed) and the
 * recovery replay of a read-write reopen.
 */
const Note = defineMessageType<string>({
  name: 'ForeignTestNote',
  code: 7413,
  flags: {},
  codec: { encode: (s) => new TextEncoder().encode(s), decode: (b) => new TextDecoder().decode(b) },
});

const FOREIGN = [
  new MutableMessage(new TextEncoder().encode('another client'), { source: 'elsewhere' }),
  new MutableMessage(new Uint8Array(0), { _tt: 'not base 36!', _t: '1' }),
  new MutableMessage(new Uint8Array(0), { _tt: 'zz', _t: 'x' }),
];

/** A log with notes at term 1, then foreign records appended straight to the adapter. */
async function seeded(name: string) {
  const adapter = memoryAdapter();
  const notes = vchannelName(name, 'notes');
  {
    await using opener = await createWal()
      .adapter(adapter)
      .use(...walSemantics())
      .build();
    const wal = await opener.open({ channel: pchannel(name, 1n) });
    await wal.append(createVChannel(notes));
    await wal.append(newMessage(Note).vchannel(notes).body('before').build());
  }
  const raw = await adapter.build();
  const wal = await raw.open({ channel: pchannel(name, 1n) });
  for (const message of FOREIGN) await wal.append(message);
  await raw.close();
  return { adapter, notes };
}

/** Counter adds by instrument name, through a meter provider that records counters and ignores the rest. */
function recordingMeterProvider(adds: { name: string; value: number; attributes: unknown }[]) {
  const ignored = { add() {}, record() {}, addCallback() {}, removeCallback() {} };
  const meter = {
    createCounter: (name: string) => ({
      add: (value: number, attributes?: unknown) => adds.push({ name, value, attributes }),
    }),
    createHistogram: () => ignored,
    createUpDownCounter: () => ignored,
    createObservableGauge: () => ignored,
    createObservableCounter: () => ignored,
    createObservableUpDownCounter: () => ignored,
    addBatchObservableCallback() {},
    removeBatchObservableCallback() {},
  };
  return { getMeter: () => meter } as unknown as NonNullable<
    Parameters<typeof createWal>[0]
  >['meterProvider'];
}

function stack(
  adapter: ReturnType<typeof memoryAdapter>,
  lines: LogLine[],
  policy?: 'skip' | 'fail',
  adds: { name: string; value: number; attributes: unknown }[] = [],
) {
  return createWal({
    logger: recordingLogger(lines),
    meterProvider: recordingMeterProvider(adds),
    ...(policy ? { runtime: { foreignRecords: policy } } : {}),
  })
    .adapter(adapter)
    .use(...walSemantics())
    .build();
}

async function notesUntil(scanner: Scanner, last: string): Promise<string[]> {
  const got: string[] = [];
  for await (const message of scanner) {
    if (message.messageType !== Note.code) continue;
    got.push(decodeBody(Note, message));
    if (got.at(-1) === last) break;
  }
  return got;
}

describe('foreign records', () => {
  test('each kind is told apart from walstream messages, with a reason', () => {
    expect(FOREIGN.map((m) => foreignReason(m.intoImmutable(fakeId())))).toEqual([
      'it has no timetick (_tt)',
      'its timetick (_tt) "not base 36!" is not a base-36 number',
      'its message type (_t) "x" is not a number',
    ]);
  });

  test('skip (the default): a read-write reopen recovers past them and readers pass over them, warned once', async () => {
    const { adapter, notes } = await seeded('foreign-skip');
    const lines: LogLine[] = [];
    const adds: { name: string; value: number; attributes: unknown }[] = [];
    await using opener = await stack(adapter, lines, undefined, adds);
    const wal = await opener.open({ channel: pchannel('foreign-skip', 2n) });
    await wal.append(newMessage(Note).vchannel(notes).body('after').build());
    await using scanner = await wal.read({ vchannel: notes, deliverPolicy: DeliverPolicy.all() });
    expect(await notesUntil(scanner, 'after')).toEqual(['before', 'after']);
    const warnings = lines.filter(
      (line) => line.level === 'warn' && /not a walstream message/.test(line.message ?? ''),
    );
    // Every foreign record counted, by the recovery replay and by the reader: three each.
    const counted = adds.filter((add) => add.name === 'walstream.foreign_records');
    expect(counted.reduce((sum, add) => sum + add.value, 0)).toBe(2 * FOREIGN.length);
    expect(counted.every((add) => JSON.stringify(add.attributes) === '{"pchannel":"foreign-skip"}')).toBe(
      true,
    );
    // Warned once each: by the recovery replay and by the reader.
    expect(warnings.map((line) => line.fields.reader)).toEqual([
      expect.stringMatching(/^recovery reader /),
      expect.stringMatching(/^scanner /),
    ]);
  });

  test('fail: a reader that meets one ends — done settles with the error, state failed', async () => {
    const { adapter } = await seeded('foreign-fail-read');
    const lines: LogLine[] = [];
    await using opener = await stack(adapter, lines, 'fail');
    const wal = await opener.open({ channel: pchannel('foreign-fail-read', 1n, 'ro') });
    const scanner = await wal.read({ deliverPolicy: DeliverPolicy.all() });
    const states: string[] = [];
    scanner.state$.subscribe((state) => states.push(state));
    let thrown: unknown;
    try {
      for await (const _ of scanner) {
        // drain until the foreign record
      }
    } catch (error) {
      thrown = error;
    }
    expect(hasCode(thrown, 'UNRECOVERABLE')).toBe(true);
    expect(await scanner.done).toBe(thrown);
    expect(states.at(-1)).toBe('failed');
    expect((thrown as { details: Record<string, unknown> }).details.reason).toBe('foreign-record');
  });

  test('fail: a read-write reopen refuses to recover past one', async () => {
    const { adapter } = await seeded('foreign-fail-open');
    await using opener = await stack(adapter, [], 'fail');
    await expect(opener.open({ channel: pchannel('foreign-fail-open', 2n) })).rejects.toMatchObject({
      code: 'UNRECOVERABLE',
      details: { reason: 'foreign-record' },
    });
  });

  test('an unknown policy is refused naming the option', () => {
    expect(() => createWal({ runtime: { foreignRecords: 'ignore' as 'skip' } })).toThrow(
      /runtime.foreignRecords/,
    );
  });
});

/**
 * The memory adapter, with readers that fail on one entry as an adapter does on an entry it cannot
 * decode (UNRECOVERABLE, `details.reason` and the entry's id); a reader that starts after it reads on.
 */
function withUndecodable(
  inner: ReturnType<typeof memoryAdapter>,
  damaged: () => string | undefined,
): WalImplsBuilder {
  const failingRaw = (raw: RawScanner): RawScanner => ({
    get name() {
      return raw.name;
    },
    get buffered() {
      return raw.buffered;
    },
    done: raw.done,
    close: () => raw.close(),
    [Symbol.asyncDispose]: () => raw.close(),
    async *[Symbol.asyncIterator]() {
      for await (const message of raw) {
        if (message.id.marshal() === damaged()) {
          await raw.close();
          throw new WalError('UNRECOVERABLE', 'cannot read an entry: its zstd payload does not decode', {
            retriable: false,
            details: { reason: 'malformed-payload', codec: 'zstd', messageId: message.id.marshal() },
          });
        }
        yield message;
      }
    },
  });
  const wrapWal = (wal: WalImpls): WalImpls => {
    const read = async (options: Parameters<WalImpls['read']>[0]) => failingRaw(await wal.read(options));
    return new Proxy(wal, {
      get(target, property) {
        if (property === 'read') return read;
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  };
  return {
    name: inner.name,
    capabilities: inner.capabilities,
    async build(options) {
      const opener = await inner.build(options);
      return {
        open: async (openOptions) => wrapWal(await opener.open(openOptions)),
        close: () => opener.close(),
        [Symbol.asyncDispose]: () => opener.close(),
      } satisfies WalImplsOpener;
    },
  };
}

describe('entries the adapter cannot decode', () => {
  test('skip: recovery and readers read on after the entry, warned and counted like a foreign record', async () => {
    const { adapter, notes } = await seeded('undecodable-skip');
    // The first foreign record stands for an entry of a codec the adapter cannot read.
    const raw = await (await adapter.build()).open({ channel: pchannel('undecodable-skip', 1n, 'ro') });
    let damaged: string | undefined;
    for await (const message of await raw.read({ name: 'find', deliverPolicy: DeliverPolicy.all() })) {
      if (message.properties.source === 'elsewhere') {
        damaged = message.id.marshal();
        break;
      }
    }
    expect(damaged).toBeDefined();
    const lines: LogLine[] = [];
    await using opener = await createWal({ logger: recordingLogger(lines) })
      .adapter(withUndecodable(adapter, () => damaged))
      .use(...walSemantics())
      .build();
    const wal = await opener.open({ channel: pchannel('undecodable-skip', 2n) });
    await wal.append(newMessage(Note).vchannel(notes).body('after').build());
    await using scanner = await wal.read({ vchannel: notes, deliverPolicy: DeliverPolicy.all() });
    expect(await notesUntil(scanner, 'after')).toEqual(['before', 'after']);
    const skipped = lines.filter((line) => line.fields.messageId === damaged);
    expect(skipped.map((line) => String(line.fields.reader).split(' ')[0])).toEqual(['recovery', 'scanner']);
  });

  test('fail: the reader ends with the policy error, the adapter error as its cause', async () => {
    const { adapter } = await seeded('undecodable-fail');
    const raw = await (await adapter.build()).open({ channel: pchannel('undecodable-fail', 1n, 'ro') });
    let damaged: string | undefined;
    for await (const message of await raw.read({ name: 'find', deliverPolicy: DeliverPolicy.all() })) {
      if (message.properties.source === 'elsewhere') {
        damaged = message.id.marshal();
        break;
      }
    }
    await using opener = await createWal({ runtime: { foreignRecords: 'fail' } })
      .adapter(withUndecodable(adapter, () => damaged))
      .use(...walSemantics())
      .build();
    const wal = await opener.open({ channel: pchannel('undecodable-fail', 1n, 'ro') });
    const scanner = await wal.read({ deliverPolicy: DeliverPolicy.all() });
    let thrown: unknown;
    try {
      for await (const _ of scanner) {
        // until the damaged entry
      }
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({
      code: 'UNRECOVERABLE',
      details: { reason: 'foreign-record', messageId: damaged },
    });
    expect((thrown as Error).cause).toMatchObject({ details: { reason: 'malformed-payload' } });
    expect(await scanner.done).toBe(thrown);
  });
});

function fakeId() {
  return {
    walName: 'test',
    compare: () => 0,
    marshal: () => 'x',
    toString: () => 'x',
  } as unknown as Parameters<MutableMessage['intoImmutable']>[0];
}
