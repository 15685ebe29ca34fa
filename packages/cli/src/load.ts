import type { ImmutableMessage, MutableMessage } from '@walstream/core';
import { newMessage } from '@walstream/core';
import { Histogram } from './histogram.js';
import { TextRecord } from './records.js';

/** Where a load runs: the client over the network, or a stack's WALs in this process. */
export interface LoadTarget {
  append(message: MutableMessage): Promise<unknown>;
  /** A tailing reader of `vchannel` from messages appended after it started; ends when `signal` fires. */
  read?(vchannel: string, signal: AbortSignal): AsyncIterable<ImmutableMessage>;
}

export interface LoadOptions {
  readonly vchannels: readonly string[];
  /** Appends in flight at most, over all vchannels (closed loop: each finished append starts the next). */
  readonly concurrency: number;
  /** Body bytes of each message. */
  readonly size: number;
  /** How long appends are issued. */
  readonly durationMs: number;
  /** Also read every vchannel and measure append → delivered. */
  readonly consume: boolean;
  /** Called about every `progressMs` with what has been done so far. */
  readonly onProgress?: (progress: LoadProgress) => void;
  readonly progressMs?: number;
  readonly signal?: AbortSignal;
}

export interface LoadProgress {
  readonly elapsedMs: number;
  readonly appended: number;
  readonly delivered: number;
  readonly failed: number;
  /** Appends per second over the last progress interval. */
  readonly rate: number;
}

export interface LoadReport {
  readonly appended: number;
  readonly failed: number;
  readonly delivered: number;
  readonly seconds: number;
  /** Acknowledged appends per second over the whole run. */
  readonly rate: number;
  readonly bytesPerSecond: number;
  readonly appendLatency: Histogram;
  /** Append start → the reader delivered it (with `consume`). */
  readonly deliverLatency: Histogram;
  /** The first append failure, if any. */
  readonly firstError: unknown;
}

/** The property a load message carries: when its append started, in ms since the epoch (sub-ms). */
const SENT = 'bench-sent';

const now = (): number => performance.timeOrigin + performance.now();

/**
 * Closed-loop append load on `vchannels` (round robin), `concurrency` appends in flight, for
 * `durationMs`; with `consume`, a reader per vchannel measures append → delivered, and the run waits (at
 * most 10 s) for the readers to catch up with every acknowledged append.
 */
export async function runLoad(target: LoadTarget, options: LoadOptions): Promise<LoadReport> {
  const body = new Uint8Array(options.size).map((_, i) => (i * 7) & 0xff);
  const appendLatency = new Histogram();
  const deliverLatency = new Histogram();
  let appended = 0;
  let failed = 0;
  let delivered = 0;
  let firstError: unknown;
  const readers = new AbortController();
  const readersDone: Promise<void>[] = [];
  let caughtUp: (() => void) | undefined;
  if (options.consume && target.read) {
    for (const vchannel of options.vchannels) {
      const stream = target.read(vchannel, readers.signal);
      readersDone.push(
        (async () => {
          try {
            for await (const message of stream) {
              const sent = message.properties[SENT];
              if (sent === undefined) continue;
              deliverLatency.add(now() - Number(sent));
              delivered++;
              if (caughtUp && delivered >= appended) caughtUp();
            }
          } catch {
            // Ended by the abort below.
          }
        })(),
      );
    }
  }
  const started = performance.now();
  const deadline = started + options.durationMs;
  let next = 0;
  let lastProgress = { at: started, appended: 0 };
  const progressMs = options.progressMs ?? 1_000;
  const timer = options.onProgress
    ? setInterval(() => {
        const at = performance.now();
        options.onProgress?.({
          elapsedMs: at - started,
          appended,
          delivered,
          failed,
          rate: ((appended - lastProgress.appended) * 1_000) / Math.max(1, at - lastProgress.at),
        });
        lastProgress = { at, appended };
      }, progressMs)
    : undefined;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline && !options.signal?.aborted) {
      const vchannel = options.vchannels[next++ % options.vchannels.length]!;
      const at = now();
      const message = newMessage(TextRecord).vchannel(vchannel).property(SENT, String(at)).body(body).build();
      try {
        await target.append(message);
        appendLatency.add(now() - at);
        appended++;
      } catch (error) {
        failed++;
        firstError ??= error;
        if (failed > 100 && appended === 0) return;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const seconds = (performance.now() - started) / 1_000;
  if (readersDone.length > 0 && delivered < appended) {
    await new Promise<void>((resolve) => {
      const bound = setTimeout(resolve, 10_000);
      caughtUp = () => {
        clearTimeout(bound);
        resolve();
      };
    });
  }
  if (timer) clearInterval(timer);
  readers.abort();
  await Promise.all(readersDone);
  return {
    appended,
    failed,
    delivered,
    seconds,
    rate: appended / seconds,
    bytesPerSecond: (appended * options.size) / seconds,
    appendLatency,
    deliverLatency,
    firstError,
  };
}
