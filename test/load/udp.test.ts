import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { isCapstanError } from '../../src/errors.js';
import { runLoad } from '../../src/load/run.js';
import { waitFor } from '../support/net.js';
import { capstanUdpEcho, dgramEcho, dgramServer, pairingServer, type UdpFixture } from './udp-servers.js';

/** A generous reply timeout: on loopback nothing is lost at these loads, but a loaded machine may stall for a while. */
const PATIENT = 10_000;

describe('capstan load udp://', () => {
  const fixtures: UdpFixture[] = [];
  after(async () => {
    for (const f of fixtures) await f.close();
  });
  const keep = <T extends UdpFixture>(f: T): T => {
    fixtures.push(f);
    return f;
  };

  it("checks every echo of Capstan's UDP echo, one session per socket, with nothing lost", async () => {
    const server = keep(await capstanUdpEcho());
    const r = await runLoad({ target: server.target, connections: 20, depth: 4, messages: 4000, replyTimeoutMs: PATIENT });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.deepEqual(r.datagrams, { sent: 4000, received: 4000, lost: 0, late: 0, duplicates: 0, lossPct: 0, mismatches: 0, replyTimeoutMs: PATIENT });
    assert.equal(r.latencyUs.count, 4000);
    assert.equal(r.connections.established, 20);
    // Each socket has its own source port, so the server made one session for each.
    assert.equal(server.server.stats().accepted, 20);
    assert.equal(server.received, 4000);
  });

  it('keeps a fixed rate against a raw dgram echo with nothing lost, timing each datagram from its scheduled send', async () => {
    const server = keep(await dgramEcho());
    const r = await runLoad({ target: server.target, connections: 10, rate: 20, depth: 8, durationSec: 2, replyTimeoutMs: PATIENT });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    const d = r.datagrams;
    assert.ok(d !== undefined);
    // 10 sockets × 20/s × 2 s is 400 events (401 when a tick lands on the deadline itself, fewer when the
    // last ticks run late); a send is skipped only when 8 are already in flight on its socket.
    assert.ok(d.sent + r.skipped <= 401 && d.sent + r.skipped >= 380, `${d.sent} sent, ${r.skipped} skipped`);
    assert.ok(d.sent >= 300, `sent ${d.sent}`);
    assert.equal(d.received, d.sent);
    assert.equal(d.lost, 0);
    assert.equal(r.ratePerConnection, 20);
    assert.equal(r.latencyUs.count, d.sent);
  });

  it('carries a codec inside each datagram, against Capstan (which packs the records of a turn) and a raw echo', async () => {
    for (const framing of ['lp4', 'line']) {
      const capstan = keep(await capstanUdpEcho(framing));
      const raw = keep(await dgramEcho());
      for (const server of [capstan, raw]) {
        const r = await runLoad({ target: server.target, framing, connections: 8, depth: 8, messages: 2000, size: [40, 300], replyTimeoutMs: PATIENT });
        assert.equal(r.errors.total, 0, `${framing} ${server.target}: ${JSON.stringify(r.errorSamples)}`);
        assert.equal(r.datagrams?.received, 2000);
        assert.equal(r.datagrams?.lost, 0);
      }
      // The listener decoded one record per datagram and answered every one.
      assert.equal(capstan.server.stats().framesIn, 2000);
    }
  });

  it('matches two replies packed into one datagram record by record', async () => {
    const server = keep(await pairingServer());
    const r = await runLoad({ target: server.target, framing: 'lp4', connections: 4, depth: 2, messages: 400, replyTimeoutMs: PATIENT });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.datagrams?.received, 400);
    // Two replies arrived in each datagram.
    assert.equal(r.received.bytes, r.sent.bytes);
  });

  it('counts every datagram a server drops as lost, not as an error', async () => {
    const server = keep(await dgramServer((m, n) => (n % 10 === 0 ? null : m)));
    const r = await runLoad({ target: server.target, connections: 10, depth: 4, messages: 1000, replyTimeoutMs: 300 });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(server.received, 1000);
    assert.deepEqual(
      { lost: r.datagrams?.lost, received: r.datagrams?.received, lossPct: r.datagrams?.lossPct, late: r.datagrams?.late },
      { lost: 100, received: 900, lossPct: 10, late: 0 },
    );
    assert.equal(r.latencyUs.count, 900);
  });

  it('reports a corrupted echo as a mismatch saying where it differs, and goes on', async () => {
    const server = keep(
      await dgramServer((m, n) => {
        if (n !== 50) return m;
        const bad = Buffer.from(m);
        bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0xff;
        return bad;
      }),
    );
    const r = await runLoad({ target: server.target, connections: 5, depth: 2, messages: 500, replyTimeoutMs: PATIENT });
    assert.equal(r.errors.mismatch, 1);
    assert.equal(r.errors.total, 1);
    assert.match(r.errorSamples.mismatch ?? '', /^socket \d+: reply to datagram \d+\/\d+ differs at body byte 63: expected 0x[0-9a-f]{2}, got 0x[0-9a-f]{2}$/);
    assert.deepEqual({ received: r.datagrams?.received, mismatches: r.datagrams?.mismatches, lost: r.datagrams?.lost }, { received: 499, mismatches: 1, lost: 0 });
  });

  it('flags a reply that carries no tag of this client, or the tag of another socket', async () => {
    const garbage = keep(await dgramServer((m, n) => (n === 3 ? Buffer.from('not an echo at all') : m)));
    const r = await runLoad({ target: garbage.target, connections: 2, depth: 1, messages: 20, replyTimeoutMs: 300 });
    assert.equal(r.errors.mismatch, 1);
    assert.match(r.errorSamples.mismatch ?? '', /a reply of 18 bytes carries no tag of this client/);
    // Datagram 3 had no answer of its own.
    assert.equal(r.datagrams?.lost, 1);
    let first: Buffer | null = null;
    const crossed = keep(
      await dgramServer((m) => {
        first ??= Buffer.from(m);
        return first;
      }),
    );
    const c = await runLoad({ target: crossed.target, connections: 2, depth: 1, messages: 2, replyTimeoutMs: 300 });
    assert.match(c.errorSamples.mismatch ?? '', /a reply carries the tag of socket [12]$/);
  });

  it('counts replies after the reply timeout as lost and then late', async () => {
    const delayed = new Set([10, 20]);
    const server = keep(await dgramServer((m, n) => (delayed.has(n) ? { reply: Buffer.from(m), afterMs: 1000 } : m)));
    const r = await runLoad({ target: server.target, connections: 4, rate: 50, depth: 16, durationSec: 2.5, replyTimeoutMs: 300 });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    const d = r.datagrams;
    assert.ok(d !== undefined);
    assert.ok(d.lost >= 2 && d.late >= 2, JSON.stringify(d));
    // Every datagram this server delays is answered in the end: lost ones come back late, none twice.
    assert.equal(d.duplicates, 0);
    assert.equal(d.received + d.lost, d.sent);
  });

  it('fails each socket as refused when nothing listens (ICMP port unreachable), without hanging', async () => {
    const closed = await dgramEcho();
    const target = closed.target;
    await closed.close();
    const r = await runLoad({ target, connections: 3, depth: 2, durationSec: 5 });
    assert.equal(r.errors.refused, 3, JSON.stringify(r.errorSamples));
    assert.match(r.errorSamples.refused ?? '', /ECONNREFUSED.*nothing listens there/);
    assert.ok((r.datagrams?.lost ?? 0) > 0);
    assert.equal(r.datagrams?.received, 0);
  });

  it("holds idle sockets, each with a session made by one answered datagram (the server's memory per session)", async () => {
    const server = keep(await capstanUdpEcho());
    let sessions = -1;
    const r = await runLoad(
      { target: server.target, mode: 'idle', connections: 200, durationSec: 0.5 },
      {
        onConnected: () => {
          sessions = server.server.sessionCount;
        },
      },
    );
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.connections.established, 200);
    assert.equal(sessions, 200);
  });

  it('spreads the sockets over two worker processes and merges exact counts', async () => {
    const server = keep(await capstanUdpEcho('lp4'));
    const r = await runLoad({ target: server.target, framing: 'lp4', connections: 6, workers: 2, depth: 4, messages: 1200, replyTimeoutMs: PATIENT });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.workers, 2);
    assert.equal(r.datagrams?.received, 1200);
    assert.equal(r.latencyUs.count, 1200);
    // The tags name sockets over the whole run: six sockets, six sessions, across both processes.
    await waitFor(() => server.server.stats().accepted === 6, 5000, 'six sessions');
  });

  it('speaks udp6', async (t) => {
    let server: UdpFixture;
    try {
      server = keep(await capstanUdpEcho('raw', '::1'));
    } catch {
      return t.skip('no IPv6 loopback here');
    }
    const r = await runLoad({ target: server.target, connections: 3, depth: 2, messages: 300, replyTimeoutMs: PATIENT });
    assert.equal(r.errors.total, 0, JSON.stringify(r.errorSamples));
    assert.equal(r.datagrams?.received, 300);
  });

  it('refuses what a udp:// target cannot do, before sending anything', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ mode: 'churn' }, /option mode must be echo or idle for a udp:\/\/ target/],
      [{ framing: 'lp4', size: 18 }, /16-byte tag .* size must be at least 20 bytes/],
      [{ size: 70_000 }, /UDP carries at most 65507 bytes/],
      [{ wsOpcode: 'text' }, /wsOpcode must be given only with a ws:\/\//],
    ];
    await assert.rejects(runLoad({ target: 'udp://127.0.0.1:9', replyTimeoutMS: 100 } as never), (err: Error) => isCapstanError(err, 'ERR_UNKNOWN_OPTION') && /did you mean replyTimeoutMs\?/.test(err.message));
    for (const [extra, message] of cases) {
      await assert.rejects(
        runLoad({ target: 'udp://127.0.0.1:9', ...extra }),
        (err: Error) => isCapstanError(err, 'ERR_INVALID_OPTION') && message.test(err.message),
        JSON.stringify(extra),
      );
    }
  });
});
