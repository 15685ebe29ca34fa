/**
 * The published testkit, used the way an adapter author uses it: `pnpm test:packed`.
 *
 *   pnpm test:packed [--skip-build] [--keep]
 *
 * Builds (unless `--skip-build`) and packs core, interceptors, adapter-memory and testkit with `pnpm pack`,
 * installs the tarballs with npm into a scratch project under the OS temp dir beside the NEWEST vitest
 * (npm must resolve it: no ERESOLVE, no `--legacy-peer-deps`), type-checks a test file against the packed
 * declarations, and runs the walimpls suite there against the memory adapter and the reference adapter:
 *
 * - with vitest@latest, and when its `engines` do not admit this Node also with the newest major below it,
 *   which must admit it and must pass. vitest 5 declares Node ^22.12 while this repository and its CI run
 *   Node 20: npm installs it with an EBADENGINE warning (not an error), and the suite did pass under it
 *   on Node 20.20, but an unsupported engine is no ground to fail on — that run is reported, and fails the
 *   script only when that vitest admits this Node. The run with vitest 4 (the newest major that admits
 *   Node 20) must pass;
 * - with node:test, through the runner-agnostic `walimplsConformanceCases`.
 *
 * Apart from the build's dist/ folders nothing is written inside the repository; `--keep` keeps the scratch
 * dir for a look. Needs the npm registry (vitest, typescript, fast-check, rxjs). Takes under a minute.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const PACKED = ['core', 'interceptors', 'adapter-memory', 'testkit'] as const;
/** The TypeScript of the repository: the packed declarations must compile with what we compile with. */
/** A command that takes longer has hung (an install normally takes seconds, a suite run about one). */
const COMMAND_TIMEOUT_MS = 300_000;
const TYPESCRIPT = readJson<{ devDependencies: Record<string, string> }>(join(root, 'package.json'))
  .devDependencies.typescript;

const args = new Set(process.argv.slice(2));
for (const arg of args) {
  if (arg !== '--skip-build' && arg !== '--keep') {
    console.error(`unknown option ${arg}\nusage: packed-testkit [--skip-build] [--keep]`);
    process.exit(2);
  }
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

interface Run {
  readonly code: number;
  /** stdout alone: where a command prints the value we asked for. */
  readonly stdout: string;
  /** stdout and stderr. */
  readonly output: string;
}

/**
 * The environment of the commands. `pnpm test:packed` adds settings of pnpm's own, which npm does not know
 * and warns about on every call.
 */
const childEnv: NodeJS.ProcessEnv = {
  ...process.env,
  NO_COLOR: '1',
  FORCE_COLOR: '0',
  npm_config_update_notifier: 'false',
};
for (const key of ['verify_deps_before_run', 'npm_globalconfig', '_jsr_registry']) {
  delete childEnv[`npm_config_${key}`];
}

/** Runs a command, echoing its output; returns the exit code and the output. */
function run(command: string, argv: readonly string[], cwd: string, quiet = false): Run {
  console.log(`\n$ ${[command, ...argv].join(' ')}${cwd === root ? '' : `   (in ${cwd})`}`);
  const result = spawnSync(command, argv, {
    cwd,
    encoding: 'utf8',
    env: childEnv,
    maxBuffer: 64 * 1024 * 1024,
    timeout: COMMAND_TIMEOUT_MS,
  });
  const stdout = result.stdout ?? '';
  const output = `${stdout}${result.stderr ?? ''}`;
  if (!quiet || result.status !== 0) process.stdout.write(output);
  if (result.signal)
    return {
      code: 1,
      stdout,
      output: `${output}\n(killed by ${result.signal}: over ${COMMAND_TIMEOUT_MS} ms?)`,
    };
  if (result.error) throw result.error;
  return { code: result.status ?? 1, stdout, output };
}

function must(result: Run, what: string): Run {
  if (result.code !== 0) fail(`${what} failed (exit ${result.code})`);
  return result;
}

function fail(message: string): never {
  console.error(`\npacked testkit: FAILED — ${message}`);
  if (scratch && !args.has('--keep')) rmSync(scratch, { recursive: true, force: true });
  else if (scratch) console.error(`scratch dir kept: ${scratch}`);
  process.exit(1);
}

/** Whether `version` satisfies an npm `engines` range of the forms vitest uses (`^a.b.c`, `>=a.b.c`, `||`). */
function enginesAdmit(range: string, version: string): boolean {
  const parse = (text: string) => text.replace(/^v/, '').split('.').map(Number) as [number, number, number];
  const [major, minor, patch] = parse(version);
  const atLeast = (v: [number, number, number]) =>
    major !== v[0] ? major > v[0] : minor !== v[1] ? minor > v[1] : patch >= v[2];
  return range.split('||').some((part) => {
    const term = part.trim();
    if (term === '' || term === '*') return true;
    return term.split(/\s+/).every((c) => {
      const match = /^(\^|>=|>|<=|<)?v?(\d+)(?:\.(\d+|x))?(?:\.(\d+|x))?$/.exec(c);
      if (!match) return false;
      const bound: [number, number, number] = [
        Number(match[2]),
        Number(match[3]) || 0,
        Number(match[4]) || 0,
      ];
      switch (match[1]) {
        case '^':
          return major === bound[0] && atLeast(bound);
        case '>=':
          return atLeast(bound);
        case '>':
          return atLeast(bound) && !(major === bound[0] && minor === bound[1] && patch === bound[2]);
        case '<':
          return !atLeast(bound);
        case '<=':
          return !atLeast(bound) || (major === bound[0] && minor === bound[1] && patch === bound[2]);
        default:
          return major === bound[0] && (match[3] === undefined || minor === bound[1]);
      }
    });
  });
}

let scratch: string | undefined;
const started = performance.now();

// 1. Build and pack what an adapter author installs.
if (!args.has('--skip-build')) {
  must(
    run(
      'pnpm',
      ['-r', ...PACKED.flatMap((p) => ['--filter', `./packages/${p}`]), 'run', 'build'],
      root,
      true,
    ),
    'the build',
  );
}
scratch = mkdtempSync(join(tmpdir(), 'walstream-packed-'));
const tarballs = join(scratch, 'tarballs');
mkdirSync(tarballs);
for (const pkg of PACKED) {
  must(
    run('pnpm', ['pack', '--pack-destination', tarballs], join(root, 'packages', pkg), true),
    `pnpm pack ${pkg}`,
  );
}
const tarballFile = (pkg: string) => {
  const file = readdirSync(tarballs).find((f) => f.startsWith(`walstream-${pkg}-`) && f.endsWith('.tgz'));
  if (!file) fail(`no tarball for ${pkg} in ${tarballs}`);
  return join(tarballs, file);
};
const tarball = (pkg: string) => `file:${tarballFile(pkg)}`;

// A README shows on npm without the repository around it: a relative link out of the package is dead there.
for (const pkg of PACKED) {
  const readme = must(
    run('tar', ['-xzOf', tarballFile(pkg), 'package/README.md'], tarballs, true),
    `reading README.md of the ${pkg} tarball`,
  ).stdout;
  const dead = readme.match(/\]\(\.\.\/[^)]*\)/g) ?? [];
  if (dead.length > 0) fail(`the README of @walstream/${pkg} links out of its package: ${dead.join(', ')}`);
}

// 2. A scratch project: the tarballs, the newest vitest (declared as a project on it declares it), the
//    repository's TypeScript.
const project = join(scratch, 'project');
mkdirSync(project);
const latest = must(
  run('npm', ['view', 'vitest@latest', 'version'], project, true),
  'npm view',
).stdout.trim();
const dependencies = Object.fromEntries(PACKED.map((pkg) => [`@walstream/${pkg}`, tarball(pkg)]));
writeFileSync(
  join(project, 'package.json'),
  `${JSON.stringify(
    {
      name: 'walstream-packed-testkit-check',
      private: true,
      type: 'module',
      dependencies: { ...dependencies, rxjs: '^7.8.0' },
      devDependencies: { typescript: TYPESCRIPT, vitest: `^${latest}` },
      // The tarballs' own `@walstream/*` dependencies resolve to the tarballs, never to the registry.
      overrides: Object.fromEntries(PACKED.map((pkg) => [`@walstream/${pkg}`, `$@walstream/${pkg}`])),
    },
    null,
    2,
  )}\n`,
);
writeFileSync(
  join(project, 'tsconfig.json'),
  `${JSON.stringify(
    {
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2023', 'ESNext.Disposable'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: [],
      },
      include: ['conformance.test.ts'],
    },
    null,
    2,
  )}\n`,
);
// The vitest file: both adapters, a case of the author's own in a group of its own, typed with the builder.
writeFileSync(
  join(project, 'conformance.test.ts'),
  `import { type MemoryAdapter, MemoryLogStore, MemoryMessageId, memoryAdapter } from '@walstream/adapter-memory';
import { MutableMessage } from '@walstream/core';
import { registerWalImplsConformance, type WalImplsCaseDefinition, walimplsCaseDefinitions } from '@walstream/testkit';
import { ArrayId, ArrayStore, arrayAdapter } from '@walstream/testkit/reference';
import { describe, test } from 'vitest';

const store = new MemoryLogStore();
const mine: WalImplsCaseDefinition<MemoryAdapter> = {
  group: 'packed',
  name: 't.builder is the factory type',
  async run(t) {
    const name = t.channelName('packed');
    const wal = await t.open(name, 1);
    await t.append(wal, new MutableMessage(new Uint8Array([1]), { k: 'v' }));
    const entries: number = t.builder.store.stats(name).entries;
    if (entries !== 1) throw new Error(\`the store holds \${entries} entries\`);
  },
};
registerWalImplsConformance({ describe, test }, {
  suiteName: 'memory',
  builder: () => memoryAdapter({ store }),
  cases: [...walimplsCaseDefinitions, mine],
  messageIds: { max: BigInt(Number.MAX_SAFE_INTEGER), at: (position) => new MemoryMessageId(Number(position)) },
});

const arrays = new ArrayStore();
registerWalImplsConformance({ describe, test }, {
  suiteName: 'reference',
  builder: () => arrayAdapter({ store: arrays }),
  messageIds: { max: BigInt(Number.MAX_SAFE_INTEGER), at: (position) => new ArrayId(Number(position)) },
  storeProbe: { fetched: (pchannel) => arrays.log(pchannel).fetched },
});
`,
);
// The node:test file: plain JavaScript, the runner-agnostic cases.
writeFileSync(
  join(project, 'conformance.node.mjs'),
  `import { test } from 'node:test';
import { MemoryLogStore, MemoryMessageId, memoryAdapter } from '@walstream/adapter-memory';
import { walimplsConformanceCases } from '@walstream/testkit';

const store = new MemoryLogStore();
const messageIds = { max: BigInt(Number.MAX_SAFE_INTEGER), at: (position) => new MemoryMessageId(Number(position)) };
for (const c of walimplsConformanceCases({ builder: () => memoryAdapter({ store }), messageIds })) {
  test(\`\${c.group} › \${c.name}\`, async (t) => {
    await c.run(t);
  });
}
`,
);

// 3. npm resolves the testkit beside the newest vitest: ERESOLVE (or any failure) ends the check here.
const install = run('npm', ['install', '--no-audit', '--no-fund'], project);
if (/ERESOLVE/.test(install.output))
  fail(`npm could not resolve the testkit beside vitest ^${latest} (ERESOLVE)`);
must(install, 'npm install');
const installed = () =>
  readJson<{ version: string; engines?: { node?: string } }>(
    join(project, 'node_modules', 'vitest', 'package.json'),
  );
const newest = installed();
if (newest.version !== latest) fail(`npm installed vitest ${newest.version}, the newest is ${latest}`);
console.log(
  `\nnpm resolved the packed testkit beside vitest ${newest.version} (the newest) without ERESOLVE`,
);

// 4. Runtime entries (ESM and CJS) and the packed declarations.
const count = must(
  run(
    'node',
    [
      '--input-type=module',
      '-e',
      "const t = await import('@walstream/testkit'); await import('@walstream/testkit/reference'); console.log(t.walimplsCaseDefinitions.length);",
    ],
    project,
    true,
  ),
  'importing the ESM entries',
).stdout.trim();
const cases = Number(count);
if (!Number.isInteger(cases) || cases < 30) fail(`the packed testkit has ${count} walimpls cases`);
must(
  run(
    'node',
    ['-e', "require('@walstream/testkit'); require('@walstream/testkit/reference');"],
    project,
    true,
  ),
  'requiring the CJS entries',
);
must(run('npx', ['tsc', '-p', 'tsconfig.json'], project), 'type-checking against the packed declarations');

// 5. The suite under vitest: every case of both adapters and the author's own case must pass, except those
// that do not apply: the "without fencing" counterpart for each (both adapters fence), and the stalled-reader
// case for the memory adapter (it offers no store probe).
const expected = 2 * cases + 1;
const SKIPPED_BY_DESIGN = 3;
const NODE_SKIPPED_BY_DESIGN = 2;
const summaries: string[] = [];
function vitestRun(label: string, fatal: boolean): void {
  const report = join(project, `vitest-${label.split(' ')[0]}.json`);
  const result = run(
    'npx',
    ['vitest', 'run', '--reporter=dot', '--reporter=json', `--outputFile=${report}`],
    project,
  );
  let passed = 0;
  let total = -1;
  let skipped = -1;
  try {
    const json = readJson<{ numPassedTests: number; numTotalTests: number; numPendingTests: number }>(report);
    passed = json.numPassedTests;
    total = json.numTotalTests;
    skipped = json.numPendingTests;
  } catch {
    // no report: the run itself failed
  }
  const ok =
    result.code === 0 &&
    total === expected &&
    skipped === SKIPPED_BY_DESIGN &&
    passed === expected - SKIPPED_BY_DESIGN;
  summaries.push(`vitest ${label}: ${passed}/${expected} passed, ${skipped} skipped${ok ? '' : ' — FAILED'}`);
  if (!ok && fatal) {
    fail(
      `vitest ${label}: ${passed} of ${total} passed, ${skipped} skipped; expected ${expected - SKIPPED_BY_DESIGN} passed and ${SKIPPED_BY_DESIGN} skipped (exit ${result.code})`,
    );
  }
}
const node = process.versions.node;
const admits = newest.engines?.node === undefined || enginesAdmit(newest.engines.node, node);
vitestRun(
  `${newest.version}${admits ? '' : ` (engines ${newest.engines?.node}: not this Node ${node})`}`,
  admits,
);
if (!admits) {
  // The newest vitest does not support this Node: run the suite with the newest major that does.
  const major = Number(newest.version.split('.')[0]) - 1;
  must(
    run('npm', ['install', '--no-audit', '--no-fund', '--save-dev', `vitest@^${major}`], project),
    'npm install',
  );
  const older = installed();
  if (older.engines?.node !== undefined && !enginesAdmit(older.engines.node, node)) {
    fail(`vitest ${older.version} does not admit Node ${node} either (engines ${older.engines.node})`);
  }
  vitestRun(older.version, true);
}

// 6. The same suite under node:test.
const nodeTest = run('node', ['--test', '--test-reporter=tap', 'conformance.node.mjs'], project, true);
const tap = (key: string) => Number(new RegExp(`^# ${key} (\\d+)$`, 'm').exec(nodeTest.output)?.[1] ?? -1);
const nodeOk =
  nodeTest.code === 0 &&
  tap('pass') === cases - NODE_SKIPPED_BY_DESIGN &&
  tap('skipped') === NODE_SKIPPED_BY_DESIGN &&
  tap('fail') === 0;
summaries.push(
  `node:test: ${tap('pass')}/${cases} passed, ${tap('skipped')} skipped${nodeOk ? '' : ' — FAILED'}`,
);
if (!nodeOk)
  fail(`node:test: ${tap('pass')} passed, ${tap('fail')} failed of ${cases} (exit ${nodeTest.code})`);

console.log(
  `\npacked testkit: OK in ${Math.round((performance.now() - started) / 1000)} s — ${summaries.join('; ')}`,
);
if (args.has('--keep')) console.log(`scratch dir kept: ${scratch}`);
else rmSync(scratch, { recursive: true, force: true });
