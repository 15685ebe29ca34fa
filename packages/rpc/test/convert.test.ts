import { MemoryMessageId } from '@walstream/adapter-memory';
import {
  DeliverFilter,
  DeliverPolicy,
  defineMessageType,
  type ImmutableMessage,
  MutableMessage,
  messageTypes,
  pchannel,
  SystemMessageType,
  WalError,
} from '@walstream/core';
import { ImmutableTxnMessageBuilder } from '@walstream/core/internal';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AccessMode,
  create,
  DeliverFilterSchema,
  DeliverPolicySchema,
  EmptySchema,
  ErrorDetailSchema,
  fromBinary,
  fromWireAppendResult,
  fromWireCheckpoint,
  fromWireDeliverPolicy,
  fromWireError,
  fromWireFilters,
  fromWireImmutable,
  fromWireMessage,
  fromWireMessageId,
  fromWirePChannel,
  fromWireTxn,
  ImmutableMessageSchema,
  MessageIdSchema,
  MessageSchema,
  PChannelInfoSchema,
  StreamingErrorSchema,
  TxnMessageSchema,
  toBinary,
  toWireAppendResult,
  toWireCheckpoint,
  toWireDeliverPolicy,
  toWireError,
  toWireFilters,
  toWireImmutable,
  toWireMessage,
  toWireMessageId,
  toWirePChannel,
  toWireTxn,
} from '../src/index.js';

const userType =
  messageTypes.get(7301) ?? defineMessageType({ name: 'rpc-test-insert', code: 7301, flags: {} });

/** Expects `run` to throw a WalError with `code`; returns it for further checks. */
function thrown(run: () => unknown): WalError {
  try {
    run();
  } catch (error) {
    if (WalError.is(error)) return error;
    throw new Error(`expected a WalError, got ${String(error)}`);
  }
  throw new Error('expected a WalError, nothing was thrown');
}

const propertyKey = fc.string({ minLength: 1, maxLength: 12 });
const properties = fc.dictionary(propertyKey, fc.string({ maxLength: 40 }), { maxKeys: 6 });
const payload = fc.uint8Array({ maxLength: 256 });
const memoryId = fc.nat({ max: 2 ** 40 }).map((n) => new MemoryMessageId(n));

describe('messages', () => {
  it('a mutable message survives toWire → binary → fromWire with its payload and every property', () => {
    let withProperties = 0;
    fc.assert(
      fc.property(payload, properties, (bytes, props) => {
        if (Object.keys(props).length > 0) withProperties++;
        const wire = fromBinary(
          MessageSchema,
          toBinary(MessageSchema, toWireMessage(new MutableMessage(bytes, props))),
        );
        const back = fromWireMessage(wire);
        expect(back.payload).toEqual(bytes);
        expect({ ...back.properties }).toEqual(props);
      }),
    );
    expect(withProperties).toBeGreaterThan(10);
  });

  it('an immutable message keeps its id, payload, properties and timetick over the wire', () => {
    fc.assert(
      fc.property(
        memoryId,
        payload,
        properties,
        fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }),
        (id, bytes, props, tt) => {
          const message = new MutableMessage(bytes, props).withTimeTick(tt).intoImmutable(id);
          const wire = fromBinary(
            ImmutableMessageSchema,
            toBinary(ImmutableMessageSchema, toWireImmutable(message)),
          );
          const back = fromWireImmutable(wire);
          expect(back.id.compare(id)).toBe(0);
          expect(back.walName).toBe('memory');
          expect(back.payload).toEqual(bytes);
          expect(back.timeTick).toBe(tt);
          expect(back.properties).toEqual(message.properties);
        },
      ),
    );
  });

  it('a message id keeps its adapter name and marshalled form', () => {
    const wire = toWireMessageId(new MemoryMessageId(12));
    expect([wire.walName, wire.id]).toEqual(['memory', '12']);
    expect(fromWireMessageId(wire).compare(new MemoryMessageId(12))).toBe(0);
  });

  it('a message id from an adapter this process does not know is INVALID_ARGUMENT naming the adapter', () => {
    const error = thrown(() =>
      fromWireMessageId(create(MessageIdSchema, { id: '1', walName: 'no-such-wal' })),
    );
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.retriable).toBe(false);
    expect(error.details.walName).toBe('no-such-wal');
  });

  it('a message id its adapter cannot decode is INVALID_ARGUMENT', () => {
    const error = thrown(() =>
      fromWireMessageId(create(MessageIdSchema, { id: 'not-a-number', walName: 'memory' })),
    );
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('not-a-number');
  });

  it('an immutable message without an id is INVALID_ARGUMENT naming the field', () => {
    const error = thrown(() =>
      fromWireImmutable(create(ImmutableMessageSchema, { payload: new Uint8Array(1) })),
    );
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details.field).toBe('message.id');
  });

  it('a committed txn travels as one unit: begin, bodies at the commit timetick, commit', () => {
    const written = (type: number, id: number, tt: bigint): ImmutableMessage =>
      new MutableMessage(new Uint8Array([id]), { _t: String(type), _vc: 'p_1v0', k: `m${id}` })
        .withTimeTick(tt)
        .withTxnContext({ txnId: 7n, keepaliveMs: 1_000 })
        .withLastConfirmedUseMessageId()
        .intoImmutable(new MemoryMessageId(id));
    const builder = new ImmutableTxnMessageBuilder(written(SystemMessageType.BeginTxn, 1, 100n));
    builder.add(written(userType.code, 2, 101n)).add(written(userType.code, 3, 102n));
    const txn = builder.build(written(SystemMessageType.CommitTxn, 4, 110n));
    const back = fromWireTxn(fromBinary(TxnMessageSchema, toBinary(TxnMessageSchema, toWireTxn(txn))));
    expect(back.messageType).toBe(SystemMessageType.Txn);
    expect([...back.flatten()].map((m) => m.id.marshal())).toEqual(['1', '2', '3', '4']);
    expect(back.bodies.map((m) => m.timeTick)).toEqual([110n, 110n]);
    expect(back.bodies.map((m) => m.lastConfirmedId.marshal())).toEqual(['4', '4']);
    expect(back.bodies.map((m) => m.properties.k)).toEqual(['m2', 'm3']);
    expect(back.txnContext).toEqual({ txnId: 7n, keepaliveMs: 1_000 });
    // A txn squeezed into one ImmutableMessage would lose its parts: refused.
    expect(thrown(() => toWireImmutable(txn)).code).toBe('INVALID_ARGUMENT');
  });

  it('a txn without its commit is INVALID_ARGUMENT', () => {
    const error = thrown(() => fromWireTxn(create(TxnMessageSchema, {})));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details.field).toBe('txn.begin');
  });

  it('an append result keeps id, timetick, txn context and last-confirmed id', () => {
    fc.assert(
      fc.property(
        memoryId,
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.option(
          fc.record({
            txnId: fc.bigInt({ min: -1n, max: 2n ** 63n - 1n }),
            keepaliveMs: fc.integer({ min: -1, max: 2 ** 31 }),
          }),
          { nil: undefined },
        ),
        fc.option(memoryId, { nil: undefined }),
        (id, timeTick, txn, lc) => {
          const back = fromWireAppendResult(
            toWireAppendResult({ messageId: id, timeTick, ...(txn ? { txn } : {}) }, lc),
          );
          expect(back.messageId.compare(id)).toBe(0);
          expect(back.timeTick).toBe(timeTick);
          expect(back.txn).toEqual(txn);
          expect(back.lastConfirmedId?.marshal()).toBe(lc?.marshal());
        },
      ),
    );
  });

  it('a checkpoint keeps its id, adapter and timetick', () => {
    const back = fromWireCheckpoint(
      toWireCheckpoint({ messageId: '42', walName: 'memory', timeTick: 2n ** 60n }),
    );
    expect(back).toEqual({ messageId: '42', walName: 'memory', timeTick: 2n ** 60n });
  });
});

describe('channels and read options', () => {
  it('a pchannel keeps name, term and access mode', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 30 }),
        fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }),
        fc.constantFrom('rw' as const, 'ro' as const),
        (name, term, mode) => {
          const info = pchannel(name, term, mode);
          const wire = fromBinary(PChannelInfoSchema, toBinary(PChannelInfoSchema, toWirePChannel(info)));
          expect(fromWirePChannel(wire)).toEqual(info);
        },
      ),
    );
  });

  it('a pchannel with an empty name, a negative term or an unknown access mode is INVALID_ARGUMENT', () => {
    expect(thrown(() => fromWirePChannel(create(PChannelInfoSchema, { name: '', term: 1n }))).code).toBe(
      'INVALID_ARGUMENT',
    );
    expect(thrown(() => fromWirePChannel(create(PChannelInfoSchema, { name: 'p', term: -2n }))).code).toBe(
      'INVALID_ARGUMENT',
    );
    const mode = thrown(() =>
      fromWirePChannel(create(PChannelInfoSchema, { name: 'p', accessMode: 7 as AccessMode })),
    );
    expect(mode.code).toBe('INVALID_ARGUMENT');
    expect(mode.message).toContain('access mode 7');
    expect(thrown(() => fromWirePChannel(undefined)).details.field).toBe('pchannel');
  });

  it('every deliver policy survives the wire', () => {
    const id = new MemoryMessageId(9);
    for (const policy of [
      DeliverPolicy.all(),
      DeliverPolicy.latest(),
      DeliverPolicy.startFrom(id),
      DeliverPolicy.startAfter(id),
    ]) {
      const wire = fromBinary(
        DeliverPolicySchema,
        toBinary(DeliverPolicySchema, toWireDeliverPolicy(policy)),
      );
      const back = fromWireDeliverPolicy(wire);
      expect(back.kind).toBe(policy.kind);
      if ('id' in back) expect(back.id.marshal()).toBe('9');
    }
  });

  it('a deliver policy that names none is INVALID_ARGUMENT', () => {
    expect(thrown(() => fromWireDeliverPolicy(create(DeliverPolicySchema))).code).toBe('INVALID_ARGUMENT');
  });

  it('filters survive the wire; a system or unregistered type filter is INVALID_ARGUMENT', () => {
    const filters = [
      DeliverFilter.timeTickGT(5n),
      DeliverFilter.timeTickGTE(2n ** 63n),
      DeliverFilter.messageType(userType.code),
    ];
    const wire = toWireFilters(filters).map((f) =>
      fromBinary(DeliverFilterSchema, toBinary(DeliverFilterSchema, f)),
    );
    expect(fromWireFilters(wire)).toEqual(filters);
    const system = create(DeliverFilterSchema, {
      filter: { case: 'messageType', value: { messageTypes: [SystemMessageType.TimeTick] } },
    });
    const error = thrown(() => fromWireFilters([wire[0]!, system]));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.details.field).toBe('filters[1]');
    expect(thrown(() => fromWireFilters([create(DeliverFilterSchema)])).code).toBe('INVALID_ARGUMENT');
  });
});

describe('errors', () => {
  const detailValue = fc.oneof(
    fc.string({ maxLength: 20 }),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    fc.double({ noNaN: true }),
    fc.boolean(),
  );
  const codes = [
    'CHANNEL_FENCED',
    'UNMATCHED_CHANNEL_TERM',
    'INVALID_ARGUMENT',
    'CLOSED',
    'RATE_LIMIT_REJECTED',
    'UNAUTHENTICATED',
  ] as const;

  it('a WalError keeps code, retriable, message and typed details (bigints exact) over the wire', () => {
    let withBigint = 0;
    fc.assert(
      fc.property(
        fc.constantFrom(...codes),
        fc.boolean(),
        fc.string({ maxLength: 60 }),
        fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), detailValue, { maxKeys: 5 }),
        (code, retriable, message, details) => {
          if (Object.values(details).some((v) => typeof v === 'bigint')) withBigint++;
          const original = new WalError(code, message, { retriable, details });
          const wire = fromBinary(
            StreamingErrorSchema,
            toBinary(StreamingErrorSchema, toWireError(original)),
          );
          const back = fromWireError(wire);
          expect(back.code).toBe(code);
          expect(back.retriable).toBe(retriable);
          expect(back.message).toBe(message);
          expect(back.details).toEqual(details);
        },
      ),
    );
    expect(withBigint).toBeGreaterThan(5);
  });

  it('a detail named __proto__ stays a detail', () => {
    const details = Object.fromEntries([['__proto__', 1n]]);
    const back = fromWireError(toWireError(new WalError('INNER', 'x', { details })));
    expect(Object.keys(back.details)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(back.details)).toBe(Object.prototype);
  });

  it('a plain Error becomes UNKNOWN, not retriable, with its message', () => {
    const back = fromWireError(toWireError(new TypeError('boom')));
    expect(back.code).toBe('UNKNOWN');
    expect(back.retriable).toBe(false);
    expect(back.message).toBe('boom');
    expect(fromWireError(toWireError('a string')).message).toBe('a string');
  });

  it('a cause travels as text', () => {
    const original = new WalError('CHANNEL_FENCED', 'fenced', {
      cause: new WalError('UNAVAILABLE', 'broker gone'),
    });
    const back = fromWireError(toWireError(original));
    expect(back.cause).toBeInstanceOf(Error);
    expect((back.cause as Error).message).toBe('UNAVAILABLE: broker gone');
    expect(fromWireError(toWireError(new WalError('CLOSED', 'closed'))).cause).toBeUndefined();
  });

  it('a code this version does not know becomes UNKNOWN and keeps the remote code in details', () => {
    const back = fromWireError(
      create(StreamingErrorSchema, {
        code: 'SHARD_FENCED',
        retriable: true,
        message: 'from the future',
        details: { term: create(ErrorDetailSchema, { value: { case: 'intValue', value: 3n } }) },
      }),
    );
    expect(back.code).toBe('UNKNOWN');
    expect(back.retriable).toBe(true);
    expect(back.details).toEqual({ term: 3n, remoteCode: 'SHARD_FENCED' });
  });
});

describe('whatever a peer sends', () => {
  const wireId = fc.record({
    id: fc.oneof(fc.string({ maxLength: 8 }), fc.nat().map(String)),
    walName: fc.constantFrom('memory', '', 'kafka-not-loaded', '__proto__'),
  });
  const wireImmutable = fc.record({
    id: fc.option(wireId, { nil: undefined }),
    payload: fc.uint8Array({ maxLength: 8 }),
    properties: fc.dictionary(
      fc.constantFrom('_t', '_tt', '_lc', '_lcs', '_tx', '_vc', 'k'),
      fc.string({ maxLength: 6 }),
    ),
  });

  /** Runs `convert`; anything thrown must be INVALID_ARGUMENT, not retriable. Returns whether it converted. */
  function convertsOrRefuses(convert: () => unknown): boolean {
    try {
      convert();
      return true;
    } catch (error) {
      expect(WalError.is(error) && [error.code, error.retriable]).toEqual(['INVALID_ARGUMENT', false]);
      return false;
    }
  }

  it('a random wire message converts or is refused with INVALID_ARGUMENT, never another error', () => {
    const outcomes = { converted: 0, refused: 0 };
    fc.assert(
      fc.property(
        wireImmutable,
        fc.array(wireImmutable, { maxLength: 3 }),
        fc.record({
          name: fc.string({ maxLength: 4 }),
          term: fc.bigInt({ min: -3n, max: 3n }),
          accessMode: fc.integer({ min: -1, max: 3 }),
        }),
        fc.oneof(
          fc.constant({ case: undefined }),
          fc.constant({ case: 'all' as const, value: create(EmptySchema) }),
          wireId.map((id) => ({ case: 'startFrom' as const, value: create(MessageIdSchema, id) })),
          wireId.map((id) => ({ case: 'startAfter' as const, value: create(MessageIdSchema, id) })),
        ),
        fc.array(fc.integer({ min: -2, max: 8000 }), { maxLength: 3 }),
        (message, bodies, channel, policy, types) => {
          const immutable = create(ImmutableMessageSchema, {
            ...message,
            ...(message.id ? { id: create(MessageIdSchema, message.id) } : {}),
          });
          const results = [
            convertsOrRefuses(() => fromWireImmutable(immutable)),
            convertsOrRefuses(() =>
              fromWireTxn(
                create(TxnMessageSchema, {
                  begin: immutable,
                  bodies: bodies.map((b) =>
                    create(ImmutableMessageSchema, {
                      ...b,
                      id: b.id ? create(MessageIdSchema, b.id) : undefined,
                    }),
                  ),
                  commit: immutable,
                }),
              ),
            ),
            convertsOrRefuses(() =>
              fromWirePChannel(
                create(PChannelInfoSchema, { ...channel, accessMode: channel.accessMode as AccessMode }),
              ),
            ),
            convertsOrRefuses(() => fromWireDeliverPolicy(create(DeliverPolicySchema, { policy }))),
            convertsOrRefuses(() =>
              fromWireFilters([
                create(DeliverFilterSchema, {
                  filter: { case: 'messageType', value: { messageTypes: types } },
                }),
              ]),
            ),
          ];
          for (const converted of results) outcomes[converted ? 'converted' : 'refused']++;
        },
      ),
      { numRuns: 300 },
    );
    expect(outcomes.converted).toBeGreaterThan(100);
    expect(outcomes.refused).toBeGreaterThan(100);
  });

  it('random bytes either do not decode or convert/refuse as above', () => {
    let decoded = 0;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        let wire: ReturnType<typeof fromBinary<typeof ImmutableMessageSchema>>;
        try {
          wire = fromBinary(ImmutableMessageSchema, bytes);
        } catch {
          return; // not a protobuf message: the transport refuses it before any conversion
        }
        decoded++;
        convertsOrRefuses(() => fromWireImmutable(wire));
      }),
      { numRuns: 500 },
    );
    expect(decoded).toBeGreaterThan(20);
  });
});
