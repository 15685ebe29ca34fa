import { delay } from '@walstream/core/internal';
import { createRawScanner, type RawScanner, type ScannerSink } from '@walstream/core/spi';
import type { ChannelLog } from './channel-log.js';

export interface MemoryScannerSpec {
  readonly name: string;
  /** The offset of the first entry to deliver; may lie below the retained range or beyond its end. */
  readonly start: number;
  readonly readAheadBufferSize?: number;
  /** Runs once after the fetch loop finished. */
  readonly release: () => void;
}

/**
 * A reader over one channel log: core's bounded read-ahead helper around a fetch loop that copies
 * entries into the buffer and parks on the log's wake-up list at the end (no polling).
 */
export function createMemoryScanner(log: ChannelLog, spec: MemoryScannerSpec): RawScanner {
  log.openScanners++;
  return createRawScanner({
    name: spec.name,
    ...(spec.readAheadBufferSize === undefined ? {} : { readAheadBufferSize: spec.readAheadBufferSize }),
    fetch: (sink, signal) => fetchLoop(log, spec.start, sink, signal),
    release: () => {
      log.openScanners--;
      spec.release();
    },
  });
}

async function fetchLoop(
  log: ChannelLog,
  start: number,
  sink: ScannerSink,
  signal: AbortSignal,
): Promise<void> {
  let offset = start;
  while (!signal.aborted) {
    // Entries truncated under a reader are gone: it continues at the first retained one.
    if (offset < log.firstOffset) offset = log.firstOffset;
    const message = log.at(offset);
    if (message === undefined) {
      await log.waitForAppend(signal);
      continue;
    }
    const readDelayMs = log.faults.config.readDelayMs;
    if (readDelayMs > 0) {
      try {
        await delay(readDelayMs, signal);
      } catch {
        return; // The scanner was closed during the wait.
      }
      // The entry may have been truncated while we waited; look again rather than deliver a stale read.
      if (offset < log.firstOffset) continue;
    }
    if (!sink.tryPush(message) && !(await sink.push(message))) return;
    offset++;
  }
}
