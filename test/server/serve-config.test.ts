import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lp4, rawConnect } from '../support/net.js';
import { lp4Frames, startServe, tempDir, type CliRun } from './support.js';

const tmp = tempDir('capstan-serve-config-');
const runs: CliRun[] = [];
after(async () => {
  await Promise.all(runs.map((r) => r.kill()));
  tmp.cleanup();
});

describe('capstan serve with a config file', () => {
  it('serves a Unix socket listener from a JSON config, at a path relative to the config file', async () => {
    const file = tmp.write(
      'unix.json',
      JSON.stringify({ listeners: [{ name: 'local', transport: 'unix', path: 'echo.sock', codec: 'lp4', plugin: 'echo' }], admin: false }),
    );
    const run = await startServe(['--config', file]);
    runs.push(run);
    const path = join(tmp.dir, 'echo.sock');
    assert.equal(run.listeners().get('local')?.path, path);
    const peer = await rawConnect({ path });
    peer.socket.write(lp4('over a unix socket'));
    assert.equal(lp4Frames(await peer.waitBytes(22))[0]?.toString(), 'over a unix socket');
    peer.socket.destroy();
    run.child.kill('SIGTERM');
    assert.deepEqual(await run.exited, { code: 0, signal: null });
  });

  it('writes its logs to the configured file at the level --log-level sets', async () => {
    const log = join(tmp.dir, 'logs', 'capstan.log');
    const file = tmp.write(
      'logfile.yaml',
      ['listeners:', '  - { name: quiet, port: 0, codec: lp4, plugin: echo }', 'admin: false', `logging: { level: info, destination: ${log} }`].join('\n'),
    );
    const run = await startServe(['--config', file, '--log-level', 'warn']);
    runs.push(run);
    const port = run.listeners().get('quiet')?.port as number;
    // A frame over the default 1 MiB limit: an abnormal close, logged at warn.
    const peer = await rawConnect({ host: '127.0.0.1', port });
    const header = Buffer.alloc(4);
    header.writeUInt32BE(2 * 1024 * 1024);
    peer.socket.write(header);
    await peer.ended;
    peer.socket.destroy();
    run.child.kill('SIGTERM');
    assert.deepEqual(await run.exited, { code: 0, signal: null });
    const records = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(records.length > 0);
    assert.ok(records.every((r) => (r.level as number) >= 40), 'nothing below warn');
    const closed = records.find((r) => r.reason === 'frame-too-large');
    assert.equal(closed?.listener, 'quiet');
    assert.equal(closed?.worker, 'main');
    assert.equal(run.err.filter((l) => l.startsWith('{')).length, 0, 'no log lines on stderr');
  });
});
