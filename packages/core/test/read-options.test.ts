import { memoryAdapter } from '@walstream/adapter-memory';
import {
  createWal,
  DeliverPolicy,
  defineMessageType,
  type MessageID,
  newMessage,
  pchannel,
} from '@walstream/core';
import { afterEach, describe, expect, it } from 'vitest';

const Note = defineMessageType({ name: 'ReadOptionsTestNote', code: 4121, flags: {} });
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function openWal() {
  const adapter = memoryAdapter();
  const opener = await createWal().adapter(adapter).build();
  closers.push(() => opener.close());
  const wal = await opener.open({ channel: pchannel('opts', 1n) });
  const { messageId } = await wal.append(newMessage(Note).vchannel('opts_1v0').build());
  return { wal, messageId, store: adapter.store };
}

const foreignId: MessageID = {
  walName: 'elsewhere',
  compare: () => 0,
  marshal: () => '0',
  toString: () => 'elsewhere:0',
};

describe('read options are checked before the adapter sees them', () => {
  it.each([
    [{ readAheadBufferSize: 1.5 }, 'readAheadBufferSize'],
    [{ readAheadBufferSize: 0 }, 'readAheadBufferSize'],
    [{ readAheadBufferSize: -1 }, 'readAheadBufferSize'],
    [{ vchannel: '' }, 'vchannel'],
    [{ filters: [{ kind: 'sometimes' }] }, 'filters'],
    [{ deliverPolicy: { kind: 'earliest' } }, 'deliverPolicy'],
    [{ deliverPolicy: { kind: 'startFrom' } }, 'deliverPolicy'],
    [{ readAheadBufferSise: 4 }, 'readAheadBufferSise'],
  ])('%o → INVALID_ARGUMENT naming %s, no reader started', async (options, option) => {
    const { wal, store } = await openWal();
    await expect(wal.read(options as never)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      retriable: false,
      details: { option },
      message: expect.stringContaining(option),
    });
    expect(store.stats('opts').openScanners).toBe(0);
  });

  it('a deliver policy with an id of another store → INVALID_MESSAGE_ID', async () => {
    const { wal } = await openWal();
    await expect(wal.read({ deliverPolicy: DeliverPolicy.startAfter(foreignId) })).rejects.toMatchObject({
      code: 'INVALID_MESSAGE_ID',
      retriable: false,
    });
  });

  it('good options still read', async () => {
    const { wal, messageId } = await openWal();
    await using scanner = await wal.read({
      deliverPolicy: DeliverPolicy.startFrom(messageId),
      readAheadBufferSize: 1,
    });
    const first = await scanner.next();
    expect(first.done === false && first.value.id.compare(messageId)).toBe(0);
  });

  it('deliveries$ rejects a window that could never deliver (0) or is no integer', async () => {
    const { wal } = await openWal();
    const scanner = await wal.read();
    closers.push(() => scanner.close());
    for (const window of [0, 2.5, -3]) {
      expect(() => scanner.deliveries$({ window })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { option: 'window' } }),
      );
    }
  });
});
