import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { udpPeer, type UdpPeer } from '../support/udp.js';
import { startServe, tempDir, type CliRun } from './support.js';

const tmp = tempDir('capstan-udp-workers-');
const runs: CliRun[] = [];
after(async () => {
  await Promise.all(runs.map((r) => r.kill()));
  tmp.cleanup();
});

interface Stats {
  workers: { worker: string; pid: number; listeners: Record<string, { accepted: number; active: number } | undefined> }[];
}

/** Answers each datagram with the pid of the process that holds the session and the session's own datagram count. */
const PID_PLUGIN = `export default {
  name: 'pid',
  handler: () => ({ message(conn, frame) { conn.send(frame); } }),
  datagramHandler: () => ({
    open(session) { session.data = { n: 0 }; },
    message(session) { session.data.n++; session.send(process.pid + ' ' + session.data.n); },
  }),
};
`;

function workerPid(run: CliRun, id: string): Promise<number> {
  return run.waitForLog((r) => r.workerId === id && typeof r.workerPid === 'number' && /ready/.test(String(r.msg))).then((r) => r.workerPid as number);
}

describe('udp listeners under capstan serve with workers: 2', () => {
  it("keep every peer's session in one process for its whole life", async () => {
    tmp.write('pid-udp.mjs', PID_PLUGIN);
    const file = tmp.write(
      'udp-workers.yaml',
      [
        'workers: 2',
        'listeners:',
        '  - { name: u, transport: udp, port: 0, plugin: ./pid-udp.mjs }',
        '  - { name: t, port: 0, plugin: ./pid-udp.mjs }',
        'admin: { port: 0 }',
      ].join('\n'),
    );
    const run = await startServe(['--config', file]);
    runs.push(run);
    const [pid1, pid2] = await Promise.all([workerPid(run, '1'), workerPid(run, '2')]);
    assert.notEqual(pid1, pid2);
    const port = run.listeners().get('u')?.port as number;
    assert.ok(port > 0, 'the udp listener printed its port');

    // Many peers, each sending several datagrams in turn: every answer a peer gets comes
    // from the same process and counts on in the same session.
    const peers: UdpPeer[] = [];
    for (let i = 0; i < 30; i++) peers.push(await udpPeer(port, { localAddress: `127.0.0.${2 + (i % 10)}` }));
    const rounds = 5;
    try {
      for (let k = 1; k <= rounds; k++) {
        await Promise.all(peers.map((p) => p.send(`datagram ${k}`)));
        await Promise.all(peers.map((p) => p.waitFor(k)));
      }
      const pids = new Set<string>();
      for (const p of peers) {
        const answers = p.received.map(String);
        const [pid] = (answers[0] as string).split(' ');
        pids.add(pid as string);
        assert.deepEqual(answers, Array.from({ length: rounds }, (_, i) => `${pid} ${i + 1}`), `peer ${p.port}`);
      }
      // One process holds every session: worker 1, the only one that runs udp listeners.
      assert.deepEqual([...pids], [String(pid1)]);
      const stats = (await (await fetch(`${run.adminUrl()}stats.json`)).json()) as Stats;
      const byPid = new Map(stats.workers.map((w) => [w.pid, w.listeners.u]));
      assert.equal(byPid.get(pid1)?.accepted, 30);
      assert.equal(byPid.get(pid1)?.active, 30);
      assert.equal(byPid.get(pid2)?.accepted ?? 0, 0);
    } finally {
      await Promise.all(peers.map((p) => p.close()));
    }
  });
});
