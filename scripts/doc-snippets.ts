/**
 * Every fenced code block of README.md and docs/ is compiled and run, like doctests: `pnpm test:docs`.
 *
 *   pnpm test:docs [--no-brokers] [--timeout 30s] [--concurrency 2] [file.md ...]
 *
 * TypeScript blocks are type-checked together, then each runs with tsx and must exit 0 within the
 * timeout; shell blocks run with bash from the repository root; JSON blocks must parse. Info-string
 * words: `fragment` and `norun` skip a block, `needs-kafka` / `needs-pulsar` run it against a broker
 * started here with the testkit harness (`--no-brokers`: type-check only). Blocks in other languages
 * (text, proto, …) are not code. Exit 1 when a block failed.
 */
import { fileURLToPath } from 'node:url';
import { defaultFiles, runDocSnippets, summarize } from './doc-snippets/runner.js';

const USAGE = 'usage: doc-snippets [--no-brokers] [--timeout <n>s] [--concurrency <n>] [file.md ...]';

function parseArgs(argv: readonly string[]) {
  let brokers = true;
  let timeoutMs = 30_000;
  let concurrency = 2;
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--no-brokers') brokers = false;
    else if (arg === '--timeout') {
      const match = /^(\d+)(ms|s)$/.exec(argv[++i] ?? '');
      if (!match) throw new Error(`--timeout takes 500ms or 30s\n${USAGE}`);
      timeoutMs = Number(match[1]) * (match[2] === 's' ? 1000 : 1);
    } else if (arg === '--concurrency') {
      concurrency = Number(argv[++i]);
      if (!Number.isInteger(concurrency) || concurrency < 1)
        throw new Error(`--concurrency takes 1 or more\n${USAGE}`);
    } else if (arg === '-h' || arg === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else if (arg.startsWith('-')) throw new Error(`unknown option ${arg}\n${USAGE}`);
    else files.push(arg.replace(/^\.\//, ''));
  }
  return { brokers, timeoutMs, concurrency, files };
}

const root = fileURLToPath(new URL('..', import.meta.url));
let args: ReturnType<typeof parseArgs>;
try {
  args = parseArgs(process.argv.slice(2));
} catch (error) {
  console.error((error as Error).message);
  process.exit(2);
}
const files = args.files.length > 0 ? args.files : await defaultFiles(root);
const { text, failed } = summarize(await runDocSnippets({ root, ...args, files }));
console.log(text);
process.exitCode = failed > 0 ? 1 : 0;
