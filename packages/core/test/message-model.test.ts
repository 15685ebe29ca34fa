import {
  decodeBody,
  defineMessageType,
  exclusiveResourceKey,
  type MessageID,
  MessageTypeRegistry,
  MutableMessage,
  newMessage,
  ResourceDomain,
  SystemMessageType,
  sharedResourceKey,
  splitBroadcast,
  WalError,
} from '@walstream/core';
import {
  assertUserProperties,
  decodeBroadcastHeader,
  decodeTxnContext,
  encodeBroadcastHeader,
} from '@walstream/core/internal';
import { decodeBase36, encodeBase36, registerMessageIdCodec } from '@walstream/core/spi';
import { describe, expect, it } from 'vitest';

class Seq implements MessageID {
  readonly walName = 'model-test';
  constructor(readonly value: number) {}
  compare(other: MessageID): number {
    return this.value - (other as Seq).value;
  }
  marshal(): string {
    return String(this.value);
  }
  toString(): string {
    return `model-test:${this.value}`;
  }
}
registerMessageIdCodec('model-test', (text) => new Seq(Number(text)));

function thrown(fn: () => unknown): WalError {
  try {
    fn();
  } catch (error) {
    expect(WalError.is(error), String(error)).toBe(true);
    return error as WalError;
  }
  throw new Error('expected a WalError');
}

describe('base-36 properties (strconv.FormatInt(v, 36) / ParseInt)', () => {
  it('negative values carry a leading minus; upper-case digits are read', () => {
    expect(encodeBase36(-37n)).toBe('-11');
    expect(encodeBase36(-1n)).toBe('-1');
    expect(encodeBase36(0n)).toBe('0');
    expect(decodeBase36('-11')).toBe(-37n);
    expect(decodeBase36('-z')).toBe(-35n);
    expect(decodeBase36('Z')).toBe(35n);
    expect(decodeBase36('1Y2P0IJ32E8E7')).toBe(9_223_372_036_854_775_807n);
  });

  it('refuses anything but an optional leading minus and base-36 digits, naming what it decoded', () => {
    for (const bad of ['', '-', '!1', '1!', '1-', '--1', ' 1', '1.5']) {
      const error = thrown(() => decodeBase36(bad, 'timetick'));
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toBe(`timetick is not a base-36 number: ${JSON.stringify(bad)}`);
    }
  });

  it('user properties may not start with "_"', () => {
    expect(() => assertUserProperties({ a_b: '1', x: '' })).not.toThrow();
    expect(thrown(() => assertUserProperties({ ok: '1', _tt: '1' })).message).toContain('"_tt" is reserved');
  });
});

describe('txn context (_tx: base64 proto {int64 txn_id = 1; int64 keepalive_milliseconds = 2})', () => {
  it('a context with only its id (08 07) has keepalive 0; one without an id is refused', () => {
    expect(decodeTxnContext('CAc=')).toEqual({ txnId: 7n, keepaliveMs: 0 });
    // 10 05: a keepalive and no id.
    expect(thrown(() => decodeTxnContext('EAU=')).code).toBe('INVALID_ARGUMENT');
  });
});

describe('MutableMessage', () => {
  it('defaults: type Unknown (0) and version Old (0) when absent', () => {
    const bare = new MutableMessage(new Uint8Array(), {});
    expect(bare.messageType).toBe(SystemMessageType.Unknown);
    expect(bare.version).toBe(0);
    const typed = new MutableMessage(new Uint8Array(), { _t: '901', _v: '2' });
    expect(typed.messageType).toBe(901);
    expect(typed.version).toBe(2);
  });

  it('a timetick set through withProperty replaces the one read before', () => {
    const message = new MutableMessage(new Uint8Array(), {}).withTimeTick(5n);
    expect(message.timeTick).toBe(5n);
    message.withProperty('_tt', encodeBase36(9n));
    expect(message.timeTick).toBe(9n);
  });

  it('last-confirmed: the id and "use my own id" replace each other', () => {
    const message = new MutableMessage(new Uint8Array(), {}).withTimeTick(1n);
    message.withLastConfirmedUseMessageId().withLastConfirmed(new Seq(3));
    const pointing = message.intoImmutable(new Seq(8));
    expect(pointing.properties).not.toHaveProperty('_lcs');
    expect(pointing.lastConfirmedId.compare(new Seq(3))).toBe(0);
    message.withLastConfirmedUseMessageId();
    const self = message.intoImmutable(new Seq(9));
    expect(self.properties).not.toHaveProperty('_lc');
    expect(self.lastConfirmedId.compare(new Seq(9))).toBe(0);
  });

  it('intoImmutable snapshots the properties: later changes do not reach an earlier immutable copy', () => {
    const message = new MutableMessage(new Uint8Array([1]), { k: 'a' });
    const first = message.intoImmutable(new Seq(1));
    const again = message.intoImmutable(new Seq(2));
    expect(again.properties).toBe(first.properties);
    message.withProperty('k', 'b');
    const changed = message.intoImmutable(new Seq(3));
    expect(first.properties.k).toBe('a');
    expect(changed.properties.k).toBe('b');
    message.withLastConfirmedUseMessageId();
    expect(message.intoImmutable(new Seq(4)).hasLastConfirmed).toBe(true);
    expect(changed.hasLastConfirmed).toBe(false);
  });

  it('set-once properties: the same value again is fine, another is refused', () => {
    const message = new MutableMessage(new Uint8Array(), {}).withBarrierTimeTick(10n).withWalTerm(3n);
    expect(() => message.withBarrierTimeTick(10n).withWalTerm('3')).not.toThrow();
    expect(thrown(() => message.withBarrierTimeTick(11n)).message).toBe(
      'barrier timetick is already set on this message',
    );
    expect(thrown(() => message.withWalTerm(4n)).message).toBe('wal term is already set on this message');
    expect(message.barrierTimeTick).toBe(10n);
    expect(message.walTerm).toBe(3n);
  });

  it('only a TimeTick may be marked not persisted', () => {
    const note = new MutableMessage(new Uint8Array(), { _t: '4' });
    expect(thrown(() => note.withNotPersisted()).code).toBe('INVALID_ARGUMENT');
    expect(note.persisted).toBe(true);
    const tick = new MutableMessage(new Uint8Array(), { _t: '1' }).withNotPersisted();
    expect(tick.persisted).toBe(false);
    expect(tick.properties._np).toBe('');
  });
});

describe('ImmutableMessage', () => {
  it('without a timetick or last-confirmed id it says so instead of inventing one', () => {
    const message = new MutableMessage(new Uint8Array(), {}).intoImmutable(new Seq(4));
    expect(message.hasTimeTick).toBe(false);
    expect(thrown(() => message.timeTick)).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(message.hasLastConfirmed).toBe(false);
    expect(thrown(() => message.lastConfirmedId)).toMatchObject({ code: 'INVALID_MESSAGE_ID' });
    const stamped = message.withOverrides({ _tt: encodeBase36(77n), _lc: '2' });
    expect(stamped.hasTimeTick).toBe(true);
    expect(stamped.timeTick).toBe(77n);
    expect(stamped.hasLastConfirmed).toBe(true);
    expect(stamped.lastConfirmedId.compare(new Seq(2))).toBe(0);
    expect(stamped.withOverrides({}, ['_lc']).hasLastConfirmed).toBe(false);
  });
});

describe('message types', () => {
  it('the system types have the Milvus numbers and their flags', () => {
    const registry = new MessageTypeRegistry();
    const flags = (code: number) => [
      registry.get(code)?.name,
      registry.isSystem(code),
      registry.isSelfControlled(code),
      registry.isExclusiveRequired(code),
    ];
    expect(flags(1)).toEqual(['TimeTick', true, true, false]);
    expect(flags(4)).toEqual(['Flush', false, true, false]);
    expect(flags(9)).toEqual(['ManualFlush', false, false, true]);
    expect(flags(10)).toEqual(['CreateSegment', false, true, false]);
    expect(flags(900)).toEqual(['BeginTxn', true, false, false]);
    expect(flags(901)).toEqual(['CommitTxn', true, false, false]);
    expect(flags(902)).toEqual(['RollbackTxn', true, false, false]);
    expect(flags(999)).toEqual(['Txn', true, false, false]);
    expect(flags(12345)).toEqual([undefined, false, false, false]);
  });

  it('a type needs a name and a positive integer code, and may not claim system flags', () => {
    const registry = new MessageTypeRegistry();
    for (const bad of [
      { name: '', code: 5000 },
      { name: 'Zero', code: 0 },
      { name: 'Negative', code: -3 },
      { name: 'Fraction', code: 5000.5 },
    ]) {
      expect(thrown(() => registry.register({ ...bad, flags: {} })).code).toBe('INVALID_ARGUMENT');
    }
    expect(thrown(() => registry.register({ name: 'Sys', code: 5001, flags: { system: true } })).code).toBe(
      'INVALID_ARGUMENT',
    );
    expect(
      thrown(() => registry.register({ name: 'Self', code: 5002, flags: { selfControlled: true } })).code,
    ).toBe('INVALID_ARGUMENT');
    expect(registry.register({ name: 'One', code: 1_000_001, flags: {} }).code).toBe(1_000_001);
  });

  it('the same type again is the same type; a clash of name or code, or other flags, is refused', () => {
    const registry = new MessageTypeRegistry();
    const insert = registry.register({ name: 'Insert', code: 2, flags: { data: true } });
    expect(() => registry.register({ name: 'Insert', code: 2, flags: { data: true } })).not.toThrow();
    expect(registry.get(2)).toBe(insert);
    for (const clash of [
      { name: 'Insert', code: 3, flags: { data: true } },
      { name: 'Upsert', code: 2, flags: { data: true } },
      { name: 'Insert', code: 2, flags: {} },
      { name: 'Insert', code: 2, flags: { data: true, exclusiveRequired: true } },
    ]) {
      const error = thrown(() => registry.register(clash));
      expect(error.code).toBe('ALREADY_REGISTERED');
      expect(error.message).toContain('clashes with Insert (2)');
    }
  });

  it('require finds by code or name, else NOT_REGISTERED; list is sorted by code', () => {
    const registry = new MessageTypeRegistry();
    registry.register({ name: 'Later', code: 50, flags: {} });
    registry.register({ name: 'Earlier', code: 3, flags: {} });
    expect(registry.require('Later').code).toBe(50);
    expect(registry.require(3).name).toBe('Earlier');
    expect(thrown(() => registry.require('Missing')).code).toBe('NOT_REGISTERED');
    expect(thrown(() => registry.require(77)).code).toBe('NOT_REGISTERED');
    expect(registry.list().map((type) => type.code)).toEqual([1, 3, 4, 9, 10, 50, 900, 901, 902, 999]);
  });
});

describe('broadcast headers (_bh: base64 proto {broadcast_id = 1; vchannels = 2; resource_keys = 3})', () => {
  it('encode writes the wire bytes written down here; decode reads them back', () => {
    const header = {
      broadcastId: 42n,
      vchannels: ['a_1v0', 'b_1v0'],
      resourceKeys: [
        sharedResourceKey(ResourceDomain.CollectionName, 'db:c'),
        exclusiveResourceKey(ResourceDomain.DatabaseName, 'db'),
      ],
    };
    expect(header.resourceKeys.map((key) => key.shared)).toEqual([true, false]);
    // 08 2a | 12 05 "a_1v0" | 12 05 "b_1v0" | 1a 0a (08 02 12 04 "db:c" 18 01) | 1a 06 (08 03 12 02 "db")
    const wire = 'CCoSBWFfMXYwEgViXzF2MBoKCAISBGRiOmMYARoGCAMSAmRi';
    expect(encodeBroadcastHeader(header)).toBe(wire);
    expect(decodeBroadcastHeader(wire)).toEqual(header);
  });

  it('decode skips fields it does not know, at both levels', () => {
    // 08 07 | 20 05 (unknown varint) | 12 01 "a" | 2a 04 "junk" (unknown bytes) |
    // 1a 0b (08 02 12 01 "k" 22 02 "zz" (unknown bytes) 28 09 (unknown varint))
    expect(decodeBroadcastHeader('CAcgBRIBYSoEanVuaxoLCAISAWsiAnp6KAk=')).toEqual({
      broadcastId: 7n,
      vchannels: ['a'],
      resourceKeys: [{ domain: 2, key: 'k', shared: false }],
    });
  });

  it('a header without a vchannel is refused', () => {
    // 08 07: an id and nothing else.
    expect(thrown(() => decodeBroadcastHeader('CAc=')).code).toBe('INVALID_ARGUMENT');
  });
});

describe('MessageBuilder', () => {
  const Note = defineMessageType({ name: 'ModelTestNote', code: 4151, flags: {} });

  it('refuses an empty vchannel, an empty broadcast, and not-persisted on anything but a TimeTick', () => {
    expect(thrown(() => newMessage(Note).vchannel('')).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => newMessage(Note).broadcast([])).code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => newMessage(Note).notPersisted()).code).toBe('INVALID_ARGUMENT');
    expect(newMessage(Note).vchannel('p_1v0').build().persisted).toBe(true);
    const tick = newMessage(SystemMessageType.TimeTick).allVChannels().notPersisted().build();
    expect(tick.persisted).toBe(false);
  });

  it('a broadcast keeps its resource keys and splits into one message per vchannel once it has an id', () => {
    const key = exclusiveResourceKey(ResourceDomain.CollectionName, 'db:c');
    const message = newMessage(Note).broadcast(['a_1v0', 'b_1v0'], [key]).build();
    expect(message.broadcastHeader?.resourceKeys).toEqual([key]);
    expect(thrown(() => splitBroadcast(message)).message).toContain('only after it has an id');
    expect(thrown(() => splitBroadcast(newMessage(Note).vchannel('a_1v0').build())).message).toBe(
      'not a broadcast message',
    );
  });

  it('decodeBody refuses a message of another type', () => {
    const other = newMessage(SystemMessageType.Flush).vchannel('a_1v0').build();
    expect(thrown(() => decodeBody(Note, other)).message).toBe(
      `message of type 4 is not a ModelTestNote (4151)`,
    );
    const mine = newMessage(Note)
      .vchannel('a_1v0')
      .body(new Uint8Array([7]))
      .build();
    expect([...decodeBody(Note, mine)]).toEqual([7]);
  });
});
