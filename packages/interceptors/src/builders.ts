import type { MessageID, MutableMessage, Registry } from '@walstream/core';
import type {
  AppendContext,
  AppendNext,
  Interceptor,
  InterceptorBuilder,
  InterceptorBuildParams,
} from '@walstream/core/spi';
import { semanticsContext } from './context.js';
import { LockInterceptor } from './lock/interceptor.js';
import type { SemanticsOptions } from './options.js';
import { RedoInterceptor } from './redo/interceptor.js';
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

/** Reruns the inner chain with a fresh timetick when an inner interceptor asks (outermost). */
export function redo(options?: SemanticsOptions): InterceptorBuilder {
  return {
    name: 'redo',
    async build(params) {
      if (readOnly(params)) return passThrough('redo');
      const context = await semanticsContext(params, options);
      const interceptor = new RedoInterceptor(context.options.maxRedoAttempts, context.stopping.signal);
      return withLifecycle(interceptor, context);
    },
  };
}

/** WAL-wide and per-vchannel read/write locks for exclusive message types. */
export function lock(options?: SemanticsOptions): InterceptorBuilder {
  return {
    name: 'lock',
    async build(params) {
      if (readOnly(params)) return passThrough('lock');
      const context = await semanticsContext(params, options);
      return withLifecycle(new LockInterceptor(params.channel.name, context.txnManager), context);
    },
  };
}

/** Timeticks, last-confirmed ids, txns, TimeTick syncs and the write-ahead buffer. */
export function timeTick(options?: SemanticsOptions): InterceptorBuilder {
  return {
    name: 'timeTick',
    async build(params) {
      // The log of a read-only WAL still carries TimeTicks: its readers order by them.
      if (readOnly(params)) return passThrough('timeTick', true);
      return new TimeTickInterceptor(await semanticsContext(params, options));
    },
  };
}

/** Vchannel lifecycle and segment assignment (innermost). */
export function shard(options?: SemanticsOptions): InterceptorBuilder {
  return {
    name: 'shard',
    async build(params) {
      if (readOnly(params)) return passThrough('shard');
      const context = await semanticsContext(params, options);
      return withLifecycle(new ShardInterceptor(context), context);
    },
  };
}

/**
 * The whole semantics stack, in order redo → lock → timetick → shard, sharing one per-WAL context:
 *
 * ```ts
 * const opener = await createWal({ catalog }).adapter(memoryAdapter()).use(...walSemantics()).build();
 * ```
 */
export function walSemantics(options: SemanticsOptions = {}): InterceptorBuilder[] {
  return [redo(options), lock(options), timeTick(options), shard(options)];
}

/** Registers the four builders by name (`redo`, `lock`, `timeTick`, `shard`), each taking {@link SemanticsOptions}. */
export function registerSemantics(registry: Registry): Registry {
  return registry
    .registerInterceptor('redo', redo)
    .registerInterceptor('lock', lock)
    .registerInterceptor('timeTick', timeTick)
    .registerInterceptor('shard', shard);
}

/** Every interceptor closes the shared context (idempotent), so any subset of the builders cleans up. */
function withLifecycle<T extends Interceptor>(
  interceptor: T,
  context: { gracefulClose(): Promise<void>; close(): Promise<void> },
): Interceptor {
  return {
    name: interceptor.name,
    doAppend: (message, appendContext, next) => interceptor.doAppend(message, appendContext, next),
    gracefulClose: () => context.gracefulClose(),
    close: () => context.close(),
  };
}

declare module '@walstream/core' {
  interface RegisteredInterceptors {
    redo: SemanticsOptions | undefined;
    lock: SemanticsOptions | undefined;
    timeTick: SemanticsOptions | undefined;
    shard: SemanticsOptions | undefined;
  }
}
