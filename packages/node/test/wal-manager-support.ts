import { type MemoryAdapter, memoryAdapter } from '@walstream/adapter-memory';
import { createWal, MemoryCatalog, type PChannelInfo, type Wal, type WalOpener } from '@walstream/core';
import { type SemanticsOptions, walSemantics } from '@walstream/interceptors';
import { waitFor } from '@walstream/testkit';

/**
 * The opener a node is given, with a record of what it opened: every open (pchannel and term, in call
 * order) and any moment at which a second WAL of one pchannel was being opened while another was open.
 */
export interface RecordingOpener extends WalOpener {
  readonly opens: PChannelInfo[];
  readonly overlaps: string[];
  /** WALs opened and not closed, per pchannel. */
  openWals(pchannel: string): Wal[];
}

export interface MemoryStack {
  readonly adapter: MemoryAdapter;
  readonly catalog: MemoryCatalog;
  readonly opener: RecordingOpener;
}

export async function memoryStack(semantics: SemanticsOptions = {}): Promise<MemoryStack> {
  const adapter = memoryAdapter();
  const catalog = new MemoryCatalog();
  const inner = await createWal({ catalog, runtime: { appendRetry: { initialMs: 1, maxMs: 5 } } })
    .adapter(adapter)
    .use(...walSemantics(semantics))
    .build();
  return { adapter, catalog, opener: recording(inner) };
}

export function recording(inner: WalOpener): RecordingOpener {
  const opens: PChannelInfo[] = [];
  const overlaps: string[] = [];
  const wals = new Map<string, Wal[]>();
  const opening = new Map<string, number>();
  const openWals = (name: string) => (wals.get(name) ?? []).filter((wal) => wal.state !== 'closed');
  return {
    walName: inner.walName,
    opens,
    overlaps,
    openWals,
    async open(options) {
      const { name, term } = options.channel;
      opens.push(options.channel);
      const busy = openWals(name).length + (opening.get(name) ?? 0);
      if (busy > 0)
        overlaps.push(`${name}@${term}: opened while ${busy} other WAL(s) of it were open or opening`);
      opening.set(name, (opening.get(name) ?? 0) + 1);
      try {
        const wal = await inner.open(options);
        wals.set(name, [...(wals.get(name) ?? []), wal]);
        return wal;
      } finally {
        opening.set(name, opening.get(name)! - 1);
      }
    },
    close: () => inner.close(),
    [Symbol.asyncDispose]: () => inner.close(),
  };
}

/** `waitFor` checked at every turn of the event loop: the WAL manager's steps take no timer. */
export const until = (check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> =>
  waitFor(check, what, ms, 0);
