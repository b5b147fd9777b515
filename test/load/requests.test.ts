import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ByteQueue } from '../../src/buffers/byte-queue.js';
import { codecFromName } from '../../src/codecs/registry.js';
import type { Codec } from '../../src/codecs/codec.js';
import { RequestSet, requestsInFile } from '../../src/load/requests.js';

/** Renders messages `issued … issued + k - 1` of connection `conn` and decodes them back into bodies. */
function render(set: RequestSet, codec: Codec, k: number, { issued = 0, base = 0, conn = 0 } = {}): string[] {
  const wire = set.take(issued, base, conn, k);
  const q = new ByteQueue();
  q.push(wire);
  const decoder = codec.decoder({ frameDiscarded() {} });
  const out: string[] = [];
  for (let f = decoder.decode(q); f !== undefined; f = decoder.decode(q)) out.push(f.toString());
  assert.equal(q.length, 0, 'the write holds whole frames only');
  return out;
}

const requests = (...texts: string[]): Buffer[] => texts.map((t) => Buffer.from(t));

describe('request templates', () => {
  it('fills every placeholder anew for each message and frames the result with the codec', () => {
    const line = codecFromName('line');
    const set = new RequestSet(line, requests('SET key{{key:1000}} v{{n}} c{{conn}} r{{rand:7}}'), 10);
    const bodies = render(set, line, 50, { conn: 3 });
    assert.equal(bodies.length, 50);
    bodies.forEach((b, i) => {
      const m = /^SET key(\d{3}) v(\d+) c(\d+) r(\d+)$/.exec(b);
      assert.ok(m !== null, b);
      assert.equal(Number(m[2]), i, '{{n}} counts the messages');
      assert.equal(m[3], '3', '{{conn}} is the connection index');
      assert.ok(Number(m[4]) < 7);
    });
    assert.ok(new Set(bodies.map((b) => b.slice(7, 10))).size > 1, 'keys vary');
  });

  it('goes round-robin over the templates from the connection’s place in the cycle', () => {
    const lp2 = codecFromName('lp2');
    const set = new RequestSet(lp2, requests('A', 'B', 'C'), 1);
    assert.deepEqual(render(set, lp2, 5, { base: 1 }), ['B', 'C', 'A', 'B', 'C']);
    assert.deepEqual(render(set, lp2, 2, { issued: 5, base: 1 }), ['A', 'B']);
  });

  it('numbers the messages of two processes without a value in common', () => {
    const line = codecFromName('line');
    const a = new RequestSet(line, requests('{{n}}'), 1);
    const b = new RequestSet(line, requests('{{n}}'), 1);
    a.numberFrom(0, 2);
    b.numberFrom(1, 2);
    const all = [...render(a, line, 100), ...render(b, line, 100)].map(Number).sort((x, y) => x - y);
    assert.deepEqual(all, Array.from({ length: 200 }, (_, i) => i));
  });

  it('gives key names the width of N - 1 and spreads them over all N keys', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100_000 }), (n) => {
        const line = codecFromName('line');
        const keys = render(new RequestSet(line, requests('{{key:' + n + '}}|{{rand:' + n + '}}'), 1), line, 20);
        for (const k of keys) {
          const [key, rand] = k.split('|') as [string, string];
          assert.equal(key.length, String(n - 1).length, k);
          assert.ok(Number(key) < n, k);
          assert.ok(Number(rand) < n && (rand === '0' || !rand.startsWith('0')), k);
        }
      }),
      { numRuns: 200 },
    );
    const line = codecFromName('line');
    assert.equal(new Set(render(new RequestSet(line, requests('{{key:10}}'), 1), line, 2000)).size, 10);
  });

  it('renders any literal text around placeholders byte for byte, for length-prefixed and line framing', () => {
    const literal = fc.string({ unit: fc.constantFrom(...'abc xyz-{}:é\t'.split('')), maxLength: 12 }).filter((s) => !s.includes('{{') && !s.endsWith('{'));
    const hole = fc.constantFrom('{{n}}', '{{conn}}', '{{rand:1000}}', '{{key:50}}');
    fc.assert(
      fc.property(fc.array(fc.tuple(literal, hole), { maxLength: 4 }), literal, fc.constantFrom('lp2', 'line', 'crlf'), (pairs, last, framing) => {
        const codec = codecFromName(framing);
        const template = pairs.map(([l, h]) => l + h).join('') + last;
        const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        const shape = new RegExp(`^${pairs.map(([l]) => `${escape(l)}\\d+`).join('') + escape(last)}$`);
        for (const body of render(new RequestSet(codec, requests(template), 20), codec, 7, { conn: 19 })) assert.match(body, shape);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses an unknown placeholder, a line end inside a line, and a request its framing cannot carry', () => {
    const line = codecFromName('line');
    assert.throws(() => new RequestSet(line, requests('GET {{id}}'), 1), { code: 'ERR_INVALID_OPTION', path: 'requests', message: /request 1 has an unknown placeholder at byte 4/ });
    assert.throws(() => new RequestSet(line, requests('ok', '{{rand:0}}'), 1), { message: /request 2: \{\{rand:0\}\} needs N from 1/ });
    assert.throws(() => new RequestSet(line, requests('a\nb'), 1), { code: 'ERR_INVALID_OPTION', message: /request 1 \("a\\nb"\) cannot be framed with line/ });
    assert.throws(() => new RequestSet(codecFromName('lp1'), requests('x'.repeat(250) + '{{n}}'), 1), { code: 'ERR_INVALID_OPTION', message: /cannot be framed with lp1/ });
    assert.throws(() => new RequestSet(codecFromName('fixed:4'), requests('a{{n}}'), 1), { message: /cannot be framed with fixed:4/ });
    assert.throws(() => new RequestSet(line, [], 1), { message: /at least one request/ });
    // Fixed width keys keep a fixed-size frame exact.
    const fixed = codecFromName('fixed:5');
    assert.match(render(new RequestSet(fixed, requests('k{{key:1000}}!'), 1), fixed, 1)[0] ?? '', /^k\d{3}!$/);
  });
});

describe('requests files', () => {
  it('holds one request per line for line framings, LF or CRLF, skipping empty lines', () => {
    const file = Buffer.from('GET a\r\n\nSET b 1\n\r\nlast');
    for (const framing of ['line', 'crlf']) {
      assert.deepEqual(requestsInFile(file, codecFromName(framing), 'r.txt').map(String), ['GET a', 'SET b 1', 'last']);
    }
  });

  it('holds framed requests, as on the wire, for other framings', () => {
    const frames = Buffer.from([0, 0, 0, 3, 0x61, 0x62, 0x63, 0, 0, 0, 0, 0, 0, 0, 1, 0x0a]);
    assert.deepEqual(requestsInFile(frames, codecFromName('lp4'), 'r.bin'), [Buffer.from('abc'), Buffer.alloc(0), Buffer.from('\n')]);
    assert.throws(() => requestsInFile(frames.subarray(0, 5), codecFromName('lp4'), 'r.bin'), {
      code: 'ERR_INVALID_OPTION',
      path: 'requestsFile',
      message: /r\.bin ends inside a lp4 frame \(5 bytes left over\)/,
    });
    assert.throws(() => requestsInFile(Buffer.from('\n\n'), codecFromName('line'), 'empty.txt'), { message: /empty\.txt holds no requests/ });
  });
});
