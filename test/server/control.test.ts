import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runToEnd, startServe, tempDir, type CliRun } from './support.js';

const tmp = tempDir('capstan-control-');
const runs: CliRun[] = [];
after(async () => {
  await Promise.all(runs.map((r) => r.kill()));
  tmp.cleanup();
});

const ONE = ['listeners:', '  - { name: echo, port: 0, codec: lp4, plugin: echo }', 'admin: false'].join('\n');
const TWO = `${ONE.replace('admin: false', '')}  - { name: extra, port: 0, codec: line, plugin: echo }\nadmin: false\n`;

async function serve(config: string, pidfile: string): Promise<CliRun> {
  const run = await startServe(['--config', config, '--pidfile', pidfile]);
  runs.push(run);
  return run;
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', ''], { timeout: 30_000 });
  assert.equal(r.status, 0);
  return r.pid;
}

describe('capstan serve --pidfile, capstan reload and capstan stop', () => {
  it('reload makes the server itself re-read its config, and stop ends it and waits, leaving no pidfile', async () => {
    const config = tmp.write('ctl.yaml', ONE);
    const pidfile = join(tmp.dir, 'ctl.pid');
    const run = await serve(config, pidfile);
    assert.equal(readFileSync(pidfile, 'utf8'), `${run.pid}\n`, 'the pidfile names the server process, written before ready');

    writeFileSync(config, TWO);
    const from = run.out.length;
    const reload = await runToEnd(['reload', '--pidfile', pidfile]);
    assert.equal(reload.code, 0, reload.err);
    assert.match(reload.out, new RegExp(`^capstan reload: sent SIGHUP to the server \\(pid ${run.pid}\\)`));
    await run.waitForOut(/^reloaded$/, 30_000, from);
    assert.ok(run.listeners(from).has('extra'), 'the listener the new config adds is running');

    const stop = await runToEnd(['stop', '--pidfile', pidfile, '--timeout', '60']);
    assert.equal(stop.code, 0, stop.err);
    assert.match(stop.out, new RegExp(`^capstan stop: the server \\(pid ${run.pid}\\) has exited after [0-9.]+ s$`, 'm'));
    assert.deepEqual(await run.exited, { code: 0, signal: null }, 'the server drained and exited cleanly');
    assert.ok(run.out.includes('stopped'));
    assert.equal(existsSync(pidfile), false, 'the server removed its pidfile');
  });

  it('refuses to start a second server on a pidfile that names a running one, and leaves both alone', async () => {
    const pidfile = join(tmp.dir, 'once.pid');
    const first = await serve(tmp.write('once.yaml', ONE), pidfile);
    const second = await runToEnd(['serve', '--config', tmp.write('once2.yaml', ONE), '--pidfile', pidfile]);
    assert.equal(second.code, 1);
    assert.match(second.err, new RegExp(`^capstan: cannot start: ${pidfile.replace(/[.]/g, '\\.')} names pid ${first.pid}, a capstan server that is still running; stop it first`, 'm'));
    assert.doesNotMatch(second.out, /listening/, 'nothing was started');
    assert.equal(readFileSync(pidfile, 'utf8'), `${first.pid}\n`);
    assert.equal(first.child.exitCode, null, 'the first server still runs');
    const stop = await runToEnd(['stop', '--pidfile', pidfile]);
    assert.equal(stop.code, 0, stop.err);
  });

  it('replaces a stale pidfile: one naming a pid that has exited, or a running program that is not the server', async () => {
    for (const [what, pid] of [['an exited process', deadPid()], ['this test process', process.pid]] as const) {
      const pidfile = join(tmp.dir, `stale-${pid}.pid`);
      writeFileSync(pidfile, `${pid}\n`);
      const run = await serve(tmp.write(`stale-${pid}.yaml`, ONE), pidfile);
      assert.equal(readFileSync(pidfile, 'utf8'), `${run.pid}\n`, `a pidfile naming ${what} was replaced`);
      assert.ok(run.logs().some((r) => r.msg === 'replacing a stale pidfile' && r.stalePid === pid));
      run.child.kill('SIGTERM');
      await run.exited;
      assert.equal(existsSync(pidfile), false);
    }
  });

  it('will not overwrite a file that holds no pid', async () => {
    const notPid = tmp.write('not-a-pidfile.yaml', ONE);
    const r = await runToEnd(['serve', '--config', notPid, '--pidfile', notPid]);
    assert.equal(r.code, 1);
    assert.match(r.err, /^capstan: cannot start: .*not-a-pidfile\.yaml exists and holds no pid/m);
    assert.equal(readFileSync(notPid, 'utf8'), ONE);
  });

  it('refuses before binding when the pidfile cannot be written', async () => {
    const r = await runToEnd(['serve', '--config', tmp.write('nodir.yaml', ONE), '--pidfile', join(tmp.dir, 'missing', 'x.pid')]);
    assert.equal(r.code, 1);
    assert.match(r.err, /^capstan: cannot start: cannot write the pidfile .*x\.pid: the directory .*missing does not exist$/m);
    assert.doesNotMatch(r.out, /listening/);
  });

  it('reload and stop say so, exit 1 and signal nothing when the pidfile names no running server', async () => {
    const stale = join(tmp.dir, 'gone.pid');
    const pid = deadPid();
    writeFileSync(stale, `${pid}\n`);
    for (const command of ['reload', 'stop']) {
      const missing = await runToEnd([command, '--pidfile', join(tmp.dir, 'never.pid')]);
      assert.equal(missing.code, 1);
      assert.match(missing.err, new RegExp(`^capstan ${command}: no pidfile at .*never\\.pid: is the server running`));
      const dead = await runToEnd([command, '--pidfile', stale]);
      assert.equal(dead.code, 1);
      assert.match(dead.err, new RegExp(`^capstan ${command}: .*gone\\.pid names pid ${pid}, but no such process is running`));
      // The test process is no server: were it signalled, SIGHUP or SIGTERM would end this test run.
      const mine = join(tmp.dir, `mine-${command}.pid`);
      writeFileSync(mine, `${process.pid}\n`);
      const other = await runToEnd([command, '--pidfile', mine]);
      assert.equal(other.code, 1);
      assert.match(other.err, /that pid now belongs to another program/);
      const usage = await runToEnd([command]);
      assert.equal(usage.code, 2);
      assert.match(usage.err, new RegExp(`^capstan ${command}: needs --pidfile PATH`));
    }
  });

  it('stop gives up at --timeout on a server that does not exit, and says it still runs', async () => {
    // Stands in for a server stuck draining: it ignores SIGTERM, and "serve" on its command line passes the identity check.
    const stuck = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); console.log('up')", 'serve'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await once(stuck.stdout, 'data');
      const pidfile = join(tmp.dir, 'stuck.pid');
      writeFileSync(pidfile, `${stuck.pid}\n`);
      const started = Date.now();
      const r = await runToEnd(['stop', '--pidfile', pidfile, '--timeout', '1']);
      assert.equal(r.code, 1);
      assert.match(r.err, new RegExp(`^capstan stop: pid ${stuck.pid} is still running after 1 s`));
      assert.ok(Date.now() - started < 30_000, 'stop returned near its timeout, not long after');
      assert.equal(stuck.exitCode, null);
    } finally {
      stuck.kill('SIGKILL');
    }
  });
});
