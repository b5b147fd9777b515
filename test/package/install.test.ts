import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rawConnect } from '../support/net.js';
import { runNode, tempDir, type CliRun } from '../server/support.js';
import { npmPack, ROOT } from './support.js';

/** Runs npm in `cwd`; an install from the local cache takes seconds, a cold one on a busy machine much longer. */
function npm(cwd: string, args: readonly string[]): string {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: 240_000 });
  assert.equal(r.status, 0, `npm ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr}`);
  return r.stdout;
}

/** A fresh ES module project with capstan installed from `spec` (a tarball path or a git URL). */
function freshProject(dir: string, spec: string): void {
  npm(dir, ['init', '-y']);
  const pkgFile = join(dir, 'package.json');
  writeFileSync(pkgFile, JSON.stringify({ ...JSON.parse(readFileSync(pkgFile, 'utf8')), type: 'module' }, null, 2));
  npm(dir, ['install', '--prefer-offline', '--no-audit', '--no-fund', spec]);
}

/** The README's server for your own project, on a free port instead of 7000. */
function readmeServer(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.split(/^## /m).find((s) => s.startsWith('Use it in your own project\n'));
  assert.ok(section !== undefined, 'README.md has a section "Use it in your own project"');
  const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(code !== undefined, 'the section shows a server');
  assert.ok(code.trim().split('\n').length <= 8, 'the server stays a few lines');
  assert.match(code, /from 'capstan'/);
  assert.match(code, /port: 7000,/);
  return code.replace('port: 7000,', 'port: 0,');
}

/** Starts `node server.js` in `dir`, echoes two lines through it, and stops it by its PID. */
async function echoThroughReadmeServer(dir: string): Promise<void> {
  writeFileSync(join(dir, 'server.js'), readmeServer());
  const run: CliRun = runNode(['server.js'], { cwd: dir });
  try {
    const line = await run.waitForOut(/listening on tcp:\/\/127\.0\.0\.1:\d+$/, 60_000);
    const peer = await rawConnect({ host: '127.0.0.1', port: Number(/:(\d+)$/.exec(line)?.[1]) });
    peer.socket.write('hello\nsecond line\r\n');
    assert.equal((await peer.waitBytes(20)).toString(), 'hello\r\nsecond line\r\n');
    peer.socket.destroy();
    process.kill(run.pid, 'SIGTERM');
    assert.deepEqual(await run.exited, { code: null, signal: 'SIGTERM' });
  } finally {
    await run.kill();
  }
}

describe('a project that installs the packed tarball, as the README shows', () => {
  const tmp = tempDir('capstan-install-');
  const app = join(tmp.dir, 'app');
  before(() => {
    mkdirSync(join(tmp.dir, 'pack'));
    mkdirSync(app);
    const packed = npmPack(['--pack-destination', join(tmp.dir, 'pack')]);
    freshProject(app, join(tmp.dir, 'pack', packed.filename));
  });
  after(() => tmp.cleanup());

  it("runs the README's server with import from 'capstan' and echoes over loopback", () => echoThroughReadmeServer(app));

  it('gets the capstan command, which knows its version', () => {
    const r = spawnSync(join(app, 'node_modules/.bin/capstan'), ['--version'], { cwd: app, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, `${(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version}\n`);
  });

  it('resolves capstan/package.json through the exports map', () => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', "import pkg from 'capstan/package.json' with { type: 'json' }; console.log(pkg.name, pkg.license)"], {
      cwd: app,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.stdout, 'capstan MIT\n', r.stderr);
  });
});

describe('a project that installs from a git URL', () => {
  const tmp = tempDir('capstan-git-install-');
  after(() => tmp.cleanup());

  it("builds the package through its prepare script, and the README's server runs", async (t) => {
    const head = spawnSync('git', ['-C', ROOT, 'rev-parse', 'HEAD'], { encoding: 'utf8' });
    if (head.status !== 0) return t.skip('this checkout is not a git repository');
    // npm clones the committed tree, so this installs HEAD: the same path a git+https URL takes, without the network.
    freshProject(tmp.dir, `git+file://${ROOT}#${head.stdout.trim()}`);
    await echoThroughReadmeServer(tmp.dir);
  });
});
