import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { walstream } from './processes.js';

/** A `walstream coord` or `walstream node` process, with the first line that said it was serving. */
export interface CliProcess {
  readonly child: ChildProcessWithoutNullStreams;
  /** `host:port` it serves on (a node: the address it listens on, not what it advertises). */
  readonly address: string;
  /** A node's id; '' for a coordinator. */
  readonly nodeId: string;
  stderr: string;
}

/**
 * A distributed deployment run the way deploy.md runs it — `walstream coord` and `walstream node`
 * processes on one etcd and one Kafka — for the tests and the client failover campaign. Every process it
 * spawned is SIGKILLed by `close`, and only those.
 */
export class CliCluster {
  readonly processes: CliProcess[] = [];
  readonly nodes: CliProcess[] = [];

  constructor(
    readonly etcd: string,
    readonly kafka: string,
    /** etcd key prefix and Kafka topic prefix, unique per cluster. */
    readonly prefix: string,
    readonly ttlSeconds = 2,
  ) {}

  /** The coordinator on `pchannels`, once it is active; its gRPC address. */
  async coordinator(pchannels: readonly string[]): Promise<CliProcess> {
    const child = walstream([
      'coord',
      ...['--etcd', this.etcd, '--listen', '127.0.0.1:0', '--pchannels', pchannels.join(',')],
      ...['--ttl', String(this.ttlSeconds), '--prefix', this.prefix, '--policy', 'pchannelCount'],
    ]);
    const [, address] = await this.#serving(child, /^active: serving on (\S+)/);
    const coordinator: CliProcess = { child, address: address!, nodeId: '', stderr: '' };
    this.processes.push(coordinator);
    return coordinator;
  }

  /** A node on Kafka, once registered and serving. */
  async node(options: { listen?: string; advertise?: string } = {}): Promise<CliProcess> {
    const child = walstream([
      'node',
      ...['--etcd', this.etcd, '--kafka', this.kafka, '--topic-prefix', this.prefix.replace(/\W/g, '-')],
      ...['--listen', options.listen ?? '127.0.0.1:0', '--ttl', String(this.ttlSeconds)],
      ...['--prefix', this.prefix, '--drain-timeout', '500ms'],
      ...(options.advertise ? ['--advertise', options.advertise] : []),
    ]);
    const [, nodeId, address] = await this.#serving(child, /^walstream node: node (\d+) serving on (\S+)/);
    const node: CliProcess = { child, address: address!, nodeId: nodeId!, stderr: '' };
    this.processes.push(node);
    this.nodes.push(node);
    return node;
  }

  /** The node with this id. */
  nodeById(id: bigint | string): CliProcess {
    const node = this.nodes.find((n) => n.nodeId === String(id));
    if (!node) throw new Error(`no node ${id} in this cluster`);
    return node;
  }

  /** SIGKILLs `process` and waits for its exit. */
  async kill(target: CliProcess): Promise<void> {
    target.child.kill('SIGKILL');
    await ended(target.child);
    const at = this.nodes.indexOf(target);
    if (at >= 0) this.nodes.splice(at, 1);
  }

  async close(): Promise<void> {
    // A SIGKILLed child has exitCode null (signalCode says why): `ended` looks at both.
    for (const p of this.processes) p.child.kill('SIGKILL');
    await Promise.all(this.processes.map((p) => ended(p.child)));
  }

  #serving(
    child: ChildProcessWithoutNullStreams,
    pattern: RegExp,
    timeoutMs = 60_000,
  ): Promise<RegExpExecArray> {
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    return new Promise((resolve, reject) => {
      const bound = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`no line ${pattern} in ${timeoutMs} ms: ${stderr}`));
      }, timeoutMs);
      child.once('exit', (code) => {
        clearTimeout(bound);
        reject(new Error(`exited ${code} before ${pattern}: ${stderr}`));
      });
      createInterface({ input: child.stdout }).on('line', (line) => {
        const match = pattern.exec(line);
        if (match) {
          clearTimeout(bound);
          resolve(match);
        }
      });
    });
  }
}

/** Resolves once `child` has exited, by itself or by a signal (at once if it has). */
function ended(child: ChildProcessWithoutNullStreams): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}
