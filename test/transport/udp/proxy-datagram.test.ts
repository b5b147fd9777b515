import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type dgram from 'node:dgram';
import fc from 'fast-check';
import { ListenerCounters } from '../../../src/metrics/listener-counters.js';
import { resolveProxyPolicy, type ProxyProtocolOption } from '../../../src/pipeline/proxy-policy.js';
import { encodeProxyV2, parseProxyDatagram } from '../../../src/pipeline/proxy-protocol.js';
import { ProxyDatagrams } from '../../../src/transport/udp/proxy-datagram.js';
import { relayed } from '../../support/udp.js';

const PROXY: dgram.RemoteInfo = { address: '127.0.0.1', port: 40000, family: 'IPv4', size: 0 };
const STRANGER: dgram.RemoteInfo = { address: '192.0.2.50', port: 40000, family: 'IPv4', size: 0 };

function stage(option: ProxyProtocolOption): ProxyDatagrams {
  const policy = resolveProxyPolicy(option);
  assert.ok(policy !== null);
  return new ProxyDatagrams(policy, new ListenerCounters().proxy);
}

/** A header with TLVs and a checksum, so truncations cut through every part of one. */
const full = relayed('198.51.100.20', 6000, 'payload', { tlvs: [{ type: 0x02, value: Buffer.from('svc.example') }, { type: 0x05, value: Buffer.from('id-1') }], checksum: true });
const headerBytes = full.length - 'payload'.length;

describe('the PROXY stage of a UDP listener', () => {
  it('reads the client, the header and the payload of a relayed datagram', () => {
    const s = stage('required');
    assert.equal(s.read(full, PROXY), null);
    assert.deepEqual([s.address, s.port, s.family, s.payload.toString()], ['198.51.100.20', 6000, 'IPv4', 'payload']);
    assert.equal(s.header?.authority, 'svc.example');
    assert.equal(s.header?.checksummed, true);
  });

  it('drops a datagram cut at every length inside its header as truncated, in both modes', () => {
    for (const mode of ['required', 'optional'] as const) {
      const s = stage(mode);
      for (let n = 1; n < headerBytes; n++) assert.equal(s.read(full.subarray(0, n), PROXY), 'proxy-truncated', `${mode}, cut at ${n} of ${headerBytes}`);
      // Cut inside the payload, it is a shorter payload, not a bad header.
      assert.equal(s.read(full.subarray(0, headerBytes + 2), PROXY), null);
      assert.equal(s.payload.toString(), 'pa');
    }
  });

  it('never throws, and delivers a datagram only when the parser reads a UDP client or a LOCAL/UNSPEC header from it', () => {
    const s = stage('required');
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(full.length - 1), fc.nat(255)), { minLength: 1, maxLength: 4 }), (edits) => {
        const garbled = Buffer.from(full);
        for (const [at, value] of edits) garbled[at] = value;
        const why = s.read(garbled, PROXY);
        let parsed;
        try {
          parsed = parseProxyDatagram(garbled, 4096);
        } catch {
          parsed = null;
        }
        if (why !== null) {
          assert.match(why, /^proxy-(malformed|truncated|too-large|checksum|missing)$/);
          return;
        }
        assert.equal(parsed?.kind, 'header');
        const h = parsed.kind === 'header' ? parsed.header : null;
        if (h?.command === 'proxy' && h.transport !== 'unknown') {
          assert.match(h.transport, /^udp[46]$/);
          assert.deepEqual([s.address, s.port], [h.source?.address, h.source?.port]);
        } else {
          assert.deepEqual([s.address, s.port], [PROXY.address, PROXY.port], 'LOCAL and UNSPEC keep the real endpoints');
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('in required mode turns every random datagram away, from the proxy and from anyone else', () => {
    const s = stage('required');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (bytes, fromProxy) => {
        const why = s.read(Buffer.from(bytes), fromProxy ? PROXY : STRANGER);
        assert.notEqual(why, null);
        if (!fromProxy) assert.equal(why, 'proxy-untrusted');
      }),
      { numRuns: 3000 },
    );
  });

  it('drops a header from a source outside trusted even in optional mode, and takes its other datagrams as its own', () => {
    const s = stage('optional');
    assert.equal(s.read(full, STRANGER), 'proxy-untrusted');
    assert.equal(s.read(Buffer.from('plain'), STRANGER), null);
    assert.deepEqual([s.address, s.header], ['192.0.2.50', null]);
    // A stranger's datagram that only starts like the signature claims nothing.
    assert.equal(s.read(full.subarray(0, 5), STRANGER), null);
  });

  it('refuses a header that names a stream or UNIX client: a datagram relays UDP', () => {
    const s = stage('required');
    const tcp = Buffer.concat([encodeProxyV2({ command: 'proxy', transport: 'tcp4', source: { address: '198.51.100.1', port: 1 }, destination: { address: '192.0.2.1', port: 2 } }), Buffer.from('x')]);
    assert.equal(s.read(tcp, PROXY), 'proxy-malformed');
    assert.match(s.error?.message ?? '', /names a tcp4 client/);
    const unix = Buffer.concat([encodeProxyV2({ command: 'proxy', transport: 'unix-dgram', source: { address: '/a', port: 0 }, destination: { address: '/b', port: 0 } }), Buffer.from('x')]);
    assert.equal(s.read(unix, PROXY), 'proxy-malformed');
  });

  it('takes a v1 line as no header: v1 is not defined for datagrams', () => {
    const v1 = Buffer.from('PROXY TCP4 198.51.100.1 192.0.2.1 1 2\r\nhello');
    assert.equal(stage('required').read(v1, PROXY), 'proxy-missing');
    const optional = stage('optional');
    assert.equal(optional.read(v1, PROXY), null);
    assert.equal(optional.payload, v1);
  });

  it('bounds the header by maxHeaderBytes', () => {
    const s = stage({ mode: 'required', maxHeaderBytes: 300 });
    const big = relayed('198.51.100.1', 1, 'x', { tlvs: [{ type: 0x04, value: Buffer.alloc(400) }] });
    assert.equal(s.read(big, PROXY), 'proxy-too-large');
    assert.equal((s.error as { code?: string } | undefined)?.code, 'ERR_PROXY_TOO_LARGE');
  });
});
