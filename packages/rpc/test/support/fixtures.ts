import {
  AllocateResponseSchema,
  AssignmentDiscoverResponseSchema,
  type AssignmentImpl,
  create,
  FullAssignmentSchema,
  NodeAssignmentSchema,
  type NodeHandlerImpl,
  NodeInfoSchema,
  ProduceResponseSchema,
  ReportErrorResponseSchema,
  type RpcServer,
  type RpcServerOptions,
  type ServiceImplementations,
  startRpcServer,
  type TsoImpl,
} from '../../src/index.js';

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Resolves when `signal` aborts. */
export function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });
}

/** A full assignment snapshot whose single node address is `addressBytes` long (to fill flow-control windows). */
export function snapshot(local: bigint, addressBytes = 16) {
  return create(FullAssignmentSchema, {
    version: { global: 1n, local },
    assignments: [
      create(NodeAssignmentSchema, {
        node: create(NodeInfoSchema, { nodeId: 2n ** 62n + local, address: 'n'.repeat(addressBytes) }),
        channels: [{ name: 'p0', term: local }],
      }),
    ],
  });
}

/** A TSO that answers `first = 2^62 + count`; tests replace it where they need something else. */
export const echoTso: TsoImpl = {
  allocate: async (request) =>
    create(AllocateResponseSchema, { first: 2n ** 62n + BigInt(request.count), count: request.count }),
};

/** Three snapshots, then the end of the stream. */
export const threeSnapshots: AssignmentImpl = {
  assignmentDiscover: async (_request, stream) => {
    for (const local of [1n, 2n, 3n]) {
      await stream.send(create(AssignmentDiscoverResponseSchema, { fullAssignment: snapshot(local) }));
    }
  },
  reportError: async () => create(ReportErrorResponseSchema),
};

/** Answers each produce request with a result carrying its request id; ends when the client half-closes. */
export const echoProducer: NodeHandlerImpl = {
  produce: async (stream) => {
    for await (const request of stream) {
      if (request.request.case !== 'produce') continue;
      const requestId = request.request.value.requestId;
      await stream.send(
        create(ProduceResponseSchema, { response: { case: 'produce', value: { requestId } } }),
      );
    }
  },
  consume: async () => {},
};

export async function serve(
  services: ServiceImplementations,
  options: Omit<RpcServerOptions, 'listen' | 'services'> = {},
): Promise<RpcServer> {
  return startRpcServer({ listen: '127.0.0.1:0', services, ...options });
}
