import type { PlainRecord, TxnRecord } from '../ledger.js';
import type { SemanticsStack } from '../stack.js';
import type { Op, Schedule } from './arbitrary.js';
import { appendPlain, beginWithBodies, type ClientRules, endTxn } from './client.js';

export interface ExecutionHooks {
  /** Runs right after each reopening, before the txns waiting for it are committed. */
  readonly afterReopen?: () => Promise<void>;
}

/**
 * Runs a schedule on a stack: waves of concurrent operations, injected errors switched on and off,
 * reopenings; then, with injected errors off, commits what waited for a reopening and appends one end
 * marker per vchannel. Every outcome lands in the stack's ledger.
 */
export async function execute(
  stack: SemanticsStack,
  schedule: Schedule,
  rate: number,
  hooks: ExecutionHooks = {},
): Promise<PlainRecord[]> {
  const rules: ClientRules = {
    strictTxns: !schedule.steps.some((step) => step.kind === 'wave' && step.ops.some(isExclusive)),
  };
  const waitingForReopen: TxnRecord[] = [];
  const vchannelOf = (index: number) => stack.vchannels[index % stack.vchannels.length]!;
  const termChange: ClientRules = { ...rules, termChange: true };
  const run = async (op: Op, opRules: ClientRules): Promise<void> => {
    if (op.kind === 'append') {
      const kind = op.exclusive ? 'exclusive' : op.insert ? 'insert' : 'plain';
      await appendPlain(stack, vchannelOf(op.vchannel), kind, op.abortAfterMs, opRules);
      return;
    }
    const vchannel = vchannelOf(op.vchannel);
    const txn = await beginWithBodies(
      stack,
      vchannel,
      op.bodies,
      op.end,
      opRules,
      op.abortBodiesAfterMs,
      op.insertBodies,
    );
    if (op.end === 'commitAfterReopen') waitingForReopen.push(txn);
    else await endTxn(stack, txn, opRules);
  };
  const commitWaiting = () => settleAll(waitingForReopen.splice(0).map((txn) => endTxn(stack, txn, rules)));
  const reopen = async (graceful: boolean): Promise<boolean> => {
    const done = await stack.reopen({ graceful });
    await hooks.afterReopen?.();
    return done;
  };
  /**
   * The reopening starts at the first acknowledgement lost in the wave, so it meets appends being
   * retried; if no append of the wave reached the store, it runs once the wave is over.
   */
  const reopenDuringWave = async (graceful: boolean, ops: readonly Op[]): Promise<void> => {
    let reopening: Promise<boolean> | undefined;
    const start = () => {
      reopening ??= reopen(graceful);
      return reopening;
    };
    const stop = stack.loseAcksUntilReopened(() => void start().catch(() => undefined));
    const wave = await Promise.allSettled(ops.map((op) => run(op, termChange)));
    let wasGraceful: boolean | undefined;
    try {
      wasGraceful = await start();
    } finally {
      stop(wasGraceful ?? graceful);
    }
    const failed = wave.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
  };
  const steps = schedule.steps;
  for (let index = 0; index < steps.length; index++) {
    const step = steps[index]!;
    if (step.kind === 'faults') stack.setAppendErrorRate(step.on ? rate : 0);
    else if (step.kind === 'wave') await settleAll(step.ops.map((op) => run(op, rules)));
    else {
      const next = steps[index + 1];
      if (step.duringWave && next?.kind === 'wave') {
        index++;
        await reopenDuringWave(step.graceful, next.ops);
      } else await reopen(step.graceful);
      await commitWaiting();
    }
  }
  stack.setAppendErrorRate(0);
  await commitWaiting();
  return appendMarkers(stack);
}

/** One marker per vchannel, one after the other: readers that delivered their markers saw everything. */
export async function appendMarkers(stack: SemanticsStack): Promise<PlainRecord[]> {
  const markers: PlainRecord[] = [];
  for (const vchannel of stack.vchannels) markers.push(await appendPlain(stack, vchannel, 'marker'));
  return markers;
}

/** Like Promise.all, but lets every operation finish before reporting the first failure. */
async function settleAll(pending: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(pending);
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
}

function isExclusive(op: Op): boolean {
  return op.kind === 'append' && op.exclusive;
}
