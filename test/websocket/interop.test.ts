/** Peers nobody here wrote talk to the Capstan WebSocket server: the `ws` npm client and Debian's python3-websockets. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import WebSocketClient from 'ws';
import { listen, silentLogger, websocket, type Server, type CloseReason } from '../../src/index.js';

const PYTHON = '/usr/bin/python3';


describe('interop with other WebSocket implementations', () => {
  let server: Server;
  let url: string;
  const closes: Array<{ code: number; cause: CloseReason }> = [];
  const ws = websocket({
    path: '/echo',
    protocols: ['echo'],
    handler: {
      message(s, data, isBinary) {
        s.send(data, isBinary);
      },
      close(_s, code, _reason, cause) {
        closes.push({ code, cause });
      },
    },
  });
  before(async () => {
    server = await listen({ port: 0, logger: silentLogger, websocket: ws });
    url = `ws://127.0.0.1:${(server.address as { port: number }).port}/echo`;
  });
  after(async () => {
    await server.close();
  });

  it('echoes text, binary, empty and 1 MiB-less-a-byte messages to the ws client, and closes with its code', async () => {
    const c = new WebSocketClient(url, ['echo'], { perMessageDeflate: false });
    await once(c, 'open');
    assert.equal(c.protocol, 'echo');
    const sent: Array<[Buffer | string, boolean]> = [
      ['héllo wörld', false],
      [Buffer.from([0, 1, 2, 255]), true],
      ['', false],
      [Buffer.alloc(1024 * 1024 - 1, 0x5a), true],
      ['x'.repeat(70_000), false],
    ];
    const got: Array<[string, boolean]> = [];
    const all = new Promise<void>((resolve) =>
      c.on('message', (data: Buffer, isBinary: boolean) => {
        got.push([isBinary ? data.toString('hex') : data.toString(), isBinary]);
        if (got.length === sent.length) resolve();
      }),
    );
    for (const [m, binary] of sent) c.send(m, { binary });
    await all;
    assert.deepEqual(
      got,
      sent.map(([m, b]) => [b ? (m as Buffer).toString('hex') : m, b]),
    );
    const pong = once(c, 'pong');
    c.ping(Buffer.from('hb'));
    assert.equal(String((await pong)[0]), 'hb');
    c.close(4000, 'bye');
    const [code] = (await once(c, 'close')) as [number];
    assert.equal(code, 4000);
    await waitUntil(() => closes.some((x) => x.code === 4000 && x.cause === 'peer-closed'));
  });

  it('closes a ws client that sends a message over maxMessageBytes with 1009', async () => {
    const c = new WebSocketClient(url, { perMessageDeflate: false });
    await once(c, 'open');
    c.send(Buffer.alloc(1024 * 1024 + 1));
    const [code] = (await once(c, 'close')) as [number];
    assert.equal(code, 1009);
  });

  it('sends 1001 to a ws client when the server shuts down, and the close handshake completes', async () => {
    const other = await listen({ port: 0, logger: silentLogger, websocket: { handler: {} } });
    const c = new WebSocketClient(`ws://127.0.0.1:${(other.address as { port: number }).port}/`, { perMessageDeflate: false });
    await once(c, 'open');
    const closed = once(c, 'close');
    const result = await other.close({ graceMs: 10_000 });
    const [code] = (await closed) as [number];
    assert.equal(code, 1001);
    assert.equal(result.forced, 0);
    assert.equal(other.stats().closes.shutdown, 1);
  });

  it(
    'echoes messages to Debian’s python3-websockets client and completes its close handshake',
    { skip: !existsSync(PYTHON) && process.env.CI !== 'true' ? 'python3-websockets not installed (apt-get install python3-websockets)' : false },
    async () => {
      const script = `
import asyncio, sys, websockets
async def main():
    async with websockets.connect(sys.argv[1], subprotocols=["echo"], compression=None, max_size=2**21) as c:
        assert c.subprotocol == "echo"
        for m in ["hello", b"\\x00\\x01binary", "ü" * 5000, b"z" * 200000]:
            await c.send(m)
            r = await c.recv()
            assert r == m, (type(r), len(r))
        await c.ping(b"x")
    print("ok", c.close_code)
asyncio.run(main())
`;
      const child = spawn(PYTHON, ['-c', script, url], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      const [code] = (await once(child, 'close')) as [number];
      if (code !== 0 && /No module named 'websockets'/.test(err)) assert.fail('python3-websockets is needed: the CI script installs it with apt-get');
      assert.equal(code, 0, err);
      assert.equal(out.trim(), 'ok 1000');
    },
  );
});

async function waitUntil(ok: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('condition not met within 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
}
