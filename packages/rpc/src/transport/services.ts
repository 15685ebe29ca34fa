import {
  type DescMessage,
  type DescMethod,
  fromBinary,
  type MessageShape,
  toBinary,
} from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { WalError } from '@walstream/core';
import {
  AdminService,
  AssignmentService,
  BroadcastService,
  TsoService,
} from '../gen/walstream/v1/coord_pb.js';
import { NodeHandlerService, NodeManagerService } from '../gen/walstream/v1/node_pb.js';
import type {
  CallContext,
  ClientCallOptions,
  ClientDuplex,
  ServerDuplex,
  ServerStream,
  ServerWriter,
} from './types.js';

/** Every service this package serves and calls, by the key used in ServiceImplementations and on RpcChannel. */
export const SERVICES = {
  nodeHandler: NodeHandlerService,
  nodeManager: NodeManagerService,
  assignment: AssignmentService,
  broadcast: BroadcastService,
  tso: TsoService,
  admin: AdminService,
} as const;

export type ServiceKey = keyof typeof SERVICES;

type MethodsOf<S> = S extends GenService<infer M> ? M : never;

/** The handler of one method, by its kind: unary, server-streaming or bidi. */
export type HandlerOf<M> = M extends {
  methodKind: 'unary';
  input: infer I extends DescMessage;
  output: infer O extends DescMessage;
}
  ? (request: MessageShape<I>, call: CallContext) => Promise<MessageShape<O>>
  : M extends {
        methodKind: 'server_streaming';
        input: infer I extends DescMessage;
        output: infer O extends DescMessage;
      }
    ? (request: MessageShape<I>, stream: ServerWriter<MessageShape<O>>, call: CallContext) => Promise<void>
    : M extends {
          methodKind: 'bidi_streaming';
          input: infer I extends DescMessage;
          output: infer O extends DescMessage;
        }
      ? (stream: ServerDuplex<MessageShape<I>, MessageShape<O>>, call: CallContext) => Promise<void>
      : never;

/** The client stub of one method, by its kind. */
export type ClientMethodOf<M> = M extends {
  methodKind: 'unary';
  input: infer I extends DescMessage;
  output: infer O extends DescMessage;
}
  ? (request: MessageShape<I>, options?: ClientCallOptions) => Promise<MessageShape<O>>
  : M extends {
        methodKind: 'server_streaming';
        input: infer I extends DescMessage;
        output: infer O extends DescMessage;
      }
    ? (request: MessageShape<I>, options?: ClientCallOptions) => ServerStream<MessageShape<O>>
    : M extends {
          methodKind: 'bidi_streaming';
          input: infer I extends DescMessage;
          output: infer O extends DescMessage;
        }
      ? (options?: ClientCallOptions) => ClientDuplex<MessageShape<I>, MessageShape<O>>
      : never;

/** A service's handlers, one per method (camelCase, as protobuf-es names them). */
export type ServiceImpl<S> = { readonly [K in keyof MethodsOf<S>]: HandlerOf<MethodsOf<S>[K]> };
/** A service's client stubs. */
export type ServiceClient<S> = { readonly [K in keyof MethodsOf<S>]: ClientMethodOf<MethodsOf<S>[K]> };

export type NodeHandlerImpl = ServiceImpl<typeof NodeHandlerService>;
export type NodeManagerImpl = ServiceImpl<typeof NodeManagerService>;
export type AssignmentImpl = ServiceImpl<typeof AssignmentService>;
export type BroadcastImpl = ServiceImpl<typeof BroadcastService>;
export type TsoImpl = ServiceImpl<typeof TsoService>;
export type AdminImpl = ServiceImpl<typeof AdminService>;

export type NodeHandlerClient = ServiceClient<typeof NodeHandlerService>;
export type NodeManagerClient = ServiceClient<typeof NodeManagerService>;
export type AssignmentClient = ServiceClient<typeof AssignmentService>;
export type BroadcastClient = ServiceClient<typeof BroadcastService>;
export type TsoClient = ServiceClient<typeof TsoService>;
export type AdminClient = ServiceClient<typeof AdminService>;

/** The services one server offers; a service left out answers UNIMPLEMENTED (NOT_REGISTERED on our clients). */
export interface ServiceImplementations {
  readonly nodeHandler?: NodeHandlerImpl;
  readonly nodeManager?: NodeManagerImpl;
  readonly assignment?: AssignmentImpl;
  readonly broadcast?: BroadcastImpl;
  readonly tso?: TsoImpl;
  readonly admin?: AdminImpl;
}

/** What the transport needs of one method: its path, kind and codecs. */
export interface MethodWire {
  readonly path: string;
  readonly localName: string;
  readonly kind: DescMethod['methodKind'];
  readonly serializeRequest: (message: unknown) => Buffer;
  /** Never throws: a request that does not decode comes back as a {@link MalformedRequest}. */
  readonly deserializeRequest: (bytes: Buffer) => unknown;
  readonly serializeResponse: (message: unknown) => Buffer;
  readonly deserializeResponse: (bytes: Buffer) => unknown;
}

/**
 * A request that did not decode. grpc-js would end such a call with INTERNAL and no trailer; the server
 * turns it into INVALID_ARGUMENT instead, so a peer that sends garbage gets a coded error like any other.
 */
export class MalformedRequest {
  readonly error: WalError;
  constructor(schema: DescMessage, cause: unknown) {
    this.error = new WalError(
      'INVALID_ARGUMENT',
      `the request is not a valid ${schema.typeName}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause, retriable: false },
    );
  }
}

function codec(schema: DescMessage) {
  return {
    // The schema types its messages; the transport only ever hands it messages of that schema.
    serialize: (message: unknown) => Buffer.from(toBinary(schema, message as MessageShape<DescMessage>)),
    deserialize: (bytes: Buffer): unknown => fromBinary(schema, bytes),
    deserializeRequest: (bytes: Buffer): unknown => {
      try {
        return fromBinary(schema, bytes);
      } catch (error) {
        return new MalformedRequest(schema, error);
      }
    },
  };
}

/** The methods of a service as the transport sees them. */
export function methodsOf(service: GenService<GenServiceMethods>): MethodWire[] {
  return service.methods.map((method) => {
    const request = codec(method.input);
    const response = codec(method.output);
    return {
      path: `/${service.typeName}/${method.name}`,
      localName: method.localName,
      kind: method.methodKind,
      serializeRequest: request.serialize,
      deserializeRequest: request.deserializeRequest,
      serializeResponse: response.serialize,
      deserializeResponse: response.deserialize,
    };
  });
}
