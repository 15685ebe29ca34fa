import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { memoryAdapter } from '@walstream/adapter-memory';
import { createWal, defineMessageType, newMessage, pchannel, WalError } from '@walstream/core';
import { describe, expect, it } from 'vitest';

const Note = defineMessageType({ name: 'LifecycleTestNote', code: 4111, flags: {} });
const note = () => newMessage(Note).vchannel('life_1v0').build();

async function rejection(promise: Promise<unknown>): Promise<WalError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!WalError.is(error)) throw new Error(`expected a WalError, got ${String(error)}`);
  return error;
}

describe('closed by its owner', () => {
  it('a closed WAL rejects append, read and truncate with CLOSED, not retriable', async () => {
    const opener = await createWal().adapter(memoryAdapter()).build();
    const wal = await opener.open({ channel: pchannel('life', 1n) });
    const { messageId } = await wal.append(note());
    await wal.close();
    for (const attempt of [wal.append(note()), wal.read(), wal.truncate(messageId)]) {
      const error = await rejection(attempt);
      expect({ code: error.code, retriable: error.retriable }).toEqual({ code: 'CLOSED', retriable: false });
    }
    await opener.close();
  });

  it('a closed opener rejects open with CLOSED, not retriable', async () => {
    const opener = await createWal().adapter(memoryAdapter()).build();
    await opener.close();
    const error = await rejection(opener.open({ channel: pchannel('life', 1n) }));
    expect({ code: error.code, retriable: error.retriable }).toEqual({ code: 'CLOSED', retriable: false });
  });

  it('an open racing the opener close rejects CLOSED and leaves no WAL open', async () => {
    const opener = await createWal().adapter(memoryAdapter()).build();
    const opening = opener.open({ channel: pchannel('life', 1n) });
    const closing = opener.close();
    const outcome = await opening.then(
      (wal) => wal.state,
      (e: unknown) => (WalError.is(e) ? e.code : 'other'),
    );
    await closing;
    // Either the open won (and the close closed its WAL) or it lost and says so.
    expect(['closed', 'CLOSED']).toContain(outcome);
  });
});

describe('WalError', () => {
  it('JSON.stringify keeps code, retriable, message and bigint details as strings', () => {
    const cause = new WalError('UNAVAILABLE', 'broker gone');
    const error = new WalError('CHANNEL_FENCED', 'fenced', { details: { term: 7n, pchannel: 'p' }, cause });
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      name: 'WalError',
      code: 'CHANNEL_FENCED',
      retriable: false,
      message: 'fenced',
      details: { term: '7', pchannel: 'p' },
      cause: { name: 'WalError', code: 'UNAVAILABLE', retriable: true, message: 'broker gone', details: {} },
    });
  });
});

describe('a waiting scanner', () => {
  it('keeps the process alive like a socket with a pending read', () => {
    const script = fileURLToPath(new URL('./fixtures/tail-keeps-process-alive.ts', import.meta.url));
    const root = fileURLToPath(new URL('../../../', import.meta.url));
    const run = spawnSync('npx', ['tsx', '--tsconfig', 'tsconfig.tests.json', script], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
    });
    // Without the hold, Node ends the unsettled top-level await with exit code 13 and prints nothing.
    expect({ status: run.status, stdout: run.stdout }).toEqual({ status: 0, stdout: 'got 4901\n' });
  });
});
