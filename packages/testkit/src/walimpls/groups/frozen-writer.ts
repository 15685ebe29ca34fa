import { DeliverPolicy } from '@walstream/core';
import { check, describeError, fail } from '../../runner/assert.js';
import { abortable } from '../../runner/wait.js';
import { dataMessage, isMarker } from '../messages.js';
import { readUntil } from '../reading.js';
import type { WalImplsCaseDefinition } from '../types.js';
import { appendMarker } from './shared.js';

const FREEZE_AFTER_ACKS = 20;
const IN_FLIGHT = 8;

/**
 * A writer stopped with appends in flight while a newer term opens and writes, then resumed: what its
 * callers were told must match the log (see docs/errors.md, "when an append's outcome is unknown").
 */
export const frozenWriter: WalImplsCaseDefinition = {
  group: 'fencing',
  name: 'a writer frozen while a newer term opens and writes tells its callers what landed',
  async run(t) {
    if (!t.capabilities.fencing) t.skip('the adapter does not declare capabilities.fencing');
    const freezer = t.writerFreezer;
    if (!freezer) return t.skip('the harness turned the frozen writer off (writerFreezer: false)');
    const name = t.channelName('frozen');
    const writer = await freezer.start(t, {
      name,
      term: 1n,
      freezeAfterAcks: FREEZE_AFTER_ACKS,
      inFlight: IN_FLIGHT,
    });
    const how = `(frozen by ${freezer.description})`;
    await abortable(writer.frozen, t.signal, `the term-1 writer to freeze ${how}`);
    const successor = await t.open(name, 2, 'rw', await t.newOpener());
    const first = await t.append(successor, dataMessage(name, 2, 0));
    for (let seq = 1; seq < 3; seq++) await t.append(successor, dataMessage(name, 2, seq));
    await abortable(writer.resume(), t.signal, `the term-1 writer to resume ${how}`);
    const outcomes = await abortable(writer.finished, t.signal, `the resumed term-1 writer to finish ${how}`);

    const scanner = await t.read(successor, { deliverPolicy: DeliverPolicy.all() });
    await appendMarker(t, successor, 'frozen-end');
    const log = await readUntil(scanner, isMarker('frozen-end'), t.signal, {
      max: outcomes.length + 8,
      what: 'reading through the term-2 WAL',
    });
    const firstAt = log.findIndex((m) => m.id.compare(first) === 0);
    check(firstAt >= 0, `the term-2 append ${first.marshal()} is not in the log`);
    const old = new Map<string, number[]>();
    for (const [at, message] of log.entries()) {
      if (message.properties.term !== '1') continue;
      const seq = message.properties.id!;
      old.set(seq, [...(old.get(seq) ?? []), at]);
      check(
        at < firstAt,
        `term-1 append #${seq} is in the log after the term-2 writer's first message ${how}`,
      );
    }
    let fenced = 0;
    for (const outcome of outcomes) {
      const at = old.get(String(outcome.seq)) ?? [];
      if (outcome.ok) {
        check(
          at.length === 1 && log[at[0]!]!.id.compare(outcome.id) === 0,
          `term-1 append #${outcome.seq} was acknowledged as ${outcome.id.marshal()} but is in the log ${at.length} times ${how}`,
        );
        continue;
      }
      // Once term 2 holds the pchannel, a rejection that may have landed says CHANNEL_FENCED: a retriable
      // one would have a caller retry through a writer that can never write again.
      if (outcome.resumed && outcome.retriable && outcome.written !== false) {
        fail(
          `after term 2 opened, term-1 append #${outcome.seq} rejected with ${describeError(outcome.error)} (retriable, outcome ${String(outcome.written)}), expected CHANNEL_FENCED ${how}`,
          outcome.error,
        );
      }
      if (!outcome.retriable) {
        if (outcome.code !== 'CHANNEL_FENCED') {
          fail(
            `a term-1 append after term 2 opened rejected with ${describeError(outcome.error)}, expected CHANNEL_FENCED ${how}`,
            outcome.error,
          );
        }
        fenced++;
      }
      // CHANNEL_FENCED means "did not land" unless the adapter marked the outcome unknown.
      const notWritten =
        outcome.written === false ||
        (outcome.code === 'CHANNEL_FENCED' && outcome.written !== 'unknown' && outcome.written !== true);
      check(
        !notWritten || at.length === 0,
        `term-1 append #${outcome.seq} was rejected ${outcome.code} (not written) yet is in the log ${how}`,
      );
    }
    check(fenced > 0, `no term-1 append was rejected CHANNEL_FENCED after term 2 opened ${how}`);
  },
};
