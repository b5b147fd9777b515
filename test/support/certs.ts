/** Test certificates: a CA, a server certificate for localhost/127.0.0.1 and a client certificate, made once per process. */
import selfsigned from 'selfsigned';

export interface TestPki {
  caCert: string;
  serverKey: string;
  serverCert: string;
  clientKey: string;
  clientCert: string;
  /** A client certificate from an unrelated CA. */
  strangerKey: string;
  strangerCert: string;
}

let cached: Promise<TestPki> | null = null;

type Generated = { private: string; cert: string };
type Generate = (attrs: Array<{ name: string; value: string }>, opts: Record<string, unknown>) => Promise<Generated>;

export function testPki(): Promise<TestPki> {
  cached ??= (async () => {
    const generate = (selfsigned as unknown as { generate: Generate }).generate;
    const ca = await generate([{ name: 'commonName', value: 'Capstan Test CA' }], {
      days: 2,
      keySize: 2048,
      extensions: [{ name: 'basicConstraints', cA: true }, { name: 'keyUsage', keyCertSign: true, digitalSignature: true, cRLSign: true }],
    });
    const server = await generate([{ name: 'commonName', value: 'localhost' }], {
      days: 2,
      keySize: 2048,
      ca: { key: ca.private, cert: ca.cert },
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] }],
    });
    const client = await generate([{ name: 'commonName', value: 'test-client' }], {
      days: 2,
      keySize: 2048,
      ca: { key: ca.private, cert: ca.cert },
      extensions: [{ name: 'extKeyUsage', clientAuth: true }],
    });
    const stranger = await generate([{ name: 'commonName', value: 'stranger' }], { days: 2, keySize: 2048 });
    return {
      caCert: ca.cert,
      serverKey: server.private,
      serverCert: server.cert,
      clientKey: client.private,
      clientCert: client.cert,
      strangerKey: stranger.private,
      strangerCert: stranger.cert,
    };
  })();
  return cached;
}
