import { type DeliverPolicy, WalError } from '@walstream/core';
import { createRawScanner, type Observability, type RawScanner } from '@walstream/core/spi';
import { codecFailure } from './codecs/index.js';
import type { KafkaDriver } from './driver/types.js';
import { asKafkaMessageId } from './message-id.js';
import { inspectControl, toImmutable } from './records.js';

export interface ScannerSpec {
  readonly driver: KafkaDriver;
  readonly topic: string;
  readonly name: string;
  readonly deliverPolicy: DeliverPolicy;
  readonly readAheadBufferSize?: number;
  /** Told about a failure the driver rides out by itself (a broker outage), for reporting. */
  readonly onRetry?: (error: unknown) => void;
  /** Where records with unexpected content in walstream's reserved headers are counted and reported. */
  readonly observability?: Observability;
}

/**
 * Counts records whose reserved headers (`__ws`, `__ws.open`) do not verify, and warns about the first
 * one a scanner meets (a log written by another client may hold many).
 */
function unexpectedControlReporter(spec: ScannerSpec): (offset: bigint, why: string) => void {
  const observability = spec.observability;
  if (!observability) return () => {};
  const counter = observability.meter.createCounter('walstream.kafka.unexpected_control_records', {
    description:
      'Records whose walstream headers do not verify: delivered as data, never a marker or a fence',
  });
  let warned = false;
  return (offset, why) => {
    counter.add(1, { topic: spec.topic });
    if (warned) return;
    warned = true;
    observability.logger.warn(
      { topic: spec.topic, scanner: spec.name, offset: offset.toString() },
      `record with ${why}: delivered as data, not taken as walstream's own (further ones are only counted)`,
    );
  };
}

/** The first offset a policy reads. Rejects INVALID_MESSAGE_ID for an id of another adapter. */
async function startOffset(driver: KafkaDriver, topic: string, policy: DeliverPolicy): Promise<bigint> {
  switch (policy.kind) {
    case 'startFrom':
      return asKafkaMessageId(policy.id).offset;
    case 'startAfter':
      return asKafkaMessageId(policy.id).offset + 1n;
    case 'all':
      return (await driver.bounds(topic)).start;
    case 'latest':
      return (await driver.bounds(topic)).end;
    default:
      throw new WalError('INVALID_ARGUMENT', `unknown deliver policy ${JSON.stringify(policy)}`);
  }
}

/**
 * A raw scanner over the driver's fetch loop. Read-ahead is bounded by core's buffer: when it is full,
 * `push` waits, the records handler does not return, and the driver fetches nothing more.
 */
export async function openScanner(spec: ScannerSpec): Promise<RawScanner> {
  const { driver, topic, deliverPolicy } = spec;
  let from = await startOffset(driver, topic, deliverPolicy);
  const reportUnexpected = unexpectedControlReporter(spec);
  return createRawScanner({
    name: spec.name,
    ...(spec.readAheadBufferSize === undefined ? {} : { readAheadBufferSize: spec.readAheadBufferSize }),
    async fetch(sink, signal) {
      for (;;) {
        try {
          await driver.consume(
            topic,
            spec.name,
            from,
            {
              ...(spec.onRetry ? { onRetry: spec.onRetry } : {}),
              onRecords: async (records) => {
                for (const record of records) {
                  from = record.offset + 1n;
                  // Takeover markers of the fencing protocol are the adapter's own, not messages. A record
                  // that only looks like one is data: the stack's foreign-records policy decides.
                  const control = inspectControl(record);
                  if (control.kind === 'marker') continue;
                  if (control.kind === 'unexpected') reportUnexpected(record.offset, control.why);
                  if (!(await sink.push(toImmutable(record)))) return false;
                }
                return true;
              },
            },
            signal,
          );
          return;
        } catch (error) {
          if (signal.aborted) throw error;
          // A batch that does not decode: the client wraps the codec's coded error; it is what failed.
          const undecodable = codecFailure(error);
          if (undecodable) throw undecodable;
          if (driver.classify(error) !== 'offsetOutOfRange') throw error;
          const { start, end } = await driver.bounds(topic);
          // Below the log's start (a truncated id, or a truncate that overtook the reader): the SPI says
          // reading starts at the first entry kept, whatever the policy.
          if (from < start) {
            from = start;
            continue;
          }
          throw new WalError(
            'INVALID_ARGUMENT',
            `scanner ${spec.name}: offset ${from} of ${topic} is outside the log [${start}, ${end}) (truncated?)`,
            { cause: error, retriable: false },
          );
        }
      }
    },
  });
}
