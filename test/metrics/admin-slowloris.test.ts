import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import parsePrometheus from 'parse-prometheus-text-format';
import { isCapstanError } from '../../src/index.js';
import { startAdminServer, type AdminServer } from '../../src/metrics/admin-server.js';
import { DEFAULT_ADMIN_LIMITS } from '../../src/metrics/admin-guard.js';
import { recordingLogger, type LoggedLine } from '../support/logger.js';
import { waitFor } from '../support/net.js';
import { getFresh, horde, loopbackAddresses, trickle, type Horde, type SlowClient } from './slow-clients.js';
import { localSource, withTimeout } from './support.js';

const H = DEFAULT_ADMIN_LIMITS.headersTimeoutMs;
/** What a well-behaved request may take while the attack runs: seconds, for loaded CI machines. */
const ANSWER_MS = 5_000;

type Line = LoggedLine;

async function withAdmin<T>(run: (admin: AdminServer, lines: Line[]) => Promise<T>, limits?: Parameters<typeof startAdminServer>[0]['limits']): Promise<T> {
  const lines: Line[] = [];
  const admin = await startAdminServer({ port: 0, logger: recordingLogger(lines), source: localSource(new Map()), ...(limits !== undefined ? { limits } : {}) });
  try {
    return await run(admin, lines);
  } finally {
    await admin.close();
  }
}

interface AdminCounters {
  accepted: number;
  active: number;
  refused: Record<string, number>;
  closed: Record<string, number>;
}

/** The admin endpoint's own connection counters, read from its /metrics like a Prometheus scrape would. */
async function adminCounters(port: number): Promise<AdminCounters> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(ANSWER_MS) });
  assert.equal(res.status, 200);
  const families = parsePrometheus(await res.text());
  const samples = (name: string) => families.find((f) => f.name === name)?.metrics ?? [];
  const byReason = (name: string) => Object.fromEntries(samples(name).map((m) => [m.labels?.reason ?? '', Number(m.value)]));
  return {
    accepted: Number(samples('capstan_admin_connections_accepted_total')[0]?.value),
    active: Number(samples('capstan_admin_connections_active')[0]?.value),
    refused: byReason('capstan_admin_connections_refused_total'),
    closed: byReason('capstan_admin_connections_closed_total'),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Asks for /healthz, /readyz and /metrics in turn, `rounds` times, half on a
 * kept-alive connection (fetch) and half on a new connection each, as load
 * balancers do; every answer must be a 200 within {@link ANSWER_MS}.
 */
async function checkRepeatedly(port: number, rounds: number): Promise<void> {
  const paths = ['/healthz', '/readyz', '/metrics'];
  for (let i = 0; i < rounds; i++) {
    const path = paths[i % paths.length] as string;
    const how = i % 2 === 0 ? 'kept-alive' : 'new connection';
    let status: number;
    try {
      status = i % 2 === 0 ? (await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(ANSWER_MS) }).then(async (r) => (await r.arrayBuffer(), r.status))) : await getFresh(port, path, ANSWER_MS);
    } catch (err) {
      throw new Error(`request ${i + 1} of ${rounds} (${path}, ${how}) failed under the attack: ${(err as Error).message}`);
    }
    assert.equal(status, 200, `request ${i + 1} of ${rounds} (${path}, ${how})`);
    await sleep(200);
  }
}

/** Once all `members` of `attackers` have connected and the churn has begun, {@link checkRepeatedly}; stops the attack. */
async function checkUnder(attackers: Horde, members: number, port: number, rounds: number): Promise<void> {
  try {
    await waitFor(() => attackers.connections() >= members, 15_000, 'every slow client to connect');
    await sleep(1_000);
    await checkRepeatedly(port, rounds);
  } finally {
    attackers.stop();
  }
}

describe('the admin endpoint under slow clients', () => {
  it('keeps /healthz, /readyz and /metrics answering while 72 slow clients from 8 addresses fill every slot', async () => {
    await withAdmin(async (admin) => {
      const port = admin.address.port;
      await checkUnder(horde(port, loopbackAddresses(2, 8), 9), 72, port, 24);
      const c = await adminCounters(port);
      assert.ok((c.closed.evicted ?? 0) > 0, `the slow clients filled the ${DEFAULT_ADMIN_LIMITS.maxConnections} slots and gave way (${JSON.stringify(c)})`);
      assert.ok(c.active <= DEFAULT_ADMIN_LIMITS.maxConnections);
    });
  });

  it('keeps answering while 70 slow clients from one address trickle, refusing that address past its cap, with a bounded log', async () => {
    await withAdmin(async (admin, lines) => {
      const port = admin.address.port;
      const started = performance.now();
      await checkUnder(horde(port, ['127.0.0.2'], 70), 70, port, 18);
      const seconds = (performance.now() - started) / 1000;
      const c = await adminCounters(port);
      assert.ok((c.refused['max-per-address'] ?? 0) >= 70 - DEFAULT_ADMIN_LIMITS.maxConnectionsPerAddress, `refusals counted (${JSON.stringify(c)})`);
      const warnings = lines.filter((l) => l.level === 'warn');
      assert.ok(warnings.length <= 10 * (seconds + 1), `${warnings.length} warnings in ${seconds.toFixed(1)} s: the log is rate-limited`);
      assert.ok(
        warnings.some((l) => /^suppressed \d+/.test(l.msg ?? '')),
        'the lines over the budget are summed up',
      );
    });
  });

  it('closes a request whose headers are not in after the header deadline, counted from connecting or, on a kept-alive connection, from its first byte', async () => {
    await withAdmin(async (admin) => {
      const port = admin.address.port;
      const eager = trickle(port);
      // Silent for most of the deadline first: the deadline must not start again at the first byte.
      const silent = trickle(port, { silentMs: H - 1_000 });
      const keptAlive = trickle(port, { preamble: 'GET /healthz HTTP/1.1\r\nHost: admin\r\n\r\n', afterBytes: 1, silentMs: 1_000 });
      const all: SlowClient[] = [eager, silent, keptAlive];
      try {
        await withTimeout(Promise.all(all.map((c) => c.closed)), H + 10_000, 'the slow clients to be closed');
      } finally {
        for (const c of all) c.stop();
      }
      for (const c of all) assert.match(c.received, /HTTP\/1\.1 408 Request Timeout\r\n/);
      assert.match(keptAlive.received, /^HTTP\/1\.1 200 OK\r\n/, 'the first request on the kept-alive connection was served');
      const within = (ms: number, max: number, what: string) => {
        assert.ok(ms >= H * 0.8, `${what}: closed after ${ms.toFixed(0)} ms, not before the ${H} ms deadline`);
        assert.ok(ms <= max, `${what}: closed after ${ms.toFixed(0)} ms, within ${max} ms`);
      };
      within(eager.closedAt - eager.connectedAt, H + 4_000, 'trickling from the start');
      within(silent.closedAt - silent.connectedAt, H + 2_500, 'silent, then trickling');
      within(keptAlive.closedAt - keptAlive.firstByteAt, H + 4_000, 'a second request on a kept-alive connection');
      const c = await adminCounters(port);
      assert.ok((c.closed['request-timeout'] ?? 0) >= 3, `timeouts counted (${JSON.stringify(c)})`);
    });
  });

  it('refuses the connection over the per-address cap at once, while other addresses still connect', async () => {
    await withAdmin(async (admin) => {
      const port = admin.address.port;
      const cap = DEFAULT_ADMIN_LIMITS.maxConnectionsPerAddress;
      const held = Array.from({ length: cap }, () => trickle(port, { localAddress: '127.0.0.3', everyMs: 1_000 }));
      let extra: SlowClient | null = null;
      try {
        await waitFor(() => held.every((c) => !Number.isNaN(c.connectedAt)), 10_000, `${cap} connections from 127.0.0.3`);
        extra = trickle(port, { localAddress: '127.0.0.3', everyMs: 1_000 });
        await withTimeout(extra.closed, 3_000, `connection ${cap + 1} from 127.0.0.3 to be refused`);
        assert.equal(extra.received, '', 'refused before any answer');
        assert.ok(
          held.every((c) => Number.isNaN(c.closedAt)),
          'the connections within the cap stay open',
        );
        assert.equal(await getFresh(port, '/healthz', ANSWER_MS, '127.0.0.4'), 200);
        assert.equal(await getFresh(port, '/healthz', ANSWER_MS, '127.0.0.1'), 200);
        held[0]?.stop();
        let status = 0;
        for (let i = 0; i < 50 && status !== 200; i++) {
          status = await getFresh(port, '/healthz', ANSWER_MS, '127.0.0.3').catch(() => sleep(100).then(() => 0));
        }
        assert.equal(status, 200, 'a freed slot takes a new connection from the capped address');
      } finally {
        for (const c of held) c.stop();
        extra?.stop();
      }
      const c = await adminCounters(port);
      assert.ok((c.refused['max-per-address'] ?? 0) >= 1, `the refusal is counted (${JSON.stringify(c)})`);
    });
  });

  it('takes its limits from the options', async () => {
    await withAdmin(
      async (admin) => {
        const port = admin.address.port;
        const clients = [0, 1, 2].map(() => trickle(port, { localAddress: '127.0.0.5', everyMs: 200 }));
        try {
          await withTimeout(Promise.all(clients.map((c) => c.closed)), 10_000, 'the slow clients to be closed');
        } finally {
          for (const c of clients) c.stop();
        }
        const timedOut = clients.filter((c) => c.received.includes('408'));
        assert.equal(timedOut.length, 2, 'two admitted, both timed out');
        for (const c of timedOut) assert.ok(c.closedAt - c.connectedAt < 1_000 + 4_000);
        assert.equal(clients.filter((c) => c.received === '').length, 1, 'the third refused');
      },
      { maxConnectionsPerAddress: 2, headersTimeoutMs: 1_000 },
    );
  });

  it('rejects limits that are not positive integers with ERR_INVALID_OPTION', async () => {
    const source = localSource(new Map());
    for (const limits of [{ maxConnections: 0 }, { maxConnectionsPerAddress: 1.5 }, { headersTimeoutMs: -1 }, { keepAliveTimeoutMs: Number.NaN }]) {
      // A server that starts regardless is closed, so that the failure is reported and not a hang.
      const started = startAdminServer({ port: 0, source, limits }).then(async (admin) => {
        await admin.close();
        return admin;
      });
      await assert.rejects(started, (err) => isCapstanError(err, 'ERR_INVALID_OPTION') && err.message.includes(Object.keys(limits)[0] as string));
    }
  });
});
