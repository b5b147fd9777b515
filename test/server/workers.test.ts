import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lp4, rawConnect } from '../support/net.js';
import { lp4Frames, startServe, tempDir, type CliRun } from './support.js';

const tmp = tempDir('capstan-workers-');
const runs: CliRun[] = [];
after(async () => {
  await Promise.all(runs.map((r) => r.kill()));
  tmp.cleanup();
});

interface Stats {
  workers: { worker: string; pid: number; listeners: Record<string, { accepted: number }> }[];
  combined: { listeners: Record<string, { accepted: number; framesIn: number }> };
}

async function echoOnce(port: number, text: string): Promise<boolean> {
  try {
    const peer = await rawConnect({ host: '127.0.0.1', port });
    peer.socket.write(lp4(text));
    const got = await peer.waitBytes(4 + text.length);
    peer.socket.destroy();
    return lp4Frames(got)[0]?.toString() === text;
  } catch {
    return false;
  }
}

function workerPid(run: CliRun, id: string, after = 0): Promise<number> {
  return run
    .waitForLog((r) => r.workerId === id && typeof r.workerPid === 'number' && /ready/.test(String(r.msg)) && (r.time as number) > after)
    .then((r) => r.workerPid as number);
}

describe('workers', () => {
  it('replace a killed worker after a back-off while the other keeps serving, and combine their counters', async () => {
    const file = tmp.write(
      'workers.yaml',
      [
        'workers: 2',
        'listeners:',
        '  - { name: echo, port: 0, codec: lp4, plugin: echo }',
        'admin: { port: 0 }',
        // A worker that runs stableMs resets the back-off; the second crash below must count as one in a row
        // however long the machine takes to get there.
        'workerRestart: { initialDelayMs: 1000, maxDelayMs: 8000, stableMs: 600000 }',
      ].join('\n'),
    );
    const run = await startServe(['--config', file]);
    runs.push(run);
    assert.match(run.out[0] ?? '', /2 worker processes/);
    const port = run.listeners().get('echo')?.port as number;
    const [pid1, pid2] = await Promise.all([workerPid(run, '1'), workerPid(run, '2')]);
    assert.notEqual(pid1, pid2);

    const killedAt = Date.now();
    process.kill(pid1, 'SIGKILL');
    const exit = await run.waitForLog((r) => r.workerId === '1' && /exited unexpectedly/.test(String(r.msg)));
    assert.equal(exit.signal, 'SIGKILL');
    assert.equal(exit.restartInMs, 1000);

    // Between the death and the replacement, every new connection is served by worker 2.
    let served = 0;
    while (!run.logs().some((r) => r.workerId === '1' && r.msg === 'worker 1 replaced')) {
      assert.ok(await echoOnce(port, `gap ${served}`), 'a connection during the gap was answered');
      served++;
      assert.ok(Date.now() - killedAt < 30_000, 'the worker was replaced');
    }
    assert.ok(served > 0, 'connections were made while worker 1 was down');
    const newPid = await workerPid(run, '1', killedAt);
    assert.notEqual(newPid, pid1);

    // Round-robin hands the replacement its share of new connections.
    for (let i = 0; i < 20; i++) assert.ok(await echoOnce(port, `after ${i}`));
    const stats = (await (await fetch(`${run.adminUrl()}stats.json`)).json()) as Stats;
    assert.deepEqual(stats.workers.map((w) => w.pid).sort(), [newPid, pid2].sort());
    const replacement = stats.workers.find((w) => w.pid === newPid);
    assert.ok((replacement?.listeners.echo?.accepted ?? 0) > 0, 'the replacement serves');
    const perWorker = stats.workers.reduce((n, w) => n + (w.listeners.echo?.accepted ?? 0), 0);
    assert.equal(stats.combined.listeners.echo?.accepted, perWorker);

    // A second crash soon after doubles the back-off.
    process.kill(newPid, 'SIGKILL');
    const again = await run.waitForLog((r) => r.workerId === '1' && r.workerPid === newPid && /exited unexpectedly/.test(String(r.msg)));
    assert.equal(again.restartInMs, 2000);
    assert.equal(again.crashesInARow, 2);

    run.child.kill('SIGTERM');
    assert.deepEqual(await run.exited, { code: 0, signal: null });
  });

  it('runs one process with --workers 1 even when the config asks for more', async () => {
    const file = tmp.write('four.yaml', ['workers: 4', 'listeners:', '  - { name: echo, port: 0, codec: lp4, plugin: echo }', 'admin: false'].join('\n'));
    const run = await startServe(['--config', file, '--workers', '1']);
    runs.push(run);
    assert.match(run.out[0] ?? '', /1 process, pid \d+/);
    assert.equal(run.logs().filter((r) => r.worker !== 'main').length, 0);
    assert.ok(await echoOnce(run.listeners().get('echo')?.port as number, 'solo'));
    run.child.kill('SIGTERM');
    assert.deepEqual(await run.exited, { code: 0, signal: null });
  });

  it('keeps the primary up when a worker dies while its counters are being asked for', async () => {
    const file = tmp.write(
      'dying.yaml',
      ['workers: 2', 'listeners:', '  - { name: echo, port: 0, codec: lp4, plugin: echo }', 'admin: { port: 0 }', 'workerRestart: { initialDelayMs: 50, maxDelayMs: 50, stableMs: 600000 }'].join('\n'),
    );
    const run = await startServe(['--config', file]);
    runs.push(run);
    const stats = `${run.adminUrl()}stats.json`;
    let pid = await workerPid(run, '1');
    // Snapshot requests in flight from several clients at once, so some are written to the dying worker's channel.
    let asking = true;
    const askers = Array.from({ length: 8 }, async () => {
      while (asking) await fetch(stats, { signal: AbortSignal.timeout(10_000) }).then((r) => r.arrayBuffer()).catch(() => undefined);
    });
    try {
      for (let round = 0; round < 15; round++) {
        const since = Date.now();
        await new Promise((r) => setTimeout(r, 30));
        process.kill(pid, 'SIGKILL');
        const old = pid;
        pid = (await run.waitForLog((r) => r.workerId === '1' && typeof r.workerPid === 'number' && r.workerPid !== old && /ready/.test(String(r.msg)) && (r.time as number) >= since)).workerPid as number;
        // kill(pid, 0) throws once the primary is gone (it died of an unheard EPIPE 'error' on the cluster worker).
        assert.doesNotThrow(() => process.kill(run.pid, 0), `the primary survived round ${round}`);
      }
    } finally {
      asking = false;
      await Promise.all(askers);
    }
    const last = (await (await fetch(stats)).json()) as Stats;
    assert.equal(last.workers.length, 2);
  });
});
