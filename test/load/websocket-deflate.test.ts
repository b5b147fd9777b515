/** `capstan load ws://… --ws-deflate`: compressed messages against Capstan's echo and the ws package's, both with permessage-deflate on. */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { runLoad } from '../../src/index.js';
import { resolveLoadOptions } from '../../src/load/options.js';
import { parseCommand } from '../../src/load/args.js';
import { deflateEcho, type EchoServer } from '../websocket/deflate-support.js';

const servers: EchoServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

describe('capstan load with --ws-deflate', () => {
  it("echoes compressed messages through Capstan's echo with every reply inflated and checked", async () => {
    const s = await deflateEcho({ threshold: 0 });
    servers.push(s);
    const r = await runLoad({ target: `ws://127.0.0.1:${s.port}/`, wsDeflate: true, payload: 'text:the quick brown fox ', size: [200, 4000], connections: 8, depth: 16, messages: 8_000 });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.received.msgs, 8_000);
    const st = s.server.stats().websocket;
    assert.equal(st?.messagesIn, 8_000);
    // Every message arrived compressed and went back compressed.
    assert.ok(st?.deflate !== undefined && st.deflate.wireIn * 5 < st.deflate.plainIn && st.deflate.wireOut * 5 < st.deflate.plainOut, JSON.stringify(st?.deflate));
    assert.ok(r.sent.bytes * 5 < st.deflate.plainIn, `the load's bytes on the wire (${r.sent.bytes}) are the compressed ones`);
  });

  it('echoes text through the ws package with perMessageDeflate on, from the command line', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: { threshold: 0 } });
    await once(wss, 'listening');
    wss.on('connection', (sock) => sock.on('message', (data: Buffer, isBinary: boolean) => sock.send(data, { binary: isBinary })));
    try {
      const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
      const target = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`;
      const child = spawn(process.execPath, [cli, 'load', target, '--ws-text', '--ws-deflate', '--payload', 'ascii', '-c', '4', '--depth', '8', '-n', '2000', '--json', '-q'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const [code] = (await once(child, 'close')) as [number];
      assert.equal(code, 0, stderr + stdout);
      const r = JSON.parse(stdout) as { framing: string; received: { msgs: number }; errors: { total: number } };
      assert.equal(r.framing, 'ws-text');
      assert.equal(r.received.msgs, 2000);
      assert.equal(r.errors.total, 0);
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((res) => wss.close(() => res()));
    }
  });

  it('fails each connection, saying why, when the server declines permessage-deflate', async () => {
    const s = await deflateEcho(false);
    servers.push(s);
    const r = await runLoad({ target: `ws://127.0.0.1:${s.port}/`, wsDeflate: true, connections: 2, durationSec: 1 });
    assert.equal(r.connections.established, 0);
    assert.equal(r.errors.other, 2);
    assert.match(r.errorSamples.other ?? '', /declined permessage-deflate/);
  });

  it('takes --ws-deflate and --no-ws-deflate, and refuses deflate for a target that is not WebSocket', () => {
    assert.equal(parseCommand(['ws://127.0.0.1:1/', '--ws-deflate']).options.wsDeflate, true);
    assert.equal(parseCommand(['ws://127.0.0.1:1/', '--no-ws-deflate']).options.wsDeflate, false);
    assert.equal(parseCommand(['ws://127.0.0.1:1/']).options.wsDeflate, undefined);
    assert.equal(resolveLoadOptions({ target: 'ws://127.0.0.1:1/' }).wsDeflate, false);
    assert.throws(() => resolveLoadOptions({ target: 'tcp://127.0.0.1:1', wsDeflate: true }), { code: 'ERR_INVALID_OPTION', path: 'wsDeflate' });
  });
});
