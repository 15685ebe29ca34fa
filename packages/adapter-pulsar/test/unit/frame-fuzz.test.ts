import { createServer, type Server, type Socket } from 'node:net';
import { hasCode, WalError } from '@walstream/core';
import fc from 'fast-check';
import { afterEach, describe, expect, test } from 'vitest';
import {
  CommandType,
  connectCommand,
  decodeBaseCommand,
  decodeCommandMessage,
  encodeCommand,
  sendCommand,
  writeMessageId,
} from '../../src/protocol/commands.js';
import { Connection } from '../../src/protocol/connection.js';
import { crc32c } from '../../src/protocol/crc32c.js';
import {
  decodeFrameBody,
  encodeFrame,
  encodePayloadFrame,
  type Frame,
  FrameDecoder,
} from '../../src/protocol/frame.js';
import {
  decodeMessageMetadata,
  encodeBatchPayload,
  encodeMessageMetadata,
  splitEntry,
} from '../../src/protocol/metadata.js';

/** A bit-at-a-time CRC-32C: slow and obviously right, the reference for the table-driven one. */
function referenceCrc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** Runs `run` and accepts only success or a coded WalError: anything else (RangeError, ...) fails. */
function codedOnly(run: () => unknown): void {
  try {
    run();
  } catch (error) {
    if (!WalError.is(error)) throw new Error(`uncoded error: ${String(error)}`, { cause: error });
  }
}

function messageFrame(consumerId: number, entryId: number, payload: Uint8Array, batch = false): Buffer {
  const command = encodeCommand(CommandType.MESSAGE, (w) => {
    w.uint(1, consumerId).message(2, (m) =>
      writeMessageId(m, {
        ledgerId: 7n,
        entryId: BigInt(entryId),
        partition: -1,
        batchIndex: -1,
        batchSize: 0,
      }),
    );
  });
  const members: { properties: Record<string, string>; payload: Uint8Array }[] = [
    { properties: { a: '1' }, payload },
    { properties: { b: '2' }, payload: payload.subarray(0, Math.floor(payload.length / 2)) },
  ];
  const body = batch ? encodeBatchPayload(members) : payload;
  const metadata = encodeMessageMetadata({
    producerName: 'p',
    sequenceId: entryId,
    publishTime: 1,
    properties: { k: 'v' },
  });
  const withBatch = batch ? Buffer.concat([metadata, Buffer.from([0x58, 2])]) : metadata; // field 11 = 2
  return encodePayloadFrame(command, withBatch, body);
}

/** Splits `bytes` at the given cut points and feeds the pieces to a fresh decoder. */
function decodeInPieces(bytes: Uint8Array, cuts: number[], maxFrameSize?: number): Frame[] {
  const decoder = new FrameDecoder(maxFrameSize);
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const frames: Frame[] = [];
  let from = 0;
  for (const point of [...points, bytes.length]) {
    frames.push(...decoder.push(bytes.subarray(from, point)));
    from = point;
  }
  return frames;
}

describe('CRC-32C', () => {
  test('matches the check value and a bitwise reference', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), (bytes, cut) => {
        const at = Math.min(cut, bytes.length);
        expect(crc32c(bytes)).toBe(referenceCrc32c(bytes));
        // Checksumming in two parts gives the same result.
        expect(crc32c(bytes, crc32c(bytes, 0, 0, at), at)).toBe(crc32c(bytes));
      }),
    );
  });
});

describe('frame decoder', () => {
  test('round-trips simple and payload frames, however the socket splits them', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.array(fc.nat(10_000), { maxLength: 12 }),
        fc.nat(1_000_000),
        (payload, cuts, sequenceId) => {
          const ping = encodeFrame(encodeCommand(CommandType.PING));
          const send = encodePayloadFrame(
            sendCommand(3, sequenceId, 1),
            encodeMessageMetadata({ producerName: 'p', sequenceId, publishTime: 5, properties: { x: 'y' } }),
            payload,
          );
          const frames = decodeInPieces(Buffer.concat([ping, send, ping]), cuts);
          expect(frames.map((f) => f.command.type)).toEqual([
            CommandType.PING,
            CommandType.SEND,
            CommandType.PING,
          ]);
          expect(Buffer.from(frames[1]!.payload!)).toEqual(Buffer.from(payload));
          expect(decodeMessageMetadata(frames[1]!.metadata!).properties).toEqual({ x: 'y' });
        },
      ),
    );
  });

  test('random bytes give frames or coded errors, never anything else', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 600 }),
        fc.array(fc.nat(600), { maxLength: 6 }),
        (bytes, cuts) => {
          codedOnly(() => decodeInPieces(bytes, cuts, 4096));
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('mutated, truncated and extended valid frames give frames or coded errors', () => {
    const corpus = [
      encodeFrame(connectCommand('fuzz')),
      messageFrame(1, 4, new Uint8Array(64).fill(9)),
      messageFrame(2, 5, new Uint8Array(40).fill(3), true),
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...corpus),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        fc.nat(),
        fc.uint8Array({ maxLength: 16 }),
        (frame, flips, cutAt, tail) => {
          const mutated = Buffer.from(frame);
          for (const [at, value] of flips) mutated[at % mutated.length] = value;
          const cut = mutated.subarray(0, cutAt % (mutated.length + 1));
          for (const candidate of [mutated, cut, Buffer.concat([mutated, tail])]) {
            codedOnly(() => {
              for (const decoded of decodeInPieces(candidate, [cutAt], 4096)) {
                // What a consumer would do next with a MESSAGE frame that passed framing.
                if (decoded.command.type === CommandType.MESSAGE && decoded.metadata && decoded.payload) {
                  decodeCommandMessage(decoded.command.body);
                  splitEntry(decodeMessageMetadata(decoded.metadata), decoded.payload);
                }
              }
            });
            codedOnly(() => decodeFrameBody(candidate.subarray(Math.min(4, candidate.length))));
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  test('a flipped payload byte fails the checksum', () => {
    const frame = messageFrame(1, 1, new Uint8Array(100).fill(1));
    frame[frame.length - 1] = frame[frame.length - 1]! ^ 0xff;
    expect(() => new FrameDecoder().push(frame)).toThrow(/checksum mismatch/);
  });

  test('an oversized frame is refused from its header, before its body arrives', () => {
    const decoder = new FrameDecoder(1024);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(10 * 1024 * 1024);
    let caught: unknown;
    try {
      decoder.push(header);
    } catch (error) {
      caught = error;
    }
    expect(hasCode(caught, 'UNAVAILABLE')).toBe(true);
    expect(String(caught)).toMatch(/exceeds the limit/);
    // A failed decoder stays failed: the stream position is lost.
    expect(() => decoder.push(encodeFrame(encodeCommand(CommandType.PING)))).toThrow(WalError);
  });

  test('batch entries split into members with their own properties', () => {
    const frame = decodeFrameBody(messageFrame(1, 1, new Uint8Array([1, 2, 3, 4]), true).subarray(4));
    const members = splitEntry(decodeMessageMetadata(frame.metadata!), frame.payload!);
    expect(members.map((m) => [m.batchIndex, m.properties, [...m.payload]])).toEqual([
      [0, { a: '1' }, [1, 2, 3, 4]],
      [1, { b: '2' }, [1, 2]],
    ]);
    expect(decodeBaseCommand(encodeCommand(CommandType.PONG)).type).toBe(CommandType.PONG);
  });
});

describe('connection to a misbehaving peer', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  /** A loopback "broker" that answers CONNECT properly, then answers the next request with `garbage`. */
  async function fakeBroker(garbage: (socket: Socket) => void): Promise<string> {
    server = createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => {
        socket.write(
          encodeFrame(
            encodeCommand(CommandType.CONNECTED, (w) => {
              w.string(1, 'fake').uint(2, 19).uint(3, 1024);
            }),
          ),
        );
        socket.once('data', () => garbage(socket));
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    return `pulsar://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  test('malformed frames, oversized frames and truncated streams end the connection with coded errors', async () => {
    const cases: ((socket: Socket) => void)[] = [
      (socket) => socket.write(Buffer.from([0, 0, 0, 6, 0, 0, 0, 9, 1, 2])),
      (socket) => socket.write(Buffer.from([0x7f, 0xff, 0xff, 0xff])),
      (socket) => socket.end(Buffer.from([0, 0, 0, 40, 0, 0])),
      // Past the announced 1024-byte max message size plus the frame padding.
      (socket) => socket.write(messageFrame(1, 1, new Uint8Array(80_000))),
    ];
    for (const misbehave of cases) {
      const url = await fakeBroker(misbehave);
      const connection = await Connection.open(url);
      expect(connection.maxMessageSize).toBe(1024);
      const requestId = connection.nextRequestId();
      const pending = connection.request(
        requestId,
        encodeFrame(encodeCommand(CommandType.PING)),
        'probe',
        5_000,
      );
      const reason = await new Promise<WalError>((resolve) => connection.onClosed(resolve));
      expect(WalError.is(reason)).toBe(true);
      expect(reason.code).toBe('UNAVAILABLE');
      await expect(pending).rejects.toSatisfy((error: unknown) => hasCode(error, 'UNAVAILABLE'));
      await new Promise<void>((resolve) => server!.close(() => resolve()));
      server = undefined;
    }
  });

  test('a port nobody listens on rejects UNAVAILABLE', async () => {
    const url = await fakeBroker(() => {});
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    await expect(Connection.open(url)).rejects.toSatisfy((error: unknown) => hasCode(error, 'UNAVAILABLE'));
  });
});
