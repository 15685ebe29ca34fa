import type { MessageID, MutableMessage, Registry } from '@walstream/core';
import type {
  AppendContext,
  AppendNext,
  Interceptor,
  InterceptorBuilder,
  InterceptorBuildParams,
} from '@walstream/core/spi';
import { LockInterceptor } from './lock/interceptor.js';
import { type ResolvedOptions, resolveOptions, type SemanticsOptions } from './options.js';
import { RedoInterceptor } from './redo/interceptor.js';
import { SemanticsStack } from './semantics-stack.js';
import { ShardInterceptor } from './shard/interceptor.js';
import { TimeTickInterceptor } from './timetick/interceptor.js';

/** A read-only WAL writes nothing: its interceptors only pass reads' ordering needs through. */
function passThrough(name: string, writesTimeTicks = false): Interceptor {
  return {
    name,
    writesTimeTicks,
    doAppend: (message: MutableMessage, context: AppendContext, next: AppendNext): Promise<MessageID> =>
      next(message, context),
  };
}

const readOnly = (params: InterceptorBuildParams): boolean => params.channel.accessMode === 'ro';

/**
 * Reruns the inner chain with a fresh timetick when an inner interceptor asks (outermost). Options are
 * checked here, not when the WAL opens: INVALID_ARGUMENT naming the option.
 */
export function redo(options?: SemanticsOptions): InterceptorBuilder {
  return redoBuilder(options, resolveOptions(options, 'redo'));
}

/** WAL-wide and per-vchannel read/write locks for exclusive message types; inside redo. */
export function lock(options?: SemanticsOptions): InterceptorBuilder {
  return lockBuilder(options, resolveOptions(options, 'lock'));
}

/** Timeticks, last-confirmed ids, txns, TimeTick syncs and the write-ahead buffer; inside redo and lock. */
export function timeTick(options?: SemanticsOptions): InterceptorBuilder {
  return timeTickBuilder(options, resolveOptions(options, 'timeTick'));
}

/** The vchannel lifecycle and segment assignment (innermost). */
export function shard(options?: SemanticsOptions): InterceptorBuilder {
  return shardBuilder(options, resolveOptions(options, 'shard'));
}

/**
 * The whole semantics stack, in order redo → lock → timeTick → shard, sharing one per-WAL stack:
 *
 * ```ts fragment
 * const opener = await createWal({ catalog }).adapter(memoryAdapter()).use(...walSemantics()).build();
 * ```
 */
export function walSemantics(options: SemanticsOptions = {}): InterceptorBuilder[] {
  const resolved = resolveOptions(options, 'walSemantics');
  return [
    redoBuilder(options, resolved),
    lockBuilder(options, resolved),
    timeTickBuilder(options, resolved),
    shardBuilder(options, resolved),
  ];
}

/** Registers the four builders by name (`redo`, `lock`, `timeTick`, `shard`), each taking {@link SemanticsOptions}. */
export function registerSemantics(registry: Registry): Registry {
  return registry
    .registerInterceptor('redo', redo)
    .registerInterceptor('lock', lock)
    .registerInterceptor('timeTick', timeTick)
    .registerInterceptor('shard', shard);
}

declare module '@walstream/core' {
  interface RegisteredInterceptors {
    redo: SemanticsOptions | undefined;
    lock: SemanticsOptions | undefined;
    timeTick: SemanticsOptions | undefined;
    shard: SemanticsOptions | undefined;
  }
}

// Each builder names the semantics interceptors that must run outside it when they are in the stack:
// redo reruns whatever is inside it, the lock is held across timetick allocation and the write, and the
// shard reads the timetick (and the txn) the timeTick interceptor gave the message.

function redoBuilder(raw: SemanticsOptions | undefined, options: ResolvedOptions): InterceptorBuilder {
  return {
    name: 'redo',
    async build(params) {
      if (readOnly(params)) return passThrough('redo');
      const stack = await SemanticsStack.of(params, raw, options);
      return withLifecycle(
        new RedoInterceptor(params.channel.name, options.maxRedoAttempts, stack.stopping.signal),
        stack,
      );
    },
  };
}

function lockBuilder(raw: SemanticsOptions | undefined, options: ResolvedOptions): InterceptorBuilder {
  return {
    name: 'lock',
    outsideOf: ['redo'],
    async build(params) {
      if (readOnly(params)) return passThrough('lock');
      const stack = await SemanticsStack.of(params, raw, options);
      return withLifecycle(new LockInterceptor(params.channel.name, stack.txnManager), stack);
    },
  };
}

function timeTickBuilder(raw: SemanticsOptions | undefined, options: ResolvedOptions): InterceptorBuilder {
  return {
    name: 'timeTick',
    outsideOf: ['redo', 'lock'],
    async build(params) {
      // The log of a read-only WAL still carries TimeTicks: its readers order by them.
      if (readOnly(params)) return passThrough('timeTick', true);
      return new TimeTickInterceptor(await SemanticsStack.of(params, raw, options));
    },
  };
}

function shardBuilder(raw: SemanticsOptions | undefined, options: ResolvedOptions): InterceptorBuilder {
  return {
    name: 'shard',
    outsideOf: ['redo', 'lock', 'timeTick'],
    async build(params) {
      if (readOnly(params)) return passThrough('shard');
      const stack = await SemanticsStack.of(params, raw, options);
      return withLifecycle(new ShardInterceptor(stack), stack);
    },
  };
}

/** Every interceptor closes the shared stack (idempotent), so any subset of the builders cleans up. */
function withLifecycle(
  interceptor: Interceptor,
  stack: { gracefulClose(): Promise<void>; close(): Promise<void> },
): Interceptor {
  return {
    name: interceptor.name,
    doAppend: (message, appendContext, next) => interceptor.doAppend(message, appendContext, next),
    gracefulClose: () => stack.gracefulClose(),
    close: () => stack.close(),
  };
}
