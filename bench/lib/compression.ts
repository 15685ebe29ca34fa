/**
 * What the compression benches share: a payload that compresses like real records (JSON rows with
 * varying ids, names and amounts, not a run of one byte), a windowed append loop, and the table.
 */
export const CODEC_MESSAGES = Number(process.env.BENCH_MESSAGES ?? 20_000);
export const CODEC_WINDOW = Number(process.env.BENCH_WINDOW ?? 1_000);
export const PAYLOAD_SIZE = Number(process.env.BENCH_PAYLOAD ?? 1024);

/** Message `i`: about PAYLOAD_SIZE bytes of JSON rows, different for every message. */
export function payloadOf(i: number): Buffer {
  let x = (i + 1) * 2654435761;
  const next = () => {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    return x;
  };
  const rows: string[] = [];
  let size = 2;
  while (size < PAYLOAD_SIZE - 90) {
    const row = JSON.stringify({
      id: next() % 1_000_000,
      user: `user-${(next() % 5000).toString(36)}`,
      sku: `SKU-${next() % 900}`,
      amount: (next() % 100_000) / 100,
      state: ['new', 'paid', 'shipped', 'returned'][next() % 4],
    });
    rows.push(row);
    size += row.length + 1;
  }
  return Buffer.from(`[${rows.join(',')}]`.padEnd(PAYLOAD_SIZE, ' '));
}

/** Runs `count` operations with at most `window` in flight; returns the seconds taken. */
export async function windowedRun(count: number, window: number, op: (i: number) => Promise<unknown>) {
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < count) await op(next++);
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, worker));
  return (performance.now() - started) / 1_000;
}

export interface CodecRow {
  readonly client: string;
  readonly codec: string;
  readonly appendPerSec: number;
  readonly scanPerSec: number;
  /** Bytes the broker received or stored for the run's messages (see each bench for which). */
  readonly bytes: number;
}

export function printCodecTable(title: string, rows: readonly CodecRow[], bytesLabel: string): void {
  const header = ['client', 'codec', 'append msg/s', 'scan msg/s', bytesLabel, 'B/msg', 'vs none'];
  const baseline = new Map(rows.filter((r) => r.codec === 'none').map((r) => [r.client, r.bytes]));
  const lines = rows.map((r) => {
    const none = baseline.get(r.client);
    return [
      r.client,
      r.codec,
      Math.round(r.appendPerSec).toLocaleString('en-US'),
      Math.round(r.scanPerSec).toLocaleString('en-US'),
      r.bytes.toLocaleString('en-US'),
      (r.bytes / CODEC_MESSAGES).toFixed(0),
      none ? `${((100 * r.bytes) / none).toFixed(0)} %` : '',
    ];
  });
  const widths = header.map((h, c) => Math.max(h.length, ...lines.map((l) => l[c]!.length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`;
  console.log(`\n${title} (${CODEC_MESSAGES} messages of ${PAYLOAD_SIZE} B, ${CODEC_WINDOW} in flight)\n`);
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const cells of lines) console.log(line(cells));
}
