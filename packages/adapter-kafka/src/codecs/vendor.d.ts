// The pure-JS codecs ship no types; only what the codecs folder calls is declared.
declare module 'lz4js' {
  export function compressBound(size: number): number;
  /** Compresses one raw LZ4 block into `dst`; 0 when it found nothing to compress. */
  export function compressBlock(
    src: Uint8Array,
    dst: Uint8Array,
    sIndex: number,
    sLength: number,
    hashTable: Uint32Array,
  ): number;
  /** Decodes one raw LZ4 block into `dst` from `dIndex`; returns the index after the last byte written. */
  export function decompressBlock(
    src: Uint8Array,
    dst: Uint8Array,
    sIndex: number,
    sLength: number,
    dIndex: number,
  ): number;
  /** An LZ4 frame (magic 0x184D2204) of `src`. */
  export function compress(src: Uint8Array, maxSize?: number): Uint8Array;
  /** The content of an LZ4 frame. */
  export function decompress(src: Uint8Array, maxSize?: number): Uint8Array;
}

declare module 'snappyjs' {
  export function compress<T extends Uint8Array | ArrayBuffer>(input: T): T;
  export function uncompress<T extends Uint8Array | ArrayBuffer>(input: T, maxLength?: number): T;
}

declare module 'lz4js/xxh32.js' {
  /** xxHash32 of `length` bytes of `src` from `index`. */
  export function hash(seed: number, src: Uint8Array, index: number, length: number): number;
}
