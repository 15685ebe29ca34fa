import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryAdapter } from '@walstream/adapter-memory';
import type { Scanner, Wal } from '@walstream/core';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { duration } from '../src/command.js';
import { resolveCommandLine, runCli, runDemo, startEmbedded } from '../src/index.js';

const parseUpArgs = (argv: readonly string[]) =>
  resolveCommandLine(['up', ...argv], { out: () => {}, err: () => {}, env: {} });

const scratch = mkdtempSync(join(tmpdir(), 'walstream-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let directories = 0;
/** A data directory of its own for one test. */
const dataDir = () => join(scratch, `data-${++directories}`);

function capture(stop?: AbortSignal) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: { out: (line: string) => out.push(line), err: (line: string) => err.push(line), stop, env: {} },
  };
}

describe('walstream up --demo', () => {
  it('runs traffic through the embedded stack, prints progress, checks what readers saw, and shuts down', async () => {
    const { out, err, io } = capture();
    const directory = dataDir();
    const code = await runCli(
      ['up', '--demo', '--for', '1s', '--rate', '800', '--progress', '200ms', '--data-dir', directory],
      io,
    );
    expect(err).toEqual([]);
    expect(code).toBe(0);
    const text = out.join('\n');
    expect(text).toContain('embedded mode, 2 pchannel(s) on the local store');
    expect(text).toContain(`data: ${directory}\n`);
    expect(text).toContain('embedded-0 at term 1 (a new log)');
    expect(out.filter((line) => /^\s+\d+\.\ds {2}appended/.test(line)).length).toBeGreaterThanOrEqual(3);
    expect(text).toContain('check passed');
    expect(text).toMatch(/closed: embedded-0 closed, embedded-1 closed/);
    const appended = Number(/appended ([\d,]+) messages/.exec(text)![1]!.replaceAll(',', ''));
    expect(appended).toBeGreaterThan(100);
  });

  it('with 20 % injected append errors, readers still see exactly what was acknowledged', async () => {
    const adapter = memoryAdapter();
    const service = await startEmbedded({ pchannels: 2, adapter, namePrefix: 'faulty' });
    for (const wal of service.wals) adapter.store.faults(wal.channel.name).set({ appendErrorRate: 0.2 });
    const report = await runDemo(service.wals, {
      durationMs: 600,
      rate: 1_000,
      progressMs: 10_000,
      out: () => {},
    });
    await service.close();
    expect(report.problems).toEqual([]);
    expect(report.appended).toBeGreaterThan(100);
    expect(report.txnsCommitted).toBeGreaterThan(0);
    expect(report.txnsRolledBack).toBeGreaterThan(0);
  });

  it('the check reports a reader that delivers a message twice', async () => {
    const service = await startEmbedded({ pchannels: 1, namePrefix: 'dup' });
    const [wal] = service.wals as [Wal];
    const duplicating = {
      channel: wal.channel,
      append: wal.append.bind(wal),
      read: async (options: Parameters<Wal['read']>[0]) => {
        const inner = await wal.read(options);
        return {
          async *[Symbol.asyncIterator]() {
            for await (const message of inner) {
              yield message;
              yield message;
            }
          },
          close: () => inner.close(),
        } as unknown as Scanner;
      },
    } as unknown as Wal;
    const report = await runDemo([duplicating], {
      durationMs: 200,
      rate: 200,
      progressMs: 10_000,
      out: () => {},
    });
    await service.close();
    expect(report.problems.some((problem) => /delivered 2 times/.test(problem))).toBe(true);
  });

  it('a stop signal ends a service that was to stay up, and it closes cleanly', async () => {
    const stop = new AbortController();
    const { out, io } = capture(stop.signal);
    const running = runCli(['up', '--pchannels', '1', '--memory', '--listen', '127.0.0.1:0'], {
      ...io,
      out: (line) => {
        io.out(line);
        if (line.includes('Ctrl-C')) stop.abort();
      },
    });
    await expect(running).resolves.toBe(0);
    expect(out.join('\n')).toMatch(/coordinator: 127\.0\.0\.1:\d+\n/);
    expect(out.at(-1)).toMatch(/^closed in \d+ ms$/);
  });
});

describe('walstream arguments', () => {
  it('bad usage exits 2 and names the problem; nothing starts', async () => {
    for (const [argv, pattern] of [
      [['up', '--pchannels', '0'], /--pchannels must be an integer in 1\.\.64, got "0"/],
      [['up', '--rate', 'fast'], /--rate must be an integer/],
      [['up', '--for', '10'], /--for must be a duration/],
      [['up', '--bogus'], /unknown option '--bogus'/],
      [['up', '--memory', '--data-dir', 'x'], /--memory and --data-dir exclude each other/],
      [['up', '--data-dir', ''], /--data-dir must name a directory/],
      [['launch'], /unknown command 'launch'/],
    ] as const) {
      const { out, err, io } = capture();
      expect(await runCli(argv, io)).toBe(2);
      expect(err.join('\n')).toMatch(pattern);
      expect(out.join('\n')).not.toContain('embedded mode');
    }
  });

  it('durations: every well-formed one parses to its milliseconds; anything else is INVALID_ARGUMENT', () => {
    const units = { ms: 1, s: 1_000, m: 60_000 } as const;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000 }), fc.constantFrom('ms', 's', 'm'), (n, unit) => {
        expect(duration('--for', `${n}${unit}`)).toBe(n * units[unit as keyof typeof units]);
      }),
    );
    fc.assert(
      fc.property(fc.string(), (raw) => {
        fc.pre(!/^\d+(\.\d+)?(ms|s|m|h)$/.test(raw));
        expect(() => duration('--for', raw)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
      }),
    );
  });

  it('--demo defaults to a 5 s run; without it the service stays up until stopped', async () => {
    expect(await parseUpArgs(['--demo'])).toMatchObject({
      demo: true,
      forMs: 5_000,
      pchannels: 2,
      rate: 2_000,
    });
    expect(await parseUpArgs([])).toMatchObject({ demo: false, forMs: undefined });
    expect(await parseUpArgs(['--help'])).toBe('help');
  });
});

describe('walstream options from flags, environment and config file', () => {
  it('flags win over WALSTREAM_* variables, which win over the config file, which wins over defaults', async () => {
    const config = join(scratch, 'walstream.json');
    writeFileSync(config, JSON.stringify({ rate: 300, pchannels: 3, up: { progress: '2s', for: '1m' } }));
    const io = { out: () => {}, err: () => {}, env: { WALSTREAM_PCHANNELS: '5', WALSTREAM_FOR: '9s' } };
    expect(await resolveCommandLine(['up', '--config', config, '--for', '7s'], io)).toMatchObject({
      forMs: 7_000, // flag over env and the file's up section
      pchannels: 5, // env over the file
      rate: 300, // file (top level) over the default
      progressMs: 2_000, // file (command section) over the default
    });
    expect(
      await resolveCommandLine(['up'], {
        ...io,
        env: { WALSTREAM_CONFIG: config, WALSTREAM_MEMORY: 'true' },
      }),
    ).toMatchObject({ pchannels: 3, store: { kind: 'memory' } });
  });

  it('a bad value from any source, a bad config file and an unknown key are bad usage (exit 2) naming where', async () => {
    const bad = join(scratch, 'bad.json');
    writeFileSync(bad, '{"pchannels": 3,');
    const unknown = join(scratch, 'unknown.json');
    writeFileSync(unknown, '{"up": {"nodez": 3}}');
    const outOfRange = join(scratch, 'range.json');
    writeFileSync(outOfRange, '{"pchannels": 99}');
    for (const [argv, env, pattern] of [
      [['up'], { WALSTREAM_PCHANNELS: '0' }, /WALSTREAM_PCHANNELS must be an integer in 1\.\.64, got "0"/],
      [['up', '--config', bad], {}, /--config .*bad\.json: not valid JSON/],
      [['up', '--config', unknown], {}, /unknown key "up\.nodez"/],
      [['up', '--config', outOfRange], {}, /range\.json: pchannels must be an integer in 1\.\.64, got "99"/],
      [['up', '--config', join(scratch, 'missing.json')], {}, /cannot read it \(ENOENT\)/],
      [['up'], { WALSTREAM_MEMORY: 'maybe' }, /WALSTREAM_MEMORY must be 1\/true\/yes or 0\/false\/no/],
    ] as const) {
      const { err, io } = capture();
      expect(await runCli(argv, { ...io, env })).toBe(2);
      expect(err.join('\n')).toMatch(pattern);
    }
  });

  it('--help on the program and on a command, and --version, exit 0; no command is bad usage', async () => {
    for (const argv of [['--help'], ['up', '--help'], ['help'], ['help', 'up']]) {
      const { out, io } = capture();
      expect(await runCli(argv, io)).toBe(0);
      expect(out.join('\n')).toMatch(/Usage: walstream/);
    }
    const version = capture();
    expect(await runCli(['--version'], version.io)).toBe(0);
    expect(version.out).toEqual([expect.stringMatching(/^\d+\.\d+\.\d+/)]);
    const none = capture();
    expect(await runCli([], none.io)).toBe(2);
    expect(none.err.join('\n')).toMatch(/Commands:\n\s+up/);
  });
});
