import { WalError } from '../errors/wal-error.js';

/** `rw` owns the writer; `ro` only reads and rejects writes with READ_ONLY. */
export type AccessMode = 'rw' | 'ro';

/** The term of a pchannel that was never assigned. */
export const INITIAL_TERM = -1n;

/** A physical log and the assignment epoch it is opened at. */
export interface PChannelInfo {
  readonly name: string;
  /** Raised by the coordinator at each reassignment; a WAL opened at term T fences writers below T. */
  readonly term: bigint;
  readonly accessMode: AccessMode;
}

export function pchannel(
  name: string,
  term: bigint | number = 0n,
  accessMode: AccessMode = 'rw',
): PChannelInfo {
  const info = { name, term: BigInt(term), accessMode };
  assertPChannelInfo(info);
  return info;
}

/** Rejects what the adapter SPI may never see: an empty name, a negative term, an unknown access mode. */
export function assertPChannelInfo(info: PChannelInfo): void {
  if (typeof info.name !== 'string' || info.name.length === 0) {
    throw new WalError('INVALID_ARGUMENT', 'pchannel name must be a non-empty string');
  }
  if (typeof info.term !== 'bigint' || info.term < 0n) {
    throw new WalError(
      'INVALID_ARGUMENT',
      `pchannel ${info.name}: term must be a bigint ≥ 0, got ${String(info.term)}`,
    );
  }
  if (info.accessMode !== 'rw' && info.accessMode !== 'ro') {
    throw new WalError('INVALID_ARGUMENT', `pchannel ${info.name}: access mode must be "rw" or "ro"`);
  }
}

/** `<pchannel>_<name>v<index>`, the vchannel naming of the original. */
export function vchannelName(pchannelName: string, name: string | number | bigint, index = 0): string {
  return `${pchannelName}_${String(name)}v${index}`;
}

/** The pchannel a vchannel lives on: everything before its last `_`. */
export function pchannelOfVChannel(vchannel: string): string {
  const cut = vchannel.lastIndexOf('_');
  if (cut <= 0)
    throw new WalError(
      'INVALID_ARGUMENT',
      `${JSON.stringify(vchannel)} is not a vchannel name (<pchannel>_<name>v<i>)`,
    );
  return vchannel.slice(0, cut);
}
