import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import parsePrometheus, { type ParsedFamily } from 'parse-prometheus-text-format';
import { listen, silentLogger } from '../../src/index.js';
import { ListenerCounters } from '../../src/metrics/listener-counters.js';
import { createExposition } from '../../src/metrics/prometheus.js';
import { collectWorkerSnapshot, combineSnapshots } from '../../src/metrics/snapshot.js';
import { waitFor } from '../support/net.js';
import { relayed, udpPeer } from '../support/udp.js';

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

  it('exposes PROXY header drops by reason, and the headers read, for a UDP listener behind a proxy', async () => {
    const server = await listen({ transport: 'udp', port: 0, logger: silentLogger, proxyProtocol: 'required', handler: { message: (s, d) => void s.send(d) } });
    const proxy = await udpPeer(server.address.port);
    await proxy.send('no header');
    const cut = relayed('198.51.100.1', 1, 'x');
    await proxy.send(cut.subarray(0, 20));
    await proxy.send(relayed('198.51.100.1', 1, 'relayed'));
    await proxy.waitFor(1);
    await waitFor(() => server.stats().udp?.datagramsIn === 3, 10_000, 'three datagrams read');
    const snapshot = combineSnapshots([collectWorkerSnapshot('main', new Map([['u', server]]))], false);
    const families = parsePrometheus(await createExposition().render(snapshot));
    const drops = new Map(samples(families, 'capstan_udp_dropped_total').map(([l, v]) => [l.reason, v]));
    assert.equal(drops.get('proxy-missing'), 1);
    assert.equal(drops.get('proxy-truncated'), 1);
    assert.equal(drops.get('proxy-untrusted'), 0);
    const headers = new Map(samples(families, 'capstan_proxy_headers_total').map(([l, v]) => [l.result, v]));
    assert.equal(headers.get('accepted'), 1);
    // What /stats.json serves: the snapshot's combined listeners.
    const json = JSON.parse(JSON.stringify(snapshot)) as typeof snapshot;
    assert.equal(json.combined.listeners.u?.udp?.drops['proxy-missing'], 1);
    assert.equal(json.combined.listeners.u?.proxy.accepted, 1);
    await Promise.all([proxy.close(), server.close({ graceMs: 100 })]);
  });
});
