import { readFileSync } from 'node:fs';
import { WalError } from '@walstream/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AllocateRequestSchema,
  connectRpc,
  create,
  ProduceRequestSchema,
  type TsoImpl,
} from '../src/index.js';
import { makeTestCerts, type TestCerts } from './support/certs.js';
import { echoProducer, echoTso, serve } from './support/fixtures.js';

async function rejection(promise: Promise<unknown>): Promise<WalError> {
  try {
    await promise;
  } catch (error) {
    if (WalError.is(error)) return error;
    throw new Error(`expected a WalError, got ${String(error)}`);
  }
  throw new Error('expected a rejection, the call succeeded');
}

const one = () => create(AllocateRequestSchema, { count: 1 });

/** A TSO that counts the calls that reached it. */
function countingTso(): TsoImpl & { calls: number } {
  const tso = {
    calls: 0,
    allocate: async (
      request: Parameters<TsoImpl['allocate']>[0],
      call: Parameters<TsoImpl['allocate']>[1],
    ) => {
      tso.calls++;
      return echoTso.allocate(request, call);
    },
  };
  return tso;
}

let certs: TestCerts;
beforeAll(() => {
  certs = makeTestCerts();
});
afterAll(() => certs.remove());

describe('bearer token', () => {
  it('the right token is served', async () => {
    const tso = countingTso();
    await using server = await serve({ tso }, { token: 's3cret' });
    await using channel = connectRpc(server.address, { token: 's3cret' });
    expect((await channel.tso.allocate(one())).count).toBe(1);
    expect(tso.calls).toBe(1);
  });

  it('a wrong or missing token is UNAUTHENTICATED and the handler never runs', async () => {
    const tso = countingTso();
    await using server = await serve({ tso }, { token: 's3cret' });
    for (const token of ['s3creT', 's3cret ', undefined]) {
      await using channel = connectRpc(server.address, token === undefined ? {} : { token });
      const error = await rejection(channel.tso.allocate(one()));
      expect(error.code).toBe('UNAUTHENTICATED');
      expect(error.retriable).toBe(false);
    }
    expect(tso.calls).toBe(0);
  });

  it('a stream with a wrong token is UNAUTHENTICATED before its handler runs', async () => {
    let opened = 0;
    await using server = await serve(
      {
        nodeHandler: {
          ...echoProducer,
          produce: async (stream, call) => {
            opened++;
            await echoProducer.produce(stream, call);
          },
        },
      },
      { token: 's3cret' },
    );
    await using channel = connectRpc(server.address, { token: 'guess' });
    const stream = channel.nodeHandler.produce();
    const error = await rejection(
      (async () => {
        for await (const _ of stream) {
          // nothing is answered
        }
      })(),
    );
    expect(error.code).toBe('UNAUTHENTICATED');
    expect(opened).toBe(0);
    // Sending on the rejected stream is refused with the same error, not swallowed.
    const send = await rejection(stream.send(create(ProduceRequestSchema)));
    expect(send.code).toBe('UNAUTHENTICATED');
  });
});

describe('TLS', () => {
  const serverTls = () => ({ certFile: certs.serverCertFile, keyFile: certs.serverKeyFile });

  it('a client that trusts the server CA is served over TLS (PEM files on the server, PEM text on the client)', async () => {
    await using server = await serve({ tso: echoTso }, { tls: serverTls() });
    await using channel = connectRpc(server.address, { tls: { ca: readFileSync(certs.caFile, 'utf8') } });
    expect((await channel.tso.allocate(one())).first).toBe(2n ** 62n + 1n);
  });

  it('serverName sets the name checked against the certificate', async () => {
    await using server = await serve({ tso: echoTso }, { tls: serverTls() });
    await using named = connectRpc(server.address, {
      tls: { caFile: certs.caFile, serverName: 'localhost' },
    });
    expect((await named.tso.allocate(one())).count).toBe(1);
    await using misnamed = connectRpc(server.address, {
      tls: { caFile: certs.caFile, serverName: 'elsewhere.example' },
    });
    expect((await rejection(misnamed.tso.allocate(one(), { deadlineMs: 10_000 }))).code).toBe('UNAVAILABLE');
  });

  it('a client that does not trust the server CA fails UNAVAILABLE', async () => {
    await using server = await serve({ tso: echoTso }, { tls: serverTls() });
    await using channel = connectRpc(server.address, { tls: { caFile: certs.otherCaFile } });
    const error = await rejection(channel.tso.allocate(one(), { deadlineMs: 10_000 }));
    expect(error.code).toBe('UNAVAILABLE');
  });

  it('a plaintext client of a TLS server fails UNAVAILABLE', async () => {
    await using server = await serve({ tso: echoTso }, { tls: serverTls() });
    await using channel = connectRpc(server.address);
    const error = await rejection(channel.tso.allocate(one(), { deadlineMs: 10_000 }));
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.retriable).toBe(true);
  });

  it('TLS and a token together: both are required', async () => {
    await using server = await serve({ tso: echoTso }, { tls: serverTls(), token: 't' });
    await using good = connectRpc(server.address, { tls: { caFile: certs.caFile }, token: 't' });
    expect((await good.tso.allocate(one())).count).toBe(1);
    await using tokenless = connectRpc(server.address, { tls: { caFile: certs.caFile } });
    expect((await rejection(tokenless.tso.allocate(one()))).code).toBe('UNAUTHENTICATED');
  });
});

describe('mutual TLS', () => {
  const mtls = () => ({
    certFile: certs.serverCertFile,
    keyFile: certs.serverKeyFile,
    caFile: certs.caFile,
    requireClientCert: true,
  });

  it('a client with a certificate from the CA is served', async () => {
    await using server = await serve({ tso: echoTso }, { tls: mtls() });
    await using channel = connectRpc(server.address, {
      tls: { caFile: certs.caFile, certFile: certs.clientCertFile, keyFile: certs.clientKeyFile },
    });
    expect((await channel.tso.allocate(one())).count).toBe(1);
  });

  it('a client without a certificate is refused', async () => {
    const tso = countingTso();
    await using server = await serve({ tso }, { tls: mtls() });
    await using channel = connectRpc(server.address, { tls: { caFile: certs.caFile } });
    const error = await rejection(channel.tso.allocate(one(), { deadlineMs: 10_000 }));
    expect(error.code).toBe('UNAVAILABLE');
    expect(tso.calls).toBe(0);
  });

  it('a client with a certificate from another CA is refused', async () => {
    const tso = countingTso();
    await using server = await serve({ tso }, { tls: mtls() });
    await using channel = connectRpc(server.address, {
      tls: { caFile: certs.caFile, certFile: certs.strangerCertFile, keyFile: certs.strangerKeyFile },
    });
    const error = await rejection(channel.tso.allocate(one(), { deadlineMs: 10_000 }));
    expect(error.code).toBe('UNAVAILABLE');
    expect(tso.calls).toBe(0);
  });

  it('TLS options are checked: a missing key, a missing CA for client certificates, an unreadable file', async () => {
    const noKey = await rejection(serve({ tso: echoTso }, { tls: { certFile: certs.serverCertFile } }));
    expect(noKey.code).toBe('INVALID_ARGUMENT');
    const noCa = await rejection(
      serve(
        { tso: echoTso },
        { tls: { certFile: certs.serverCertFile, keyFile: certs.serverKeyFile, requireClientCert: true } },
      ),
    );
    expect(noCa.details.option).toBe('tls.ca');
    const missing = await rejection(
      serve({ tso: echoTso }, { tls: { certFile: '/nonexistent.pem', keyFile: certs.serverKeyFile } }),
    );
    expect(missing.details.option).toBe('tls.certFile');
  });
});
