import type { Observability } from '@walstream/core/spi';

type Meter = Observability['meter'];
type Counter = ReturnType<Meter['createCounter']>;
type Histogram = ReturnType<Meter['createHistogram']>;

/** The adapter's instruments, made once per opener from the stack's meter. Every one carries `pchannel`. */
export class LocalMetrics {
  readonly appends: Counter;
  readonly bytes: Counter;
  readonly commits: Counter;
  readonly commitSize: Histogram;
  readonly syncMs: Histogram;
  readonly rolls: Counter;
  readonly segmentsDeleted: Counter;
  readonly recoveryCuts: Counter;
  readonly recoveryCutBytes: Counter;

  constructor(meter: Meter) {
    this.appends = meter.createCounter('walstream.local.appends', { description: 'Records written' });
    this.bytes = meter.createCounter('walstream.local.bytes', {
      description: 'Record bytes written',
      unit: 'By',
    });
    this.commits = meter.createCounter('walstream.local.commits', {
      description:
        'Group commits: one write call (and with durability fsync one fdatasync) for a batch of appends',
    });
    this.commitSize = meter.createHistogram('walstream.local.commit.appends', {
      description: 'Appends that shared one group commit',
    });
    this.syncMs = meter.createHistogram('walstream.local.fdatasync.duration', {
      description: 'Time of one fdatasync of a segment',
      unit: 'ms',
    });
    this.rolls = meter.createCounter('walstream.local.segments.rolled', {
      description: 'Segments sealed and rolled',
    });
    this.segmentsDeleted = meter.createCounter('walstream.local.segments.deleted', {
      description: 'Segments deleted by truncation',
    });
    this.recoveryCuts = meter.createCounter('walstream.local.recovery.cuts', {
      description: 'Torn or damaged tails cut when a pchannel was opened',
    });
    this.recoveryCutBytes = meter.createCounter('walstream.local.recovery.cut_bytes', {
      description: 'Bytes of torn or damaged tails cut when a pchannel was opened',
      unit: 'By',
    });
  }
}
