import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadRunner } from './cli-run.js';
import { capstanServer, delayingServer, type Fixture } from './servers.js';

describe('capstan load on the command line', () => {
  const fixtures: Fixture[] = [];
  const { load, killAll } = loadRunner();
  after(async () => {
    killAll();
    for (const f of fixtures) await f.close();
  });

  it('prints one JSON object with rates, latency percentiles and errors, and exits 0 on a clean run', async () => {
    const server = await capstanServer('lp4', true);
    fixtures.push(server);
    const run = await load(server.target, '--framing', 'lp4', '-c', '4', '--depth', '4', '-n', '400', '--size', '64', '--json');
    assert.equal(run.code, 0, run.stderr);
    const r = JSON.parse(run.stdout) as Record<string, unknown> & { latencyUs: Record<string, number>; errors: Record<string, number> };
    for (const key of ['msgsPerSec', 'bytesPerSec', 'latencyUs', 'errors']) assert.ok(key in r, `has ${key}`);
    for (const key of ['p50', 'p90', 'p99', 'p999', 'max']) assert.equal(typeof r.latencyUs[key], 'number', `latencyUs.${key}`);
    assert.equal(r.errors.total, 0);
    assert.equal((r.received as { msgs: number }).msgs, 400);
  });

  it('shows progress each second and a final table', async () => {
    const server = await capstanServer('raw', true);
    fixtures.push(server);
    const run = await load(server.target, '-c', '2', '-d', '1.5');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /open 2\/2 .*sent .*\/s .*recv .*\/s .*errors 0/);
    assert.match(run.stdout, /latency +p50 .* p99 /);
    assert.match(run.stdout, /errors +0/);
  });

  it('exits 1 when p99 latency exceeds --max-p99', async () => {
    const server = await delayingServer(20);
    fixtures.push(server);
    const run = await load(server.target, '-c', '1', '-n', '5', '--max-p99', '1ms', '-q');
    assert.equal(run.code, 1);
    assert.match(run.stderr, /FAIL: p99 latency .* exceeds the limit of 1\.00 ms/);
  });

  it('passes a slow server when --max-p99 allows for it', async () => {
    const server = await delayingServer(20);
    fixtures.push(server);
    const run = await load(server.target, '-c', '1', '-n', '5', '--max-p99', '10s', '-q');
    assert.equal(run.code, 0, run.stderr);
  });

  it('exits 1 on errors, and 0 when --max-errors allows them', async () => {
    const refused = await load('tcp://127.0.0.1:1', '-c', '2', '-q');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /FAIL: 2 errors \(refused 2\)/);
    assert.match(refused.stderr, /refused: connection 1: connect ECONNREFUSED/);
    const allowed = await load('tcp://127.0.0.1:1', '-c', '2', '-q', '--max-errors', '2');
    assert.equal(allowed.code, 0, allowed.stderr);
  });

  it('exits 2 with the problem and where the help is on a bad command line', async () => {
    const unknown = await load('tcp://127.0.0.1:1', '--bogus');
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stderr, 'capstan load: unknown option --bogus\nRun "capstan load --help" for the options.\n');
    const badMode = await load('tcp://127.0.0.1:1', '--mode', 'sideways');
    assert.equal(badMode.code, 2);
    assert.match(badMode.stderr, /option mode must be echo, send, idle, churn/);
    const noTarget = await load();
    assert.equal(noTarget.code, 2);
    assert.match(noTarget.stderr, /give a TARGET/);
  });
});
