/**
 * The five-minute tour: open a WAL on the in-memory adapter, append to two vchannels, read each back in
 * order, resume after a position, and close. Run it with `pnpm demo`.
 */
import { memoryAdapter } from '@walstream/adapter-memory';
import {
  createWal,
  DeliverPolicy,
  defineMessageType,
  type ImmutableMessage,
  newMessage,
  pchannel,
  vchannelName,
} from '@walstream/core';

const text = new TextEncoder();
const fromBytes = new TextDecoder();
const OrderPlaced = defineMessageType<string>({
  name: 'OrderPlaced',
  code: 2001,
  flags: {},
  codec: { encode: (body) => text.encode(body), decode: (bytes) => fromBytes.decode(bytes) },
});

function row(message: ImmutableMessage): string {
  return `  id=${message.id.marshal().padStart(2)}  tt=${message.timeTick}  ${message.vchannel ?? '(all)'}  ${fromBytes.decode(message.payload)}`;
}

async function main(): Promise<void> {
  const opener = await createWal().adapter(memoryAdapter()).build();
  const wal = await opener.open({ channel: pchannel('demo', 1n) });
  const orders = vchannelName('demo', 'orders');
  const refunds = vchannelName('demo', 'refunds');
  console.log(`walstream demo: pchannel "demo" at term 1 on the ${wal.walName} adapter\n`);

  console.log('append (each append is durable when it returns):');
  const written = [];
  for (const [vchannel, body] of [
    [orders, 'order #1: 2 × coffee'],
    [refunds, 'refund #1: order #0'],
    [orders, 'order #2: 1 × tea'],
    [orders, 'order #3: 3 × cake'],
    [refunds, 'refund #2: order #2'],
  ] as const) {
    const result = await wal.append(newMessage(OrderPlaced).vchannel(vchannel).body(body).build());
    written.push(result);
    console.log(`  ${vchannel.padEnd(16)} → id=${result.messageId.marshal()} tt=${result.timeTick}`);
  }

  for (const vchannel of [orders, refunds]) {
    console.log(`\nread ${vchannel} from the start:`);
    await using scanner = await wal.read({ vchannel, deliverPolicy: DeliverPolicy.all() });
    let seen = 0;
    const expected = vchannel === orders ? 3 : 2;
    for await (const message of scanner) {
      console.log(row(message));
      if (++seen === expected) break;
    }
  }

  const resumeAt = written[2]!.messageId;
  console.log(`\nresume ${orders} after id=${resumeAt.marshal()} (a reader that already handled it):`);
  {
    await using scanner = await wal.read({
      vchannel: orders,
      deliverPolicy: DeliverPolicy.startAfter(resumeAt),
    });
    const next = await scanner.next();
    if (!next.done) console.log(row(next.value));
  }

  await opener.close();
  console.log(`\nclosed: the WAL is ${wal.state}. Next: docs/getting-started.md`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
