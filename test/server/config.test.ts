import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isCapstanError } from '../../src/errors.js';
import { DEFAULT_CONFIG, loadConfig, readConfigSource } from '../../src/server/config/load.js';
import { resolveConfig, type ResolvedConfig } from '../../src/server/config/resolve.js';
import { parseConfigText } from '../../src/server/config/source.js';
import { MIXED_PROBLEMS, tempDir } from './support.js';

const tmp = tempDir('capstan-config-');
after(() => tmp.cleanup());

/** Resolves YAML text as if read from `capstan.yaml` in the temp dir; returns the error's lines, or the config. */
async function resolveText(text: string, overrides = {}): Promise<ResolvedConfig> {
  return resolveConfig(parseConfigText('capstan.yaml', tmp.dir, text), overrides);
}

async function problems(text: string, overrides = {}): Promise<string[]> {
  try {
    await resolveText(text, overrides);
  } catch (err) {
    assert.ok(isCapstanError(err, 'ERR_CONFIG'), `expected ERR_CONFIG, got ${String(err)}`);
    return err.message.split('\n');
  }
  assert.fail('the config was accepted');
}

const ECHO = 'plugin: echo';

describe('config file errors', () => {
  it('name the file, the line and column, the key path and what was expected', async () => {
    const lines = await problems(['listeners:', '  - name: a', '    port: seven', `    ${ECHO}`].join('\n'));
    assert.deepEqual(lines, ['capstan.yaml:3:11: listeners[0].port: expected a whole number from 0 to 65535, got "seven"']);
  });

  it('list every schema problem at once, in file order', async () => {
    const lines = await problems(
      ['workers: many', 'listeners:', '  - name: a', '    port: 70000', `    ${ECHO}`, 'logging:', '  level: loud'].join('\n'),
    );
    assert.equal(lines.length, 3);
    assert.match(lines[0] ?? '', /^capstan\.yaml:1:10: workers: expected auto or a whole number from 1 to 256, got "many"$/);
    assert.match(lines[1] ?? '', /^capstan\.yaml:4:11: listeners\[0\]\.port: expected a whole number from 0 to 65535, got 70000$/);
    assert.match(lines[2] ?? '', /^capstan\.yaml:7:10: logging\.level: expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got "loud"$/);
  });

  it('list the values a choice key allows, and guess the one meant when only one is a typo away', async () => {
    const lines = await problems(
      [
        'listeners:',
        '  - name: a',
        '    transport: tpc',
        '    port: 7000',
        `    ${ECHO}`,
        '    proxyProtocol: requierd',
        '  - name: b',
        '    transport: tls',
        '    port: 7001',
        `    ${ECHO}`,
        '    tls: { minVersion: TLSv1.1, clientCertificate: require }',
        '    compression: { algorithm: delfate }',
        'logging: { level: INFO }',
      ].join('\n'),
    );
    assert.deepEqual(
      lines.map((l) => l.replace(/^capstan\.yaml:\d+:\d+: /, '')),
      [
        'listeners[0].transport: expected one of "tcp", "tls", "unix", "udp", got "tpc"; did you mean "tcp"?',
        'listeners[0].proxyProtocol: expected off, optional, required, or an object { mode, trusted, timeoutMs, maxHeaderBytes }, got "requierd"; did you mean "required"?',
        // 1.1 is one edit from both allowed versions: no guess.
        'listeners[1].tls.minVersion: expected one of "TLSv1.2", "TLSv1.3", got "TLSv1.1"',
        'listeners[1].tls.clientCertificate: expected one of "none", "optional", "required", got "require"; did you mean "required"?',
        'listeners[1].compression.algorithm: expected one of "deflate", "brotli", "zstd", got "delfate"; did you mean "deflate"?',
        'logging.level: expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got "INFO"; did you mean "info"?',
      ],
    );
  });

  it('point at a misspelt key and suggest the one it probably meant', async () => {
    const lines = await problems(['listeners:', '  - name: a', '    prot: 7000', `    ${ECHO}`].join('\n'));
    assert.ok(lines.some((l) => /^capstan\.yaml:3:5: listeners\[0\]\.prot: unknown key "prot"; did you mean port\?/.test(l)), lines.join('\n'));
  });

  it('say which required key is missing, at the line of the object that lacks it', async () => {
    const lines = await problems(['listeners:', '  - name: a', '    port: 7000'].join('\n'));
    assert.deepEqual(lines.length, 1);
    assert.match(lines[0] ?? '', /^capstan\.yaml:2:5: listeners\[0\]\.plugin: is required/);
  });

  it('explain the inside of an object form rather than the union around it', async () => {
    const lines = await problems(['listeners:', '  - name: a', '    port: 7000', `    ${ECHO}`, '    codec: { name: lp4, optoins: {} }'].join('\n'));
    assert.match(lines[0] ?? '', /^capstan\.yaml:5:25: listeners\[0\]\.codec\.optoins: unknown key "optoins"; did you mean options\?/);
  });

  it('report a YAML syntax error with its line', async () => {
    const lines = await problems(['listeners:', '  - name: a', '    port: [7000', `    ${ECHO}`].join('\n'));
    assert.match(lines[0] ?? '', /^capstan\.yaml:\d+:\d+: cannot parse the config: /);
  });

  it('reject an unknown codec by name and list the known ones', async () => {
    const lines = await problems(['listeners:', '  - name: a', '    port: 7000', `    ${ECHO}`, '    codec: lp5'].join('\n'));
    assert.match(lines[0] ?? '', /^capstan\.yaml:5:12: listeners\[0\]\.codec: unknown codec "lp5"; known codecs are raw, lp1/);
  });

  it('put a bad codec option on its key under codec.options', async () => {
    const lines = await problems(['listeners:', '  - name: a', '    port: 7000', `    ${ECHO}`, '    codec: { name: lp4, options: { lengthBytes: 2 } }'].join('\n'));
    assert.match(lines[0] ?? '', /^capstan\.yaml:5:\d+: listeners\[0\]\.codec\.options\.lengthBytes: codec lp4: option lengthBytes is set by the codec name/);
  });

  it('check plugin options against the plugin’s own schema', async () => {
    const lines = await problems(['listeners:', '  - name: a', '    port: 7000', '    plugin: { module: echo, options: { loud: true } }'].join('\n'));
    assert.match(lines[0] ?? '', /^capstan\.yaml:4:\d+: listeners\[0\]\.plugin\.options\.loud: unknown key "loud"; no keys are allowed here \(plugin echo\)$/);
  });

  it('name a plugin module that does not exist, with the path it looked for', async () => {
    const lines = await problems(['listeners:', '  - name: a', '    port: 7000', '    plugin: ./plugins/missing.js'].join('\n'));
    assert.match(lines[0] ?? '', /^capstan\.yaml:4:13: listeners\[0\]\.plugin: plugin module not found: .*plugins\/missing\.js$/);
  });

  it('tell an unknown built-in plugin from a path and list the built-ins', async () => {
    const lines = await problems(['listeners:', '  - name: a', '    port: 7000', '    plugin: ecko'].join('\n'));
    assert.match(lines[0] ?? '', /unknown built-in plugin "ecko"; built-in plugins are echo/);
  });

  it('reject duplicate listener names and ports, and an admin port a listener uses', async () => {
    const lines = await problems(
      ['listeners:', '  - { name: a, port: 7000, plugin: echo }', '  - { name: a, port: 7000, plugin: echo }', 'admin: { port: 7000 }'].join('\n'),
    );
    assert.deepEqual(
      lines.map((l) => l.replace(/^capstan\.yaml:\d+:\d+: /, '')),
      [
        'listeners[1].name: duplicate name "a" (also listeners[0])',
        'listeners[1].port: port 7000 is also used by listeners[0] (a)',
        'admin.port: port 7000 is also used by listeners[0] (a)',
      ],
    );
  });

  it('refuse an admin endpoint off loopback without a token', async () => {
    const lines = await problems(['listeners:', '  - { name: a, port: 7000, plugin: echo }', 'admin: { host: 0.0.0.0 }'].join('\n'));
    assert.match(lines[0] ?? '', /^capstan\.yaml:3:\d+: admin\.host: is not a loopback address, so admin\.token is required/);
  });

  it('require a port for tcp and a path for unix, and keep their keys apart', async () => {
    const lines = await problems(
      ['listeners:', '  - { name: a, plugin: echo }', '  - { name: b, transport: unix, port: 7000, plugin: echo }'].join('\n'),
    );
    assert.deepEqual(
      lines.map((l) => l.replace(/^capstan\.yaml:\d+:\d+: /, '')),
      [
        'listeners[0].port: is required for transport tcp (0 picks a free port)',
        'listeners[1].path: is required for transport unix (the socket file path)',
        'listeners[1].port: does not apply to transport unix',
      ],
    );
  });

  it('name the TLS file it cannot read, at the key that names it', async () => {
    const lines = await problems(['listeners:', '  - name: a', '    port: 7443', `    ${ECHO}`, '    tls: { certFile: nope.pem, keyFile: nope.key }'].join('\n'));
    assert.equal(lines.length, 2);
    assert.match(lines[0] ?? '', /^capstan\.yaml:5:\d+: listeners\[0\]\.tls\.certFile: cannot read .*nope\.pem: no such file$/);
    assert.match(lines[1] ?? '', /listeners\[0\]\.tls\.keyFile: cannot read .*nope\.key: no such file$/);
  });

  it('report schema, cross-listener and file problems together, in one run', async () => {
    const lines = await problems(MIXED_PROBLEMS);
    assert.deepEqual(
      lines.map((l) => l.replace(tmp.dir, '<dir>').replace(/; known codecs are .*/, '')),
      [
        'capstan.yaml:5:30: listeners[0].limits.idleTimeoutMs: expected a whole number of at least 0, got "soon"',
        'capstan.yaml:6:11: listeners[1].name: duplicate name "a" (also listeners[0])',
        'capstan.yaml:9:12: listeners[1].codec: unknown codec "lp5"',
        'capstan.yaml:14:22: listeners[2].tls.certFile: cannot read <dir>/missing.pem: no such file',
        'capstan.yaml:15:21: listeners[2].tls.keyFile: cannot read <dir>/missing.key: no such file',
      ],
    );
  });

  it('check the rest of a listener whose value the schema rejected, without repeating that problem', async () => {
    const lines = await problems(
      ['listeners:', '  - { name: a, port: seven, plugin: echo, codec: lp5 }', '  - not a listener', '  - { name: a, port: 0, plugin: echo }'].join('\n'),
    );
    assert.deepEqual(
      lines.map((l) => l.replace(/^capstan\.yaml:\d+:\d+: /, '').replace(/; known codecs are .*/, '')),
      [
        'listeners[0].port: expected a whole number from 0 to 65535, got "seven"',
        'listeners[0].codec: unknown codec "lp5"',
        'listeners[1]: expected a mapping of keys to values, got "not a listener"',
        'listeners[2].name: duplicate name "a" (also listeners[0])',
      ],
    );
  });

  it('explain that Node 20 cannot load a TypeScript plugin and give the build command', async (t) => {
    if ((process.features as { typescript?: unknown }).typescript) return t.skip('this Node strips types');
    tmp.write('plugin.ts', 'export default {}\n');
    const lines = await problems(['listeners:', '  - name: a', '    port: 7000', '    plugin: ./plugin.ts'].join('\n'));
    const text = lines.join('\n');
    assert.match(text, /cannot load the TypeScript plugin .*plugin\.ts: Node \d+\.\d+\.\d+ cannot run TypeScript directly/);
    assert.match(text, /npx tsc .*plugin\.ts --module nodenext/);
  });

  it('say that a file is missing in plain words', async () => {
    await assert.rejects(readConfigSource(`${tmp.dir}/absent.yaml`), (err) => isCapstanError(err, 'ERR_CONFIG') && /absent\.yaml: cannot read the config file: no such file/.test(err.message));
  });
});

describe('config resolution', () => {
  it('accepts JSON as well as YAML', async () => {
    const file = tmp.write('capstan.json', JSON.stringify({ listeners: [{ name: 'j', port: 0, codec: 'line', plugin: 'echo' }], admin: false }));
    const config = await loadConfig(file);
    assert.equal(config.listeners[0]?.codec?.name, 'line');
    assert.equal(config.admin, null);
  });

  it('fills in defaults: loopback host, one process, info logs, 10 s grace, admin on 9100', async () => {
    const config = await resolveText(['listeners:', '  - { name: a, port: 0, plugin: echo }'].join('\n'));
    assert.equal(config.listeners[0]?.host, '127.0.0.1');
    assert.equal(config.workers, 1);
    assert.deepEqual(config.logging, { level: 'info', destination: 'stderr' });
    assert.deepEqual(config.shutdown, { graceMs: 10_000, quietMs: 250 });
    assert.deepEqual(config.admin, { host: '127.0.0.1', port: 9100 });
  });

  it('lets command-line overrides win over the file and shifts non-zero ports by the offset', async () => {
    const config = await resolveText(['workers: 4', 'listeners:', '  - { name: a, port: 7000, plugin: echo }', '  - { name: b, port: 0, plugin: echo }'].join('\n'), {
      workers: 1,
      logLevel: 'warn',
      portOffset: 100,
    });
    assert.equal(config.workers, 1);
    assert.equal(config.logging.level, 'warn');
    assert.deepEqual(
      config.listeners.map((l) => l.port),
      [7100, 0],
    );
    assert.equal(config.admin?.port, 9200);
  });

  it('accepts a unix listener with several workers (they share the primary\'s socket)', async () => {
    const config = await resolveText(['workers: 2', 'listeners:', '  - { name: u, transport: unix, path: app.sock, plugin: echo }'].join('\n'));
    assert.equal(config.workers, 2);
    assert.equal(config.listeners[0]?.path, `${tmp.dir}/app.sock`);
  });

  it('generates a self-signed certificate for a TLS listener with no certificate files', async () => {
    const config = await resolveText(['listeners:', '  - { name: t, transport: tls, port: 0, plugin: echo }'].join('\n'));
    const l = config.listeners[0];
    assert.equal(l?.selfSigned, true);
    assert.match(String(l?.tls?.cert), /BEGIN CERTIFICATE/);
    assert.match(String(l?.tls?.key), /PRIVATE KEY/);
  });

  it('runs the built-in default: lp4 echo on 7000, line echo on 7001, TLS echo on 7443, UDP echo on 7002, WebSocket echo on 7080, admin on 9100', async () => {
    const config = await loadConfig(undefined);
    assert.deepEqual(
      config.listeners.map((l) => [l.name, l.transport, l.host, l.port, l.codec?.name, l.plugin?.ref]),
      [
        ['echo-lp4', 'tcp', '127.0.0.1', 7000, 'lp4', 'echo'],
        ['echo-line', 'tcp', '127.0.0.1', 7001, 'line', 'echo'],
        ['echo-tls', 'tls', '127.0.0.1', 7443, 'lp4', 'echo'],
        ['echo-udp', 'udp', '127.0.0.1', 7002, undefined, 'echo'],
        ['echo-ws', 'tcp', '127.0.0.1', 7080, undefined, undefined],
      ],
    );
    assert.deepEqual(
      config.listeners[4]?.websocket?.endpoints.map((e) => [e.settings, e.plugin.ref]),
      [[{ path: '*', perMessageDeflate: true }, 'echo']],
    );
    assert.deepEqual(config.admin, { host: '127.0.0.1', port: 9100 });
    assert.equal(DEFAULT_CONFIG.listeners.length, 5);
  });
});
