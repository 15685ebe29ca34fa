import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DeliverPolicy, ImmutableTxnMessage, type Wal } from '@walstream/core';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultDataDir } from '../src/commands/up.js';
import { DemoEvent, runCli, runDemo, startEmbedded } from '../src/index.js';

const scratch = mkdtempSync(join(tmpdir(), 'walstream-cli-restart-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const repository = fileURLToPath(new URL('../../../', import.meta.url));

/** Demo messages of `vchannel` in the log (plain ones and the bodies of committed txns), read from its start. */
async function demoMessagesOf(wal: Wal, vchannel: string, expected: number): Promise<number> {
  const scanner = await wal.read({ vchannel, deliverPolicy: DeliverPolicy.all() });
  let seen = 0;
  const bound = setTimeout(() => void scanner.close(), 20_000); // a bound: a reader at the end waits for more
  try {
    for await (const message of scanner) {
      if (message instanceof ImmutableTxnMessage) seen += message.bodies.length;
      else if (message.messageType === DemoEvent.code) seen++;
      if (seen >= expected) break;
    }
  } finally {
    clearTimeout(bound);
    await scanner.close();
  }
  return seen;
}

describe('walstream up on a data directory', () => {
  it('a restart continues the same log: terms go up, earlier messages stay readable, new traffic passes the check', async () => {
    const dataDir = join(scratch, 'continues');
    const first = await startEmbedded({ pchannels: 2, dataDir });
    expect(first.pchannels.map((p) => [p.term, p.records])).toEqual([
      [1n, 0],
      [1n, 0],
    ]);
    const before = await runDemo(first.wals, {
      durationMs: 400,
      rate: 1_000,
      progressMs: 10_000,
      out: () => {},
    });
    await first.close();
    expect(before.problems).toEqual([]);
    expect(before.delivered).toBeGreaterThan(100);

    const second = await startEmbedded({ pchannels: 2, dataDir });
    try {
      for (const pchannel of second.pchannels) {
        expect(pchannel.term).toBe(2n);
        expect(pchannel.records).toBeGreaterThan(before.delivered / 2);
      }
      // Every message the first run's readers saw is still in the log, in the first run's vchannels.
      for (const [i, vchannel] of before.vchannels.entries()) {
        expect(await demoMessagesOf(second.wals[i]!, vchannel.name, vchannel.delivered)).toBe(
          vchannel.delivered,
        );
      }
      expect(before.vchannels.reduce((sum, v) => sum + v.delivered, 0)).toBe(before.delivered);
      const after = await runDemo(second.wals, {
        durationMs: 400,
        rate: 1_000,
        progressMs: 10_000,
        out: () => {},
      });
      expect(after.problems).toEqual([]);
      expect(after.vchannels).not.toEqual(before.vchannels);
      expect(after.appended).toBeGreaterThan(100);
    } finally {
      await second.close();
    }
  }, 60_000);

  it('a second walstream up on a directory in use exits 1 naming the process that holds it', async () => {
    const dataDir = join(scratch, 'busy');
    const holder = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'packages/cli/src/bin.ts',
        'up',
        '--pchannels',
        '1',
        '--data-dir',
        dataDir,
        '--listen',
        '127.0.0.1:0',
      ],
      {
        cwd: repository,
        env: { ...process.env, TSX_TSCONFIG_PATH: 'tsconfig.tests.json' },
      },
    );
    const exited = new Promise<number | null>((resolve) => holder.once('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        const bound = setTimeout(() => reject(new Error('the holder did not come up in 30 s')), 30_000);
        createInterface({ input: holder.stdout }).on('line', (line) => {
          if (line.includes('Ctrl-C stops it')) {
            clearTimeout(bound);
            resolve();
          }
        });
      });
      const out: string[] = [];
      const err: string[] = [];
      const code = await runCli(
        ['up', '--pchannels', '1', '--data-dir', dataDir, '--listen', '127.0.0.1:0'],
        {
          out: (line) => out.push(line),
          err: (line) => err.push(line),
        },
      );
      expect(code).toBe(1);
      expect(err.join('\n')).toContain(`in use by process ${holder.pid}`);
      expect(out).toEqual([]);
    } finally {
      holder.kill('SIGINT');
    }
    expect(await exited).toBe(0); // a clean shutdown of the holder
  }, 60_000);

  it('without --data-dir the data lives under the user data path, printed at start', async () => {
    const xdg = join(scratch, 'xdg');
    const saved = process.env.XDG_DATA_HOME;
    process.env.XDG_DATA_HOME = xdg;
    try {
      const out: string[] = [];
      const code = await runCli(['up', '--pchannels', '1', '--for', '10ms'], {
        out: (line) => out.push(line),
        err: () => {},
      });
      expect(code).toBe(0);
      expect(out.join('\n')).toContain(
        `data: ${join(xdg, 'walstream')} (the default; --data-dir DIR for another, --memory to keep nothing)`,
      );
    } finally {
      if (saved === undefined) delete process.env.XDG_DATA_HOME;
      else process.env.XDG_DATA_HOME = saved;
    }
    expect(defaultDataDir({}, '/home/ada', 'linux')).toBe('/home/ada/.local/share/walstream');
    expect(defaultDataDir({ XDG_DATA_HOME: 'relative/path' }, '/home/ada', 'linux')).toBe(
      '/home/ada/.local/share/walstream',
    );
    expect(defaultDataDir({ XDG_DATA_HOME: '/data' }, '/home/ada', 'linux')).toBe('/data/walstream');
  });

  it('--memory keeps nothing: it says so, and writes no files', async () => {
    const xdg = join(scratch, 'xdg-memory');
    const saved = process.env.XDG_DATA_HOME;
    process.env.XDG_DATA_HOME = xdg;
    const out: string[] = [];
    try {
      const code = await runCli(['up', '--pchannels', '1', '--for', '10ms', '--memory'], {
        out: (line) => out.push(line),
        err: () => {},
      });
      expect(code).toBe(0);
    } finally {
      if (saved === undefined) delete process.env.XDG_DATA_HOME;
      else process.env.XDG_DATA_HOME = saved;
    }
    expect(out.join('\n')).toContain('on the memory store (--memory: nothing is kept after exit)');
    expect(out.join('\n')).not.toContain('data:');
    expect(existsSync(xdg)).toBe(false);
  });
});
