import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import parsePrometheus, { type ParsedFamily } from 'parse-prometheus-text-format';
import { listen, silentLogger } from '../../src/index.js';
import { ListenerCounters } from '../../src/metrics/listener-counters.js';
import { createExposition } from '../../src/metrics/prometheus.js';
import { collectWorkerSnapshot, combineSnapshots } from '../../src/metrics/snapshot.js';
import { waitFor } from '../support/net.js';
import { udpPeer } from '../support/udp.js';

function samples(families: ParsedFamily[], name: string): Array<[Record<string, string>, number]> {
  return (families.find((f) => f.name === name)?.metrics ?? []).map((m) => [m.labels ?? {}, Number(m.value)]);
}

describe('UDP listeners in /metrics', () => {
  it('exposes datagrams each way, drops by reason and sessions, for UDP listeners only', async () => {
    const server = await listen({ transport: 'udp', port: 0, logger: silentLogger, limits: { maxDatagramBytes: 10 }, handler: { message: (s, d) => void s.send(d) } });
    const a = await udpPeer(server.address.port);
    await a.send('one');
    await a.send('far too long');
    await a.send('two');
    await a.waitFor(2);
    await waitFor(() => server.stats().udp?.datagramsOut === 2, 10_000, 'two sends reported');
    const tcp = new ListenerCounters();
    const snapshot = combineSnapshots([collectWorkerSnapshot('main', new Map<string, { stats(): ReturnType<typeof server.stats> }>([['u', server], ['t', { stats: () => tcp.snapshot(0) }]]))], false);
    const families = parsePrometheus(await createExposition().render(snapshot));
    assert.deepEqual(samples(families, 'capstan_udp_datagrams_total'), [
      [{ worker: 'main', listener: 'u', direction: 'in' }, 3],
      [{ worker: 'main', listener: 'u', direction: 'out' }, 2],
    ]);
    const drops = new Map(samples(families, 'capstan_udp_dropped_total').map(([l, v]) => [l.reason, v]));
    assert.equal(drops.get('oversize'), 1);
    assert.equal(drops.get('rate'), 0);
    assert.deepEqual(samples(families, 'capstan_udp_icmp_errors_total'), [[{ worker: 'main', listener: 'u' }, 0]]);
    assert.deepEqual(
      samples(families, 'capstan_connections_accepted_total').map(([l, v]) => [l.listener, v]),
      [
        ['u', 1],
        ['t', 0],
      ],
    );
    assert.equal(snapshot.combined.listeners.u?.udp?.drops.oversize, 1, 'combined across workers like every counter');
    await Promise.all([a.close(), server.close({ graceMs: 100 })]);
  });
});
