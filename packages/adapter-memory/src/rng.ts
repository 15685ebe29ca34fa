/** A seeded pseudo-random source in [0, 1). Deterministic, so a fault schedule can be replayed. */
export type Random = () => number;

/** mulberry32: tiny, fast and good enough to decide which append fails. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A per-channel seed from the store seed and the channel name (FNV-1a), so one channel's schedule does
 * not depend on how appends to other channels interleave with it.
 */
export function channelSeed(seed: number, channel: string): number {
  let hash = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < channel.length; i++) {
    hash ^= channel.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
