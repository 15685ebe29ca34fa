import { hasCode, WalError } from '@walstream/core';
import { connectRpc, create, DrainRequestSchema, UndrainRequestSchema } from '@walstream/rpc';
import { type CliIo, defineCommand, durationOption, type OptionValues, usageError } from '../command.js';
import { CLIENT_OPTIONS, type ConnectOptions, connectOptions, probe } from '../connect.js';

export interface DrainOptions extends ConnectOptions {
  readonly nodeId: bigint;
  readonly undo: boolean;
  readonly timeoutMs: number;
}

export const drain = defineCommand<DrainOptions>({
  name: 'drain',
  summary: 'move every pchannel off a node (before stopping it); --undo lets it take pchannels again',
  description: `Asks the coordinator to drain a node: each pchannel it owns is closed there and opened on another node
at the next term, and no pchannel is assigned to it while it stays drained. Answers once the node holds
none. Then the node can be stopped without a failover. --undo ends the drain.`,
  arguments: [{ name: '<node>', description: 'the node id, as walstream status shows it' }],
  options: [
    { flags: '--undo', description: 'undrain the node instead' },
    {
      flags: '--timeout <duration>',
      description: 'how long to wait for the drain to finish',
      default: 60_000,
      defaultText: '60s',
      parse: durationOption,
    },
    ...CLIENT_OPTIONS,
  ],
  resolve: (values: OptionValues, args: readonly string[]): DrainOptions => {
    const raw = args[0] ?? '';
    if (!/^\d{1,19}$/.test(raw)) throw usageError(`<node> must be a node id (digits), got "${raw}"`);
    return {
      ...connectOptions(values),
      nodeId: BigInt(raw),
      undo: values.undo as boolean,
      timeoutMs: values.timeout as number,
    };
  },
  run: runDrain,
});

async function runDrain(options: DrainOptions, io: CliIo): Promise<number> {
  // The probe says clearly when the coordinator is unreachable or refuses the token.
  await probe(options);
  const rpc = connectRpc(options.coord[0]!, options.token === undefined ? {} : { token: options.token });
  const signal = AbortSignal.any([AbortSignal.timeout(options.timeoutMs), ...(io.stop ? [io.stop] : [])]);
  const started = performance.now();
  try {
    if (options.undo) {
      await rpc.admin.undrain(create(UndrainRequestSchema, { nodeId: options.nodeId }), { signal });
      io.err(`node ${options.nodeId} undrained: it may take pchannels again`);
      return 0;
    }
    const response = await rpc.admin.drain(create(DrainRequestSchema, { nodeId: options.nodeId }), {
      signal,
    });
    io.err(
      `node ${options.nodeId} drained in ${Math.round(performance.now() - started)} ms: ${
        response.pchannels.length === 0
          ? 'it held no pchannel'
          : `${response.pchannels.join(', ')} moved to other nodes`
      }; it takes no new pchannel until "walstream drain ${options.nodeId} --undo"`,
    );
    return 0;
  } catch (error) {
    if (hasCode(error, 'NOT_REGISTERED')) {
      throw new WalError('NOT_REGISTERED', 'this coordinator has no AdminService (an older version)', {
        retriable: false,
        cause: error,
      });
    }
    if (signal.aborted && !io.stop?.aborted) {
      throw new WalError(
        'TIMEOUT',
        `the drain of node ${options.nodeId} did not finish within ${options.timeoutMs} ms (is there another node to take its pchannels?); it stays marked drained`,
        { retriable: false, cause: error },
      );
    }
    throw error;
  } finally {
    rpc.close();
  }
}
