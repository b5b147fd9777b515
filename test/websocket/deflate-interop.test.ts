/**
 * permessage-deflate with peers nobody here wrote: the `ws` package's client
 * and server with perMessageDeflate on, and Debian's python3-websockets
 * (which compresses by default) as client and as server.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import WebSocketClient, { WebSocketServer } from 'ws';
import { connectWebSocket, silentLogger } from '../../src/index.js';
import { recorder } from './client-support.js';
import { deflateEcho, type EchoServer } from './deflate-support.js';
import { describeNeeding } from '../support/needs.js';

const PYTHON = '/usr/bin/python3';
const havePython = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import websockets'], { stdio: 'ignore' }).status === 0;

/** Messages both ways: short (under the threshold), compressible, incompressible, large. */
function traffic(): Array<[Buffer | string, boolean]> {
  const noise = Buffer.alloc(20_000);
  for (let i = 0, x = 88172645; i < noise.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    noise[i] = x & 0xff;
  }
  const out: Array<[Buffer | string, boolean]> = [];
  for (let i = 0; i < 40; i++) {
    out.push([`short ${i}`, false]);
    out.push([`{"seq":${i},"body":"${'lorem ipsum dolor '.repeat(10 + i)}"}`, false]);
    out.push([i % 10 === 0 ? noise : Buffer.alloc(3000 + i, i), true]);
  }
  out.push(['é'.repeat(300_000), false]);
  return out;
}

/** Capstan's client sends {@link traffic} to the echo at `url` with deflate on, and checks every echo and that both ways were compressed. */
async function clientEchoes(url: string, perMessageDeflate: true | { threshold: number }): Promise<void> {
  const r = recorder();
  const c = await connectWebSocket({ url, perMessageDeflate, handler: r.handler, logger: silentLogger });
  assert.match(c.socket?.extensions ?? '', /^permessage-deflate/);
  const sent = traffic();
  for (const [m, binary] of sent) c.send(m, binary);
  await r.until(() => r.messages.length === sent.length, 'every echo');
  assert.deepEqual(
    r.messages.map((m) => [m.data.toString(m.isBinary ? 'hex' : 'utf8'), m.isBinary]),
    sent.map(([m, b]) => [typeof m === 'string' ? m : m.toString('hex'), b]),
  );
  const st = c.websocketStats().deflate;
  assert.ok(st !== undefined && st.wireIn < st.plainIn / 2 && st.wireOut < st.plainOut / 2, `compressed both ways: ${JSON.stringify(st)}`);
  await c.close();
}

const servers: EchoServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

describe('permessage-deflate with the ws package', () => {
  for (const [what, option, clientOption] of [
    ['both windows kept', { threshold: 100 }, { threshold: 100 }],
    ['no context takeover asked by the ws client', { threshold: 100 }, { threshold: 100, serverNoContextTakeover: true, clientNoContextTakeover: true }],
    ['small windows, level 9', { threshold: 0, level: 9, serverMaxWindowBits: 9, clientMaxWindowBits: 10 }, { threshold: 0, serverMaxWindowBits: 11 }],
  ] as const) {
    it(`echoes every message to the ws client in order with ${what}`, async () => {
      const s = await deflateEcho(option);
      servers.push(s);
      const c = new WebSocketClient(`ws://127.0.0.1:${s.port}/`, { perMessageDeflate: clientOption });
      await once(c, 'open');
      assert.match(c.extensions, /permessage-deflate/);
      const sent = traffic();
      const got: Array<[string, boolean]> = [];
      const all = new Promise<void>((resolve) =>
        c.on('message', (d: Buffer, isBinary: boolean) => {
          got.push([d.toString(isBinary ? 'hex' : 'utf8'), isBinary]);
          if (got.length === sent.length) resolve();
        }),
      );
      for (const [m, binary] of sent) c.send(m, { binary });
      await all;
      assert.deepEqual(
        got,
        sent.map(([m, b]) => [typeof m === 'string' ? m : m.toString('hex'), b]),
      );
      const st = s.server.stats().websocket?.deflate;
      assert.ok(st !== undefined && st.wireOut < st.plainOut / 2, `compressed on the way out: ${st?.wireOut} of ${st?.plainOut}`);
      c.close(1000);
      await once(c, 'close');
    });
  }

  it("talks to the ws server as a client, with the ws server's windows kept and with none", async () => {
    for (const serverNoContextTakeover of [false, true]) {
      const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: { threshold: 0, serverNoContextTakeover, clientNoContextTakeover: serverNoContextTakeover } });
      wss.on('connection', (ws) => ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary })));
      await once(wss, 'listening');
      await clientEchoes(`ws://127.0.0.1:${(wss.address() as { port: number }).port}/`, { threshold: 50 });
      await new Promise<void>((res) => wss.close(() => res()));
    }
  });
});

const PY_CLIENT = `
import asyncio, sys, websockets
async def main():
    async with websockets.connect(sys.argv[1], max_size=2**21) as ws:
        print("extensions", ws.response_headers.get("Sec-WebSocket-Extensions"), flush=True)
        sent = []
        for i in range(60):
            sent.append(("line %d " % i) * (1 + i % 30))
            sent.append(bytes([i % 256]) * (2000 + i))
        for m in sent:
            await ws.send(m)
        for m in sent:
            got = await ws.recv()
            if got != m:
                print("mismatch", repr(m)[:40], repr(got)[:40], flush=True)
                sys.exit(1)
        print("echoed", len(sent), flush=True)
asyncio.run(main())
`;

const PY_SERVER = `
import asyncio, websockets
async def echo(ws, path=None):
    async for m in ws:
        await ws.send(m)
async def main():
    async with websockets.serve(echo, "127.0.0.1", 0, max_size=2**21) as server:
        print("port", server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()
asyncio.run(main())
`;

// CI installs the package, so there a missing one fails the run rather than skips quietly.
describeNeeding('permessage-deflate with Debian’s python3-websockets', havePython ? null : 'python3-websockets is not installed (apt-get install python3-websockets; .ci/run does)', () => {
  it('echoes the python client, which offers permessage-deflate by default', async () => {
    const s = await deflateEcho({ threshold: 64 });
    servers.push(s);
    const child = spawn(PYTHON, ['-c', PY_CLIENT, `ws://127.0.0.1:${s.port}/`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout?.on('data', (d) => (out += d));
    child.stderr?.on('data', (d) => (out += d));
    const [code] = (await once(child, 'exit')) as [number];
    assert.equal(code, 0, out);
    assert.match(out, /^extensions permessage-deflate/m);
    assert.match(out, /^echoed 120$/m);
    const st = s.server.stats().websocket?.deflate;
    assert.ok(st !== undefined && st.wireIn < st.plainIn / 2, `python compressed: ${st?.wireIn} of ${st?.plainIn}`);
  });

  it("talks to the python server as a client, taking its window choices (server_max_window_bits=12 though we asked none)", async () => {
    const child = spawn(PYTHON, ['-c', PY_SERVER], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      child.stdout?.on('data', (d) => (out += d));
      child.stderr?.on('data', (d) => (out += d));
      const deadline = Date.now() + 10_000;
      while (!/port (\d+)/.test(out)) {
        if (Date.now() > deadline || child.exitCode !== null) assert.fail(`the python server did not start: ${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      await clientEchoes(`ws://127.0.0.1:${/port (\d+)/.exec(out)?.[1]}/`, true);
    } finally {
      const exited = once(child, 'exit');
      child.kill();
      await exited;
    }
  });
});
