import { memoryAdapter } from '@walstream/adapter-memory';
import {
  createWal,
  LocalTimestampAllocator,
  MemoryCatalog,
  pchannel,
  type Wal,
  type WalOpener,
} from '@walstream/core';
import type { WalImplsBuilder } from '@walstream/core/spi';
import { walSemantics } from '@walstream/interceptors';

/** The embedded service: one process, the in-memory store, the full semantics chain per pchannel. */
export interface EmbeddedService {
  readonly wals: readonly Wal[];
  /** Closes every WAL (draining appends in flight), then the opener. Idempotent. */
  close(): Promise<void>;
}

export interface EmbeddedOptions {
  readonly pchannels: number;
  /** Prefix of the pchannel names (`<prefix>-0`, `<prefix>-1`, ...). */
  readonly namePrefix?: string;
  /** The log store; the in-memory adapter by default. */
  readonly adapter?: WalImplsBuilder;
}

/**
 * Starts the embedded default: the memory adapter behind `walSemantics()`, a process-local catalog and
 * timestamp allocator (the stand-ins for the metadata store and the TSO of a cluster), every pchannel
 * opened at term 1.
 */
export async function startEmbedded(options: EmbeddedOptions): Promise<EmbeddedService> {
  const opener: WalOpener = await createWal({
    catalog: new MemoryCatalog(),
    allocator: new LocalTimestampAllocator(),
  })
    .adapter(options.adapter ?? memoryAdapter())
    .use(...walSemantics())
    .build();
  const prefix = options.namePrefix ?? 'embedded';
  let wals: Wal[];
  try {
    wals = await Promise.all(
      Array.from({ length: options.pchannels }, (_, i) =>
        opener.open({ channel: pchannel(`${prefix}-${i}`, 1n) }),
      ),
    );
  } catch (error) {
    await opener.close();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    wals,
    close() {
      closing ??= (async () => {
        await Promise.all(wals.map((wal) => wal.close()));
        await opener.close();
      })();
      return closing;
    },
  };
}
