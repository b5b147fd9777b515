import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { lp4, rawConnect } from '../support/net.js';
import { testPki } from '../support/certs.js';
import { serveExampleForSuite, startServer } from './spawn-example.js';

describe('examples/raw-echo', () => {
  const port = serveExampleForSuite('raw-echo');

  it('prints where it listens and echoes bytes back', async () => {
    const peer = await rawConnect({ port: port() });
    peer.socket.write('hello, ');
    peer.socket.write('raw world');
    assert.equal((await peer.waitBytes(16)).toString(), 'hello, raw world');
    peer.socket.destroy();
  });
});

describe('examples/length-prefixed-echo', () => {
  const port = serveExampleForSuite('length-prefixed-echo');

  it('echoes each length-prefixed message, even when it arrives in pieces', async () => {
    const peer = await rawConnect({ port: port() });
    const stream = Buffer.concat([lp4('first'), lp4(''), lp4('third')]);
    peer.socket.write(stream.subarray(0, 6));
    peer.socket.write(stream.subarray(6));
    assert.deepEqual(await peer.waitBytes(stream.length), stream);
    peer.socket.destroy();
  });

  it('closes a peer that announces a message over 1 MiB', async () => {
    const peer = await rawConnect({ port: port() });
    peer.socket.on('end', () => peer.socket.end());
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1024 * 1024 + 1);
    peer.socket.write(header);
    assert.notEqual(await peer.closed, 'close');
    assert.equal(peer.received().length, 0);
  });
});

describe('examples/line-echo', () => {
  const port = serveExampleForSuite('line-echo');

  it('answers LF and CRLF lines with CRLF lines, and says BYE to QUIT', async () => {
    const peer = await rawConnect({ port: port() });
    peer.socket.on('end', () => peer.socket.end());
    peer.socket.write('one\r\ntw');
    peer.socket.write('o\nQUIT\r\n');
    assert.equal((await peer.waitBytes(15)).toString(), 'one\r\ntwo\r\nBYE\r\n');
    assert.equal(await peer.closed, 'end');
  });
});

describe('examples/tls-echo', () => {
  it('generates a self-signed certificate, prints its fingerprint and echoes over TLS', async (t) => {
    const { example, port, line } = await startServer('tls-echo');
    t.after(() => example.stop());
    const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
    t.after(() => socket.destroy());
    await once(socket, 'secureConnect');
    assert.ok(line.includes(socket.getPeerX509Certificate()?.fingerprint256 ?? 'no certificate'), line);
    socket.write('over tls');
    const [echo] = (await once(socket, 'data')) as [Buffer];
    assert.equal(echo.toString(), 'over tls');
  });

  it('serves the key and certificate files it is given', async (t) => {
    const pki = await testPki();
    const dir = mkdtempSync(join(tmpdir(), 'capstan-tls-echo-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'key.pem'), pki.serverKey);
    writeFileSync(join(dir, 'cert.pem'), pki.serverCert);
    const { example, port } = await startServer('tls-echo', [join(dir, 'key.pem'), join(dir, 'cert.pem')]);
    t.after(() => example.stop());
    // Verified against the test CA: proves the given certificate, not a generated one, is served.
    const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: pki.caCert });
    t.after(() => socket.destroy());
    await once(socket, 'secureConnect');
    socket.write('verified');
    const [echo] = (await once(socket, 'data')) as [Buffer];
    assert.equal(echo.toString(), 'verified');
  });
});

describe('examples/metrics-echo', () => {
  it('counts what a client did and shows it on /stats.json, /metrics and the dashboard', async () => {
    const { example, line } = await startServer('metrics-echo', ['0']);
    try {
      const m = /listening on [^\s]+:(\d+), admin (http:\/\/[^\s]+)/.exec(line);
      assert.ok(m !== null, line);
      const [port, admin] = [Number(m[1]), m[2] as string];
      const peer = await rawConnect({ port });
      const stream = Buffer.concat([lp4('one'), lp4('two'), lp4('three')]);
      peer.socket.write(stream);
      assert.deepEqual(await peer.waitBytes(stream.length), stream);
      peer.socket.end();
      await once(peer.socket, 'close');
      let echo: { framesIn: number; bytesIn: number; closes: Record<string, number> } | undefined;
      for (const start = Date.now(); Date.now() - start < 30_000; await new Promise((r) => setTimeout(r, 50))) {
        const stats = (await (await fetch(`${admin}stats.json`)).json()) as { combined: { listeners: Record<string, typeof echo> } };
        echo = stats.combined.listeners.echo;
        if (echo !== undefined && (echo.closes['peer-closed'] ?? 0) + (echo.closes['local-end'] ?? 0) === 1) break;
      }
      assert.equal(echo?.framesIn, 3);
      assert.equal(echo?.bytesIn, stream.length);
      const metrics = await (await fetch(`${admin}metrics`)).text();
      assert.match(metrics, /^capstan_messages_received_total\{worker="main",listener="echo"\} 3$/m);
      assert.equal((await fetch(admin)).status, 200, 'the dashboard page');
      assert.equal((await fetch(`${admin}readyz`)).status, 200);
    } finally {
      await example.stop();
    }
    assert.equal(await example.exited, 0, 'SIGTERM drains and exits 0');
  });
});

describe('examples/starttls-smtp', () => {
  it('upgrades to TLS for openssl s_client -starttls smtp and answers EHLO over TLS without offering STARTTLS again', async (t) => {
    const openssl = spawnSync('openssl', ['version']);
    if (openssl.status !== 0) {
      if (process.env.CI === 'true') assert.fail('openssl is needed (the CI script installs it)');
      return t.skip('openssl not found');
    }
    const pki = await testPki();
    const dir = mkdtempSync(join(tmpdir(), 'capstan-smtp-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'key.pem'), pki.serverKey);
    writeFileSync(join(dir, 'cert.pem'), pki.serverCert);
    writeFileSync(join(dir, 'ca.pem'), pki.caCert);
    const { example, port } = await startServer('starttls-smtp', [join(dir, 'key.pem'), join(dir, 'cert.pem')]);
    t.after(() => example.stop());
    const client = spawn('openssl', ['s_client', '-starttls', 'smtp', '-connect', `127.0.0.1:${port}`, '-CAfile', join(dir, 'ca.pem'), '-verify_return_error', '-servername', 'localhost', '-crlf', '-quiet'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    t.after(() => client.kill());
    let out = '';
    client.stdout.on('data', (d: Buffer) => void (out += d.toString()));
    client.stderr.on('data', (d: Buffer) => void (out += d.toString()));
    const until = async (text: string) => {
      for (const start = Date.now(); !out.includes(text); await new Promise((r) => setTimeout(r, 20))) {
        if (Date.now() - start > 30_000) assert.fail(`s_client never printed ${JSON.stringify(text)}: ${out}`);
      }
    };
    // s_client does the plaintext EHLO and STARTTLS itself, then hands over the TLS session.
    await until('verify return:1');
    client.stdin.write('EHLO tester\n');
    await until('250 HELP');
    assert.doesNotMatch(out.slice(out.indexOf('greets tester')), /250 STARTTLS/, 'STARTTLS is not offered over TLS');
    client.stdin.write('QUIT\n');
    await until('221 2.0.0 Bye');
  });

  it('refuses a command smuggled behind STARTTLS in the same packet', async (t) => {
    const { example, port } = await startServer('starttls-smtp');
    t.after(() => example.stop());
    const peer = await rawConnect({ port });
    await peer.waitBytes('220 capstan.example ESMTP ready\r\n'.length);
    peer.socket.write('EHLO x\r\nSTARTTLS\r\nRCPT TO:<victim@example.com>\r\n');
    assert.notEqual(await peer.ended, 'close');
    const seen = peer.received().toString();
    assert.match(seen, /220 2\.0\.0 Ready to start TLS/);
    assert.doesNotMatch(seen, /502|RCPT/, 'the smuggled command got no answer');
    peer.socket.destroy();
  });
});
