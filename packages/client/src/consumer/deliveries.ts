import { type Delivery, WalError } from '@walstream/core';
import { Observable } from 'rxjs';
import { type ConsumerContext, type ReadOptions, readVChannel } from './consumer.js';

export interface ReadDeliveriesOptions extends Omit<ReadOptions, 'signal'> {
  /**
   * How many deliveries may be unacknowledged at once (default 64). While that many are, the view stops
   * pulling from the consumer, whose stream then stops the node's scanner (its flow control): nothing piles
   * up in the client.
   */
  readonly window?: number;
}

/**
 * The RxJS view of {@link readVChannel}: each message as a {@link Delivery} the subscriber must `ack()`,
 * with at most `window` unacknowledged. Cold: each subscription opens its own consumer, from the
 * options' deliver policy. It resumes across moves exactly as `read` does (the same consumer underneath:
 * no gap, no duplicate); an ack only lets more through — where the view resumes after a move is the last
 * message delivered, acknowledged or not. Unsubscribing cancels the stream; a non-retriable failure (an
 * unknown vchannel, the client closed) ends the Observable with that error.
 */
export function readDeliveries(
  vchannel: string,
  window: number,
  options: Omit<ReadOptions, 'signal'>,
  context: ConsumerContext,
): Observable<Delivery> {
  return new Observable<Delivery>((subscriber) => {
    const stop = new AbortController();
    const messages = readVChannel(vchannel, { ...options, signal: stop.signal }, context)[
      Symbol.asyncIterator
    ]();
    let unacked = 0;
    let pulling = false;
    const pull = async (): Promise<void> => {
      if (pulling) return;
      pulling = true;
      try {
        while (!stop.signal.aborted && unacked < window) {
          const next = await messages.next();
          if (stop.signal.aborted) return;
          if (next.done) {
            subscriber.complete();
            return;
          }
          unacked++;
          let acked = false;
          subscriber.next({
            message: next.value,
            ack: () => {
              if (acked) return;
              acked = true;
              unacked--;
              void pull();
            },
          });
        }
      } catch (error) {
        if (!stop.signal.aborted)
          subscriber.error(WalError.is(error) ? error : new WalError('UNKNOWN', String(error)));
      } finally {
        pulling = false;
      }
    };
    void pull();
    return () => {
      stop.abort();
    };
  });
}
