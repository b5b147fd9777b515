import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { lp4, rawConnect, type RawPeer } from '../support/net.js';

const fixture = fileURLToPath(new URL('./fixtures/emfile-server.js', import.meta.url));

interface Stats {
  active: number;
  accepted: number;
  refused: Record<string, number>;
  acceptErrors: Record<string, number>;
  logged: Record<string, number>;
}

/** Starts the fixture under `ulimit -n <limit>` with its arguments (see fixtures/emfile-server.ts). */
async function startServer(
  args: string[],
  limit = 200,
): Promise<{ child: ChildProcess; port: number; adminPort: number; stats(): Promise<Stats>; exit(): Promise<number | null> }> {
  const child = spawn('bash', ['-c', `ulimit -n ${limit} && exec "${process.execPath}" "${fixture}" ${args.join(' ')}`], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const waiting: Array<(line: string) => void> = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const next = () => new Promise<string>((resolve) => waiting.push(resolve));
  const { port, adminPort } = JSON.parse(await next()) as { port: number; adminPort: number };
  return {
    child,
    port,
    adminPort,
    async stats() {
      const p = next();
      child.stdin?.write('stats\n');
      return JSON.parse(await p) as Stats;
    },
    exit() {
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.stdin?.write('exit\n');
      return exited;
    },
  };
}

/** One echo; a connection the server turns away is closed, which ends the wait at once. */
async function exchange(p: RawPeer): Promise<boolean> {
  try {
    p.socket.write(lp4('ping'));
    await p.waitBytes(8);
    return true;
  } catch {
    return false;
  }
}

/** Opens `n` connections, each either accepted and echoing or turned away. */
async function flood(port: number, n: number): Promise<{ peers: RawPeer[]; served: number }> {
  const peers: RawPeer[] = [];
  await Promise.allSettled(Array.from({ length: n }, () => rawConnect({ port }).then((p) => void peers.push(p))));
  const results = await Promise.all(peers.map(exchange));
  return { peers, served: results.filter(Boolean).length };
}

async function releaseAll(server: { stats(): Promise<Stats> }, peers: RawPeer[]): Promise<void> {
  for (const p of peers) p.socket.destroy();
  const deadline = Date.now() + 30_000;
  while ((await server.stats()).active > 0) {
    if (Date.now() > deadline) assert.fail('connections were not released');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('running out of file descriptors', () => {
  let child: ChildProcess | null = null;
  afterEach(() => child?.kill('SIGKILL'));

  it('refuses connections beyond the descriptor budget with a counter, and serves again once they free up', async () => {
    const server = await startServer([]);
    child = server.child;
    const { peers, served } = await flood(server.port, 260);
    const stats = await server.stats();
    assert.ok((stats.refused["fd-limit"] ?? 0) > 0, `refusals counted: ${JSON.stringify(stats.refused)}`);
    assert.ok((stats.logged['refusing a connection'] ?? 0) > 0, `refusals logged: ${JSON.stringify(stats.logged)}`);
    assert.ok(served > 100 && served < 260, `served ${served} of 260`);
    await releaseAll(server, peers);
    const again = await flood(server.port, 20);
    assert.equal(again.served, 20, 'every new connection is served after recovery');
    for (const p of again.peers) p.socket.end();
    assert.equal(await server.exit(), 0, 'the server never crashed and exits cleanly');
    child = null;
  });

  it('counts descriptors it did not open (files here) in the budget, so every connection is served or refused, counted and logged', async () => {
    // 120 of the 200 descriptors are taken by files the listener knows nothing about.
    const server = await startServer(['--hog', '120']);
    child = server.child;
    const { peers, served } = await flood(server.port, 200);
    const stats = await server.stats();
    assert.ok(served > 0 && served < 200, `served ${served} of 200`);
    assert.equal(stats.accepted + (stats.refused['fd-limit'] ?? 0), 200, `every connection reached the listener: ${JSON.stringify(stats)}`);
    assert.deepEqual(stats.acceptErrors, {}, 'the kernel never ran out first');
    assert.ok((stats.logged['refusing a connection'] ?? 0) > 0);
    await releaseAll(server, peers);
    assert.equal((await flood(server.port, 20)).served, 20);
    assert.equal(await server.exit(), 0);
    child = null;
  });

  it('counts the admin endpoint\'s connections in the budget: 60 idle admin clients under ulimit -n 256 leave nothing shed unseen', async () => {
    const server = await startServer(['--admin'], 256);
    child = server.child;
    // Several source addresses: the admin endpoint caps connections per address.
    const idle: net.Socket[] = [];
    for (let i = 0; i < 60; i++) {
      const s = net.connect({ port: server.adminPort, host: '127.0.0.1', localAddress: `127.0.0.${2 + (i % 6)}` });
      s.on('error', () => {});
      await once(s, 'connect');
      idle.push(s);
    }
    const { peers, served } = await flood(server.port, 400);
    const stats = await server.stats();
    assert.ok(served > 0, `served ${served}`);
    assert.equal(stats.accepted + (stats.refused['fd-limit'] ?? 0), 400, `every connection reached the listener, none was shed unseen: ${JSON.stringify(stats)}`);
    assert.ok((stats.refused['fd-limit'] ?? 0) > 0 && (stats.logged['refusing a connection'] ?? 0) > 0, 'refused, counted and logged');
    for (const s of idle) s.destroy();
    await releaseAll(server, peers);
    assert.equal(await server.exit(), 0);
    child = null;
  });

  it('survives the kernel running out of descriptors first (EMFILE) and recovers', async () => {
    // 120 descriptors taken behind the budget's back, just after it counted: the kernel says EMFILE first.
    const server = await startServer(['--hog-on-open', '120']);
    child = server.child;
    const { peers, served } = await flood(server.port, 200);
    assert.ok(served > 0 && served < 200, `served ${served} of 200 before EMFILE`);
    await releaseAll(server, peers);
    const again = await flood(server.port, 20);
    assert.equal(again.served, 20, 'every new connection is served after recovery');
    for (const p of again.peers) p.socket.end();
    assert.equal(await server.exit(), 0, 'the server never crashed and exits cleanly');
    child = null;
  });
});
