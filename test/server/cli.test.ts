import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { MIXED_PROBLEMS, runToEnd, tempDir } from './support.js';

const tmp = tempDir('capstan-cli-');
after(() => tmp.cleanup());

const cli = (args: string[]) => runToEnd(args);

const GOOD = ['listeners:', '  - { name: echo, port: 0, codec: lp4, plugin: echo }', 'admin: false', 'shutdown: { graceMs: 20000 }'].join('\n');

describe('the capstan command line', () => {
  for (const command of ['serve', 'check', 'service']) {
    it(`prints help for ${command} with --help and exits 0`, async () => {
      const r = await cli([command, '--help']);
      assert.equal(r.code, 0);
      assert.match(r.out, new RegExp(`^usage: capstan ${command}`));
    });
  }


  it('rejects a malformed --workers in plain words', async () => {
    const r = await cli(['serve', '--workers', 'lots']);
    assert.equal(r.code, 2);
    assert.match(r.err, /--workers takes auto or a number from 1 to 256, not "lots"/);
  });

  it('prints the version', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    const r = await cli(['serve', '--version']);
    assert.deepEqual([r.code, r.out.trim()], [0, pkg.version]);
  });

  it('check says ok and exits 0 for a good config', async () => {
    const r = await cli(['check', '--config', tmp.write('good.yaml', GOOD)]);
    assert.equal(r.code, 0);
    assert.match(r.out, /good\.yaml: ok/);
    assert.match(r.out, /echo: tcp 127\.0\.0\.1:0, codec lp4, plugin echo/);
  });

  it('check exits 78 for a bad config and names the file, line, key path and what was expected', async () => {
    const file = tmp.write('bad.yaml', GOOD.replace('port: 0', 'port: -1'));
    const r = await cli(['check', '--config', file]);
    assert.equal(r.code, 78);
    assert.match(r.err, /bad\.yaml:2:\d+: listeners\[0\]\.port: expected a whole number from 0 to 65535, got -1/);
  });

  it('serve exits 78 on a bad config before anything binds', async () => {
    const file = tmp.write('bad-serve.yaml', `${GOOD}\nlogging: { level: chatty }`);
    const r = await cli(['serve', '--config', file]);
    assert.equal(r.code, 78);
    assert.match(r.err, /nothing was started/);
    assert.match(r.err, /bad-serve\.yaml:5:\d+: logging\.level: expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got "chatty"/);
    assert.doesNotMatch(r.out, /listening/);
  });

  for (const command of ['check', 'serve']) {
    it(`${command} reports a schema error, a duplicate name, an unknown codec and missing certificate files in one run`, async () => {
      const file = tmp.write(`mixed-${command}.yaml`, MIXED_PROBLEMS);
      const r = await cli([command, '--config', file]);
      assert.equal(r.code, 78);
      const where = (line: number, key: string) => new RegExp(`^  ${file.replace(/[.]/g, '\\.')}:${line}:\\d+: ${key.replace(/[.[\]]/g, '\\$&')}: `, 'm');
      assert.match(r.err, where(5, 'listeners[0].limits.idleTimeoutMs'));
      assert.match(r.err, where(6, 'listeners[1].name'));
      assert.match(r.err, where(9, 'listeners[1].codec'));
      assert.match(r.err, where(14, 'listeners[2].tls.certFile'));
      assert.match(r.err, where(15, 'listeners[2].tls.keyFile'));
      assert.doesNotMatch(r.out, /listening/);
    });
  }

  it('serve exits 1 when a port is taken, after closing the listeners it had started', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as net.AddressInfo).port;
    try {
      const file = tmp.write('taken.yaml', `${GOOD}\n`.replace('admin: false', `  - { name: clash, port: ${taken}, plugin: echo }\nadmin: false`));
      const r = await cli(['serve', '--config', file]);
      assert.equal(r.code, 1);
      assert.match(r.err, new RegExp(`cannot start: listen clash: cannot bind 127\\.0\\.0\\.1:${taken}: the address is in use`));
      assert.ok(r.err.includes('"listener":"echo"') && r.err.includes('"msg":"stopped"'), 'the listener started first was stopped again');
    } finally {
      blocker.close();
    }
  });
});
