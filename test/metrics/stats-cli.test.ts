import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { silentLogger, type Server } from '../../src/index.js';
import { startAdminServer, type AdminServer } from '../../src/metrics/admin-server.js';
import type { ServerSnapshot } from '../../src/metrics/snapshot.js';
import { portOf, waitFor } from '../support/net.js';
import { startLoad } from './load.js';
import { driveEcho, echoServer, localSource } from './support.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const TOKEN = 'stats-cli-token';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `capstan stats …`; a run that outlives `timeoutMs` is killed (and fails the test). */
function runStats(args: string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'stats', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`capstan stats ${args.join(' ')} did not finish within ${timeoutMs} ms; stdout: ${stdout}`));
    }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('capstan stats', () => {
  let server: Server;
  let open: AdminServer;
  let locked: AdminServer;
  let openUrl: string;
  let lockedUrl: string;

  before(async () => {
    server = await echoServer('cli-echo');
    await driveEcho(portOf(server), 2, 10, 20);
    // The clients are gone once driveEcho returns; the server counts a close a moment later, and the
    // table below expects an idle listener.
    await waitFor(() => server.stats().active === 0, 30_000, 'connections to close');
    const source = localSource(new Map([['cli-echo', server]]));
    open = await startAdminServer({ port: 0, logger: silentLogger, source });
    locked = await startAdminServer({ port: 0, token: TOKEN, logger: silentLogger, source });
    openUrl = `http://127.0.0.1:${open.address.port}`;
    lockedUrl = `http://127.0.0.1:${locked.address.port}`;
  });

  after(async () => {
    await open.close();
    await locked.close();
    await server.close();
  });

  it('prints one snapshot as JSON with --json and exits 0', async () => {
    const run = await runStats(['--url', openUrl, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const snap = JSON.parse(run.stdout) as ServerSnapshot;
    assert.equal(snap.combined.listeners['cli-echo']?.accepted, 2);
    assert.equal(snap.workers[0]?.pid, process.pid);
  });

  it('draws a refreshing table of listeners and workers, with rates, for --count refreshes', async () => {
    const run = await runStats(['--url', openUrl, '--interval', '0.2', '--count', '2']);
    assert.equal(run.code, 0, run.stderr);
    const frames = run.stdout.split('capstan stats  ').filter((f) => f.length > 0);
    assert.equal(frames.length, 2);
    for (const f of frames) {
      assert.match(f, /LISTENER\s+ACTIVE\s+ACCEPT\/s\s+MSGS IN\/s/);
      assert.match(f, /^cli-echo\s+0\s+0\s+0\s+0\s+0 B\s+0 B/m, 'an idle listener shows zero rates');
      assert.match(f, /WORKER\s+PID/);
      assert.match(f, new RegExp(`^main\\s+${process.pid}\\s`, 'm'));
    }
  });

  it('uses the token from --token or CAPSTAN_ADMIN_TOKEN', async () => {
    assert.equal((await runStats(['--url', lockedUrl, '--json', '--token', TOKEN])).code, 0);
    assert.equal((await runStats(['--url', lockedUrl, '--json'], { CAPSTAN_ADMIN_TOKEN: TOKEN })).code, 0);
  });

  it('exits 1 with a clear message when the token is missing', async () => {
    const run = await runStats(['--url', lockedUrl, '--json'], { CAPSTAN_ADMIN_TOKEN: '' });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /needs a token: pass --token or set CAPSTAN_ADMIN_TOKEN/);
  });

  it('says the token was rejected, not that one is needed, when the token is wrong', async () => {
    const flag = await runStats(['--url', lockedUrl, '--json', '--token', `${TOKEN}-wrong`]);
    assert.equal(flag.code, 1);
    assert.match(flag.stderr, /^capstan stats: http:\/\/127\.0\.0\.1:\d+ rejected the token from --token: check it against the server's admin\.token$/m);
    assert.doesNotMatch(flag.stderr, /needs a token/);
    const env = await runStats(['--url', lockedUrl, '--count', '1', '--interval', '0.1'], { CAPSTAN_ADMIN_TOKEN: 'wrong' });
    assert.equal(env.code, 1);
    assert.match(env.stderr, /rejected the token from CAPSTAN_ADMIN_TOKEN/);
  });

  it('shows real rates with --count 1, from two samples an interval apart, while traffic flows', async () => {
    const busy = await echoServer('cli-busy');
    const admin = await startAdminServer({ port: 0, logger: silentLogger, source: localSource(new Map([['cli-busy', busy]])) });
    const load = await startLoad({ ports: [portOf(busy)], connections: 2, burst: 5, maxMs: 60_000 });
    try {
      const run = await runStats(['--url', `http://127.0.0.1:${admin.address.port}`, '--count', '1', '--interval', '0.5']);
      assert.equal(run.code, 0, run.stderr);
      const row = /^cli-busy\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+ \S?i?B)\s+(\S+ \S?i?B)/m.exec(run.stdout);
      assert.ok(row !== null, run.stdout);
      const [, active, , msgsIn, msgsOut, bytesIn] = row;
      assert.equal(active, '2');
      // 2 connections × 5 frames every 20 ms is about 500 frames/s; a loaded machine sends fewer, never none.
      for (const [what, v] of [['msgs in', msgsIn], ['msgs out', msgsOut], ['bytes in', bytesIn]] as const) {
        assert.ok(!/^(0|0 B|–)$/.test(v as string), `${what}/s is a real rate, got ${String(v)}\n${run.stdout}`);
      }
    } finally {
      await load.stop();
      await admin.close();
      await busy.close();
    }
  });

  it('exits 1 with a clear message when no server answers', async () => {
    const gone = await startAdminServer({ port: 0, logger: silentLogger, source: localSource(new Map()) });
    const url = `http://127.0.0.1:${gone.address.port}`;
    await gone.close();
    for (const args of [['--json'], ['--count', '1']]) {
      const run = await runStats(['--url', url, ...args]);
      assert.equal(run.code, 1);
      assert.match(run.stderr, /cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
      assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
    }
  });

  it('exits 2 with the problem and where the help is on a bad option', async () => {
    const run = await runStats(['--interval', 'soon']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^capstan stats: --interval must be a number of seconds/);
    assert.match(run.stderr, /^Run "capstan stats --help" for the options\.$/m);
  });
});
