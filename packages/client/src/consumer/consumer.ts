import {
  DeliverFilter,
  DeliverPolicy,
  type ImmutableMessage,
  type MessageID,
  pchannelOfVChannel,
  WalError,
} from '@walstream/core';
import { type BackoffOptions, delay } from '@walstream/core/internal';
import { type Observability, toWalError } from '@walstream/core/spi';
import {
  ConsumeRequestSchema,
  type ConsumeResponse,
  create,
  fromWireImmutable,
  fromWireTxn,
  type RpcChannel,
  toWireDeliverPolicy,
  toWireFilters,
  toWirePChannel,
} from '@walstream/rpc';
import type { AssignmentWatcher } from '../assignment/watcher.js';
import { signalError, worthAnotherOwner } from '../producer/producer.js';

export interface ReadOptions {
  /** Where to start the first time. Default: `DeliverPolicy.all()`. */
  readonly deliverPolicy?: DeliverPolicy;
  /** Kept on every (re)connection, ANDed with the resume filter. */
  readonly filters?: readonly DeliverFilter[];
  /** Ends the iteration (it then throws ABORTED). */
  readonly signal?: AbortSignal;
}

export interface ConsumerContext {
  readonly watcher: AssignmentWatcher;
  readonly connect: (address: string) => RpcChannel;
  readonly backoff: BackoffOptions;
  readonly observability: Observability;
  readonly stop: AbortSignal;
}

/** The position a consumer resumes from: the last delivered message's last-confirmed id and timetick. */
interface Position {
  readonly lastConfirmedId: MessageID;
  readonly timeTick: bigint;
}

/**
 * A resumable consumer of one vchannel. Each time its stream breaks — the owner moved, closed, or the
 * connection dropped — it opens a new one on the current owner, starting at the last delivered message's
 * last-confirmed id and keeping only timeticks above that message's: readers see each vchannel in
 * timetick order, so this gives neither a gap nor a duplicate.
 */
export async function* readVChannel(
  vchannel: string,
  options: ReadOptions,
  context: ConsumerContext,
): AsyncGenerator<ImmutableMessage, void, undefined> {
  const pchannel = pchannelOfVChannel(vchannel);
  const { watcher, connect, backoff, observability, stop } = context;
  const signal = options.signal ? AbortSignal.any([options.signal, stop]) : stop;
  const userFilters = options.filters ?? [];
  let position: Position | undefined;
  let failedTerm: bigint | undefined;
  let wait = backoff.initialMs;
  for (;;) {
    if (signal.aborted)
      throw stop.aborted ? new WalError('CLOSED', 'the client is closed') : signalError(signal);
    const owner = await watcher.owner(
      pchannel,
      signal,
      failedTerm,
      failedTerm === undefined ? undefined : wait,
    );
    const deliverPolicy = position
      ? DeliverPolicy.startFrom(position.lastConfirmedId)
      : (options.deliverPolicy ?? DeliverPolicy.all());
    const filters = position ? [...userFilters, DeliverFilter.timeTickGT(position.timeTick)] : userFilters;
    const stream = connect(owner.address).nodeHandler.consume({ signal });
    let ended: WalError | undefined;
    try {
      await stream.send(
        create(ConsumeRequestSchema, {
          request: {
            case: 'open',
            value: {
              pchannel: toWirePChannel(owner.pchannel),
              vchannel,
              deliverPolicy: toWireDeliverPolicy(deliverPolicy),
              filters: toWireFilters(filters),
            },
          },
        }),
      );
      for await (const response of stream) {
        const message = toMessage(response);
        if (message === 'closed') {
          ended = new WalError('ON_SHUTDOWN', `node ${owner.nodeId} closed the consume stream`);
          break;
        }
        if (message === undefined) continue;
        wait = backoff.initialMs;
        failedTerm = undefined;
        // Without a last-confirmed id, the message's own id is a safe (if later) place to start from.
        position = {
          lastConfirmedId: message.hasLastConfirmed ? message.lastConfirmedId : message.id,
          timeTick: message.timeTick,
        };
        yield message;
      }
      ended ??= new WalError('UNAVAILABLE', `node ${owner.nodeId} ended the consume stream`);
    } catch (error) {
      ended = toWalError(error);
    } finally {
      // Also when the caller left the loop: the call is cancelled, not left to the node's flow control.
      stream.cancel();
    }
    if (signal.aborted)
      throw stop.aborted ? new WalError('CLOSED', 'the client is closed') : signalError(signal);
    if (!worthAnotherOwner(ended)) throw ended;
    observability.reportError({ component: 'client.consumer', pchannel, error: ended, retrying: true });
    if (ended.code === 'UNAVAILABLE' || ended.code === 'TIMEOUT')
      void watcher.reportError(owner.pchannel, ended);
    failedTerm = owner.pchannel.term;
    await delay(wait, signal).catch(() => {});
    wait = Math.min(backoff.maxMs, wait * (backoff.multiplier ?? 2));
  }
}

function toMessage(response: ConsumeResponse): ImmutableMessage | 'closed' | undefined {
  switch (response.response.case) {
    case 'message':
      return fromWireImmutable(response.response.value);
    case 'txn':
      return fromWireTxn(response.response.value);
    case 'closed':
      return 'closed';
    default:
      return undefined;
  }
}
