import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { extractBlocks } from './markdown.js';
import { type Outcome, runDocSnippets, summarize, unsafeShellLines } from './runner.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fence = '```';

describe('extractBlocks', () => {
  it('reads fences of either kind and length, their info words, and strips the fence indentation', () => {
    const markdown = [
      '# t',
      `${fence}ts fragment`,
      'const a = 1;',
      fence,
      '- item',
      '',
      `  ${fence}ts`,
      '  const b = 2;',
      '    nested();',
      `  ${fence}`,
      '~~~~sh norun',
      `${fence}`,
      'pnpm add x',
      '~~~~',
      `${fence}`,
      'plain',
      fence,
    ].join('\n');
    const blocks = extractBlocks('docs/t.md', markdown);
    expect(blocks.map((b) => [b.line, b.language, b.kind, b.words, b.code])).toEqual([
      [2, 'ts', 'ts', ['fragment'], 'const a = 1;\n'],
      [7, 'ts', 'ts', [], 'const b = 2;\n  nested();\n'],
      [11, 'sh', 'sh', ['norun'], '```\npnpm add x\n'],
      [15, '', 'other', [], 'plain\n'],
    ]);
  });

  it('runs an unclosed fence to the end and knows the broker words', () => {
    const [block] = extractBlocks(
      'README.md',
      `text\n${fence}TypeScript needs-kafka needs-pulsar needs-etcd\nx();`,
    );
    expect(block).toMatchObject({
      line: 2,
      kind: 'ts',
      code: 'x();\n',
      brokers: ['kafka', 'pulsar', 'etcd'],
    });
  });
});

describe('unsafeShellLines', () => {
  it('lets only the repository commands run, one a line', () => {
    const code = [
      '# a comment',
      'pnpm walstream up --demo            # 5 s',
      'pnpm demo',
      'pnpm add -D vitest',
      'pnpm walstream up && rm -rf /tmp/x',
      'pnpm walstreamer',
      '',
    ].join('\n');
    expect(unsafeShellLines(code)).toEqual([
      'pnpm add -D vitest',
      'pnpm walstream up && rm -rf /tmp/x',
      'pnpm walstreamer',
    ]);
  });
});

describe('runDocSnippets', () => {
  const fixtureDir = `.cache/doc-snippets-test-${process.pid}`;
  const dir = join(root, fixtureDir);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('passes what type-checks and exits 0, fails the rest with the reason, and counts what it skipped', async () => {
    const blocks: [string, string][] = [
      ['ts', "import { vchannelName } from '@walstream/core';\nconsole.log(vchannelName('a', 'b'));"],
      ['ts', "const n: number = 'not a number';"],
      ['ts', 'const = ;'], // a syntax error must not hide the type error above
      ['ts', 'await new Promise(() => {});'],
      ['ts', 'setInterval(() => {}, 1000);'],
      ['ts', 'process.exit(3);'],
      ['ts fragment', 'not code at all'],
      ['ts norun', "import { test } from 'vitest';\ntest('x', () => {});"],
      ['ts norun', 'const s: string = 1;'],
      ['ts frament', 'const typo = 1;'],
      ['ts needs-kafka', 'console.log(process.env.KAFKA_BROKERS);'],
      ['sh norun', 'pnpm install'],
      ['sh', 'pnpm add left-pad'],
      ['json', '{ "a": [1, 2] }'],
      ['json', '{ a: 1 }'],
      ['text', 'a diagram'],
    ];
    await mkdir(dir, { recursive: true });
    const markdown = blocks.map(([info, code]) => `${fence}${info}\n${code}\n${fence}\n`).join('\n');
    await writeFile(join(dir, 'fixture.md'), markdown);
    const line = (i: number) =>
      1 + blocks.slice(0, i).reduce((n, [, code]) => n + code.split('\n').length + 3, 0);

    const report = await runDocSnippets({
      root,
      files: [`${fixtureDir}/fixture.md`],
      cacheDir: join(dir, 'out'),
      timeoutMs: 4_000,
      brokers: false,
      log: () => {},
    });

    const view = (o: Outcome) =>
      o.status === 'failed'
        ? `failed${o.ran ? ' (ran)' : ''}: ${o.detail}`
        : o.status === 'skipped'
          ? `skipped: ${o.reason}`
          : 'passed';
    const got = report.outcomes.map(view);
    expect(report.outside).toEqual([]);
    expect(got[0]).toBe('passed');
    expect(got[1]).toMatch(new RegExp(`^failed: .*fixture\\.md:${line(1) + 1}:7 error TS2322`));
    expect(got[2]).toMatch(/^failed: .*error TS1134/);
    expect(got[3]).toMatch(/^failed \(ran\): exit 13: a top-level await never settled/);
    expect(got[4]).toMatch(/^failed \(ran\): did not exit within 4000 ms/);
    expect(got[5]).toMatch(/^failed \(ran\): exit 3/);
    expect(got[6]).toBe('skipped: fragment');
    expect(got[7]).toBe('skipped: type-checked only');
    expect(got[8]).toMatch(/^failed: .*error TS2322/);
    expect(got[9]).toMatch(/^failed: unknown info-string word\(s\) 'frament'/);
    expect(got[10]).toBe('skipped: no broker');
    expect(got[11]).toBe('skipped: norun');
    expect(got[12]).toMatch(
      /^failed: only `pnpm walstream …` and `pnpm demo` lines run here.*\npnpm add left-pad$/s,
    );
    expect(got[13]).toBe('passed');
    expect(got[14]).toMatch(/^failed \(ran\): not JSON/);
    expect(got[15]).toBe('skipped: not code');

    const { text, failed } = summarize(report);
    expect(failed).toBe(9);
    expect(text).toMatch(
      /fixture\.md\s+16\s+6\s+2\s+9\s+5 \(1 fragment, 1 type-checked only, 1 no broker, 1 norun, 1 not code\)/,
    );
    expect(text.split('\n').at(-1)).toBe(
      'doc snippets: 2 passed, 9 failed, 5 skipped (1 fragment, 1 type-checked only, 1 no broker, 1 norun, 1 not code)',
    );
  }, 120_000);
});
