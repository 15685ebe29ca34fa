import fc from 'fast-check';
import type { TxnEnd } from '../ledger.js';

/** One client operation; the operations of a wave run concurrently. */
export type Op =
  | {
      readonly kind: 'append';
      /** Index into the stack's vchannels. */
      readonly vchannel: number;
      readonly exclusive: boolean;
      /** The protocol's Insert rather than a note: it goes to a segment (not with `exclusive`). */
      readonly insert?: boolean;
      /**
       * Aborts the append after this many ms: the client gives up and the message may or may not land
       * (with injected errors, the runtime is likely to be between retries).
       */
      readonly abortAfterMs?: number;
    }
  | {
      readonly kind: 'txn';
      readonly vchannel: number;
      readonly bodies: number;
      readonly end: TxnEnd;
      /** Aborts each body append after this many ms: a body that may or may not be in the txn. */
      readonly abortBodiesAfterMs?: number;
      /** The bodies are the protocol's Inserts: their rows count once the txn committed. */
      readonly insertBodies?: boolean;
    };

export type Step =
  | { readonly kind: 'wave'; readonly ops: readonly Op[] }
  | { readonly kind: 'faults'; readonly on: boolean }
  | {
      readonly kind: 'reopen';
      readonly graceful: boolean;
      /**
       * The reopening runs during the next wave: it starts at the first acknowledgement of the wave the
       * suite drops (the runtime is then retrying appends that landed), so appends of the wave fail
       * under it (and may or may not have landed).
       */
      readonly duringWave: boolean;
    };

export interface Schedule {
  readonly vchannels: number;
  readonly steps: readonly Step[];
}

/** What a case lets its schedules contain. */
export interface ScheduleShape {
  readonly maxVChannels: number;
  readonly maxWaves: number;
  readonly maxOpsPerWave: number;
  readonly maxBodies: number;
  /** Relative weights of the kinds of operation; `insert` (default 0) is a plain append of an Insert. */
  readonly weights: {
    readonly append: number;
    readonly exclusive: number;
    readonly txn: number;
    readonly insert?: number;
  };
  /** Whether some txns carry Inserts as their bodies. */
  readonly insertBodies?: boolean;
  /** The txn endings to draw from. */
  readonly ends: readonly TxnEnd[];
  /** Whether waves may run with injected append errors (only when the options give a fault hook). */
  readonly faults: boolean;
  /** Every wave runs with injected errors (when `faults`): retried writes land out of allocation order. */
  readonly alwaysFaulty?: boolean;
  /** Whether some appends are aborted by the client. */
  readonly aborts: boolean;
  /** How many reopenings may come between waves. */
  readonly maxReopens: number;
  /** Schedules with fewer reopenings get one more at the end (txns waiting for it then commit). */
  readonly minReopens?: number;
  /** Reopenings may run while a wave is in flight. */
  readonly reopenDuringWaves?: boolean;
}

function opArbitrary(shape: ScheduleShape, vchannels: number): fc.Arbitrary<Op> {
  const vchannel = fc.integer({ min: 0, max: vchannels - 1 });
  const abort = shape.aborts
    ? fc.option(fc.integer({ min: 0, max: 3 }), { freq: 5, nil: undefined })
    : fc.constant(undefined);
  const options: fc.WeightedArbitrary<Op>[] = [];
  if (shape.weights.append > 0) {
    options.push({
      weight: shape.weights.append,
      arbitrary: fc
        .record({ vchannel, abortAfterMs: abort })
        .map(({ vchannel: v, abortAfterMs }) =>
          abortAfterMs === undefined
            ? { kind: 'append' as const, vchannel: v, exclusive: false }
            : { kind: 'append' as const, vchannel: v, exclusive: false, abortAfterMs },
        ),
    });
  }
  if ((shape.weights.insert ?? 0) > 0) {
    options.push({
      weight: shape.weights.insert!,
      arbitrary: fc
        .record({ vchannel, abortAfterMs: abort })
        .map(({ vchannel: v, abortAfterMs }) =>
          abortAfterMs === undefined
            ? { kind: 'append' as const, vchannel: v, exclusive: false, insert: true }
            : { kind: 'append' as const, vchannel: v, exclusive: false, insert: true, abortAfterMs },
        ),
    });
  }
  if (shape.weights.exclusive > 0) {
    options.push({
      weight: shape.weights.exclusive,
      arbitrary: vchannel.map((v) => ({ kind: 'append' as const, vchannel: v, exclusive: true })),
    });
  }
  if (shape.weights.txn > 0 && shape.ends.length > 0) {
    options.push({
      weight: shape.weights.txn,
      arbitrary: fc
        .record({
          vchannel,
          bodies: fc.integer({ min: 0, max: shape.maxBodies }),
          end: fc.constantFrom(...shape.ends),
          abortBodiesAfterMs: abort,
          insertBodies: shape.insertBodies ? fc.boolean() : fc.constant(false),
        })
        .map(({ abortBodiesAfterMs, insertBodies, ...txn }) => ({
          kind: 'txn' as const,
          ...txn,
          ...(abortBodiesAfterMs === undefined ? {} : { abortBodiesAfterMs }),
          ...(insertBodies ? { insertBodies } : {}),
        })),
    });
  }
  return fc.oneof(...options);
}

/**
 * Schedules of concurrent appends and txns in waves, with injected errors switched on and off and
 * reopenings at a higher term between waves.
 */
export function scheduleArbitrary(shape: ScheduleShape): fc.Arbitrary<Schedule> {
  return fc.integer({ min: 1, max: shape.maxVChannels }).chain((vchannels) => {
    const wave = fc
      .array(opArbitrary(shape, vchannels), { minLength: 1, maxLength: shape.maxOpsPerWave })
      .map((ops): Step => ({ kind: 'wave', ops }));
    const between: fc.Arbitrary<Step | undefined>[] = [fc.constant(undefined)];
    if (shape.faults && !shape.alwaysFaulty)
      between.push(fc.boolean().map((on): Step => ({ kind: 'faults', on })));
    if (shape.maxReopens > 0) {
      const duringWave = shape.reopenDuringWaves ? fc.boolean() : fc.constant(false);
      between.push(
        fc
          .record({ graceful: fc.boolean(), duringWave })
          .map((reopen): Step => ({ kind: 'reopen', ...reopen })),
      );
    }
    const segment = fc.tuple(fc.oneof(...between), wave);
    return fc
      .tuple(
        fc.array(segment, { minLength: 1, maxLength: shape.maxWaves }),
        fc.boolean(),
        shape.faults ? (shape.alwaysFaulty ? fc.constant(true) : fc.boolean()) : fc.constant(false),
      )
      .map(([segments, gracefulAtEnd, faultyFromStart]) => {
        const steps: Step[] = faultyFromStart ? [{ kind: 'faults', on: true }] : [];
        let reopens = 0;
        for (const [before, waveStep] of segments) {
          if (before?.kind === 'reopen' && reopens >= shape.maxReopens) {
            steps.push(waveStep);
            continue;
          }
          if (before?.kind === 'reopen') reopens++;
          if (before) steps.push(before);
          steps.push(waveStep);
        }
        if (reopens < (shape.minReopens ?? 0)) {
          steps.push({ kind: 'reopen', graceful: gracefulAtEnd, duringWave: false });
        }
        return { vchannels, steps };
      });
  });
}

/**
 * A short human-readable form of a schedule for failure reports: `a0` a note on vchannel 0, `i0` an
 * Insert, `X0` an exclusive message, `!3ms` aborted by the client after 3 ms, `txn0(2i commit)` a txn
 * with two Insert bodies.
 */
export function describeSchedule(schedule: Schedule): string {
  const parts = schedule.steps.map((step) => {
    if (step.kind === 'faults') return step.on ? 'faults on' : 'faults off';
    if (step.kind === 'reopen') {
      return `${step.graceful ? 'close+reopen' : 'reopen over a live WAL'}${step.duringWave ? ' during ↓' : ''}`;
    }
    return `[${step.ops
      .map((op) =>
        op.kind === 'append'
          ? `${op.exclusive ? 'X' : op.insert ? 'i' : 'a'}${op.vchannel}${op.abortAfterMs === undefined ? '' : `!${op.abortAfterMs}ms`}`
          : `txn${op.vchannel}(${op.bodies}${op.insertBodies ? 'i' : ''}${op.abortBodiesAfterMs === undefined ? '' : `!${op.abortBodiesAfterMs}ms`} ${op.end})`,
      )
      .join(' ')}]`;
  });
  return `${schedule.vchannels} vchannel(s): ${parts.join(' → ')}`;
}
