import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadRunner } from './cli-run.js';
import { capstanUdpEcho, dgramServer, type UdpFixture } from './udp-servers.js';

describe('capstan load udp:// on the command line', () => {
  const fixtures: UdpFixture[] = [];
  const { load, killAll } = loadRunner();
  after(async () => {
    killAll();
    for (const f of fixtures) await f.close();
  });

  it('prints the datagram counts in JSON and exits 0 on a clean run', async () => {
    const server = await capstanUdpEcho();
    fixtures.push(server);
    const run = await load(server.target, '-c', '4', '--depth', '4', '-n', '400', '--timeout', '10s', '--json');
    assert.equal(run.code, 0, run.stderr);
    const r = JSON.parse(run.stdout) as { datagrams: Record<string, number>; target: string };
    assert.equal(r.target, server.target);
    assert.deepEqual(r.datagrams, { sent: 400, received: 400, lost: 0, late: 0, duplicates: 0, lossPct: 0, mismatches: 0, replyTimeoutMs: 10_000 });
  });

  it('shows datagrams, loss and late replies in the table and the progress lines', async () => {
    const server = await dgramServer((m, n) => (n % 4 === 0 ? null : m));
    fixtures.push(server);
    const run = await load(server.target, '-c', '2', '--depth', '2', '-d', '1.5', '--timeout', '200ms');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^capstan load udp:\/\/127\.0\.0\.1:\d+: echo, raw, 64 B random, depth 2, 1 process$/m);
    assert.match(run.stdout, /sockets +2 of 2 connected/);
    assert.match(run.stdout, /datagrams +[\d,]+ +[\d,]+/);
    assert.match(run.stdout, /lost +[\d,]+ \((2[0-9]|3[0-9])\.\d\d %\), no reply within 200 ms/);
    assert.match(run.stdout, /late replies +0 +duplicates 0 +mismatches 0/);
    assert.match(run.stderr, /open 2\/2 .*lost [\d,]+ +errors 0/);
  });

  it('exits 1 when loss exceeds --max-loss, and 0 when it allows for it', async () => {
    const server = await dgramServer((m, n) => (n % 10 === 0 ? null : m));
    fixtures.push(server);
    const strict = await load(server.target, '-c', '5', '--depth', '2', '-n', '500', '--timeout', '300ms', '--max-loss', '5', '-q');
    assert.equal(strict.code, 1, strict.stderr);
    assert.match(strict.stderr, /FAIL: 50 of 500 datagrams lost \(10\.00 %\), more than the 5\.00 % allowed/);
    const lenient = await load(server.target, '-c', '5', '--depth', '2', '-n', '500', '--timeout', '300ms', '--max-loss', '15%', '-q');
    assert.equal(lenient.code, 0, lenient.stderr);
  });

  it('exits 1 when nothing is answered, and 2 for --max-loss on a stream target', async () => {
    const silent = await dgramServer(() => null);
    fixtures.push(silent);
    const none = await load(silent.target, '-c', '2', '-d', '0.5', '--timeout', '200ms', '-q');
    assert.equal(none.code, 1);
    assert.match(none.stderr, /FAIL: none of the \d+ datagrams sent was answered/);
    const stream = await load('tcp://127.0.0.1:1', '--max-loss', '1');
    assert.equal(stream.code, 2);
    assert.match(stream.stderr, /--max-loss applies to udp:\/\/ targets only/);
    const badPct = await load('udp://127.0.0.1:1', '--max-loss', 'lots');
    assert.equal(badPct.code, 2);
    assert.match(badPct.stderr, /--max-loss must be a percentage from 0 to 100/);
  });
});
