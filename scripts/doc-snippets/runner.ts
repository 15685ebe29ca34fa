import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { type RunningBroker, startBroker } from './brokers.js';
import { type Broker, blockSlug, type CodeBlock, extractBlocks, unknownWords } from './markdown.js';
import { mapLimit, type ProcessResult, runProcess } from './processes.js';

/**
 * Why a block did not run: `fragment`; `norun` (a shell block); `type-checked only` (a TypeScript block
 * marked `norun`, e.g. a vitest file, which tsx cannot run); `not code` (text, proto, …); `no broker`
 * (`needs-…` with `--no-brokers`: type-checked only).
 */
export type SkipReason = 'fragment' | 'norun' | 'type-checked only' | 'not code' | 'no broker';

export type Outcome =
  | { readonly block: CodeBlock; readonly status: 'passed'; readonly ms: number }
  | { readonly block: CodeBlock; readonly status: 'failed'; readonly ran: boolean; readonly detail: string }
  | { readonly block: CodeBlock; readonly status: 'skipped'; readonly reason: SkipReason };

export interface DocSnippetOptions {
  /** The repository root: `tsconfig.tests.json` and `node_modules/.bin` live here. */
  readonly root: string;
  /** Markdown files, relative to `root`. */
  readonly files: readonly string[];
  /**
   * Where the generated modules and tsconfig go: inside `root`, so tsconfig paths resolve. Default
   * `.cache/doc-snippets/run-<pid>` (runs in one work tree at once do not share it); removed afterwards.
   */
  readonly cacheDir?: string;
  /** Per block. Default 30 s. */
  readonly timeoutMs?: number;
  /** Blocks run at a time. Default 2. */
  readonly concurrency?: number;
  /** Start the brokers `needs-…` blocks ask for. When false those blocks are type-checked only. */
  readonly brokers?: boolean;
  readonly log?: (line: string) => void;
}

/** README.md and every Markdown file under docs/ (not docs/node_modules), sorted. */
export async function defaultFiles(root: string): Promise<string[]> {
  const found: string[] = ['README.md'];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(join(root, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory() && entry.name !== 'node_modules') await walk(path);
      else if (entry.isFile() && entry.name.endsWith('.md')) found.push(path);
    }
  };
  await walk('docs');
  return found.sort((a, b) => (a === 'README.md' ? -1 : b === 'README.md' ? 1 : a.localeCompare(b)));
}

/**
 * Extracts every fenced block of `files`, type-checks the TypeScript ones together (one `tsc` over
 * generated modules that extend tsconfig.tests.json), then runs each TypeScript block with tsx and each
 * shell block with bash; a block passes when it exits 0 within the timeout. JSON blocks must parse.
 */
export interface DocSnippetReport {
  /** One per block, in file and line order. */
  readonly outcomes: readonly Outcome[];
  /**
   * tsc errors in files that are not blocks (a package the blocks import is broken): every block that
   * tsc did not blame itself then fails with "not checked".
   */
  readonly outside: readonly string[];
}

export async function runDocSnippets(options: DocSnippetOptions): Promise<DocSnippetReport> {
  const root = resolve(options.root);
  const cacheDir = resolve(options.cacheDir ?? join(root, '.cache', 'doc-snippets', `run-${process.pid}`));
  const timeoutMs = options.timeoutMs ?? 30_000;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));

  const blocks: CodeBlock[] = [];
  for (const file of options.files) {
    blocks.push(...extractBlocks(file, await readFile(join(root, file), 'utf8')));
  }

  const outcomes = new Map<CodeBlock, Outcome>();
  const toRun: CodeBlock[] = [];
  for (const block of blocks) {
    const unknown = block.kind === 'other' ? [] : unknownWords(block);
    if (unknown.length > 0) {
      outcomes.set(block, {
        block,
        status: 'failed',
        ran: false,
        detail: `unknown info-string word(s) ${unknown.map((w) => `'${w}'`).join(', ')} (known: fragment, norun, needs-kafka, needs-pulsar, needs-etcd)`,
      });
    } else if (block.kind === 'other') {
      outcomes.set(block, { block, status: 'skipped', reason: 'not code' });
    } else if (block.words.includes('fragment')) {
      outcomes.set(block, { block, status: 'skipped', reason: 'fragment' });
    } else if (block.words.includes('norun') && block.kind !== 'ts') {
      outcomes.set(block, { block, status: 'skipped', reason: 'norun' });
    } else if (block.kind === 'sh' && unsafeShellLines(block.code).length > 0) {
      outcomes.set(block, {
        block,
        status: 'failed',
        ran: false,
        detail: `only \`pnpm walstream …\` and \`pnpm demo\` lines run here, one command a line; mark the block \`norun\` if it must not run:\n${unsafeShellLines(block.code).join('\n')}`,
      });
    } else if (block.kind === 'json') {
      try {
        JSON.parse(block.code);
        outcomes.set(block, { block, status: 'passed', ms: 0 });
      } catch (error) {
        outcomes.set(block, { block, status: 'failed', ran: true, detail: `not JSON: ${String(error)}` });
      }
    } else {
      toRun.push(block);
    }
  }

  // Brokers start while tsc runs: both take a while.
  const wanted = new Set<Broker>(
    options.brokers === false
      ? []
      : toRun.filter((block) => !block.words.includes('norun')).flatMap((block) => block.brokers),
  );
  const brokers = new Map<Broker, Promise<RunningBroker>>();
  for (const broker of wanted) {
    log(`doc snippets: starting ${broker} for the blocks that need it ...`);
    const started = startBroker(broker, log);
    started.catch(() => {}); // reported by the blocks that need it
    brokers.set(broker, started);
  }

  let typeErrors = new Map<CodeBlock, string[]>();
  let outside: string[] = [];
  try {
    ({ errors: typeErrors, outside } = await typeCheck(
      root,
      cacheDir,
      toRun.filter((block) => block.kind === 'ts'),
      log,
    ));
    const runnable: CodeBlock[] = [];
    for (const block of toRun) {
      const errors = typeErrors.get(block);
      if (errors) outcomes.set(block, { block, status: 'failed', ran: false, detail: errors.join('\n') });
      else if (block.words.includes('norun')) {
        outcomes.set(block, { block, status: 'skipped', reason: 'type-checked only' });
      } else if (block.brokers.some((broker) => !brokers.has(broker))) {
        outcomes.set(block, { block, status: 'skipped', reason: 'no broker' });
      } else runnable.push(block);
    }

    await mapLimit(runnable, options.concurrency ?? 2, async (block) => {
      const outcome = await runBlock(root, cacheDir, block, brokers, timeoutMs);
      log(
        `  ${outcome.status === 'passed' ? 'pass' : 'FAIL'}  ${block.file}:${block.line}${outcome.status === 'passed' ? ` (${Math.round(outcome.ms)} ms)` : ''}`,
      );
      outcomes.set(block, outcome);
    });
  } finally {
    for (const [broker, started] of brokers) {
      await started.then(
        (running) => running.stop(),
        () => {},
      );
      log(`doc snippets: ${broker} stopped`);
    }
    await rm(cacheDir, { recursive: true, force: true });
  }

  return { outcomes: blocks.map((block) => outcomes.get(block)!), outside };
}

/**
 * Shell blocks install things, start services or run the whole suite: a test must not do that. The
 * runner runs the repository's own commands only, one a line, and every other line makes the block fail
 * until it is marked `norun` — so a new install command is never run by accident.
 */
export function unsafeShellLines(code: string): string[] {
  return code
    .split('\n')
    .map((line) => line.replace(/(^|\s)#.*$/, '').trim())
    .filter((line) => line !== '' && !/^pnpm (walstream|demo)(\s[^;&|`$<>()]*)?$/.test(line));
}

/** The generated module of a TypeScript block: the block, made a module (top-level await, no globals). */
function moduleText(block: CodeBlock): string {
  return `${block.code}export {};\n`;
}

async function typeCheck(
  root: string,
  cacheDir: string,
  blocks: readonly CodeBlock[],
  log: (line: string) => void,
): Promise<{ errors: Map<CodeBlock, string[]>; outside: string[] }> {
  await rm(cacheDir, { recursive: true, force: true });
  await mkdir(cacheDir, { recursive: true });
  const errors = new Map<CodeBlock, string[]>();
  const outside = new Set<string>();
  for (const block of blocks) await writeFile(join(cacheDir, `${blockSlug(block)}.ts`), moduleText(block));
  log(`doc snippets: type-checking ${blocks.length} TypeScript block(s) ...`);
  // tsc reports only the syntax errors when there are any, so a block that does not parse would hide
  // the type errors of every other block: check again without the blocks that failed.
  let remaining = blocks;
  while (remaining.length > 0) {
    const result = await runTsc(root, cacheDir, remaining);
    for (const [block, list] of result.errors) errors.set(block, list);
    for (const line of result.outside) outside.add(line);
    if (!result.syntaxErrors) break;
    remaining = remaining.filter((block) => !result.errors.has(block));
  }
  return { errors, outside: [...outside] };
}

async function runTsc(
  root: string,
  cacheDir: string,
  blocks: readonly CodeBlock[],
): Promise<{ errors: Map<CodeBlock, string[]>; outside: string[]; syntaxErrors: boolean }> {
  const bySlug = new Map(blocks.map((block) => [`${blockSlug(block)}.ts`, block]));
  const tsconfig = {
    extends: relative(cacheDir, join(root, 'tsconfig.tests.json')),
    compilerOptions: {
      noEmit: true,
      composite: false,
      incremental: false,
      declaration: false,
      emitDeclarationOnly: false,
    },
    files: [...bySlug.keys()],
    // Not the test files tsconfig.tests.json includes: only the blocks, what they import, and the
    // packages' ambient declarations (for untyped dependencies), which nothing imports by name.
    include: [relative(cacheDir, join(root, 'packages/*/src/**/*.d.ts'))],
  };
  await writeFile(join(cacheDir, 'tsconfig.json'), `${JSON.stringify(tsconfig, null, 2)}\n`);
  const tsc = await runProcess(
    join(root, 'node_modules', '.bin', 'tsc'),
    ['--noEmit', '--pretty', 'false', '-p', join(cacheDir, 'tsconfig.json')],
    { cwd: root, timeoutMs: 300_000 },
  );
  const errors = new Map<CodeBlock, string[]>();
  if (tsc.code === 0) return { errors, outside: [], syntaxErrors: false };

  // `path(line,col): error TSnnnn: message`, continuation lines indented.
  let current: string[] | undefined;
  let syntaxErrors = false;
  const elsewhere: string[] = [];
  for (const line of tsc.output.split('\n')) {
    const match = /^(.+?)\((\d+),(\d+)\): (error TS(\d+): .*)$/.exec(line);
    if (!match) {
      if (line.startsWith(' ') && current) current.push(line);
      continue;
    }
    const [, path = '', row = '0', col = '0', message = '', code = '0'] = match;
    const block = bySlug.get(path.split('/').pop() ?? '');
    if (block && resolve(root, path).startsWith(cacheDir)) {
      // TS1xxx are (mostly) syntax errors; a semantic one among them only costs one more tsc run.
      if (Number(code) < 2000) syntaxErrors = true;
      const list = errors.get(block) ?? [];
      list.push(`${block.file}:${block.line + Number(row)}:${col} ${message}`);
      errors.set(block, list);
      current = list;
    } else {
      elsewhere.push(`${path}(${row},${col}): ${message}`);
      current = elsewhere;
    }
  }
  if (elsewhere.length > 0 || errors.size === 0) {
    // Errors outside the blocks (a package they import is broken) or output we could not read: the
    // blocks tsc did not blame were not really checked, so they fail too.
    const outside = elsewhere.length > 0 ? elsewhere : [tsc.output.slice(0, 4000)];
    for (const block of blocks) {
      if (!errors.has(block))
        errors.set(block, ['not checked: tsc failed outside the doc blocks (listed above)']);
    }
    return { errors, outside, syntaxErrors: false };
  }
  return { errors, outside: [], syntaxErrors };
}

async function runBlock(
  root: string,
  cacheDir: string,
  block: CodeBlock,
  brokers: ReadonlyMap<Broker, Promise<RunningBroker>>,
  timeoutMs: number,
): Promise<Outcome> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const broker of block.brokers) {
    try {
      Object.assign(env, (await brokers.get(broker)!).env);
    } catch (error) {
      return { block, status: 'failed', ran: false, detail: `${broker} did not start: ${String(error)}` };
    }
  }
  const result =
    block.kind === 'ts'
      ? await runProcess(
          join(root, 'node_modules', '.bin', 'tsx'),
          ['--tsconfig', join(root, 'tsconfig.tests.json'), join(cacheDir, `${blockSlug(block)}.ts`)],
          { cwd: root, env, timeoutMs },
        )
      : await runProcess('bash', ['-e', '-o', 'pipefail', '-c', block.code], { cwd: root, env, timeoutMs });
  if (result.code === 0 && !result.timedOut) return { block, status: 'passed', ms: result.ms };
  return {
    block,
    status: 'failed',
    ran: true,
    detail: `${why(result, timeoutMs)}\n${result.output.trimEnd()}`,
  };
}

function why(result: ProcessResult, timeoutMs: number): string {
  if (result.timedOut) return `did not exit within ${timeoutMs} ms (killed)`;
  if (result.code === 13) {
    return 'exit 13: a top-level await never settled — nothing kept Node alive while it waited';
  }
  if (result.code === undefined) return `ended by ${result.signal ?? 'an error'}`;
  return `exit ${result.code}`;
}

/** The summary table and the final line; `failed` is the number of failed blocks. */
export function summarize({ outcomes, outside }: DocSnippetReport): { text: string; failed: number } {
  const files = [...new Set(outcomes.map((o) => o.block.file))];
  const rows = files.map((file) => {
    const of = outcomes.filter((o) => o.block.file === file);
    const skipped = of.filter((o) => o.status === 'skipped');
    return [
      file,
      String(of.length),
      String(of.filter((o) => o.status === 'passed' || (o.status === 'failed' && o.ran)).length),
      String(of.filter((o) => o.status === 'passed').length),
      String(of.filter((o) => o.status === 'failed').length),
      skipped.length === 0 ? '0' : `${skipped.length} (${reasons(skipped)})`,
    ];
  });
  const header = ['file', 'blocks', 'run', 'passed', 'failed', 'skipped'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ');
  const failures = outcomes.filter((o) => o.status === 'failed');
  const skipped = outcomes.filter((o) => o.status === 'skipped');
  const passed = outcomes.filter((o) => o.status === 'passed').length;
  const text = [
    ...(outside.length > 0 ? [`\ntsc failed outside the doc blocks:\n${indent(outside.join('\n'))}`] : []),
    ...failures.map(
      (o) =>
        `\nFAILED ${o.block.file}:${o.block.line} (\`\`\`${[o.block.language, ...o.block.words].join(' ')})\n${indent(o.detail)}`,
    ),
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    `doc snippets: ${passed} passed, ${failures.length} failed, ${skipped.length} skipped${skipped.length > 0 ? ` (${reasons(skipped)})` : ''}`,
  ].join('\n');
  return { text, failed: failures.length };
}

function reasons(skipped: readonly Outcome[]): string {
  const counts = new Map<string, number>();
  for (const o of skipped) if (o.status === 'skipped') counts.set(o.reason, (counts.get(o.reason) ?? 0) + 1);
  return [...counts].map(([reason, n]) => `${n} ${reason}`).join(', ');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}
