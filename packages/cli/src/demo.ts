import {
  DeliverPolicy,
  defineMessageType,
  type ImmutableMessage,
  ImmutableTxnMessage,
  type MessageTypeDefinition,
  messageTypes,
  newMessage,
  type Scanner,
  vchannelName,
  type Wal,
} from '@walstream/core';
import {
  beginTxnMessage,
  commitTxnMessage,
  createVChannel,
  inTxn,
  rollbackTxnMessage,
} from '@walstream/interceptors';
import { formatMs, Latencies } from './latency.js';

/** The demo's one application message type (a registered type, as an application defines its own). */
export const DemoEvent: MessageTypeDefinition<Uint8Array> =
  (messageTypes.byName('DemoEvent') as MessageTypeDefinition<Uint8Array> | undefined) ??
  defineMessageType({ name: 'DemoEvent', code: 2101, flags: {} });

const utf8 = new TextEncoder();

/** Every TXN_EVERY-th operation of a lane is a txn of TXN_BODIES bodies; every ROLLBACK_EVERY-th txn rolls back. */
const TXN_EVERY = 20;
const TXN_BODIES = 3;
const ROLLBACK_EVERY = 4;
/** Appends in flight per lane at most: the demo paces, it does not flood. */
const MAX_IN_FLIGHT = 256;
/** How long readers get, after the last append, to deliver everything acknowledged. */
const CATCH_UP_MS = 10_000;

export interface DemoOptions {
  readonly durationMs: number;
  /** Appends per second over all WALs. */
  readonly rate: number;
  readonly progressMs: number;
  readonly out: (line: string) => void;
  /** Stops the traffic early (Ctrl-C); what was acknowledged is still checked. */
  readonly signal?: AbortSignal;
  /**
   * Names this run's vchannels (`<pchannel>_demo<tag>v0`): every run writes and checks vchannels of its
   * own, so a log that holds earlier runs (a restarted service) does not take part in the check.
   * Default: the start time in base 36.
   */
  readonly vchannelTag?: string;
}

export interface DemoReport {
  /** Acknowledged plain appends. */
  readonly appended: number;
  readonly txnsCommitted: number;
  readonly txnsRolledBack: number;
  readonly failedAppends: number;
  /** Application messages readers delivered: plain ones and the bodies of committed txns. */
  readonly delivered: number;
  /** What the check found wrong; empty when every reader saw exactly what was acknowledged, in order. */
  readonly problems: readonly string[];
  /** The vchannels this run created, one per WAL, with the application messages its reader delivered. */
  readonly vchannels: readonly { readonly name: string; readonly delivered: number }[];
  readonly appendLatency: { readonly p50: number; readonly p99: number } | undefined;
  readonly visibleLatency: { readonly p50: number; readonly p99: number } | undefined;
}

/**
 * Demo traffic on every WAL: one new vchannel each (created first, as the shard interceptor requires), a writer
 * that paces plain appends and txns (some rolled back), and a tailing reader from the start of the
 * vchannel. Prints progress, then checks that each reader delivered every acknowledged message exactly
 * once, in timetick order, and no body of a rolled-back txn.
 */
export async function runDemo(wals: readonly Wal[], options: DemoOptions): Promise<DemoReport> {
  const appendLatency = new Latencies();
  const visibleLatency = new Latencies();
  const tag = options.vchannelTag ?? Date.now().toString(36);
  const lanes = await Promise.all(wals.map((wal) => Lane.open(wal, tag, appendLatency, visibleLatency)));
  const started = performance.now();
  const deadline = started + options.durationMs;
  const perLaneRate = options.rate / lanes.length;
  let lastPrint = started;
  let lastAppended = 0;
  const progress = setInterval(() => {
    const now = performance.now();
    const appended = sum(lanes, (lane) => lane.appended);
    const perSecond = ((appended - lastAppended) * 1000) / (now - lastPrint);
    lastPrint = now;
    lastAppended = appended;
    const appendWindow = appendLatency.window();
    const visibleWindow = visibleLatency.window();
    options.out(
      `  ${((now - started) / 1000).toFixed(1).padStart(5)}s  appended ${fmt(appended)} (${fmt(Math.round(perSecond))}/s)` +
        `  delivered ${fmt(sum(lanes, (lane) => lane.delivered))}` +
        `  txns ${fmt(sum(lanes, (lane) => lane.committed))} committed / ${fmt(sum(lanes, (lane) => lane.rolledBackTxns))} rolled back` +
        `  append p99 ${formatMs(appendWindow?.p99)}  visible p50 ${formatMs(visibleWindow?.p50)} p99 ${formatMs(visibleWindow?.p99)}`,
    );
  }, options.progressMs);
  try {
    await Promise.all(lanes.map((lane) => lane.write(perLaneRate, started, deadline, options.signal)));
    await Promise.all(lanes.map((lane) => lane.caughtUp(CATCH_UP_MS)));
  } finally {
    clearInterval(progress);
    await Promise.all(lanes.map((lane) => lane.stopReading()));
  }
  return {
    appended: sum(lanes, (lane) => lane.appended),
    txnsCommitted: sum(lanes, (lane) => lane.committed),
    txnsRolledBack: sum(lanes, (lane) => lane.rolledBackTxns),
    failedAppends: sum(lanes, (lane) => lane.failed),
    delivered: sum(lanes, (lane) => lane.delivered),
    problems: lanes.flatMap((lane) => lane.check()),
    vchannels: lanes.map((lane) => ({ name: lane.vchannel, delivered: lane.delivered })),
    appendLatency: appendLatency.all(),
    visibleLatency: visibleLatency.all(),
  };
}

/** One WAL's writer and tailing reader, and the bookkeeping that checks them against each other. */
class Lane {
  readonly #wal: Wal;
  readonly #vchannel: string;
  readonly #scanner: Scanner;
  readonly #reading: Promise<void>;
  readonly #appendLatency: Latencies;
  readonly #visibleLatency: Latencies;
  /** Keys whose append (or txn commit) was acknowledged. */
  readonly #acknowledged = new Set<string>();
  readonly #rolledBack = new Set<string>();
  readonly #deliveries = new Map<string, number>();
  /** Start time of each plain append, until a reader delivers it. */
  readonly #sentAt = new Map<string, number>();
  readonly #problems: string[] = [];
  #lastTimeTick = 0n;
  #readError: unknown;
  appended = 0;
  committed = 0;
  rolledBackTxns = 0;
  failed = 0;
  delivered = 0;

  private constructor(
    wal: Wal,
    vchannel: string,
    scanner: Scanner,
    appendLatency: Latencies,
    visibleLatency: Latencies,
  ) {
    this.#wal = wal;
    this.#vchannel = vchannel;
    this.#scanner = scanner;
    this.#appendLatency = appendLatency;
    this.#visibleLatency = visibleLatency;
    this.#reading = this.#read();
  }

  static async open(
    wal: Wal,
    tag: string,
    appendLatency: Latencies,
    visibleLatency: Latencies,
  ): Promise<Lane> {
    const vchannel = vchannelName(wal.channel.name, `demo${tag}`);
    await wal.append(createVChannel(vchannel));
    const scanner = await wal.read({ vchannel, deliverPolicy: DeliverPolicy.all() });
    return new Lane(wal, vchannel, scanner, appendLatency, visibleLatency);
  }

  /** Paces operations at `rate` per second until `deadline`, at most MAX_IN_FLIGHT at a time. */
  async write(
    rate: number,
    started: number,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const inFlight = new Set<Promise<void>>();
    let launched = 0;
    for (;;) {
      const now = performance.now();
      if (now >= deadline || signal?.aborted || this.#readError !== undefined) break;
      const due = Math.floor(((now - started) * rate) / 1000) - launched;
      for (let i = 0; i < due && inFlight.size < MAX_IN_FLIGHT; i++) {
        const op = launched++;
        const run = (op % TXN_EVERY === TXN_EVERY - 1 ? this.#txn(op) : this.#plain(op)).finally(() =>
          inFlight.delete(run),
        );
        inFlight.add(run);
      }
      // Pacing, not synchronisation: the next batch is due in a few milliseconds.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await Promise.all(inFlight);
  }

  /** Resolves once the reader delivered every acknowledged key, or after `boundMs` (the check then reports what is missing). */
  async caughtUp(boundMs: number): Promise<void> {
    const until = performance.now() + boundMs;
    while (performance.now() < until && this.#readError === undefined) {
      if ([...this.#acknowledged].every((key) => this.#deliveries.has(key))) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  get vchannel(): string {
    return this.#vchannel;
  }

  async stopReading(): Promise<void> {
    await this.#scanner.close();
    await this.#reading;
  }

  check(): string[] {
    const where = this.#vchannel;
    const problems = [...this.#problems];
    if (this.#readError !== undefined)
      problems.push(`${where}: the reader failed: ${String(this.#readError)}`);
    const missing = [...this.#acknowledged].filter((key) => !this.#deliveries.has(key));
    if (missing.length > 0) {
      problems.push(
        `${where}: ${missing.length} acknowledged message(s) never delivered, e.g. ${missing.slice(0, 3).join(', ')}`,
      );
    }
    for (const [key, count] of this.#deliveries) {
      if (count > 1) problems.push(`${where}: ${key} delivered ${count} times`);
      if (this.#rolledBack.has(key))
        problems.push(`${where}: ${key}, a body of a rolled-back txn, was delivered`);
      else if (!this.#acknowledged.has(key))
        problems.push(`${where}: ${key} was delivered but its append failed`);
    }
    return problems;
  }

  async #plain(op: number): Promise<void> {
    const key = `${this.#wal.channel.name}/${op}`;
    const began = performance.now();
    this.#sentAt.set(key, began);
    try {
      await this.#wal.append(this.#event(key));
      this.#appendLatency.add(performance.now() - began);
      this.#acknowledged.add(key);
      this.appended++;
    } catch {
      this.#sentAt.delete(key);
      this.failed++;
    }
  }

  async #txn(op: number): Promise<void> {
    const rollback = Math.floor(op / TXN_EVERY) % ROLLBACK_EVERY === ROLLBACK_EVERY - 1;
    const keys = Array.from({ length: TXN_BODIES }, (_, body) => `${this.#wal.channel.name}/${op}.${body}`);
    try {
      const begin = await this.#wal.append(beginTxnMessage(this.#vchannel));
      const txn = begin.txn!;
      await Promise.all(keys.map((key) => this.#wal.append(inTxn(this.#event(key), txn))));
      if (rollback) {
        await this.#wal.append(rollbackTxnMessage(this.#vchannel, txn));
        for (const key of keys) this.#rolledBack.add(key);
        this.rolledBackTxns++;
      } else {
        await this.#wal.append(commitTxnMessage(this.#vchannel, txn));
        for (const key of keys) this.#acknowledged.add(key);
        this.committed++;
      }
    } catch {
      // A txn that failed part-way never commits: none of its bodies may be delivered.
      for (const key of keys) this.#rolledBack.add(key);
      this.failed++;
    }
  }

  #event(key: string) {
    return newMessage(DemoEvent).vchannel(this.#vchannel).property('key', key).body(utf8.encode(key)).build();
  }

  async #read(): Promise<void> {
    try {
      for await (const message of this.#scanner) {
        if (message instanceof ImmutableTxnMessage) {
          for (const body of message.bodies) this.#deliver(body);
        } else if (message.messageType === DemoEvent.code) {
          this.#deliver(message);
        }
      }
    } catch (error) {
      this.#readError = error;
    }
  }

  #deliver(message: ImmutableMessage): void {
    const key = message.properties.key ?? '(no key)';
    this.#deliveries.set(key, (this.#deliveries.get(key) ?? 0) + 1);
    this.delivered++;
    if (message.timeTick < this.#lastTimeTick) {
      this.#problems.push(
        `${this.#vchannel}: ${key} at timetick ${message.timeTick} came after ${this.#lastTimeTick}`,
      );
    }
    this.#lastTimeTick = message.timeTick;
    const sentAt = this.#sentAt.get(key);
    if (sentAt !== undefined) {
      this.#visibleLatency.add(performance.now() - sentAt);
      this.#sentAt.delete(key);
    }
  }
}

function sum<T>(items: readonly T[], value: (item: T) => number): number {
  let total = 0;
  for (const item of items) total += value(item);
  return total;
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}
