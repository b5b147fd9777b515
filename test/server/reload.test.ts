import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { lp4, rawConnect, type RawPeer } from '../support/net.js';
import { hangUp, lp4Frames, occupiedPort, portIsFree, replaceWorker, startServe, tempDir, tlsPeer, type CliRun } from './support.js';

const tmp = tempDir('capstan-reload-');
const runs: CliRun[] = [];
after(async () => {
  await Promise.all(runs.map((r) => r.kill()));
  tmp.cleanup();
});

function config(listeners: string[], extra: string[] = []): string {
  return ['admin: false', 'listeners:', ...listeners.map((l) => `  - ${l}`), ...extra].join('\n');
}

const KEEP = '{ name: keep, port: 0, codec: lp4, plugin: echo }';
const OLD = '{ name: old, port: 0, codec: line, plugin: echo }';
const NEW = '{ name: new, port: 0, codec: lp4, plugin: echo }';

/** One framed round trip on an open connection; resolves with the reply. */
async function roundTrip(peer: RawPeer, text: string): Promise<string> {
  const before = peer.received().length;
  peer.socket.write(lp4(text));
  const all = await peer.waitBytes(before + 4 + Buffer.byteLength(text));
  return lp4Frames(all.subarray(before))[0]?.toString() ?? '';
}

function connectOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

/** Connects to `port` until the outcome is `want`, for up to 10 s; returns the last outcome. */
async function eventualOutcome(port: number, want: string): Promise<string> {
  const until = Date.now() + 10_000;
  let got = await connectOutcome(port);
  while (got !== want && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
    got = await connectOutcome(port);
  }
  return got;
}

describe('SIGHUP', () => {
  for (const workers of [1, 2]) {
    const mode = workers === 1 ? 'one process' : `${workers} workers`;

    it(`starts added listeners and drains removed ones while connections on unchanged ones stay up (${mode})`, async () => {
      const file = tmp.write(`reload-${workers}.yaml`, config([KEEP, OLD]));
      const run = await startServe(['--config', file, '--workers', String(workers)]);
      runs.push(run);
      const keepPort = run.listeners().get('keep')?.port as number;
      const oldPort = run.listeners().get('old')?.port as number;
      const kept = await rawConnect({ host: '127.0.0.1', port: keepPort });
      assert.equal(await roundTrip(kept, 'before'), 'before');

      tmp.write(`reload-${workers}.yaml`, config([KEEP, NEW]));
      const { line, from } = await hangUp(run);
      assert.equal(line, 'reloaded');
      const added = run.listeners(from).get('new');
      assert.ok(added !== undefined, 'the added listener is printed');
      assert.ok(run.out.slice(from).includes('stopped old'));
      assert.ok(!run.listeners(from).has('keep'), 'the unchanged listener was not restarted');

      const fresh = await rawConnect({ host: '127.0.0.1', port: added.port });
      assert.equal(await roundTrip(fresh, 'to the new one'), 'to the new one');
      fresh.socket.destroy();
      // With workers the primary holds the listening socket and closes it once every worker let go of it.
      assert.equal(await eventualOutcome(oldPort, 'ECONNREFUSED'), 'ECONNREFUSED');
      // The same socket as before the reload: never ended, still answered.
      assert.equal(await roundTrip(kept, 'after'), 'after');
      assert.equal(kept.socket.readyState, 'open');
      kept.socket.destroy();

      run.child.kill('SIGTERM');
      assert.deepEqual(await run.exited, { code: 0, signal: null });
    });

    it(`rejects a bad new config and keeps the old one running (${mode})`, async () => {
      const file = tmp.write(`bad-${workers}.yaml`, config([KEEP]));
      const run = await startServe(['--config', file, '--workers', String(workers)]);
      runs.push(run);
      const keepPort = run.listeners().get('keep')?.port as number;
      const kept = await rawConnect({ host: '127.0.0.1', port: keepPort });

      tmp.write(`bad-${workers}.yaml`, config([KEEP, '{ name: broken, port: seven, plugin: echo }']));
      const { line } = await hangUp(run);
      assert.match(line, /^reload failed, still running the previous config: .*bad-\d\.yaml:4:\d+: listeners\[1\]\.port: expected a whole number/);
      const rejected = run.logs().find((r) => r.msg === 'reload rejected; the running config stays in place');
      assert.ok(rejected !== undefined);
      assert.equal((rejected.err as { code?: string }).code, 'ERR_CONFIG');
      assert.equal(await roundTrip(kept, 'still here'), 'still here');
      kept.socket.destroy();

      run.child.kill('SIGTERM');
      assert.deepEqual(await run.exited, { code: 0, signal: null });
    });
  }

  const REPLACE_CASES = [
    { transport: 'tcp', workers: 1 },
    { transport: 'tcp', workers: 2 },
    { transport: 'unix', workers: 2 },
  ] as const;
  for (const { transport, workers } of REPLACE_CASES) {
    const mode = workers === 1 ? 'one process' : `${workers} workers`;
    const what = transport === 'unix' ? 'socket path' : 'fixed port';
    const later = workers > 1 ? '; a worker started afterwards shares it' : '';
    it(`replaces a changed listener on the same ${what}, draining its old connections${later} (${transport}, ${mode})`, async () => {
      let at = `transport: unix, path: svc-${workers}.sock`;
      let where: net.NetConnectOpts = { path: join(tmp.dir, `svc-${workers}.sock`) };
      if (transport === 'tcp') {
        let port = 0;
        for (let i = 0; i < 40 && port === 0; i++) {
          const candidate = 10_000 + Math.floor(Math.random() * 22_000); // below the ephemeral range
          if (await portIsFree(candidate)) port = candidate;
        }
        at = `port: ${port}`;
        where = { host: '127.0.0.1', port };
      }
      const svc = (codec: string) => config([`{ name: svc, ${at}, codec: ${codec}, plugin: echo }`]);
      const file = tmp.write(`change-${transport}-${workers}.yaml`, svc('lp4'));
      const run = await startServe(['--config', file, '--workers', String(workers)]);
      runs.push(run);
      const address = run.listeners().get('svc');
      const before = await rawConnect(where);
      assert.equal(await roundTrip(before, 'framed'), 'framed');

      tmp.write(`change-${transport}-${workers}.yaml`, svc('line'));
      const { line, from } = await hangUp(run);
      assert.equal(line, 'reloaded');
      assert.deepEqual(run.listeners(from).get('svc'), address, 'the new listener is at the same address');
      // The old connection is drained: quiet, so the server ends it gracefully.
      assert.equal(await before.ended, 'end');
      before.socket.destroy();
      const speaksLines = async () => {
        const peer = await rawConnect(where);
        peer.socket.write('now lines\n');
        const got = (await peer.waitBytes(11)).toString();
        peer.socket.destroy();
        return got;
      };
      assert.equal(await speaksLines(), 'now lines\r\n');
      if (workers > 1) {
        await replaceWorker(run, '1');
        for (let i = 0; i < 4; i++) assert.equal(await speaksLines(), 'now lines\r\n');
      }

      run.child.kill('SIGTERM');
      assert.deepEqual(await run.exited, { code: 0, signal: null });
    });
  }

  it('rolls back when a new listener cannot bind, leaving the old set serving', async () => {
    const { port: taken, release } = await occupiedPort();
    try {
      const file = tmp.write('rollback.yaml', config([KEEP]));
      const run = await startServe(['--config', file]);
      runs.push(run);
      const keepPort = run.listeners().get('keep')?.port as number;
      tmp.write('rollback.yaml', config([KEEP, NEW, `{ name: clash, port: ${taken}, codec: lp4, plugin: echo }`]));
      const { line } = await hangUp(run);
      assert.match(line, /^reload failed, still running the previous config: listen clash: cannot bind 127\.0\.0\.1:\d+: the address is in use/);
      const peer = await rawConnect({ host: '127.0.0.1', port: keepPort });
      assert.equal(await roundTrip(peer, 'unaffected'), 'unaffected');
      peer.socket.destroy();
      const stoppedAgain = run.logs().filter((r) => r.listener === 'new' && r.msg === 'stopped');
      assert.equal(stoppedAgain.length, 1, 'the listener the failed reload had added was stopped again');
      run.child.kill('SIGTERM');
      assert.deepEqual(await run.exited, { code: 0, signal: null });
    } finally {
      await release();
    }
  });

  for (const workers of [1, 2]) {
    it(`rotates TLS certificate files in place: a connection opened before stays open and answering, new ones get the new certificate (${workers === 1 ? 'one process' : `${workers} workers`})`, async () => {
      const crt = `server-${workers}.crt`;
      const key = `server-${workers}.key`;
      const make = async (cn: string) => {
        const pems = await generate([{ name: 'commonName', value: cn }], { keyType: 'ec', algorithm: 'sha256' });
        tmp.write(crt, pems.cert);
        tmp.write(key, pems.private);
      };
      await make('first.example');
      const file = tmp.write(
        `tls-${workers}.yaml`,
        config([`{ name: secure, port: 0, codec: lp4, plugin: echo, tls: { certFile: ${crt}, keyFile: ${key} } }`], ['shutdown: { quietMs: 50 }']),
      );
      const run = await startServe(['--config', file, '--workers', String(workers)]);
      runs.push(run);
      const port = run.listeners().get('secure')?.port as number;
      const before = await tlsPeer(port);
      assert.equal(before.subject, 'first.example');
      assert.equal(await before.roundTrip('before'), 'before');

      await make('second.example');
      const { line, from } = await hangUp(run);
      assert.equal(line, 'reloaded');
      const printed = run.out.slice(from);
      assert.ok(printed.some((l) => l.startsWith('updated secure tls')), 'the listener took the new TLS settings in place');
      assert.ok(!printed.includes('stopped secure') && !run.listeners(from).has('secure'), 'the listener was not replaced');

      // A replaced listener would end this idle connection once it had been quiet for quietMs (50 ms).
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(before.ended, false, 'the connection opened before the reload was not ended');
      assert.equal(await before.roundTrip('after'), 'after');
      // Round-robin spreads these over every worker.
      for (let i = 0; i < 2 * workers; i++) {
        const fresh = await tlsPeer(port);
        assert.equal(fresh.subject, 'second.example', `new connection ${i} gets the new certificate`);
        assert.equal(await fresh.roundTrip(`new ${i}`), `new ${i}`);
        fresh.socket.destroy();
      }
      assert.equal(await before.roundTrip('still'), 'still');
      assert.equal(before.ended, false);
      before.socket.destroy();

      run.child.kill('SIGTERM');
      assert.deepEqual(await run.exited, { code: 0, signal: null });
    });
  }
});
