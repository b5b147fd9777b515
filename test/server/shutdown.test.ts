import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { lp4, rawConnect, type RawPeer } from '../support/net.js';
import { lp4Frames, startServe, tempDir, type CliRun } from './support.js';

const tmp = tempDir('capstan-shutdown-');
const runs: CliRun[] = [];
after(async () => {
  await Promise.all(runs.map((r) => r.kill()));
  tmp.cleanup();
});

/**
 * Quiet means nothing read for quietMs. A second is twenty times the chatty peer's interval, so a
 * loaded machine that keeps this process or the server off the CPU for a while does not make the
 * chatty peer look quiet, nor end a connection whose frames still wait unread in the kernel.
 */
function echoConfig(graceMs: number, listener = '{ name: echo, port: 0, codec: lp4, plugin: echo }'): string {
  return ['listeners:', `  - ${listener}`, 'admin: false', `shutdown: { graceMs: ${graceMs}, quietMs: 1000 }`].join('\n');
}

/** A connection that sends a frame every 50 ms, so it never goes quiet; `stop` ends it. */
async function chattyPeer(run: CliRun): Promise<{ peer: RawPeer; stop(): void }> {
  const peer = await rawConnect({ host: '127.0.0.1', port: run.listeners().get('echo')?.port as number });
  const timer = setInterval(() => peer.socket.write(lp4('busy')), 50);
  await peer.waitBytes(8);
  return {
    peer,
    stop() {
      clearInterval(timer);
      peer.socket.destroy();
    },
  };
}

function writeAll(socket: net.Socket, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => socket.write(data, (err) => (err ? reject(err) : resolve())));
}

const CASES = [
  { transport: 'tcp', workers: 1 },
  { transport: 'tcp', workers: 2 },
  { transport: 'unix', workers: 2 },
] as const;

describe('SIGTERM', () => {
  for (const { transport, workers } of CASES) {
  it(`answers every message sent before the signal, then exits 0 within the grace period (${transport}, ${workers === 1 ? 'one process' : `${workers} workers`})`, async () => {
    const graceMs = 20_000;
    const listener = transport === 'unix' ? '{ name: echo, transport: unix, path: echo.sock, codec: lp4, plugin: echo }' : undefined;
    const run = await startServe(['--config', tmp.write(`echo-${transport}.yaml`, echoConfig(graceMs, listener)), '--workers', String(workers)]);
    runs.push(run);
    const printed = run.listeners().get('echo');
    const where = transport === 'unix' ? { path: printed?.path as string } : { host: '127.0.0.1', port: printed?.port as number };
    const CONNECTIONS = 50;
    const MESSAGES = 200;
    const peers: RawPeer[] = [];
    for (let c = 0; c < CONNECTIONS; c++) {
      const peer = await rawConnect(where);
      // One round trip first: the server has accepted the connection, not just the kernel.
      peer.socket.write(lp4('ping'));
      await peer.waitBytes(8);
      peers.push(peer);
    }
    const expected = peers.map((_, c) => Array.from({ length: MESSAGES }, (_, i) => `c${c}-m${i}-${'x'.repeat(i % 50)}`));
    // Hand every message to the kernel (write callbacks), then signal while they are still in flight.
    await Promise.all(peers.map((p, c) => writeAll(p.socket, Buffer.concat((expected[c] as string[]).map((m) => lp4(m))))));
    const signalledAt = Date.now();
    run.child.kill('SIGTERM');

    const results = await Promise.all(peers.map((p) => p.ended));
    const exit = await run.exited;
    const tookMs = Date.now() - signalledAt;

    peers.forEach((p, c) => {
      const replies = lp4Frames(p.received()).map((f) => f.toString());
      assert.equal(replies.length, MESSAGES + 1, `connection ${c} got every reply`);
      assert.deepEqual(replies.slice(1), expected[c]);
    });
    assert.ok(
      results.every((r) => r === 'end'),
      'every connection ended with FIN, none reset',
    );
    assert.deepEqual(exit, { code: 0, signal: null });
    if (transport === 'unix') assert.equal(existsSync(where.path as string), false, 'the socket file is gone');
    assert.ok(tookMs < graceMs, `exited after ${tookMs} ms, within the ${graceMs} ms grace period`);
    const stopped = run.logs().filter((r) => r.msg === 'stopped' && r.listener === 'echo');
    assert.equal(stopped.length, workers);
    assert.ok(
      stopped.every((r) => (r.ended as number) > 0),
      'every worker served some of the connections',
    );
    assert.equal(
      stopped.reduce((n, r) => n + (r.ended as number), 0),
      CONNECTIONS,
    );
    assert.ok(!run.logs().some((r) => typeof r.forced === 'number' && r.forced > 0), 'nothing was closed by force');
    const summary = run.logs().find((r) => r.msg === 'stopped' && r.listener === undefined && r.worker === (workers === 1 ? 'main' : 'primary'));
    assert.equal(summary?.ended, CONNECTIONS, 'the final log line counts every connection');
  });
  }

  it('stops accepting, ends connections that slipped in gracefully, and force-closes one that never goes quiet, logging how many', async () => {
    const run = await startServe(['--config', tmp.write('short-grace.yaml', echoConfig(3_000))]);
    runs.push(run);
    const port = run.listeners().get('echo')?.port as number;
    const chatty = await chattyPeer(run);
    try {
      run.child.kill('SIGTERM');
      await run.waitForOut(/^shutting down \(SIGTERM\)$/);
      // The listener first takes what is already in its accept queue and drains it (those peers get
      // a FIN); one that arrives as the socket closes is reset by the kernel. Then new ones are refused.
      for (const deadline = Date.now() + 30_000; ; ) {
        assert.ok(Date.now() < deadline, 'new connections are refused soon after the signal');
        // Bounded: once the server has exited, whatever still holds a connection to this port number is
        // not it (another process that took the freed port, or a socket connected to itself), and the
        // loop goes on until a connect is refused.
        const outcome = await rawConnect({ host: '127.0.0.1', port }).then(
          (peer) =>
            Promise.race([peer.ended, new Promise<'open'>((r) => setTimeout(() => r('open'), 20_000).unref())]).finally(() => peer.socket.destroy()),
          (err: NodeJS.ErrnoException) => err.code,
        );
        if (outcome === 'open') {
          assert.notEqual(run.child.exitCode, null, 'a connection made after the signal stayed open while the server ran');
          continue;
        }
        if (outcome === 'ECONNREFUSED') break;
        assert.ok(['end', 'reset', 'ECONNRESET'].includes(String(outcome)), `a connection made after the signal is drained or reset, got ${outcome}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(await run.exited, { code: 0, signal: null });
    } finally {
      chatty.stop();
    }
    const stopped = run.logs().find((r) => r.listener === 'echo' && typeof r.forced === 'number');
    assert.equal(stopped?.forced, 1);
    assert.match(String(stopped?.msg), /1 connection\(s\) closed by force at the 3000 ms deadline/);
  });

  it('exits at once on a second signal during the drain', async () => {
    const run = await startServe(['--config', tmp.write('long-grace.yaml', echoConfig(60_000))]);
    runs.push(run);
    const chatty = await chattyPeer(run);
    try {
      run.child.kill('SIGTERM');
      await run.waitForOut(/^shutting down/);
      run.child.kill('SIGINT');
      assert.deepEqual(await run.exited, { code: 1, signal: null });
    } finally {
      chatty.stop();
    }
    assert.ok(run.logs().some((r) => /second stop signal/.test(String(r.msg))));
  });
});
