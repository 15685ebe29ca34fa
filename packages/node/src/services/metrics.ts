import type { BatchObservableCallback, Meter } from '@opentelemetry/api';
import type { NodeFlowControl, RateLimitLevel } from './flow-control.js';

const LEVEL: Record<RateLimitLevel, number> = { normal: 0, slowdown: 1, reject: 2 };

/**
 * The node's flow-control figures as OpenTelemetry instruments (read when the meter collects):
 *
 * | instrument | kind | unit | meaning |
 * |---|---|---|---|
 * | `walstream.node.produce.in_flight` | gauge | {append} | appends accepted from producer streams, not yet answered |
 * | `walstream.node.produce.bytes_in_flight` | gauge | By | their bytes: what the node's budget bounds |
 * | `walstream.node.produce.rejected` | counter | {append} | appends refused RATE_LIMIT_REJECTED (or over the whole budget) |
 * | `walstream.node.rate_limit` | gauge | 1 | the pushed state: 0 NORMAL, 1 SLOWDOWN, 2 REJECT |
 *
 * Returns the function that unregisters them.
 */
export function observeFlowControl(meter: Meter, flow: NodeFlowControl): () => void {
  const inFlight = meter.createObservableGauge('walstream.node.produce.in_flight', {
    unit: '{append}',
    description: 'Appends accepted from producer streams and not yet answered',
  });
  const bytes = meter.createObservableGauge('walstream.node.produce.bytes_in_flight', {
    unit: 'By',
    description: 'Bytes of the appends accepted from producer streams and not yet answered',
  });
  const rejected = meter.createObservableCounter('walstream.node.produce.rejected', {
    unit: '{append}',
    description: 'Appends refused by flow control',
  });
  const level = meter.createObservableGauge('walstream.node.rate_limit', {
    unit: '1',
    description: 'The rate-limit state pushed to producers: 0 NORMAL, 1 SLOWDOWN, 2 REJECT',
  });
  const observables = [inFlight, bytes, rejected, level];
  const callback: BatchObservableCallback = (result) => {
    const stats = flow.stats();
    result.observe(inFlight, stats.appendsInFlight);
    result.observe(bytes, stats.bytesInFlight);
    result.observe(rejected, stats.rejected);
    result.observe(level, LEVEL[stats.level]);
  };
  meter.addBatchObservableCallback(callback, observables);
  return () => meter.removeBatchObservableCallback(callback, observables);
}
