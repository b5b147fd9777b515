/** The WebSocket client against servers nobody here wrote: the `ws` npm package and Debian's python3-websockets. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket as WsSocket } from 'ws';
import { connectWebSocket, isCapstanError, silentLogger } from '../../src/index.js';
import { recorder } from './client-support.js';

const quiet = { logger: silentLogger };

describe('the WebSocket client against the ws server', () => {
  let wss: WebSocketServer;
  let url: string;
  const serverSide: Array<{ sock: WsSocket; headers: Record<string, string | string[] | undefined> }> = [];
  const serverCloses: Array<{ code: number; reason: string }> = [];
  before(async () => {
    wss = new WebSocketServer({
      port: 0,
      host: '127.0.0.1',
      perMessageDeflate: false,
      maxPayload: 2 * 1024 * 1024,
      handleProtocols: (offered) => (offered.has('echo') ? 'echo' : false),
      verifyClient: (info: { req: { headers: Record<string, string | string[] | undefined> } }) => info.req.headers['authorization'] !== 'Bearer no',
    });
    await once(wss, 'listening');
    url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
    wss.on('connection', (sock, req) => {
      serverSide.push({ sock, headers: req.headers });
      sock.on('message', (data: Buffer, isBinary: boolean) => {
        const text = isBinary ? '' : data.toString();
        if (text === 'fragments please') {
          sock.send('one ', { fin: false });
          sock.send('two ', { fin: false });
          sock.send('three', { fin: true });
        } else if (text === 'ping me') sock.ping('ws-ping');
        else if (text === 'close me') sock.close(4003, 'ws bye');
        else sock.send(data, { binary: isBinary });
      });
      sock.on('close', (code: number, reason: Buffer) => void serverCloses.push({ code, reason: reason.toString() }));
    });
  });
  after(async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
  });

  it('echoes text, binary, 16- and 64-bit lengths and 1 MiB, with the subprotocol and headers ws saw', async () => {
    const r = recorder();
    const client = await connectWebSocket({ url: `${url}/any?x=1`, protocols: ['other', 'echo'], headers: { 'X-Test': 'yes' }, handler: r.handler, ...quiet });
    assert.equal(client.socket?.protocol, 'echo');
    assert.equal(serverSide.at(-1)?.headers['x-test'], 'yes');
    const sent: Array<[Buffer | string, boolean]> = [
      ['héllo', false],
      [Buffer.from([0, 255, 1]), true],
      ['', false],
      ['x'.repeat(300), false],
      [Buffer.alloc(70_000, 3), true],
      [Buffer.alloc(1024 * 1024, 0x5a), true],
    ];
    for (const [m, b] of sent) client.send(m, b);
    await r.until(() => r.messages.length === sent.length, 'every echo');
    assert.deepEqual(
      r.messages.map((m) => [m.isBinary ? m.data.toString('hex') : m.data.toString(), m.isBinary]),
      sent.map(([m, b]) => [b ? Buffer.from(m).toString('hex') : m.toString(), b]),
    );
    await client.close();
  });

  it('joins a message ws sends in three fragments, answers its ping and gets the pong to its own', async () => {
    const r = recorder();
    const client = await connectWebSocket({ url, handler: r.handler, ...quiet });
    const sock = serverSide.at(-1)?.sock;
    assert.ok(sock !== undefined);
    const pong = once(sock, 'pong');
    client.send('fragments please');
    client.send('ping me');
    await r.until(() => r.messages.length === 1 && r.pings.length === 1, 'the message and the ping');
    assert.equal(r.messages[0]?.data.toString(), 'one two three');
    assert.equal(String((await pong)[0]), 'ws-ping');
    client.ping('mine');
    await r.until(() => r.pongs.length === 1, 'our pong');
    assert.deepEqual(r.pongs, ['mine']);
    await client.close();
  });

  it('exchanges close codes and reasons with ws both ways', async () => {
    const r = recorder();
    const client = await connectWebSocket({ url, handler: r.handler, ...quiet });
    client.send('close me');
    await r.until(() => r.closes.length === 1, 'the close ws started');
    assert.deepEqual(r.closes[0], { code: 4003, reason: 'ws bye', cause: 'peer-closed' });
    await client.close();
    const n = serverCloses.length;
    const r2 = recorder();
    const second = await connectWebSocket({ url, handler: r2.handler, ...quiet });
    await second.close(4004, 'client bye');
    await r2.until(() => serverCloses.length > n, 'the close at ws');
    assert.deepEqual(serverCloses[n], { code: 4004, reason: 'client bye' });
    assert.equal(r2.closes[0]?.code, 4004);
    assert.equal(r2.closes[0]?.cause, 'local-end');
  });

  it('fails with ERR_WS_HANDSHAKE and the status when ws refuses the upgrade', async () => {
    await assert.rejects(
      connectWebSocket({ url, headers: { Authorization: 'Bearer no' }, handler: {}, ...quiet }),
      (err: unknown) => isCapstanError(err, 'ERR_WS_HANDSHAKE') && err.actual === 401,
    );
  });
});

const PYTHON = '/usr/bin/python3';
const havePython = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import websockets'], { stdio: 'ignore' }).status === 0;
// CI installs the package, so there a missing one must fail the run rather than skip quietly.
const pythonSkip = !havePython && process.env.CI !== 'true' ? 'python3-websockets is not installed (apt-get install python3-websockets)' : false;

const PY_SERVER = `
import asyncio, sys, websockets
async def echo(ws, path=None):
    try:
        async for m in ws:
            if m == "close me":
                await ws.close(4005, "py bye")
                break
            if m == "ping me":
                await ws.ping(b"py-ping")
                continue
            await ws.send(m)
    finally:
        await ws.wait_closed()
        print("closed", ws.close_code, ws.close_reason, flush=True)
async def main():
    async with websockets.serve(echo, "127.0.0.1", 0, compression=None, subprotocols=["echo"], max_size=2**21) as server:
        print("port", server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()
asyncio.run(main())
`;

describe('the WebSocket client against Debian’s python3-websockets server', { skip: pythonSkip }, () => {
  let child: ReturnType<typeof spawn>;
  let url: string;
  let out = '';
  before(async () => {
    if (!havePython) assert.fail('python3-websockets is needed here: the CI script installs it with apt-get');
    child = spawn(PYTHON, ['-c', PY_SERVER], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr?.on('data', (d) => (err += d));
    child.stdout?.on('data', (d) => (out += d));
    const deadline = Date.now() + 10_000;
    while (!/port (\d+)/.test(out)) {
      if (Date.now() > deadline || child.exitCode !== null) assert.fail(`the python server did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    url = `ws://127.0.0.1:${/port (\d+)/.exec(out)?.[1]}/`;
  });
  after(async () => {
    if (child === undefined || child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill();
    await exited;
  });

  it('echoes text, binary and large messages with the subprotocol python chose, and answers its ping', async () => {
    const r = recorder();
    const client = await connectWebSocket({ url, protocols: ['echo'], handler: r.handler, ...quiet });
    assert.equal(client.socket?.protocol, 'echo');
    const sent: Array<[Buffer | string, boolean]> = [
      ['hello', false],
      [Buffer.from('\x00\x01binary'), true],
      ['ü'.repeat(5000), false],
      [Buffer.alloc(200_000, 0x7a), true],
    ];
    for (const [m, b] of sent) client.send(m, b);
    client.send('ping me');
    await r.until(() => r.messages.length === sent.length && r.pings.length === 1, 'every echo and the ping');
    assert.deepEqual(
      r.messages.map((m) => [m.isBinary ? m.data.toString('hex') : m.data.toString(), m.isBinary]),
      sent.map(([m, b]) => [b ? Buffer.from(m).toString('hex') : m.toString(), b]),
    );
    assert.deepEqual(r.pings, ['py-ping']);
    client.ping('x');
    await r.until(() => r.pongs.length === 1, 'our pong');
    await client.close(4006, 'node bye');
    await r.until(() => out.includes('closed 4006 node bye'), 'python to report our close');
  });

  it('echoes the close python starts, and python closes TCP first so close() does not wait out closeTimeoutMs', async () => {
    const r = recorder();
    const client = await connectWebSocket({ url, closeTimeoutMs: 30_000, handler: r.handler, ...quiet });
    client.send('close me');
    // The close is reported once TCP is gone: within the 10 s wait only if python, not our 30 s timeout, closed it.
    await r.until(() => r.closes.length === 1, 'the close python started');
    assert.deepEqual(r.closes[0], { code: 4005, reason: 'py bye', cause: 'peer-closed' });
    await client.close();
    const r2 = recorder();
    const second = await connectWebSocket({ url, closeTimeoutMs: 30_000, handler: r2.handler, ...quiet });
    const t0 = Date.now();
    await second.close();
    assert.ok(Date.now() - t0 < 10_000, 'python closed TCP after the exchange');
    assert.deepEqual(r2.closes[0], { code: 1000, reason: '', cause: 'local-end' });
  });
});
