import {
  type AppendResult,
  defineMessageType,
  type ImmutableMessage,
  type MessageTypeDefinition,
  messageTypes,
  newMessage,
  type PChannelInfo,
  type Wal,
} from '@walstream/core';
import { createVChannel } from '@walstream/interceptors';
import type { FlushedMessage, FlushSink, FlushSinkWriter } from '@walstream/node';

export const Note: MessageTypeDefinition<unknown> =
  messageTypes.byName('NodeFlusherNote') ??
  defineMessageType({ name: 'NodeFlusherNote', code: 4312, flags: {} });

export const note = (vchannel: string, seq: number) =>
  newMessage(Note)
    .vchannel(vchannel)
    .property('seq', String(seq))
    .body(new Uint8Array(64).fill(seq & 0xff))
    .build();

/**
 * A sink that keeps its "durable" messages in memory across terms (the same object is opened again by the
 * next term, as a real sink finds its files again). Syncs can be stalled: a stalled sync stays pending
 * until `release()`; what it covered becomes durable only then. A writer of a term that was given up
 * (closed while stalled) never makes anything durable any more, as if the process had died.
 */
export class MemorySink implements FlushSink {
  readonly name: string;
  /** Per vchannel, the messages this sink made durable, in the order it made them durable. */
  readonly durable = new Map<string, ImmutableMessage[]>();
  /** Per term, every message handed to `write` (durable or not). */
  readonly written = new Map<bigint, ImmutableMessage[]>();
  syncs = 0;
  #stalled: { promise: Promise<void>; resolve: () => void } | undefined;
  /** While set, every sync rejects with it (after taking nothing). */
  failWith: Error | undefined;

  constructor(name: string) {
    this.name = name;
  }

  stall(): void {
    if (this.#stalled) return;
    let resolve!: () => void;
    const promise = new Promise<void>((done) => {
      resolve = done;
    });
    this.#stalled = { promise, resolve };
  }

  get stalled(): boolean {
    return this.#stalled !== undefined;
  }

  release(): void {
    const stalled = this.#stalled;
    this.#stalled = undefined;
    stalled?.resolve();
  }

  /** Durable timeticks of `vchannel`. */
  timeTicks(vchannel: string): bigint[] {
    return (this.durable.get(vchannel) ?? []).map((message) => message.timeTick);
  }

  has(message: { timeTick: bigint; vchannel: string }): boolean {
    return this.timeTicks(message.vchannel).includes(message.timeTick);
  }

  async open(channel: PChannelInfo): Promise<FlushSinkWriter> {
    const sink = this;
    const written: ImmutableMessage[] = [];
    this.written.set(channel.term, written);
    let pending: { vchannel: string; message: ImmutableMessage }[] = [];
    let closed = false;
    const durable = new Map<string, FlushedMessage>();
    for (const [vchannel, messages] of this.durable) {
      const last = messages.at(-1);
      if (last) durable.set(vchannel, { messageId: last.id, timeTick: last.timeTick });
    }
    return {
      durable,
      async write(vchannel, messages) {
        for (const message of messages) {
          written.push(message);
          pending.push({ vchannel, message });
        }
      },
      async sync() {
        const batch = pending;
        pending = [];
        if (sink.failWith) throw sink.failWith;
        while (sink.#stalled && !closed) await sink.#stalled.promise;
        if (closed) return new Promise<void>(() => undefined);
        for (const { vchannel, message } of batch) {
          sink.durable.set(vchannel, [...(sink.durable.get(vchannel) ?? []), message]);
        }
        sink.syncs++;
      },
      async close() {
        closed = true;
      },
    };
  }
}

export interface Appended {
  readonly vchannel: string;
  readonly timeTick: bigint;
  readonly result: AppendResult;
}

/** Creates the vchannels (their create messages count as their first messages). */
export async function createVChannels(wal: Wal, vchannels: readonly string[]): Promise<Appended[]> {
  const out: Appended[] = [];
  for (const vchannel of vchannels) {
    const result = await wal.append(createVChannel(vchannel));
    out.push({ vchannel, timeTick: result.timeTick, result });
  }
  return out;
}

/** Appends `count` notes round-robin over `vchannels`, one at a time. */
export async function appendNotes(
  wal: Wal,
  vchannels: readonly string[],
  count: number,
  from = 0,
): Promise<Appended[]> {
  const out: Appended[] = [];
  for (let i = from; i < from + count; i++) {
    const vchannel = vchannels[i % vchannels.length]!;
    const result = await wal.append(note(vchannel, i));
    out.push({ vchannel, timeTick: result.timeTick, result });
  }
  return out;
}

/** Per vchannel, the timeticks of `appended`, in order. */
export function byVChannel(appended: readonly Appended[]): Map<string, bigint[]> {
  const out = new Map<string, bigint[]>();
  for (const entry of appended) out.set(entry.vchannel, [...(out.get(entry.vchannel) ?? []), entry.timeTick]);
  return out;
}
