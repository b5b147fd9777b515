import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import tls from 'node:tls';
import { lp4, rawConnect } from '../support/net.js';
import { wsConnect } from '../support/ws-client.js';
import { udpEcho } from '../support/udp.js';
import { defaultPortsFree, lp4Frames, startServe, startServeShifted, type CliRun } from './support.js';

async function lp4Echo(port: number, payload: string): Promise<string> {
  const peer = await rawConnect({ host: '127.0.0.1', port });
  peer.socket.write(lp4(payload));
  const got = await peer.waitBytes(4 + Buffer.byteLength(payload));
  peer.socket.destroy();
  return lp4Frames(got)[0]?.toString() ?? '';
}

async function lineEcho(port: number, line: string): Promise<string> {
  const peer = await rawConnect({ host: '127.0.0.1', port });
  peer.socket.write(`${line}\n`);
  const got = await peer.waitBytes(Buffer.byteLength(line) + 2);
  peer.socket.destroy();
  return got.toString();
}

/** The peer bytes that once made the built-in line echo throw: a bare CR inside a line. */
async function bareCrEcho(port: number): Promise<{ got: string; how: string }> {
  const peer = await rawConnect({ host: '127.0.0.1', port });
  peer.socket.end('hello\na\rb\nafter\n');
  const how = await peer.ended;
  return { got: peer.received().toString(), how };
}

async function tlsEcho(port: number, payload: string): Promise<{ reply: string; subject: string | undefined }> {
  // The default listener's certificate is self-signed, so there is no CA to verify against.
  const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false });
  await once(socket, 'secureConnect');
  const subject = socket.getPeerCertificate().subject?.CN;
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.write(lp4(payload));
  const deadline = Date.now() + 30_000;
  while (lp4Frames(Buffer.concat(chunks)).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  socket.destroy();
  return { reply: lp4Frames(Buffer.concat(chunks))[0]?.toString() ?? '', subject: Array.isArray(subject) ? subject[0] : subject };
}

/** Text and binary through the WebSocket echo, each back with its own opcode; with permessage-deflate negotiated, as the default config has it. */
async function wsEcho(port: number): Promise<void> {
  const peer = await wsConnect(`ws://127.0.0.1:${port}/any/path`, [], { perMessageDeflate: { threshold: 0 } });
  assert.match(peer.socket.extensions, /permessage-deflate/);
  peer.socket.send('ws hello');
  peer.socket.send(Buffer.from([7, 0, 7]));
  peer.socket.send('compressible '.repeat(200));
  assert.deepEqual(await peer.received(3), [
    { data: 'ws hello', isBinary: false },
    { data: '070007', isBinary: true },
    { data: 'compressible '.repeat(200), isBinary: false },
  ]);
  assert.equal((await peer.close()).code, 1000);
}

async function checkDefaultServer(run: CliRun, offset: number): Promise<void> {
  const listeners = run.listeners();
  assert.deepEqual(
    [...listeners.values()].map((l) => [l.name, l.transport, `${l.host}:${l.port}`]),
    [
      ['echo-lp4', 'tcp', `127.0.0.1:${7000 + offset}`],
      ['echo-line', 'tcp', `127.0.0.1:${7001 + offset}`],
      ['echo-tls', 'tls', `127.0.0.1:${7443 + offset}`],
      ['echo-udp', 'udp', `127.0.0.1:${7002 + offset}`],
      ['echo-ws', 'tcp', `127.0.0.1:${7080 + offset}`],
    ],
  );
  assert.equal(await udpEcho(7002 + offset, 'datagram hello'), 'datagram hello');
  assert.equal(await lp4Echo(7000 + offset, 'framed hello'), 'framed hello');
  assert.equal(await lineEcho(7001 + offset, 'line hello'), 'line hello\r\n');
  assert.deepEqual(await bareCrEcho(7001 + offset), { got: 'hello\r\na\rb\r\nafter\r\n', how: 'end' });
  assert.deepEqual(await tlsEcho(7443 + offset, 'secret hello'), { reply: 'secret hello', subject: 'localhost' });
  await wsEcho(7080 + offset);
  assert.equal(run.adminUrl(), `http://127.0.0.1:${9100 + offset}/`);
  const health = await fetch(`${run.adminUrl()}healthz`);
  assert.equal(health.status, 200);
  const stats = (await (await fetch(`${run.adminUrl()}stats.json`)).json()) as { combined: { listeners: Record<string, { accepted: number; handlerErrors: number }> } };
  assert.deepEqual(
    Object.entries(stats.combined.listeners).map(([name, l]) => [name, l.accepted, l.handlerErrors]),
    [
      ['echo-lp4', 1, 0],
      ['echo-line', 2, 0],
      ['echo-tls', 1, 0],
      ['echo-udp', 1, 0],
      ['echo-ws', 1, 0],
    ],
  );
}

describe('capstan serve with no config', () => {
  const runs: CliRun[] = [];
  after(async () => {
    await Promise.all(runs.map((r) => r.kill()));
  });

  it('serves every default listener and the admin endpoint (ports shifted by --port-offset)', async () => {
    const { run, offset } = await startServeShifted();
    runs.push(run);
    await checkDefaultServer(run, offset);
    assert.ok(
      run.logs().some((r) => r.listener === 'echo-tls' && /self-signed certificate/.test(String(r.msg))),
      'logs that it generated a self-signed certificate',
    );
    run.child.kill('SIGTERM');
    assert.deepEqual(await run.exited, { code: 0, signal: null });
  });

  it('serves on the real default ports 7000, 7001, 7443, 7080, 9100 and UDP 7002 when they are free', async (t) => {
    const busy = await defaultPortsFree(0);
    if (busy.length > 0) return t.skip(`default ports busy here: ${busy.join(', ')}`);
    const run = await startServe([]);
    runs.push(run);
    await checkDefaultServer(run, 0);
    run.child.kill('SIGINT');
    assert.deepEqual(await run.exited, { code: 0, signal: null });
  });
});
