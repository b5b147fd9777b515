import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, ROOT, runToEnd, tempDir } from './support.js';

const tmp = tempDir('capstan-service-');
after(() => tmp.cleanup());

const cli = (args: string[], options: { cwd?: string } = {}) => runToEnd(args, options);

const GOOD = ['listeners:', '  - { name: echo, port: 0, codec: lp4, plugin: echo }', 'admin: false', 'shutdown: { graceMs: 20000 }'].join('\n');

describe('capstan service', () => {
  it('prints a systemd unit that runs serve with the config, reloads with SIGHUP and waits out the grace period', async () => {
    const file = tmp.write('svc.yaml', GOOD);
    const r = await cli(['service', 'print', '--config', file, '--workers', 'auto', '--run-as', 'capstan']);
    assert.equal(r.code, 0);
    const unit = r.out;
    assert.match(unit, new RegExp(`^ExecStart=${process.execPath.replace(/[.]/g, '\\.')} \\S+/dist/src/cli\\.js serve --config ${file.replace(/[.]/g, '\\.')} --workers auto$`, 'm'));
    assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    assert.match(unit, /^KillSignal=SIGTERM$/m);
    assert.match(unit, /^TimeoutStopSec=30$/m);
    assert.match(unit, /^RestartPreventExitStatus=78 2$/m);
    assert.match(unit, /^User=capstan$/m);
    assert.match(unit, /^WantedBy=multi-user\.target$/m);
  });

  it('installs the unit where told and prints how to enable it', async () => {
    const dir = join(tmp.dir, 'units');
    const r = await cli(['service', 'install', '--config', tmp.write('svc2.yaml', GOOD), '--name', 'capstan-test', '--user', '--unit-dir', dir]);
    assert.equal(r.code, 0, r.err);
    const unit = readFileSync(join(dir, 'capstan-test.service'), 'utf8');
    assert.match(unit, /^WantedBy=default\.target$/m);
    assert.doesNotMatch(unit, /^User=/m);
    assert.match(r.out, /systemctl --user daemon-reload/);
    assert.match(r.out, /systemctl --user enable --now capstan-test/);
  });

  it('refuses to install a unit for a bad config', async () => {
    const r = await cli(['service', 'print', '--config', tmp.write('svc-bad.yaml', 'listeners: []')]);
    assert.equal(r.code, 78);
    assert.match(r.err, /svc-bad\.yaml:1:\d+: listeners: expected a list of at least one listener/);
  });

  it('asks for install or print', async () => {
    const r = await cli(['service']);
    assert.equal(r.code, 2);
    assert.match(r.err, /^capstan service: needs install or print$/m);
  });
});

describe('capstan service install into a directory it cannot use', () => {
  const config = tmp.write('where.yaml', GOOD);

  // mkdir under /proc answers ENOENT although /proc exists; Node's recursive mkdir took that as
  // "make the parent first" and spun for good. The run is bounded (killed after 60 s, then code is null).
  for (const dir of ['/proc/nonexistent', '/proc/nonexistent/deeper/still']) {
    it(`fails at once for ${dir}, naming the directory it could not create, and exits 1`, async () => {
      const r = await runToEnd(['service', 'install', '--config', config, '--run-as', 'capstan', '--unit-dir', dir], { timeoutMs: 60_000 });
      assert.equal(r.code, 1, `exit status (null: still running after 60 s)\n${r.err}`);
      assert.match(r.err, /^capstan service: cannot create \/proc\/nonexistent: \/proc takes no new entries .*choose another --unit-dir$/m);
    });
  }

  it('fails for a path through a regular file, naming the file', async () => {
    const file = tmp.write('not-a-dir', 'x');
    const r = await cli(['service', 'install', '--config', config, '--run-as', 'capstan', '--unit-dir', join(file, 'units')]);
    assert.equal(r.code, 1);
    assert.match(r.err, new RegExp(`^capstan service: ${file.replace(/[.]/g, '\\.')} is not a directory$`, 'm'));
  });

  it('fails for a read-only directory, saying permission was denied there, and writes nothing', async (t) => {
    const ro = mkdtempSync(join(tmp.dir, 'ro-'));
    chmodSync(ro, 0o555);
    // Root writes anywhere, so as root the CLI runs as nobody, for whom the directory is read-only.
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const args = [CLI, 'service', 'install', '--config', config, '--run-as', 'capstan', '--unit-dir', join(ro, 'units')];
    const probe = spawnSync(process.execPath, [CLI, '--version'], { ...asNobody, cwd: ROOT, timeout: 30_000 });
    if (probe.status !== 0) {
      t.skip(`nobody cannot run the CLI from ${ROOT}: ${probe.stderr.toString().split('\n')[0] ?? ''}`);
      return;
    }
    // mkdtemp makes directories only their owner may enter.
    chmodSync(tmp.dir, 0o755);
    const r = spawnSync(process.execPath, args, { ...asNobody, cwd: ROOT, timeout: 60_000, encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^capstan service: cannot create ${ro}/units: permission denied in ${ro} \\(run with sudo, or use --user for a per-user unit\\)$`, 'm'));
    assert.equal(existsSync(join(ro, 'units')), false);
  });
});

describe('the unit capstan service writes', () => {
  it('gives the service a runtime directory under /run for its Unix sockets, and says so', async () => {
    const r = await cli(['service', 'print', '--config', tmp.write('rt.yaml', GOOD), '--run-as', 'capstan']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^RuntimeDirectory=capstan$/m);
    assert.match(r.out, /^# .*\/run\/capstan .*\n# the place for Unix socket listeners/m);
    const named = await cli(['service', 'print', '--config', tmp.write('rt2.yaml', GOOD), '--run-as', 'capstan', '--name', 'edge']);
    assert.match(named.out, /^RuntimeDirectory=edge$/m, 'two units do not share (and remove) one runtime directory');
  });

  it('comes with a warning on stderr, and in the unit, when it would run as root', async () => {
    const root = await cli(['service', 'print', '--config', tmp.write('root.yaml', GOOD), '--run-as', 'root']);
    assert.equal(root.code, 0, root.err);
    assert.match(root.err, /^capstan service: warning: the service would run as root \(User=root\).*--run-as USER/m);
    assert.match(root.out, /^# WARNING: the service would run as root/m);
    const user = await cli(['service', 'print', '--config', tmp.write('user.yaml', GOOD), '--run-as', 'capstan']);
    assert.doesNotMatch(user.err, /run as root/);
  });

  it('comes with a warning when the config lies under /tmp, which PrivateTmp hides from the service', async () => {
    const inTmp = tmp.write('hidden.yaml', GOOD);
    assert.ok(inTmp.startsWith('/tmp/'), `the test's temporary directory is under /tmp (${inTmp})`);
    const r = await cli(['service', 'print', '--config', inTmp, '--run-as', 'capstan']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, new RegExp(`^capstan service: warning: the config ${inTmp.replace(/[.]/g, '\\.')} lies under /tmp, which the service cannot see \\(PrivateTmp=yes`, 'm'));
    assert.match(r.out, /^# WARNING: the config .* lies under \/tmp/m);
    assert.match(r.out, /^# The service gets an empty \/tmp and \/var\/tmp of its own.*\n.*\nPrivateTmp=yes$/m);
  });

  it('comes without that warning for a config elsewhere', async (t) => {
    if (!existsSync('/dev/shm')) {
      t.skip('no /dev/shm to hold a config outside /tmp');
      return;
    }
    const dir = mkdtempSync('/dev/shm/capstan-service-');
    try {
      writeFileSync(join(dir, 'c.yaml'), GOOD);
      const r = await cli(['service', 'print', '--config', join(dir, 'c.yaml'), '--run-as', 'capstan'], { cwd: dir });
      assert.equal(r.code, 0, r.err);
      assert.equal(r.err, '');
      assert.doesNotMatch(r.out, /WARNING/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('capstan service install --dry-run', () => {
  it('prints the unit, the directories and file it would write and the commands to run next, and writes nothing', async () => {
    const dir = join(tmp.dir, 'dry', 'a', 'b');
    const r = await cli(['service', 'install', '--dry-run', '--config', tmp.write('dry.yaml', GOOD), '--run-as', 'capstan', '--name', 'dry', '--unit-dir', dir]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^dry run: nothing is written and systemctl is not run$/m);
    for (const d of [join(tmp.dir, 'dry'), join(tmp.dir, 'dry', 'a'), dir]) assert.match(r.out, new RegExp(`^would create the directory ${d}$`, 'm'));
    assert.match(r.out, new RegExp(`^would write ${dir}/dry\\.service \\(mode 0644\\):$`, 'm'));
    assert.match(r.out, /^\[Service\]\nType=exec\nExecStart=.* serve --config /m);
    assert.match(r.out, /^ {2}sudo systemctl daemon-reload\n {2}sudo systemctl enable --now dry$/m);
    assert.equal(existsSync(join(tmp.dir, 'dry')), false, 'no directory was made');
  });

  it('says when the install would fail, and exits 1', async () => {
    const file = tmp.write('dry-file', 'x');
    const r = await cli(['service', 'install', '--dry-run', '--config', tmp.write('dry2.yaml', GOOD), '--run-as', 'capstan', '--unit-dir', join(file, 'units')]);
    assert.equal(r.code, 1);
    assert.match(r.err, /^capstan service: the install would fail: .*dry-file is not a directory$/m);
  });
});
