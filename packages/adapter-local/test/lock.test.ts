import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { localAdapter } from '@walstream/adapter-local';
import { pchannel } from '@walstream/core';
import { describe, expect, it } from 'vitest';
import { message, readAll, rejectsWith, scratchDirectory, seqOf, within } from './helpers.js';
import { lineMatching, spawnFixture, watch } from './processes.js';

const root = scratchDirectory('lock');
let counter = 0;
const freshDirectory = () => join(root, `d${++counter}`);
const LINUX = process.platform === 'linux' && existsSync('/proc/self/stat');

/** Writes a LOCK file as another process would have. */
async function planted(directory: string, holder: Record<string, unknown>): Promise<void> {
  await mkdir(directory, { recursive: true });
  await writeFile(
    join(directory, 'LOCK'),
    `${JSON.stringify({ nonce: 'planted', since: 'then', host: hostname(), ...holder })}\n`,
  );
}

function procStartTicks(pid: number): string {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ')[19]!;
}

function bootId(): string {
  return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
}

describe('one process at a time on a directory', () => {
  it('a second process is refused RESOURCE_ACQUIRED naming the holder; after the holder is killed the next open succeeds', async () => {
    const directory = freshDirectory();
    const holder = spawnFixture('hold-lock.ts', [directory]);
    const outcome = watch(holder, () => undefined);
    try {
      const [, pid] = await within(lineMatching(holder, /^locked (\d+)$/), 30_000, 'the holder to lock');
      const refused = await rejectsWith(localAdapter({ directory }).build(), 'RESOURCE_ACQUIRED');
      expect(refused.message).toContain(`process ${pid}`);
      expect(refused.message).toContain(directory);
      expect(refused.details.lockFile).toBe(join(directory, 'LOCK'));
    } finally {
      holder.kill('SIGKILL');
    }
    expect((await outcome).signal).toBe('SIGKILL');
    expect(existsSync(join(directory, 'LOCK'))).toBe(true); // left behind by the killed holder

    const opener = await localAdapter({ directory }).build();
    expect(JSON.parse(await readFile(join(directory, 'LOCK'), 'utf8'))).toMatchObject({ pid: process.pid });
    const wal = await opener.open({ channel: pchannel('after', 1n) });
    await wal.append(message(1));
    await opener.close();
    expect(existsSync(join(directory, 'LOCK'))).toBe(false);
  });

  it('a holder that closes removes the lock file, and the next process opens the directory', async () => {
    const directory = freshDirectory();
    const holder = spawnFixture('hold-lock.ts', [directory]);
    const lines: string[] = [];
    const outcome = watch(holder, (line) => lines.push(line));
    await within(lineMatching(holder, /^locked/), 30_000, 'the holder to lock');
    holder.stdin.end();
    expect((await outcome).code).toBe(0);
    expect(lines).toContain('released');
    expect(existsSync(join(directory, 'LOCK'))).toBe(false);
    const adapter = localAdapter({ directory });
    const opener = await adapter.build();
    const wal = await opener.open({ channel: pchannel('next', 1n) });
    await wal.append(message(2));
    expect((await readAll(wal, adapter)).map(seqOf)).toEqual([2]);
    await opener.close();
  });

  it('openers in one process share the lock; it is released when the last one closes', async () => {
    const directory = freshDirectory();
    const a = await localAdapter({ directory }).build();
    const b = await localAdapter({ directory }).build();
    await a.close();
    expect(existsSync(join(directory, 'LOCK'))).toBe(true);
    await b.close();
    expect(existsSync(join(directory, 'LOCK'))).toBe(false);
  });
});

describe('a lock file whose holder is gone is taken over', () => {
  it('a holder process that no longer exists', async () => {
    const directory = freshDirectory();
    const gone = spawnFixture('hold-lock.ts', [join(root, 'elsewhere')]);
    const exited = watch(gone, () => undefined);
    gone.kill('SIGKILL');
    await exited;
    await planted(directory, { pid: gone.pid });
    await (await localAdapter({ directory }).build()).close();
  });

  it('an unreadable lock file (the machine stopped before it was written whole)', async () => {
    const directory = freshDirectory();
    await mkdir(directory, { recursive: true });
    await writeFile(join(directory, 'LOCK'), '{"pid":');
    await (await localAdapter({ directory }).build()).close();
  });

  it.skipIf(!LINUX)(
    'a live pid that started at another time (the pid was reused), or before a reboot',
    async () => {
      const reused = freshDirectory();
      await planted(reused, {
        pid: 1,
        bootId: bootId(),
        startTicks: String(Number(procStartTicks(1)) + 12345),
      });
      await (await localAdapter({ directory: reused }).build()).close();
      const rebooted = freshDirectory();
      await planted(rebooted, {
        pid: 1,
        bootId: '00000000-0000-0000-0000-000000000000',
        startTicks: procStartTicks(1),
      });
      await (await localAdapter({ directory: rebooted }).build()).close();
    },
  );

  it.skipIf(!LINUX)(
    'but not a live process that is the holder, nor a holder on another machine',
    async () => {
      const live = freshDirectory();
      await planted(live, { pid: 1, bootId: bootId(), startTicks: procStartTicks(1) });
      expect(
        (await rejectsWith(localAdapter({ directory: live }).build(), 'RESOURCE_ACQUIRED')).message,
      ).toContain('process 1 ');
      const remote = freshDirectory();
      await planted(remote, { pid: 999_999, host: 'another-machine' });
      expect(
        (await rejectsWith(localAdapter({ directory: remote }).build(), 'RESOURCE_ACQUIRED')).message,
      ).toContain('on another-machine');
    },
  );
});
