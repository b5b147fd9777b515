/**
 * Capstan behind a real HAProxy (Debian's, which the CI script installs):
 * `send-proxy` (v1), `send-proxy-v2` with CRC32C, authority and unique-id TLVs,
 * `send-proxy-v2-ssl` from a TLS-terminating frontend, and TLS passed through
 * to a Capstan TLS listener behind a v2 header. The client connects from
 * 127.0.0.9, which is what Capstan must report.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { listen, lengthPrefixed, silentLogger, type Connection, type Server } from '../../src/index.js';
import type { ProxyHeader } from '../../src/pipeline/proxy-protocol.js';
import { testPki, type TestPki } from '../support/certs.js';
import { lp4, portOf, waitFor } from '../support/net.js';

const HAPROXY = '/usr/sbin/haproxy';
const haveHaproxy = spawnSync(HAPROXY, ['-v']).status === 0;
const CLIENT_ADDRESS = '127.0.0.9';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** A Capstan echo that answers each frame with what it knows of the client. */
async function backend(tlsOn: TestPki | null, seen: ProxyHeader[]): Promise<Server> {
  return listen({
    port: 0,
    codec: lengthPrefixed(),
    logger: silentLogger,
    proxyProtocol: 'required',
    ...(tlsOn !== null ? { tls: { key: tlsOn.serverKey, cert: tlsOn.serverCert } } : {}),
    handler: {
      open: (c: Connection) => void (c.proxy !== null && seen.push(c.proxy)),
      message: (c: Connection) => void c.send(`${c.remoteAddress} ${c.remoteFamily}`),
    },
  });
}

async function askThrough(port: number, useTls: TestPki | null): Promise<string> {
  const socket = useTls !== null
    ? tls.connect({ port, host: '127.0.0.1', localAddress: CLIENT_ADDRESS, ca: useTls.caCert, servername: 'localhost' } as tls.ConnectionOptions)
    : net.connect({ port, host: '127.0.0.1', localAddress: CLIENT_ADDRESS });
  await new Promise<void>((resolve, reject) => {
    socket.once(useTls !== null ? 'secureConnect' : 'connect', () => resolve());
    socket.once('error', reject);
  });
  socket.write(lp4('who am i'));
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      if (all.length >= 4 && all.length >= 4 + all.readUInt32BE(0)) resolve();
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`closed after ${Buffer.concat(chunks).length} bytes`)));
  });
  socket.destroy();
  const all = Buffer.concat(chunks);
  return all.subarray(4, 4 + all.readUInt32BE(0)).toString();
}

describe('behind a real HAProxy', { skip: !haveHaproxy && process.env.CI !== 'true' ? 'haproxy not installed (apt-get install haproxy)' : false }, () => {
  let haproxy: ChildProcess | null = null;
  let dir = '';
  let pki: TestPki;
  const ports = { v1: 0, v2: 0, v2ssl: 0, passthrough: 0 };
  const seen: Record<keyof typeof ports, ProxyHeader[]> = { v1: [], v2: [], v2ssl: [], passthrough: [] };
  const servers: Server[] = [];

  before(async () => {
    if (!haveHaproxy) assert.fail('haproxy is needed: the CI script installs it with apt-get');
    pki = await testPki();
    dir = mkdtempSync(join(tmpdir(), 'capstan-haproxy-'));
    const pem = join(dir, 'server.pem');
    writeFileSync(pem, `${pki.serverCert}\n${pki.serverKey}\n`);
    const plain1 = await backend(null, seen.v1);
    const plain2 = await backend(null, seen.v2);
    const plain3 = await backend(null, seen.v2ssl);
    const tlsBackend = await backend(pki, seen.passthrough);
    servers.push(plain1, plain2, plain3, tlsBackend);
    for (const k of Object.keys(ports) as Array<keyof typeof ports>) ports[k] = await freePort();
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(
      cfg,
      [
        'global',
        '  maxconn 200',
        'defaults',
        '  mode tcp',
        '  timeout connect 5s',
        '  timeout client 30s',
        '  timeout server 30s',
        `frontend v1`,
        `  bind 127.0.0.1:${ports.v1}`,
        '  default_backend v1',
        'backend v1',
        `  server s 127.0.0.1:${portOf(plain1)} send-proxy`,
        'frontend v2',
        `  bind 127.0.0.1:${ports.v2}`,
        '  unique-id-format %{+X}o%ci:%cp_%fi:%fp_%Ts_%rt',
        '  default_backend v2',
        'backend v2',
        `  server s 127.0.0.1:${portOf(plain2)} send-proxy-v2 proxy-v2-options crc32c,unique-id`,
        'frontend v2ssl',
        `  bind 127.0.0.1:${ports.v2ssl} ssl crt ${pem}`,
        '  default_backend v2ssl',
        'backend v2ssl',
        `  server s 127.0.0.1:${portOf(plain3)} send-proxy-v2-ssl proxy-v2-options ssl-cipher,crc32c`,
        'frontend passthrough',
        `  bind 127.0.0.1:${ports.passthrough}`,
        '  default_backend passthrough',
        'backend passthrough',
        `  server s 127.0.0.1:${portOf(tlsBackend)} send-proxy-v2`,
        '',
      ].join('\n'),
    );
    const check = spawnSync(HAPROXY, ['-c', '-f', cfg]);
    assert.equal(check.status, 0, `haproxy rejected its config: ${check.stdout.toString()}${check.stderr.toString()}`);
    haproxy = spawn(HAPROXY, ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    haproxy.stderr?.on('data', (d: Buffer) => void (stderr += d.toString()));
    // Ready once every frontend accepts connections.
    for (const port of Object.values(ports)) {
      await waitFor(() => haproxy?.exitCode === null, 1_000, 'haproxy to keep running');
      const deadline = Date.now() + 30_000;
      for (;;) {
        const ok = await new Promise<boolean>((r) => {
          const s = net.connect({ port, host: '127.0.0.1' }, () => {
            s.destroy();
            r(true);
          });
          s.on('error', () => r(false));
        });
        if (ok) break;
        if (Date.now() > deadline || haproxy.exitCode !== null) assert.fail(`haproxy did not listen on ${port}: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });

  after(async () => {
    if (haproxy !== null && haproxy.exitCode === null) {
      const exited = new Promise((r) => haproxy?.once('exit', r));
      haproxy.kill('SIGTERM');
      await exited;
    }
    await Promise.all(servers.map((s) => s.close({ graceMs: 1_000 })));
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('send-proxy (v1): Capstan reports the client behind HAProxy', async () => {
    assert.equal(await askThrough(ports.v1, null), `${CLIENT_ADDRESS} IPv4`);
    assert.equal(seen.v1.at(-1)?.version, 1);
  });

  it('send-proxy-v2 with CRC32C and unique-id TLVs: the checksum verifies and the TLVs arrive', async () => {
    assert.equal(await askThrough(ports.v2, null), `${CLIENT_ADDRESS} IPv4`);
    const h = seen.v2.at(-1);
    assert.equal(h?.version, 2);
    assert.equal(h?.checksummed, true);
    assert.ok((h?.uniqueId?.length ?? 0) > 0, 'a unique id was sent');
  });

  it('send-proxy-v2-ssl: TLS ends at HAProxy, and the SSL TLV says how the client connected', async () => {
    assert.equal(await askThrough(ports.v2ssl, pki), `${CLIENT_ADDRESS} IPv4`);
    const ssl = seen.v2ssl.at(-1)?.ssl;
    assert.equal(ssl?.tls, true);
    assert.match(ssl?.version ?? '', /^TLSv1\.[23]$/);
    assert.ok((ssl?.cipher ?? '').length > 0, 'the cipher was sent');
  });

  it('passes TLS through to a Capstan TLS listener, which reads the v2 header before the handshake', async () => {
    const before = servers[3]?.stats().proxy.accepted ?? 0;
    assert.equal(await askThrough(ports.passthrough, pki), `${CLIENT_ADDRESS} IPv4`);
    assert.equal(seen.passthrough.at(-1)?.version, 2);
    assert.equal(servers[3]?.stats().proxy.accepted, before + 1);
  });
});
