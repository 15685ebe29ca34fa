import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@walstream/client';
import { newMessage } from '@walstream/core';
import { createVChannel } from '@walstream/interceptors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/index.js';
import { JsonRecord } from '../src/records.js';
import { exited, run, startUp } from './support/processes.js';

const TOKEN = 'e2e-token';
const scratch = mkdtempSync(join(tmpdir(), 'walstream-cli-e2e-'));
let up: { child: ChildProcessWithoutNullStreams; address: string; lines: string[] };

beforeAll(async () => {
  up = await startUp([
    '--memory',
    '--listen',
    '127.0.0.1:0',
    '--nodes',
    '2',
    '--pchannels',
    '2',
    '--token',
    TOKEN,
  ]);
}, 60_000);

afterAll(async () => {
  if (up && up.child.exitCode === null) {
    up.child.kill('SIGKILL');
    await exited(up.child);
  }
  rmSync(scratch, { recursive: true, force: true });
});

const client = () => ['--coord', up.address, '--token', TOKEN];

/** `walstream <argv>` in this process (the same command, without a process start). */
async function inProcess(argv: readonly string[], stdin = '') {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    env: {},
    stdin: [stdin],
  });
  return { code, out, err: err.join('\n') };
}

describe('walstream up, produce and consume in separate processes', () => {
  it('the consumer gets exactly what the producer sent, in order, bodies and properties intact', async () => {
    const vchannel = 'walstream-0_e2ev0';
    const sent = Array.from({ length: 200 }, (_, i) => ({
      body: i % 3 === 0 ? { seq: i, tags: ['a', 'b'] } : i % 3 === 1 ? `text ${i}` : i,
      properties: { seq: String(i) },
    }));
    const produced = await run(
      ['produce', ...client(), '--vchannel', vchannel, '--create'],
      `${sent.map((line) => JSON.stringify(line)).join('\n')}\n`,
    );
    expect(produced.stderr).toMatch(/produced 200 message\(s\) to walstream-0_e2ev0/);
    expect(produced.code).toBe(0);

    const consumed = await run(['consume', ...client(), '--vchannel', vchannel, '--limit', '200']);
    expect(consumed.code).toBe(0);
    const lines = consumed.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines.map((line) => ({ body: line.body, properties: line.properties }))).toEqual(sent);
    expect(lines.every((line) => line.vchannel === vchannel && line.type === 'JsonRecord')).toBe(true);
    // Timeticks never go back along a vchannel.
    const ticks = lines.map((line) => BigInt(line.timeTick));
    expect(ticks.every((tick, i) => i === 0 || tick >= ticks[i - 1]!)).toBe(true);
  }, 60_000);

  it('--raw lines round-trip as text; --from an id starts at that message', async () => {
    const vchannel = 'walstream-1_rawv0';
    const produced = await inProcess(
      ['produce', ...client(), '--vchannel', vchannel, '--create', '--raw'],
      'first line\nsecond {not json}\nthird\n',
    );
    expect(produced.code).toBe(0);
    const all = await inProcess(['consume', ...client(), '--vchannel', vchannel, '--limit', '3']);
    expect(all.out.map((line) => JSON.parse(line).body)).toEqual([
      'first line',
      'second {not json}',
      'third',
    ]);
    const second = JSON.parse(all.out[1]!).id as string;
    const from = await inProcess([
      'consume',
      ...client(),
      '--vchannel',
      vchannel,
      '--from',
      second,
      '--limit',
      '2',
    ]);
    expect(from.out.map((line) => JSON.parse(line).body)).toEqual(['second {not json}', 'third']);
  }, 30_000);
});

describe('walstream consume of txns', () => {
  it('a committed txn comes body by body with its txn id, or with --txn as one line; a rolled-back one never', async () => {
    const vchannel = 'walstream-1_txnv0';
    const writer = createClient({ coord: up.address, token: TOKEN });
    try {
      await writer.append(createVChannel(vchannel));
      const line = (body: unknown) =>
        newMessage(JsonRecord)
          .vchannel(vchannel)
          .body(new TextEncoder().encode(JSON.stringify(body)))
          .build();
      const rolledBack = await writer.txn(vchannel);
      await rolledBack.append(line('never'));
      await rolledBack.rollback();
      const txn = await writer.txn(vchannel);
      await txn.append(line('a'));
      await txn.append(line('b'));
      await txn.commit();
      await writer.append(line('after'));
    } finally {
      await writer.close();
    }
    const flat = await inProcess(['consume', ...client(), '--vchannel', vchannel, '--limit', '3']);
    const lines = flat.out.map((l) => JSON.parse(l));
    expect(lines.map((l) => l.body)).toEqual(['a', 'b', 'after']);
    expect(lines[0].txn).toMatch(/^\d+$/);
    expect(lines[1].txn).toBe(lines[0].txn);
    expect(lines[2].txn).toBeUndefined();
    const whole = await inProcess(['consume', ...client(), '--vchannel', vchannel, '--txn', '--limit', '2']);
    const [txnLine, after] = whole.out.map((l) => JSON.parse(l));
    expect(txnLine).toMatchObject({ type: 'Txn', txn: lines[0].txn });
    expect(txnLine.messages.map((m: { body: unknown }) => m.body)).toEqual(['a', 'b']);
    expect(after.body).toBe('after');
  }, 30_000);
});

describe('walstream bad input', () => {
  it('malformed JSON: exit 1 naming the line; the lines before it landed, nothing from it on', async () => {
    const vchannel = 'walstream-0_badv0';
    const bad = await run(
      ['produce', ...client(), '--vchannel', vchannel, '--create'],
      '{"body": 1}\n{"body": 2}\n{"body": 3,,}\n{"body": 4}\n',
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/line 3: malformed JSON/);
    expect(bad.stderr).toMatch(/nothing from line 3 on was sent/);
    // A marker after the failed run: the vchannel holds 1, 2, then the marker — no 3 or 4 in between.
    expect(
      (await inProcess(['produce', ...client(), '--vchannel', vchannel], '{"body": "marker"}\n')).code,
    ).toBe(0);
    const read = await inProcess(['consume', ...client(), '--vchannel', vchannel, '--limit', '3']);
    expect(read.out.map((line) => JSON.parse(line).body)).toEqual([1, 2, 'marker']);
  }, 30_000);

  it('unknown vchannel, unknown pchannel, oversize message, wrong or missing token, unreachable coordinator: clear message, exit 1', async () => {
    const closedPort = '127.0.0.1:9';
    const cases: [readonly string[], RegExp][] = [
      [
        ['produce', ...client(), '--vchannel', 'walstream-1_missingv0'],
        /vchannel walstream-1_missingv0 does not exist \(VCHANNEL_NOT_FOUND\): create it with --create/,
      ],
      [
        ['produce', ...client(), '--vchannel', 'nowhere_xv0'],
        /unknown vchannel nowhere_xv0: the service has no pchannel nowhere \(it has walstream-0, walstream-1\)/,
      ],
      [['consume', ...client(), '--vchannel', 'nowhere_xv0'], /unknown vchannel nowhere_xv0/],
      [
        ['produce', ...client(), '--vchannel', 'walstream-0_e2ev0', '--max-message-bytes', '16'],
        /line 1: the message is \d+ bytes, over --max-message-bytes 16/,
      ],
      [
        ['produce', '--coord', up.address, '--token', 'wrong', '--vchannel', 'walstream-0_e2ev0'],
        /refused the call: wrong token \(UNAUTHENTICATED\)/,
      ],
      [['status', '--coord', up.address], /refused the call: it requires a token/],
      [
        ['produce', '--coord', closedPort, '--connect-timeout', '500ms', '--vchannel', 'walstream-0_e2ev0'],
        /cannot reach the coordinator \(127\.0\.0\.1:9: no answer within 500 ms\)/,
      ],
    ];
    for (const [argv, pattern] of cases) {
      const started = performance.now();
      const result = await inProcess(argv, '{"body": "a message body over sixteen bytes"}\n');
      expect(result.err).toMatch(pattern);
      expect(result.code).toBe(1);
      expect(performance.now() - started).toBeLessThan(10_000);
    }
  }, 60_000);

  it('a --config file supplies the coordinator and the token', async () => {
    const config = join(scratch, 'walstream.json');
    writeFileSync(config, JSON.stringify({ coord: up.address, token: TOKEN }));
    const result = await inProcess(['status', '--config', config, '--json']);
    expect(result.code).toBe(0);
    const status = JSON.parse(result.out.join('\n'));
    expect(status.pchannels.map((p: { name: string; state: string }) => [p.name, p.state])).toEqual([
      ['walstream-0', 'ready'],
      ['walstream-1', 'ready'],
    ]);
    expect(status.nodes).toHaveLength(2);
  });
});

describe('walstream drain', () => {
  it('moves every pchannel off the node to the other one at the next term; an unknown node is refused', async () => {
    const before = JSON.parse((await inProcess(['status', ...client(), '--json'])).out.join('\n'));
    const nodeId = before.pchannels[0].node as string;
    const drained = await inProcess(['drain', nodeId, ...client()]);
    expect(drained.err).toMatch(new RegExp(`node ${nodeId} drained in \\d+ ms`));
    expect(drained.code).toBe(0);
    const after = JSON.parse((await inProcess(['status', ...client(), '--json'])).out.join('\n'));
    for (const pchannel of after.pchannels) {
      expect(pchannel.node).not.toBe(nodeId);
      expect(pchannel.state).toBe('ready');
      const old = before.pchannels.find((p: { name: string }) => p.name === pchannel.name);
      expect(BigInt(pchannel.term)).toBe(old.node === nodeId ? BigInt(old.term) + 1n : BigInt(old.term));
    }
    expect((await inProcess(['drain', nodeId, '--undo', ...client()])).code).toBe(0);
    const unknown = await inProcess(['drain', '999', ...client()]);
    expect(unknown.err).toMatch(/node 999 is not in session/);
    expect(unknown.code).toBe(1);
  }, 30_000);
});

describe('walstream up --demo', () => {
  it('a consumer in another process receives over gRPC what the in-process reader delivered', async () => {
    const demo = await run([
      'up',
      '--demo',
      '--memory',
      '--for',
      '1s',
      '--rate',
      '500',
      '--progress',
      '500ms',
    ]);
    expect(demo.stdout).toMatch(
      /^consumer: walstream consume --vchannel embedded-0_demo\w+v0 in process \d+, over gRPC$/m,
    );
    expect(demo.stdout).toMatch(
      /^consumer process: received all [\d,]+ messages of embedded-0_demo\w+v0 over gRPC/m,
    );
    expect(demo.stdout).toContain('check passed');
    expect(demo.code).toBe(0);
  }, 60_000);
});

describe('walstream up lifecycle', () => {
  it('was ready within 1 s of starting to serve; Ctrl-C drains and exits 0', async () => {
    const ready = up.lines.find((line) => line.startsWith('ready in'));
    expect(Number(/ready in (\d+) ms/.exec(ready ?? '')?.[1])).toBeLessThanOrEqual(1_000);
    const closed = new Promise<string>((resolve) => {
      up.child.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('closed in')) resolve(chunk.toString());
      });
    });
    up.child.kill('SIGINT');
    expect(await exited(up.child)).toBe(0);
    expect(await closed).toMatch(/closed in \d+ ms/);
  }, 30_000);
});
