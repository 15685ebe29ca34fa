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
} from '@walstream/core';
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
  code: 7303,
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

function stack(adapter: ReturnType<typeof memoryAdapter>, lines: LogLine[], policy?: 'skip' | 'fail') {
  return createWal({
    logger: recordingLogger(lines),
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
    await using opener = await stack(adapter, lines);
    const wal = await opener.open({ channel: pchannel('foreign-skip', 2n) });
    await wal.append(newMessage(Note).vchannel(notes).body('after').build());
    await using scanner = await wal.read({ vchannel: notes, deliverPolicy: DeliverPolicy.all() });
    expect(await notesUntil(scanner, 'after')).toEqual(['before', 'after']);
    const warnings = lines.filter(
      (line) => line.level === 'warn' && /not a walstream message/.test(line.message ?? ''),
    );
    // One for the recovery replay, one for the reader.
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

function fakeId() {
  return {
    walName: 'test',
    compare: () => 0,
    marshal: () => 'x',
    toString: () => 'x',
  } as unknown as Parameters<MutableMessage['intoImmutable']>[0];
}
