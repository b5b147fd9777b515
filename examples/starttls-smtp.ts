/**
 * An SMTP-shaped line server with STARTTLS: it greets, answers EHLO (offering
 * STARTTLS before TLS, not after), upgrades on STARTTLS, and then answers the
 * same commands over TLS. Enough of RFC 3207 for `openssl s_client -starttls
 * smtp` and for mail clients' capability checks; it delivers no mail.
 * Give a key and certificate in PEM files, or none to get a fresh self-signed
 * certificate for `localhost`.
 *
 *   node dist/examples/starttls-smtp.js [port] [key.pem cert.pem]   (default port 2525)
 *   openssl s_client -starttls smtp -connect 127.0.0.1:2525 -crlf
 *
 * In your own project, import from 'capstan' instead of '../src/index.js'.
 */
import { readFileSync } from 'node:fs';
import { generate } from 'selfsigned';
import { lines, listen, type Connection } from '../src/index.js';

const [portArg = '2525', keyFile, certFile] = process.argv.slice(2);

async function keyAndCert(): Promise<{ key: string; cert: string }> {
  if (keyFile !== undefined && certFile !== undefined) return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], { keyType: 'ec', algorithm: 'sha256' });
  return { key: pems.private, cert: pems.cert };
}

const HOST = 'capstan.example';

function ehlo(conn: Connection, name: string): void {
  conn.send(`250-${HOST} greets ${name}`);
  conn.send('250-8BITMIME');
  // Offered only in plaintext: after the upgrade it would be a protocol error (RFC 3207 §4.2).
  conn.send(conn.tls === undefined ? '250 STARTTLS' : '250 HELP');
}

const server = await listen({
  port: Number(portArg),
  // SMTP forbids bare CRs (RFC 5321 §2.3.8): refuse them rather than relay them.
  codec: lines({ maxLineBytes: 1000, bareCR: 'reject' }),
  startTls: await keyAndCert(),
  handler: {
    open(conn) {
      conn.send(`220 ${HOST} ESMTP ready`);
    },
    message(conn, line) {
      const text = line.toString('latin1');
      const verb = text.slice(0, 4).toUpperCase();
      if (verb === 'EHLO' || verb === 'HELO') return ehlo(conn, text.slice(5).trim() || 'you');
      if (text.toUpperCase() === 'STARTTLS') {
        if (conn.tls !== undefined) return void conn.send('503 5.5.1 TLS already active');
        conn.send('220 2.0.0 Ready to start TLS');
        conn.startTls().catch(() => {
          // The connection is closed already, with its reason (an injection, a failed handshake).
        });
        return;
      }
      if (verb === 'NOOP') return void conn.send('250 2.0.0 OK');
      if (verb === 'QUIT') {
        conn.send('221 2.0.0 Bye');
        conn.end();
        return;
      }
      conn.send('502 5.5.2 Command not implemented');
    },
  },
});

console.log(`starttls-smtp listening on ${server.url}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void server.close().then(() => process.exit(0)));
