/**
 * Plugins written as CommonJS, the way `npm init` sets a project up (no
 * "type": "module"): real packages in a temp directory with capstan installed
 * beside them, loaded by the real loader from a config that names them.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { isCapstanError } from '../../src/errors.js';
import { loadConfig } from '../../src/server/config/load.js';
import { rawConnect } from '../support/net.js';
import { ROOT, runCli, startServe, tempDir, type CliRun } from './support.js';

const tmp = tempDir('capstan-cjs-plugins-');
const runs: CliRun[] = [];
after(async () => {
  await Promise.all(runs.map((r) => r.kill()));
  tmp.cleanup();
});

// As `npm install capstan` would leave it: the plugins' require('capstan') finds the package.
mkdirSync(join(tmp.dir, 'node_modules'));
symlinkSync(ROOT, join(tmp.dir, 'node_modules', 'capstan'), 'dir');

/** The package.json `npm init -y` writes: CommonJS, main index.js. */
const npmInit = (name: string, main = 'index.js') =>
  JSON.stringify({ name, version: '1.0.0', description: '', main, scripts: { test: 'echo "Error: no test specified" && exit 1' }, keywords: [], author: '', license: 'ISC' }, null, 2);

tmp.write('plugins/shout/package.json', npmInit('shout'));
tmp.write(
  'plugins/shout/index.js',
  `const { definePlugin, lines, Type } = require('capstan');

module.exports = definePlugin({
  name: 'shout',
  options: Type.Object({ suffix: Type.String({ default: '!' }) }, { additionalProperties: false }),
  codec: () => lines(),
  handler: ({ options }) => ({
    message(conn, frame) {
      conn.send(Buffer.from(frame.toString('utf8').toUpperCase() + options.suffix));
    },
  }),
});
`,
);

// What tsc emits for \`export default definePlugin(...)\` with "module": "commonjs".
tmp.write('plugins/reverse/package.json', npmInit('reverse', 'dist/index.js'));
tmp.write(
  'plugins/reverse/dist/index.js',
  `"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
const capstan_1 = require("capstan");
exports.default = (0, capstan_1.definePlugin)({
    name: 'reverse',
    handler: () => ({
        message(conn, frame) {
            conn.send(Buffer.from([...frame.toString('utf8')].reverse().join('')));
        },
    }),
});
`,
);

const GOOD = [
  'listeners:',
  '  - { name: shout, port: 0, plugin: ./plugins/shout }',
  '  - { name: reverse, port: 0, codec: line, plugin: ./plugins/reverse/dist/index.js }',
  'admin: false',
].join('\n');

describe('CommonJS plugins', () => {
  it('load as module.exports = definePlugin(...) from a package directory, and as tsc output exports.default = ...', async () => {
    const config = await loadConfig(tmp.write('good.yaml', GOOD));
    assert.deepEqual(
      config.listeners.map((l) => [l.name, l.plugin?.specifier.slice(l.plugin.specifier.indexOf('/plugins/'))]),
      [
        ['shout', '/plugins/shout/index.js'],
        ['reverse', '/plugins/reverse/dist/index.js'],
      ],
    );
    assert.deepEqual(config.listeners[0]?.plugin?.options, { suffix: '!' }, 'options checked against a schema built with require("capstan").Type');
  });

  it('serve their connections under capstan serve', async () => {
    const run = await startServe(['--config', join(tmp.dir, 'good.yaml')]);
    runs.push(run);
    for (const [name, expected] of [
      ['shout', 'HELLO!\r\n'],
      ['reverse', 'olleh\r\n'],
    ] as const) {
      const peer = await rawConnect({ host: '127.0.0.1', port: run.listeners().get(name)?.port as number });
      peer.socket.write('hello\n');
      assert.equal((await peer.waitBytes(expected.length)).toString(), expected, name);
      peer.socket.destroy();
    }
    run.child.kill('SIGTERM');
    assert.deepEqual(await run.exited, { code: 0, signal: null });
  });

  it('that export something else are refused with what was found and what to export', async () => {
    tmp.write('plugins/named/index.js', "exports.plugin = { name: 'named', handler: () => ({}) };\n");
    tmp.write('plugins/factory/index.js', "module.exports = function makePlugin() { return { name: 'factory', handler: () => ({}) }; };\n");
    tmp.write('plugins/nothing/index.js', "const unused = { name: 'nothing' };\n");
    const file = tmp.write(
      'odd.yaml',
      ['listeners:', ...['named', 'factory', 'nothing'].map((n, i) => `  - { name: ${n}, port: ${7000 + i}, plugin: ./plugins/${n}/index.js }`), 'admin: false'].join('\n'),
    );
    const run = runCli(['check', '--config', file]);
    runs.push(run);
    assert.equal((await run.exited).code, 78);
    const err = run.err.join('\n');
    const advice = 'a plugin module exports definePlugin\\(\\{ name, handler, \\.\\.\\. \\}\\): export default definePlugin\\(\\.\\.\\.\\) in an ES module, module\\.exports = definePlugin\\(\\.\\.\\.\\) in CommonJS';
    assert.match(err, new RegExp(`odd\\.yaml:2:\\d+: listeners\\[0\\]\\.plugin: .*named/index\\.js: the default export is an object with plugin but no name; ${advice}`));
    assert.match(err, new RegExp(`odd\\.yaml:3:\\d+: listeners\\[1\\]\\.plugin: .*factory/index\\.js: the default export is a function \\(makePlugin\\), not the object definePlugin returns; ${advice}`));
    assert.match(err, new RegExp(`odd\\.yaml:4:\\d+: listeners\\[2\\]\\.plugin: .*nothing/index\\.js: the default export \\(module\\.exports in CommonJS\\) is an empty object; ${advice}`));
  });

  it('in a directory with nothing to load are named as such', async () => {
    tmp.write('plugins/empty-package/package.json', npmInit('empty-package', 'lib/missing.js'));
    await assert.rejects(
      loadConfig(tmp.write('empty.yaml', ['listeners:', '  - { name: e, port: 0, plugin: ./plugins/empty-package }'].join('\n'))),
      (err) => isCapstanError(err, 'ERR_CONFIG') && /plugin directory .*empty-package has no module to load: give its package\.json a "main", add an index\.js, or name the file/.test(err.message),
    );
  });
});
