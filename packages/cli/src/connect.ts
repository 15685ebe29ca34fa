import { type Assignment, type Client, createClient } from '@walstream/client';
import { hasCode, pchannelOfVChannel, WalError } from '@walstream/core';
import { AssignmentDiscoverRequestSchema, connectRpc, create, type FullAssignment } from '@walstream/rpc';
import { filter, firstValueFrom, timeout } from 'rxjs';
import { address, durationOption, nonEmpty, type OptionSpec, type OptionValues } from './command.js';
import { DEFAULT_LISTEN } from './commands/up.js';

/** The options every client command has. */
export const CLIENT_OPTIONS: readonly OptionSpec[] = [
  {
    flags: '--coord <host:port>',
    description: "the coordinator's address (several, comma-separated: the next one when one fails)",
    default: DEFAULT_LISTEN,
    parse: address,
  },
  { flags: '--token <token>', description: 'the bearer token the service requires', parse: nonEmpty },
  {
    flags: '--connect-timeout <duration>',
    description: 'how long to wait for the coordinator before giving up',
    default: 5_000,
    defaultText: '5s',
    parse: durationOption,
  },
];

export interface ConnectOptions {
  readonly coord: readonly string[];
  readonly token: string | undefined;
  readonly connectTimeoutMs: number;
}

export function connectOptions(values: OptionValues): ConnectOptions {
  return {
    coord: (values.coord as string).split(','),
    token: values.token as string | undefined,
    connectTimeoutMs: values.connectTimeout as number,
  };
}

/**
 * Asks the coordinator for one assignment snapshot, within the connect timeout: the check that it is
 * there and takes the token, with an error that says which — the client itself would keep retrying.
 */
export async function probe(options: ConnectOptions): Promise<FullAssignment> {
  const failures: string[] = [];
  for (const where of options.coord) {
    const rpc = connectRpc(where, options.token === undefined ? {} : { token: options.token });
    try {
      const stream = rpc.assignment.assignmentDiscover(create(AssignmentDiscoverRequestSchema, {}), {
        signal: AbortSignal.timeout(options.connectTimeoutMs),
      });
      for await (const response of stream) {
        if (response.fullAssignment) return response.fullAssignment;
      }
      failures.push(`${where}: the stream ended without a snapshot`);
    } catch (error) {
      if (hasCode(error, 'UNAUTHENTICATED')) {
        throw new WalError(
          'UNAUTHENTICATED',
          `the coordinator at ${where} refused the call: ${options.token === undefined ? 'it requires a token (--token or WALSTREAM_TOKEN)' : 'wrong token'}`,
          { retriable: false, cause: error },
        );
      }
      failures.push(
        hasCode(error, 'ABORTED', 'TIMEOUT', 'UNAVAILABLE')
          ? `${where}: no answer within ${options.connectTimeoutMs} ms`
          : `${where}: ${(error as Error).message}`,
      );
    } finally {
      rpc.close();
    }
  }
  throw new WalError('UNAVAILABLE', `cannot reach the coordinator (${failures.join('; ')})`, {
    retriable: false,
  });
}

/** A client, once the coordinator has answered with its first snapshot. */
export async function connect(options: ConnectOptions): Promise<{ client: Client; assignment: Assignment }> {
  await probe(options);
  const client = createClient({
    coord: options.coord,
    ...(options.token === undefined ? {} : { token: options.token }),
  });
  try {
    const assignment = await firstValueFrom(
      client.assignments$.pipe(
        filter((a): a is Assignment => a !== undefined),
        timeout(options.connectTimeoutMs),
      ),
    );
    return { client, assignment };
  } catch (error) {
    await client.close();
    throw new WalError(
      'UNAVAILABLE',
      `no assignment from the coordinator within ${options.connectTimeoutMs} ms`,
      {
        retriable: false,
        cause: error,
      },
    );
  }
}

/** Fails, before anything is written, when the vchannel's pchannel is not one the service has. */
export function checkVChannel(vchannel: string, assignment: Assignment): void {
  let pchannel: string;
  try {
    pchannel = pchannelOfVChannel(vchannel);
  } catch {
    throw new WalError('INVALID_ARGUMENT', `"${vchannel}" is not a vchannel name (<pchannel>_<name>v<i>)`, {
      retriable: false,
    });
  }
  if (!assignment.channels.has(pchannel)) {
    throw new WalError(
      'VCHANNEL_NOT_FOUND',
      `unknown vchannel ${vchannel}: the service has no pchannel ${pchannel} (it has ${[...assignment.channels.keys()].sort().join(', ') || 'none assigned'})`,
      { retriable: false },
    );
  }
}
