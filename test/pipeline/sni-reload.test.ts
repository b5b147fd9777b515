/**
 * Several certificates on one TLS listener, chosen by server name, and
 * certificates reloaded from their files while connections stay up. The
 * certificates are made by `openssl` at test time (the CI script installs it).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { listen, raw, readCertificateFiles, watchCertificates, type Server } from '../../src/index.js';
import { recordingLogger, type LoggedLine } from '../support/logger.js';
import { portOf, waitFor } from '../support/net.js';

const haveOpenssl = spawnSync('openssl', ['version']).status === 0;
let dir = '';

/** A self-signed EC certificate for `name` (and its SAN), valid `days`, written as <file>.key / <file>.crt. */
function makeCert(file: string, name: string, days = 30): { keyFile: string; certFile: string } {
  const keyFile = join(dir, `${file}.key`);
  const certFile = join(dir, `${file}.crt`);
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', String(days), '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`, '-keyout', keyFile, '-out', certFile]);
  assert.equal(r.status, 0, r.stderr.toString());
  return { keyFile, certFile };
}

/** Connects with SNI `servername` (or none) and returns the CN of the certificate served. */
async function servedName(port: number, servername?: string): Promise<string> {
  const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...(servername !== undefined ? { servername } : {}) });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', () => resolve());
      socket.once('error', reject);
    });
    const cn = socket.getPeerCertificate().subject?.CN;
    return Array.isArray(cn) ? (cn[0] as string) : (cn ?? '');
  } finally {
    // end, not destroy: the client's Finished must reach the server, or its side of the handshake fails.
    socket.end();
  }
}

describe('SNI and certificate reload', { skip: !haveOpenssl && process.env.CI !== 'true' ? 'openssl not installed' : false }, () => {
  before(() => {
    if (!haveOpenssl) assert.fail('openssl is needed: the CI script installs it');
    dir = mkdtempSync(join(tmpdir(), 'capstan-sni-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('serves the certificate named by SNI, exact or one-label wildcard, and the default for anything else', async () => {
    const def = makeCert('default', 'default.test');
    const api = makeCert('api', 'api.example.test');
    const wild = makeCert('wild', '*.wild.example.test');
    const tlsOptions = await readCertificateFiles({ ...def, sni: [{ servername: 'api.example.test', ...api }, { servername: '*.wild.example.test', ...wild }] });
    const server = await listen({ port: 0, tls: tlsOptions, codec: raw(), handler: {}, logger: recordingLogger([]) });
    const port = portOf(server);
    assert.equal(await servedName(port, 'api.example.test'), 'api.example.test');
    assert.equal(await servedName(port, 'API.Example.Test'), 'api.example.test', 'names match without regard to case');
    assert.equal(await servedName(port, 'www.wild.example.test'), '*.wild.example.test');
    assert.equal(await servedName(port, 'a.b.wild.example.test'), 'default.test', 'a wildcard covers one label');
    assert.equal(await servedName(port, 'other.test'), 'default.test');
    assert.equal(await servedName(port), 'default.test', 'no SNI at all');
    await waitFor(() => Object.values(server.stats().tls.names).reduce((a, b) => a + b, 0) === 6);
    assert.deepEqual(server.stats().tls.names, { 'api.example.test': 2, '*.wild.example.test': 1, default: 3 });
    assert.ok((server.stats().tls.versions['TLSv1.3'] ?? 0) >= 6);
    await server.close();
  });

  it('openssl s_client -servername gets the certificate for that name', async () => {
    const def = makeCert('d2', 'fallback.test');
    const mail = makeCert('mail', 'mail.example.test');
    const server = await listen({ port: 0, tls: await readCertificateFiles({ ...def, sni: [{ servername: 'mail.example.test', ...mail }] }), codec: raw(), handler: {}, logger: recordingLogger([]) });
    const out = await new Promise<string>((resolve) => {
      const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${portOf(server)}`, '-servername', 'mail.example.test'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let text = '';
      p.stdout.on('data', (d: Buffer) => void (text += d.toString()));
      p.stderr.on('data', (d: Buffer) => void (text += d.toString()));
      p.on('close', () => resolve(text));
      p.stdin.end();
    });
    assert.match(out, /subject=CN ?= ?mail\.example\.test/);
    await server.close();
  });

  it('refuses a ClientHello for an unknown name when there is no default certificate, counting and logging it', async () => {
    const only = makeCert('only', 'only.example.test');
    const lines: LoggedLine[] = [];
    const server = await listen({ port: 0, tls: await readCertificateFiles({ sni: [{ servername: 'only.example.test', ...only }] }), codec: raw(), handler: {}, logger: recordingLogger(lines) });
    assert.equal(await servedName(portOf(server), 'only.example.test'), 'only.example.test');
    await assert.rejects(servedName(portOf(server), 'stranger.test'));
    await waitFor(() => server.stats().tls.unknownName === 1 && server.stats().tlsHandshakeFailures === 1);
    assert.ok(lines.some((l) => l.obj.reason === 'unknown-servername' && l.obj.servername === 'stranger.test'));
    await server.close();
  });

  it('reloads changed files for new handshakes, keeps open connections, and refuses a mismatched pair keeping the old one', async () => {
    const first = makeCert('live', 'first.test', 10);
    const second = makeCert('next', 'second.test', 90);
    const stranger = makeCert('stranger', 'stranger.test');
    const lines: LoggedLine[] = [];
    const logger = recordingLogger(lines);
    const server: Server = await listen({ port: 0, tls: await readCertificateFiles(first), codec: raw(), handler: { message: (c, b) => void c.send(b) }, logger });
    const watcher = watchCertificates(server, first, { intervalMs: 100, logger });
    try {
      const port = portOf(server);
      assert.equal(await servedName(port), 'first.test');
      assert.ok(Math.abs((server.stats().tls.expiryDays.default ?? 0) - 10) < 1, JSON.stringify(server.stats().tls.expiryDays));
      const kept = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
      await new Promise<void>((r) => kept.once('secureConnect', () => r()));

      copyFileSync(second.certFile, first.certFile);
      copyFileSync(second.keyFile, first.keyFile);
      await waitFor(() => server.stats().tls.reloads >= 1, 20_000, 'the changed files to be reloaded');
      assert.equal(await servedName(port), 'second.test');
      assert.ok(Math.abs((server.stats().tls.expiryDays.default ?? 0) - 90) < 1);
      kept.write('still here');
      const echo = await new Promise<Buffer>((r) => kept.once('data', (d: Buffer) => r(d)));
      assert.equal(echo.toString(), 'still here', 'the connection opened before the reload kept working');
      kept.destroy();

      // A certificate whose key is another's: refused, logged, and the pair in use stays.
      copyFileSync(stranger.keyFile, first.keyFile);
      await waitFor(() => server.stats().tls.reloadFailures >= 1, 20_000, 'the mismatched pair to be refused');
      assert.ok(lines.some((l) => /certificate reload refused/.test(l.msg ?? '')));
      assert.equal(await servedName(port), 'second.test');

      // reload() on demand, after the files are fixed.
      writeFileSync(first.keyFile, spawnSync('cat', [second.keyFile]).stdout);
      assert.equal(await watcher.reload(), true);
      assert.equal(await servedName(port), 'second.test');
    } finally {
      watcher.close();
      await server.close();
    }
  });
});
