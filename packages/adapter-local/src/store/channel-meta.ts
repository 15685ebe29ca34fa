import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errors } from '../errors.js';
import { FORMAT_VERSION } from '../format/segment.js';
import { isErrnoCode, writeFileAtomically } from './fs.js';

export const META_FILE = 'meta.json';

/**
 * `meta.json` of a pchannel directory: the pchannel's name (the directory name is an encoding of it), the
 * highest term opened read-write (writers below it are fenced, across restarts) and the truncation point.
 * Replaced atomically (write aside, fdatasync, rename, sync the directory) at each change.
 */
export interface ChannelMeta {
  readonly pchannel: string;
  /** -1 until the pchannel is first opened read-write. */
  readonly term: bigint;
  /** Records below this offset are truncated: no reader sees them, even where their segment remains. */
  readonly truncatedBefore: number;
}

interface MetaJson {
  readonly format: number;
  readonly pchannel: string;
  readonly term: string | null;
  readonly truncatedBefore: number;
}

export async function readChannelMeta(directory: string): Promise<ChannelMeta | undefined> {
  const file = join(directory, META_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (isErrnoCode(error, 'ENOENT')) return undefined;
    throw error;
  }
  let json: Partial<MetaJson>;
  try {
    json = JSON.parse(text) as Partial<MetaJson>;
  } catch {
    throw errors.corrupt(file, 0, 'not JSON');
  }
  if (json.format !== FORMAT_VERSION)
    throw errors.corrupt(file, 0, `format ${String(json.format)}; this adapter reads ${FORMAT_VERSION}`);
  if (
    typeof json.pchannel !== 'string' ||
    !(json.term === null || (typeof json.term === 'string' && /^\d+$/.test(json.term))) ||
    !Number.isSafeInteger(json.truncatedBefore) ||
    (json.truncatedBefore ?? -1) < 0
  ) {
    throw errors.corrupt(file, 0, 'missing or malformed fields');
  }
  return {
    pchannel: json.pchannel,
    term: json.term === null ? -1n : BigInt(json.term!),
    truncatedBefore: json.truncatedBefore!,
  };
}

export async function writeChannelMeta(directory: string, meta: ChannelMeta): Promise<void> {
  const json: MetaJson = {
    format: FORMAT_VERSION,
    pchannel: meta.pchannel,
    term: meta.term < 0n ? null : meta.term.toString(),
    truncatedBefore: meta.truncatedBefore,
  };
  await writeFileAtomically(join(directory, META_FILE), `${JSON.stringify(json)}\n`);
}

const KEEP = /^[a-z0-9_-]$/;
/** Most file systems allow 255 bytes per name. */
export const MAX_DIRECTORY_NAME_BYTES = 255;

/**
 * The directory name of a pchannel: lowercase letters, digits, `_` and `-` as they are, every other byte
 * of its UTF-8 as `%XX` — reversible, and distinct for names that differ only in case, so it is safe on
 * case-insensitive file systems. Undefined when the name is too long for a directory.
 */
export function channelDirectoryName(pchannel: string): string | undefined {
  let name = '';
  for (const char of pchannel) {
    if (KEEP.test(char)) name += char;
    else
      for (const byte of Buffer.from(char, 'utf8'))
        name += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return Buffer.byteLength(name) <= MAX_DIRECTORY_NAME_BYTES ? name : undefined;
}
