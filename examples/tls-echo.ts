/**
 * TLS echo: raw echo over TLS. Give a key and certificate in PEM files, or
 * none to get a fresh self-signed certificate for `localhost` (clients must
 * then skip verification or pin the printed fingerprint).
 *
 *   node dist/examples/tls-echo.js [port] [key.pem cert.pem]   (default port 7443)
 *   openssl s_client -connect 127.0.0.1:7443
 *
 * In your own project, import from 'capstan' instead of '../src/index.js'.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { generate } from 'selfsigned';
import { listen, raw } from '../src/index.js';

const [portArg = '7443', keyFile, certFile] = process.argv.slice(2);

async function keyAndCert(): Promise<{ key: string; cert: string }> {
  if (keyFile !== undefined && certFile !== undefined) {
    return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
  }
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], { keyType: 'ec', algorithm: 'sha256' });
  return { key: pems.private, cert: pems.cert };
}

const tls = await keyAndCert();
const server = await listen({
  port: Number(portArg),
  tls,
  codec: raw(),
  handler: {
    message(conn, chunk) {
      conn.send(chunk);
    },
  },
});

const fingerprint = new X509Certificate(tls.cert).fingerprint256;
console.log(`tls-echo listening on ${server.url} (certificate SHA-256 ${fingerprint})`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void server.close().then(() => process.exit(0)));
