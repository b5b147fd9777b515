import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { lp4, rawConnect } from '../support/net.js';
import { hangUp, lp4Frames, occupiedPort, replaceWorker, runCli, staleSocket, startServe, tempDir, type CliRun } from './support.js';

const tmp = tempDir('capstan-preflight-');
const runs: CliRun[] = [];
after(async () => {
  await Promise.all(runs.map((r) => r.kill()));
  tmp.cleanup();
});

function config(listeners: string[]): string {
  return ['workers: 2', 'admin: false', 'listeners:', ...listeners.map((l) => `  - ${l}`)].join('\n');
}

const KEEP = '{ name: keep, port: 0, codec: lp4, plugin: echo }';

async function echoes(where: net.NetConnectOpts, text: string): Promise<boolean> {
  const peer = await rawConnect(where);
  peer.socket.write(lp4(text));
  const got = await peer.waitBytes(4 + Buffer.byteLength(text));
  peer.socket.destroy();
  return lp4Frames(got)[0]?.toString() === text;
}

function refused(where: net.NetConnectOpts): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(where);
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

describe('workers and the addresses they share', () => {
  it('serve a Unix socket after the primary removed the stale socket file a killed server left', async () => {
    const path = join(tmp.dir, 'stale-at-start.sock');
    staleSocket(path);
    assert.equal(await refused({ path }), 'ECONNREFUSED', 'the fixture is a socket file nobody answers on');
    const run = await startServe(['--config', tmp.write('stale.yaml', config([`{ name: local, path: ${path}, codec: lp4, plugin: echo }`]))]);
    runs.push(run);
    for (let i = 0; i < 6; i++) assert.ok(await echoes({ path }, `over unix ${i}`));
    run.child.kill('SIGTERM');
    assert.deepEqual(await run.exited, { code: 0, signal: null });
    assert.equal(existsSync(path), false, 'the socket file is removed at the end');
  });

  it('do not start when another server answers on the socket path, and leave that server alone', async () => {
    const path = join(tmp.dir, 'live.sock');
    // The primary's probe connects and leaves at once: the write to it may fail, which is fine.
    const other = net.createServer((s) => s.on('error', () => {}).end('other\n'));
    await new Promise<void>((resolve) => other.listen(path, resolve));
    try {
      const run = runCli(['serve', '--config', tmp.write('live.yaml', config([`{ name: local, path: ${path}, codec: lp4, plugin: echo }`]))]);
      runs.push(run);
      assert.deepEqual(await run.exited, { code: 1, signal: null });
      assert.match(run.err.join('\n'), /cannot start: listen local: another server is listening on .*live\.sock/);
      assert.equal(run.logs().filter((r) => r.workerId !== undefined).length, 0, 'no worker was started');
      const peer = await rawConnect({ path });
      assert.equal((await peer.waitBytes(6)).toString(), 'other\n');
      peer.socket.destroy();
    } finally {
      other.close();
    }
  });

  it('serve a Unix socket a reload adds, at a path where a killed server left its socket file', async () => {
    const path = join(tmp.dir, 'stale-at-reload.sock');
    const file = tmp.write('add-unix.yaml', config([KEEP]));
    const run = await startServe(['--config', file]);
    runs.push(run);
    staleSocket(path);
    tmp.write('add-unix.yaml', config([KEEP, `{ name: local, path: ${path}, codec: lp4, plugin: echo }`]));
    assert.equal((await hangUp(run)).line, 'reloaded');
    for (let i = 0; i < 6; i++) assert.ok(await echoes({ path }, `added ${i}`));
    run.child.kill('SIGTERM');
    assert.deepEqual(await run.exited, { code: 0, signal: null });
  });

  it('refuse a reload whose port is taken before any worker tries it, so workers started later still share the port once it is free', async () => {
    const { port, release } = await occupiedPort();
    const file = tmp.write('taken.yaml', config([KEEP]));
    const run = await startServe(['--config', file]);
    runs.push(run);
    const clash = `{ name: clash, port: ${port}, codec: lp4, plugin: echo }`;
    tmp.write('taken.yaml', config([KEEP, clash]));
    assert.match((await hangUp(run)).line, new RegExp(`^reload failed, still running the previous config: listen clash: cannot bind 127\\.0\\.0\\.1:${port}: the address is in use`));
    assert.ok(!run.logs().some((r) => r.worker !== 'primary' && r.listener === 'clash'), 'no worker tried to bind it');

    await release();
    assert.equal((await hangUp(run)).line, 'reloaded');
    const where = { host: '127.0.0.1', port };
    assert.ok(await echoes(where, 'now it is free'));
    // A worker that starts now opens its listeners afresh; it must land on the primary's socket for the port.
    await replaceWorker(run, '1');
    for (let i = 0; i < 4; i++) assert.ok(await echoes(where, `after the replacement ${i}`));
    run.child.kill('SIGTERM');
    assert.deepEqual(await run.exited, { code: 0, signal: null });
  });
});
