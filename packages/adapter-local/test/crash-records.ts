/* The records the crash writer appends and the crash harness checks: both sides compute them the same way. */
import { type ImmutableMessage, MutableMessage } from '@walstream/core';

export const CRASH_CHANNEL = 'crash';
export const CRASH_SEGMENT_BYTES = 64 * 1024;

/** Payload of 1..2000 bytes, a pure function of (round, seq), so a mangled or misplaced record shows. */
export function crashPayload(round: number, seq: number): Uint8Array {
  let x = (Math.imul(round + 1, 0x9e3779b1) ^ Math.imul(seq + 1, 0x85ebca6b)) >>> 0;
  const length = 1 + (x % 2000);
  const payload = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    payload[i] = x >>> 24;
  }
  return payload;
}

export function crashRecord(round: number, seq: number): MutableMessage {
  return new MutableMessage(crashPayload(round, seq), { round: String(round), seq: String(seq) });
}

/** Whether `message` is exactly record (round, seq). */
export function isCrashRecord(message: ImmutableMessage, round: number, seq: number): boolean {
  if (message.properties.round !== String(round) || message.properties.seq !== String(seq)) return false;
  const expected = crashPayload(round, seq);
  const actual = message.payload;
  if (actual.length !== expected.length) return false;
  for (let i = 0; i < actual.length; i++) if (actual[i] !== expected[i]) return false;
  return true;
}
