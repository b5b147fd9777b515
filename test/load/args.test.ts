import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseBytes, parseCommand, parseCount, parseDuration, parseSourceAddresses } from '../../src/load/args.js';
import { parseTarget } from '../../src/load/target.js';

describe('capstan load arguments', () => {
  it('reads counts, sizes and times with the units people type', () => {
    assert.equal(parseCount('c', '10k'), 10_000);
    assert.equal(parseCount('c', '1.5m'), 1_500_000);
    assert.equal(parseBytes('size', '4k'), 4096);
    assert.equal(parseBytes('size', '64'), 64);
    assert.equal(parseDuration('d', '30', 's'), 30_000);
    assert.equal(parseDuration('d', '500ms', 's'), 500);
    assert.equal(parseDuration('max-p99', '250', 'us'), 0.25);
    assert.equal(parseDuration('max-p99', '5ms', 'us'), 5);
    assert.throws(() => parseCount('c', 'ten'), { code: 'ERR_INVALID_OPTION', message: /--c must be a whole number/ });
    assert.throws(() => parseDuration('d', '5 parsecs', 's'), { code: 'ERR_INVALID_OPTION' });
  });

  it('spreads a source address range into its addresses', () => {
    assert.deepEqual(parseSourceAddresses('127.0.0.2-127.0.0.4'), ['127.0.0.2', '127.0.0.3', '127.0.0.4']);
    assert.deepEqual(parseSourceAddresses('127.0.0.9,127.0.1.255-127.0.2.0'), ['127.0.0.9', '127.0.1.255', '127.0.2.0']);
    assert.throws(() => parseSourceAddresses('127.0.0.9-127.0.0.2'), { code: 'ERR_INVALID_OPTION' });
  });

  it('takes --ws-text or --ws-binary, not both', () => {
    assert.equal(parseCommand(['ws://127.0.0.1:1/', '--ws-text']).options.wsOpcode, 'text');
    assert.equal(parseCommand(['ws://127.0.0.1:1/', '--ws-binary']).options.wsOpcode, 'binary');
    assert.equal(parseCommand(['ws://127.0.0.1:1/']).options.wsOpcode, undefined);
    assert.throws(() => parseCommand(['ws://127.0.0.1:1/', '--ws-text', '--ws-binary']), { code: 'ERR_INVALID_OPTION', message: /one of/ });
  });

  it('turns the command line into load options and thresholds', () => {
    const c = parseCommand(['tls://example.test:7443', '-c', '2k', '-d', '30s', '--size', '64-1k', '--depth', '16', '--framing', 'lp4', '-k', '--max-p99', '5ms', '--json']);
    assert.deepEqual(c.options, {
      target: 'tls://example.test:7443',
      connections: 2000,
      durationSec: 30,
      size: [64, 1024],
      depth: 16,
      framing: 'lp4',
      tls: { rejectUnauthorized: false },
    });
    assert.deepEqual(c.thresholds, { maxErrors: 0, maxP99Us: 5000 });
    assert.equal(c.json, true);
  });

  it('collects repeated requests in order, with their checks and the drain timeout', () => {
    const c = parseCommand(['7000', '--mode', 'request', '--request', 'SET k{{key:10}} {{n}}', '--request', 'GET k{{key:10}}', '--requests-file', 'more.txt', '--expect-match', '^(OK|\\d+)$', '--drain-timeout', '2s']);
    assert.deepEqual(c.options, {
      target: '7000',
      mode: 'request',
      requests: ['SET k{{key:10}} {{n}}', 'GET k{{key:10}}'],
      requestsFile: 'more.txt',
      expectMatch: '^(OK|\\d+)$',
      drainTimeoutMs: 2000,
    });
    assert.equal(parseCommand(['7000', '--expect', 'OK']).options.expect, 'OK');
    assert.equal(parseCommand(['7000', '--expect-prefix', '+']).options.expectPrefix, '+');
  });

  it('parses targets of every scheme and refuses the ones it does not speak', () => {
    assert.deepEqual(parseTarget('tcp://[::1]:7000'), { scheme: 'tcp', host: '::1', port: 7000, path: '', resource: '', display: 'tcp://[::1]:7000' });
    assert.deepEqual(parseTarget('ws://127.0.0.1:8080/echo?room=1'), { scheme: 'ws', host: '127.0.0.1', port: 8080, path: '', resource: '/echo?room=1', display: 'ws://127.0.0.1:8080/echo?room=1' });
    assert.equal(parseTarget('ws://example.test').port, 80);
    assert.equal(parseTarget('ws://example.test').resource, '/');
    assert.equal(parseTarget('wss://[::1]/x').port, 443);
    assert.equal(parseTarget('wss://[::1]/x').host, '::1');
    assert.throws(() => parseTarget('tcp://127.0.0.1:7000/path'), { message: /has a path/ });
    assert.equal(parseTarget('7000').display, 'tcp://127.0.0.1:7000');
    assert.equal(parseTarget('localhost:81').host, 'localhost');
    assert.equal(parseTarget('unix:///run/app.sock').path, '/run/app.sock');
    assert.deepEqual(parseTarget('udp://[::1]:7002'), { scheme: 'udp', host: '::1', port: 7002, path: '', resource: '', display: 'udp://[::1]:7002' });
    assert.throws(() => parseTarget('udp://127.0.0.1:7002/x'), { message: /has a path/ });
    assert.throws(() => parseTarget('sctp://127.0.0.1:9'), { code: 'ERR_INVALID_OPTION', message: /scheme sctp:\/\/.*it speaks tcp, tls, unix, ws, wss, udp/ });
    assert.throws(() => parseTarget('tcp://127.0.0.1'), { message: /needs a port/ });
    assert.throws(() => parseTarget('unix://'), { message: /absolute socket path/ });
  });

  it('reads --max-loss as a percentage for udp:// targets only', () => {
    assert.equal(parseCommand(['udp://127.0.0.1:7002', '--max-loss', '2%']).thresholds.maxLossPct, 2);
    assert.equal(parseCommand(['udp://127.0.0.1:7002', '--max-loss', '0.25']).thresholds.maxLossPct, 0.25);
    assert.equal(parseCommand(['udp://127.0.0.1:7002']).thresholds.maxLossPct, undefined);
    assert.throws(() => parseCommand(['udp://127.0.0.1:7002', '--max-loss', '101']), { message: /--max-loss must be a percentage from 0 to 100/ });
    assert.throws(() => parseCommand(['7000', '--max-loss', '1']), { message: /applies to udp:\/\/ targets only/ });
  });
});
