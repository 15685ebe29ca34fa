/**
 * Where the catalog keeps each record, under its prefix. Names are used as they are (a pchannel name may
 * contain `/`): a record is found by its exact key, and listings read the name back from the value.
 */
export interface CatalogKeys {
  /** Prefix of every pchannel meta. */
  readonly pchannels: string;
  /** Prefix of every broadcast task. */
  readonly broadcasts: string;
  readonly highWater: string;
  pchannel(name: string): string;
  broadcast(broadcastId: bigint): string;
  checkpoint(pchannel: string): string;
}

export function catalogKeys(prefix: string): CatalogKeys {
  return {
    pchannels: `${prefix}pchannels/`,
    broadcasts: `${prefix}broadcasts/`,
    highWater: `${prefix}tso/high-water`,
    pchannel: (name) => `${prefix}pchannels/${name}`,
    broadcast: (broadcastId) => `${prefix}broadcasts/${broadcastId.toString()}`,
    checkpoint: (pchannel) => `${prefix}checkpoints/${pchannel}`,
  };
}
