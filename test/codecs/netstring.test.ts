import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { framesFor } from './cases.js';
import { RUNS, assertDecodeError, cutsArb, decodeChunks, encodeAll, ownCopy, splitAt } from './harness.js';
import { netstring } from './netstring.js';

describe('the netstring codec from docs/protocols.md', () => {
  it('is the code the guide shows', () => {
    const guide = readFileSync(new URL('../../../docs/protocols.md', import.meta.url), 'utf8');
    const shown = /<!-- netstring -->\s*```ts\n([\s\S]*?)```/.exec(guide)?.[1];
    const source = readFileSync(new URL('../../../test/codecs/netstring.ts', import.meta.url), 'utf8');
    assert.equal(shown, source.replace("'../../src/index.js'", "'capstan'"));
  });

  it('decodes what it encodes for any split of the stream', () => {
    const codec = netstring(100);
    fc.assert(
      fc.property(fc.array(framesFor(codec, [...Buffer.from('0:,')], 0, 100), { maxLength: 8 }), cutsArb, (frames, cuts) => {
        const stream = encodeAll(codec, frames);
        const got = decodeChunks(codec, splitAt(stream, cuts.map((c) => c % (stream.length + 1))));
        assert.deepEqual(got.frames.map(String), frames.map(String));
        assert.equal(got.left, 0);
      }),
      RUNS,
    );
  });

  it('refuses an oversize length from its digits alone, and raises only typed errors on random bytes', () => {
    assert.equal((decodeChunks(netstring(100), [Buffer.from('101')]).error as { code?: string }).code, 'ERR_FRAME_TOO_LARGE');
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 6 }), (chunks) => {
        const got = decodeChunks(netstring(100), chunks.map(ownCopy), { finish: true });
        if (got.error !== undefined) assertDecodeError(got.error);
      }),
      RUNS,
    );
  });
});
