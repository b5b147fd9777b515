import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeProxyV2, parseProxyHeader, proxySignature, type ProxyHeader } from '../../src/pipeline/proxy-protocol.js';
import { crc32c } from '../../src/pipeline/crc32c.js';

const MAX = 4096;

function parse(bytes: Buffer | string): ReturnType<typeof parseProxyHeader> {
  return parseProxyHeader(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes, MAX);
}

function header(bytes: Buffer | string): { header: ProxyHeader; length: number } {
  const r = parse(bytes);
  assert.equal(r.kind, 'header');
  return r as { kind: 'header'; header: ProxyHeader; length: number };
}

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const port = fc.nat(65535);

describe('PROXY protocol v1', () => {
  it('reads TCP4 and TCP6 lines and says where the header ends', () => {
    const line = 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n';
    const got = header(`${line}GET / HTTP/1.1\r\n`);
    assert.equal(got.length, line.length);
    assert.deepEqual(got.header.source, { address: '192.168.0.1', port: 56324 });
    assert.deepEqual(got.header.destination, { address: '192.168.0.11', port: 443 });
    assert.equal(got.header.transport, 'tcp4');
    const six = header('PROXY TCP6 2001:db8::1 2001:db8::2 4124 443\r\n').header;
    assert.deepEqual(six.source, { address: '2001:db8::1', port: 4124 });
    assert.equal(six.transport, 'tcp6');
  });

  it('reads UNKNOWN with and without addresses, giving no source', () => {
    assert.equal(header('PROXY UNKNOWN\r\n').header.source, undefined);
    assert.equal(header('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n').header.transport, 'unknown');
  });

  it('refuses bad addresses, ports, protocols and line ends with ERR_PROXY_MALFORMED', () => {
    for (const bad of [
      'PROXY TCP4 192.1638.0.1 192.168.0.11 56324 443\r\n',
      'PROXY TCP4 192.168.0.1 192.168.0.11 1111111 443\r\n',
      'PROXY TCP4 192.168.0.1 192.168.0.11 0443 443\r\n',
      'PROXY TCP6 2001:db8::1 2001:db8::2 4124 foo\r\n',
      'PROXY TCP4 ::1 ::1 1 2\r\n',
      'PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n',
      'PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n',
      'PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n',
      'PROXY TCP4 1.2.3.4 1.2.3.4 1 2\rX',
    ]) {
      assert.equal(code(() => parse(bad)), 'ERR_PROXY_MALFORMED', bad);
    }
  });

  it('refuses a line that has no end within 107 bytes, before buffering more', () => {
    assert.equal(code(() => parse(`PROXY TCP4 ${'1'.repeat(120)}`)), 'ERR_PROXY_TOO_LARGE');
    assert.deepEqual(parse(`PROXY TCP4 ${'1'.repeat(50)}`), { kind: 'more' });
  });

  it('gives the same result for every prefix: more until the CRLF, then the header', () => {
    fc.assert(
      fc.property(ipv4, ipv4, port, port, (src, dst, sp, dp) => {
        const line = Buffer.from(`PROXY TCP4 ${src} ${dst} ${sp} ${dp}\r\n`);
        for (let n = 1; n < line.length; n++) assert.deepEqual(parse(line.subarray(0, n)), { kind: 'more' }, `prefix ${n}`);
        const got = header(Buffer.concat([line, Buffer.from('rest')]));
        assert.equal(got.length, line.length);
        assert.deepEqual(got.header.source, { address: src, port: sp });
      }),
    );
  });
});

describe('PROXY protocol v2', () => {
  it('reads TCP4, TCP6 and UNIX addresses and the LOCAL command', () => {
    const four = header(encodeProxyV2({ command: 'proxy', transport: 'tcp4', source: { address: '127.0.0.1', port: 444 }, destination: { address: '192.168.0.1', port: 443 } }));
    assert.deepEqual(four.header.source, { address: '127.0.0.1', port: 444 });
    assert.equal(four.length, 16 + 12);
    const six = header(encodeProxyV2({ command: 'proxy', transport: 'tcp6', source: { address: '2001:db8:1::5', port: 1 }, destination: { address: '::1', port: 2 } })).header;
    assert.deepEqual([six.source, six.destination], [{ address: '2001:db8:1::5', port: 1 }, { address: '::1', port: 2 }]);
    const unix = header(encodeProxyV2({ command: 'proxy', transport: 'unix', source: { address: '/var/run/a.sock', port: 0 }, destination: { address: '/var/run/b.sock', port: 0 } })).header;
    assert.equal(unix.source?.address, '/var/run/a.sock');
    const local = header(encodeProxyV2({ command: 'local', transport: 'unknown' }));
    assert.equal(local.header.command, 'local');
    assert.equal(local.header.source, undefined);
  });

  it('reads ALPN, authority, unique id, SSL and NETNS TLVs, and keeps unknown ones raw', () => {
    const ssl = Buffer.concat([
      Buffer.from([0x07, 0, 0, 0, 0]),
      Buffer.from([0x21, 0, 7]),
      Buffer.from('TLSv1.3'),
      Buffer.from([0x22, 0, 6]),
      Buffer.from('client'),
      Buffer.from([0x23, 0, 22]),
      Buffer.from('TLS_AES_256_GCM_SHA384'),
    ]);
    const got = header(
      encodeProxyV2({
        command: 'proxy',
        transport: 'tcp4',
        source: { address: '10.0.0.9', port: 9 },
        destination: { address: '10.0.0.1', port: 443 },
        tlvs: [
          { type: 0x01, value: Buffer.from('h2') },
          { type: 0x02, value: Buffer.from('example.com') },
          { type: 0x05, value: Buffer.from('id-1') },
          { type: 0x20, value: ssl },
          { type: 0x30, value: Buffer.from('blue') },
          { type: 0xe0, value: Buffer.from([1, 2, 3]) },
        ],
        checksum: true,
      }),
    ).header;
    assert.equal(got.alpn, 'h2');
    assert.equal(got.authority, 'example.com');
    assert.equal(got.uniqueId?.toString(), 'id-1');
    assert.equal(got.netns, 'blue');
    assert.equal(got.checksummed, true);
    assert.deepEqual(got.ssl, { tls: true, certConnection: true, certSession: true, verified: true, version: 'TLSv1.3', commonName: 'client', cipher: 'TLS_AES_256_GCM_SHA384' });
    assert.deepEqual(got.tlvs.find((t) => t.type === 0xe0)?.value, Buffer.from([1, 2, 3]));
  });

  it('checks the CRC32C TLV and refuses a header whose checksum does not match', () => {
    const good = encodeProxyV2({ command: 'proxy', transport: 'tcp4', source: { address: '1.2.3.4', port: 5 }, destination: { address: '5.6.7.8', port: 9 }, checksum: true });
    assert.equal(header(good).header.checksummed, true);
    const bad = Buffer.from(good);
    bad[17] = (bad[17] as number) ^ 1; // the source address changed after the checksum was made
    assert.equal(code(() => parse(bad)), 'ERR_PROXY_CHECKSUM');
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283, 'the standard check value');
  });

  it('refuses a header longer than the bound as soon as its length field is read', () => {
    const big = encodeProxyV2({ command: 'proxy', transport: 'tcp4', source: { address: '1.2.3.4', port: 5 }, destination: { address: '5.6.7.8', port: 9 }, tlvs: [{ type: 0x04, value: Buffer.alloc(5000) }] });
    assert.equal(code(() => parseProxyHeader(big.subarray(0, 16), MAX)), 'ERR_PROXY_TOO_LARGE');
  });

  it('refuses bad versions, commands, families, short address blocks and cut TLVs', () => {
    const base = encodeProxyV2({ command: 'proxy', transport: 'tcp4', source: { address: '1.2.3.4', port: 5 }, destination: { address: '5.6.7.8', port: 9 } });
    const withByte = (i: number, v: number) => {
      const b = Buffer.from(base);
      b[i] = v;
      return b;
    };
    assert.equal(code(() => parse(withByte(12, 0x31))), 'ERR_PROXY_MALFORMED', 'version 3');
    assert.equal(code(() => parse(withByte(12, 0x22))), 'ERR_PROXY_MALFORMED', 'command 2');
    assert.equal(code(() => parse(withByte(13, 0x41))), 'ERR_PROXY_MALFORMED', 'family 4');
    const short = Buffer.from(base);
    short.writeUInt16BE(8, 14);
    assert.equal(code(() => parse(short.subarray(0, 24))), 'ERR_PROXY_MALFORMED', 'an IPv4 block in 8 bytes');
    const cut = encodeProxyV2({ command: 'proxy', transport: 'tcp4', source: { address: '1.2.3.4', port: 5 }, destination: { address: '5.6.7.8', port: 9 }, tlvs: [{ type: 0x01, value: Buffer.from('h2') }] });
    cut.writeUInt16BE(9, 29); // the ALPN TLV claims more bytes than the header holds
    assert.equal(code(() => parse(cut)), 'ERR_PROXY_MALFORMED');
  });

  it('gives more for every strict prefix and the header with any bytes after it (every split point)', () => {
    fc.assert(
      fc.property(ipv4, ipv4, port, port, fc.uint8Array({ maxLength: 40 }), fc.boolean(), (src, dst, sp, dp, tail, checksum) => {
        const bytes = encodeProxyV2({ command: 'proxy', transport: 'tcp4', source: { address: src, port: sp }, destination: { address: dst, port: dp }, tlvs: [{ type: 0x02, value: Buffer.from('host') }], checksum });
        for (let n = 1; n < bytes.length; n++) assert.deepEqual(parse(bytes.subarray(0, n)), { kind: 'more' }, `prefix ${n}`);
        const got = header(Buffer.concat([bytes, Buffer.from(tail)]));
        assert.equal(got.length, bytes.length);
        assert.deepEqual(got.header.source, { address: src, port: sp });
      }),
    );
  });
});

describe('PROXY protocol on hostile input', () => {
  it('never throws anything but its typed errors, and never claims more bytes than it was given', () => {
    const prefixes = [Buffer.alloc(0), Buffer.from('PROXY '), Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])];
    fc.assert(
      fc.property(fc.constantFrom(...prefixes), fc.uint8Array({ maxLength: 300 }), (prefix, rest) => {
        const bytes = Buffer.concat([prefix, Buffer.from(rest)]);
        try {
          const r = parseProxyHeader(bytes, 512);
          if (r.kind === 'header') assert.ok(r.length <= bytes.length);
        } catch (err) {
          assert.match(String((err as { code?: string }).code), /^ERR_PROXY_(MALFORMED|TOO_LARGE|CHECKSUM)$/);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('tells a header from other first bytes: none, partial, match', () => {
    assert.equal(proxySignature(Buffer.from('GET / HTTP/1.1')), 'none');
    assert.equal(proxySignature(Buffer.from('POST')), 'none');
    assert.equal(proxySignature(Buffer.from('PRO')), 'partial');
    assert.equal(proxySignature(Buffer.from('PROXY TCP4')), 'match');
    assert.equal(proxySignature(Buffer.from([0x0d, 0x0a, 0x0d])), 'partial');
    assert.equal(proxySignature(Buffer.from([0x16, 0x03, 0x01])), 'none');
  });
});
