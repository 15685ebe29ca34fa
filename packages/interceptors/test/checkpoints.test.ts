import { createVChannel, walCheckpoints } from '@walstream/interceptors';
import { filter, firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { note, PCHANNEL, semanticsStack } from './support.js';

const FAST_PERSIST = { recovery: { persistIntervalMs: 5 } };

describe('walCheckpoints', () => {
  it('is undefined for a WAL the semantics did not build', async () => {
    const stack = await semanticsStack(FAST_PERSIST);
    const wal = await stack.open(1n);
    const other = Object.create(wal) as typeof wal;
    expect(walCheckpoints(other)).toBeUndefined();
    expect(walCheckpoints(wal)).toBeDefined();
    await stack.close();
  });

  it('reports the fence as recovery timetick and the record saved at open', async () => {
    const stack = await semanticsStack(FAST_PERSIST);
    const wal = await stack.open(1n);
    const checkpoints = walCheckpoints(wal)!;
    expect(checkpoints.saved).toBeDefined();
    expect(checkpoints.saved!.checkpoint.timeTick).toBe(checkpoints.recoveryTimeTick);
    expect(checkpoints.saved!.flushed).toBeUndefined();
    await stack.close();
  });

  it('a flushed position is saved with the next record, never moves back, and is loaded by the next term', async () => {
    const stack = await semanticsStack(FAST_PERSIST);
    const wal = await stack.open(1n);
    const vchannel = `${PCHANNEL}_av0`;
    await wal.append(createVChannel(vchannel));
    const first = await wal.append(note(vchannel, 1));
    const second = await wal.append(note(vchannel, 2));
    const checkpoints = walCheckpoints(wal)!;
    const savedWith = (timeTick: bigint) =>
      firstValueFrom(checkpoints.saved$.pipe(filter((record) => record.flushed?.timeTick === timeTick)));

    const firstSaved = savedWith(second.timeTick);
    checkpoints.advanceFlushed({ messageId: second.messageId, timeTick: second.timeTick });
    checkpoints.advanceFlushed({ messageId: first.messageId, timeTick: first.timeTick });
    const record = await firstSaved;
    expect(record.flushed!.messageId.compare(second.messageId)).toBe(0);
    expect(checkpoints.flushed!.timeTick).toBe(second.timeTick);
    await wal.close();

    const next = await stack.open(2n);
    const reopened = walCheckpoints(next)!;
    expect(reopened.flushed!.timeTick).toBe(second.timeTick);
    expect(reopened.flushed!.messageId.compare(second.messageId)).toBe(0);
    // The save at open carried it over.
    expect(reopened.saved!.flushed!.timeTick).toBe(second.timeTick);
    await stack.close();
  });

  it('tracks the last TimeTick sync', async () => {
    const stack = await semanticsStack({ ...FAST_PERSIST, timeTick: { syncGapMs: 1 } });
    const wal = await stack.open(1n);
    const vchannel = `${PCHANNEL}_bv0`;
    await wal.append(createVChannel(vchannel));
    const appended = await wal.append(note(vchannel, 1));
    const checkpoints = walCheckpoints(wal)!;
    await firstValueFrom(
      checkpoints.saved$.pipe(filter((record) => record.checkpoint.timeTick >= appended.timeTick)),
    );
    expect(checkpoints.lastSyncedTimeTick).toBeGreaterThanOrEqual(appended.timeTick);
    await stack.close();
  });
});
