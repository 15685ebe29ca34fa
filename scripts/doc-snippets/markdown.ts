/**
 * Fenced code blocks of a Markdown file, and what the doc-snippet runner does with each.
 *
 * The info string after the opening fence is `<language> <word>…`. Words the runner knows:
 * - `fragment`: a deliberate piece of a program (an interface excerpt, a call out of context): skipped.
 * - `norun`: a shell command that must not run in a test (it installs packages, runs the whole suite):
 *   skipped; on a TypeScript block (a vitest file, which only vitest can run): type-checked, not run.
 * - `needs-kafka` / `needs-pulsar` / `needs-etcd`: a TypeScript block that talks to a broker; it is
 *   type-checked always and run against a broker the runner starts with the testkit harness
 *   (`KAFKA_BROKERS`, `PULSAR_SERVICE_URL` and `PULSAR_ADMIN_URL`, or `ETCD_ENDPOINTS` in its environment).
 */

export type BlockKind = 'ts' | 'sh' | 'json' | 'other';
export type Broker = 'kafka' | 'pulsar' | 'etcd';

export interface CodeBlock {
  /** The Markdown file, relative to the repository root (`/` separators). */
  readonly file: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The info string's first word, lower-cased (`''` when there is none). */
  readonly language: string;
  /** The info string's other words. */
  readonly words: readonly string[];
  readonly kind: BlockKind;
  /** The block's text, with the fence's indentation removed; ends with a newline unless empty. */
  readonly code: string;
  /** The brokers a `needs-…` word asks for. */
  readonly brokers: readonly Broker[];
}

const KINDS: Record<string, BlockKind> = {
  ts: 'ts',
  typescript: 'ts',
  sh: 'sh',
  bash: 'sh',
  shell: 'sh',
  json: 'json',
};

const KNOWN_WORDS = new Set(['fragment', 'norun', 'needs-kafka', 'needs-pulsar', 'needs-etcd']);

/** Parses the CommonMark fences (``` or ~~~, three or more, indented up to three spaces). */
export function extractBlocks(file: string, markdown: string): CodeBlock[] {
  const lines = markdown.split(/\r?\n/);
  const blocks: CodeBlock[] = [];
  let open: { line: number; indent: number; fence: string; info: string; body: string[] } | undefined;
  for (const [index, text] of lines.entries()) {
    if (open === undefined) {
      const start = /^( {0,3})(`{3,}|~{3,})\s*([^`]*)$/.exec(text);
      if (start)
        open = { line: index + 1, indent: start[1]!.length, fence: start[2]!, info: start[3]!, body: [] };
      continue;
    }
    const close = /^ {0,3}(`{3,}|~{3,})\s*$/.exec(text);
    if (close && close[1]![0] === open.fence[0] && close[1]!.length >= open.fence.length) {
      blocks.push(toBlock(file, open.line, open.info, open.body));
      open = undefined;
      continue;
    }
    open.body.push(stripIndent(text, open.indent));
  }
  // An unclosed fence runs to the end of the document (CommonMark).
  if (open) blocks.push(toBlock(file, open.line, open.info, open.body));
  return blocks;
}

function stripIndent(text: string, indent: number): string {
  let n = 0;
  while (n < indent && text[n] === ' ') n++;
  return text.slice(n);
}

function toBlock(file: string, line: number, info: string, body: string[]): CodeBlock {
  const [first = '', ...words] = info.trim().split(/\s+/).filter(Boolean);
  const language = first.toLowerCase();
  const brokers: Broker[] = [];
  if (words.includes('needs-kafka')) brokers.push('kafka');
  if (words.includes('needs-pulsar')) brokers.push('pulsar');
  if (words.includes('needs-etcd')) brokers.push('etcd');
  return {
    file,
    line,
    language,
    words,
    kind: KINDS[language] ?? 'other',
    code: body.length === 0 ? '' : `${body.join('\n')}\n`,
    brokers,
  };
}

/** Info-string words the runner does not know (a typo such as `frament` would otherwise run the block). */
export function unknownWords(block: CodeBlock): string[] {
  return block.words.filter((word) => !KNOWN_WORDS.has(word));
}

/** A file-name-safe label: `docs/cli.md` line 24 → `docs-cli-L24`. */
export function blockSlug(block: CodeBlock): string {
  return `${block.file.replace(/\.md$/, '').replace(/[^a-zA-Z0-9]+/g, '-')}-L${block.line}`;
}
