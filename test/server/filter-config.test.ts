/**
 * The config keys of src/pipeline/: proxyProtocol, compression, tls.sni,
 * tls.plaintext, tls.watch and startTls, resolved from YAML and run by the
 * Runtime over real sockets.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import tls from 'node:tls';
import zlib from 'node:zlib';
import { generate } from 'selfsigned';
import { silentLogger } from '../../src/index.js';
import { Runtime } from '../../src/server/runtime.js';
import { ThreadPools } from '../../src/server/threads.js';
import { lp4, rawConnect, waitFor } from '../support/net.js';
import { configProblems, resolveLines } from './config-support.js';
import { lp4Frames, tempDir } from './support.js';

const tmp = tempDir('capstan-filter-config-');
const threads = new ThreadPools({});
after(() => {
  threads.close();
  tmp.cleanup();
});

async function writePair(base: string, cn: string): Promise<void> {
  const pems = await generate([{ name: 'commonName', value: cn }], { keyType: 'ec', algorithm: 'sha256' });
  tmp.write(`${base}.key`, pems.private);
  tmp.write(`${base}.crt`, pems.cert);
}

const resolveText = (lines: string[]) => resolveLines(tmp.dir, lines);
const problems = (lines: string[]) => configProblems(tmp.dir, lines);

function portOf(runtime: Runtime, name: string): number {
  const a = runtime.servers().get(name)?.address;
  assert.ok(a !== undefined && 'port' in a);
  return a.port;
}

/** The common name of the certificate a new TLS connection asking for `servername` gets. */
async function certificateFor(port: number, servername?: string): Promise<string | undefined> {
  const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(servername !== undefined ? { servername } : {}) });
  await once(socket, 'secureConnect');
  const cn = socket.getPeerCertificate().subject?.CN;
  socket.destroy();
  return Array.isArray(cn) ? cn[0] : cn;
}

describe('filter settings in a config file', () => {
  it('run PROXY protocol, compression, SNI certificates, plaintext beside TLS and watched certificate files', async () => {
    await writePair('default', 'default.example');
    await writePair('api', 'api.example');
    const config = await resolveText([
      'listeners:',
      '  - { name: proxied, port: 0, codec: lp4, plugin: echo, proxyProtocol: required }',
      '  - { name: packed, port: 0, codec: lp4, plugin: echo, compression: { algorithm: deflate, level: 1 } }',
      '  - name: secure',
      '    transport: tls',
      '    port: 0',
      '    codec: lp4',
      '    plugin: echo',
      '    tls:',
      '      certFile: default.crt',
      '      keyFile: default.key',
      '      sni: [{ servername: api.example, certFile: api.crt, keyFile: api.key }]',
      '      plaintext: true',
      '      watch: { intervalMs: 100 }',
    ]);
    const runtime = new Runtime({ worker: 'main', logger: silentLogger, threads, configDir: tmp.dir });
    await runtime.start(config.listeners);
    try {
      // PROXY: the header names the client; a connection without one is refused.
      const proxied = await rawConnect({ host: '127.0.0.1', port: portOf(runtime, 'proxied') });
      proxied.socket.write(Buffer.concat([Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 40000 7000\r\n'), lp4('behind a proxy')]));
      assert.deepEqual(lp4Frames(await proxied.waitBytes(4 + 14)), [Buffer.from('behind a proxy')]);
      proxied.socket.destroy();
      const bare = await rawConnect({ host: '127.0.0.1', port: portOf(runtime, 'proxied') });
      bare.socket.write(lp4('no header'));
      await bare.ended;
      const proxyStats = runtime.servers().get('proxied')?.stats().proxy;
      assert.equal(proxyStats?.accepted, 1);
      assert.equal(proxyStats?.refused.missing, 1);

      // Compression: raw deflate both ways, with a sync flush per batch.
      const packed = await rawConnect({ host: '127.0.0.1', port: portOf(runtime, 'packed') });
      const plain = Buffer.concat([lp4('squeeze me '.repeat(50)), lp4('and me')]);
      packed.socket.write(zlib.deflateRawSync(plain, { finishFlush: zlib.constants.Z_SYNC_FLUSH }));
      const inflater = zlib.createInflateRaw();
      const out: Buffer[] = [];
      inflater.on('data', (d: Buffer) => out.push(d));
      let fed = 0;
      await waitFor(() => {
        const got = packed.received();
        if (got.length > fed) inflater.write(got.subarray(fed));
        fed = got.length;
        return Buffer.concat(out).length >= plain.length;
      });
      assert.deepEqual(Buffer.concat(out), plain);
      packed.socket.destroy();
      const ratio = runtime.servers().get('packed')?.stats().filters.deflate;
      assert.equal(ratio?.plainIn, plain.length);

      // SNI and plaintext on the TLS port.
      const port = portOf(runtime, 'secure');
      assert.equal(await certificateFor(port, 'api.example'), 'api.example');
      assert.equal(await certificateFor(port), 'default.example');
      const text = await rawConnect({ host: '127.0.0.1', port });
      text.socket.write(lp4('plaintext too'));
      assert.deepEqual(lp4Frames(await text.waitBytes(4 + 13)), [Buffer.from('plaintext too')]);
      text.socket.destroy();

      // A rotated file reaches new handshakes without a reload.
      await writePair('api', 'api-rotated.example');
      const until = Date.now() + 30_000;
      let seen = await certificateFor(port, 'api.example');
      while (seen !== 'api-rotated.example' && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 100));
        seen = await certificateFor(port, 'api.example');
      }
      assert.equal(seen, 'api-rotated.example');
      assert.equal(await certificateFor(port), 'default.example');
    } finally {
      await runtime.stop({ graceMs: 500, quietMs: 50 });
    }
  });

  it('report each bad filter setting at its key, all in one run', async () => {
    await writePair('default', 'default.example');
    const lines = await problems([
      'listeners:',
      '  - { name: a, transport: tls, port: 0, plugin: echo, startTls: {} }',
      '  - { name: b, port: 0, plugin: echo, compression: { windowBits: 30 } }',
    ]);
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines[0] ?? '', /listeners\[0\]\.startTls: is for a plaintext listener/);
    assert.match(lines[1] ?? '', /listeners\[1\]\.compression\.windowBits: compression: option windowBits must be an integer from 9 to 15, got 30/);
  });

  it('report bad SNI entries and unreadable files at their keys, all in one run', async () => {
    await writePair('default', 'default.example');
    const lines = await problems([
      'listeners:',
      '  - name: c',
      '    transport: tls',
      '    port: 0',
      '    plugin: echo',
      '    tls:',
      '      certFile: default.crt',
      '      keyFile: default.key',
      '      sni: [{ servername: x.example, certFile: default.crt }, { servername: y.example, certFile: nope.crt, keyFile: nope.key }]',
    ]);
    assert.equal(lines.length, 3, lines.join('\n'));
    assert.match(lines[0] ?? '', /listeners\[0\]\.tls\.sni\[0\]\.keyFile: is required: certFile and keyFile go together/);
    assert.match(lines[1] ?? '', /listeners\[0\]\.tls\.sni\[1\]\.certFile: cannot read .*nope\.crt: no such file/);
    assert.match(lines[2] ?? '', /listeners\[0\]\.tls\.sni\[1\]\.keyFile: cannot read .*nope\.key: no such file/);
  });

  it('names the allowed values of proxyProtocol and compression', async () => {
    const lines = await problems(['listeners:', '  - { name: a, port: 0, plugin: echo, proxyProtocol: sometimes, compression: lz4 }']);
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines.join('\n'), /proxyProtocol: expected off, optional, required, or an object \{ mode, trusted, timeoutMs, maxHeaderBytes \}, got "sometimes"/);
    assert.match(lines.join('\n'), /compression: expected deflate, brotli, zstd, or an object/);
  });

  it('reads startTls key material for a plaintext listener', async () => {
    await writePair('default', 'default.example');
    const config = await resolveText(['listeners:', '  - { name: a, port: 0, plugin: echo, startTls: { certFile: default.crt, keyFile: default.key } }']);
    assert.match(String(config.listeners[0]?.startTls?.cert), /BEGIN CERTIFICATE/);
  });
});
