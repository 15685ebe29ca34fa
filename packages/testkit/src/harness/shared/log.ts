/** The harnesses' default progress log: stderr, so it survives test reporters that capture stdout. */
export function stderrLog(prefix: string): (line: string) => void {
  return (line) => process.stderr.write(`[${prefix}] ${line}\n`);
}
