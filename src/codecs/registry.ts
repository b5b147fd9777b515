/**
 * Codecs by name: what the config file (`codec: lp4`) and the load client
 * (`--framing lp4`) say, turned into a {@link Codec} (the names are listed on
 * `codecFromName`). `options` go to the codec's factory (`maxFrameBytes`,
 * `onOversize`, `lengthOffset` …); options the name already fixes are rejected.
 */
import { capstanError } from '../errors.js';
import type { Codec } from './codec.js';
import { delimited, lines, type DelimitedOptions, type LinesOptions } from './delimited.js';
import { fixedSize } from './fixed.js';
import { lengthPrefixed, type LengthPrefixedOptions } from './length-prefixed.js';
import { raw, type RawOptions } from './raw.js';

/**
 * Every name {@link codecFromName} knows; `fixed:<N>` stands for `fixed:1`, `fixed:64` …
 * @category Codecs
 */
export const CODEC_NAMES: readonly string[] = Object.freeze([
  'raw',
  'lp1',
  'lp2',
  'lp3',
  'lp4',
  'lp8',
  'lp2le',
  'lp3le',
  'lp4le',
  'lp8le',
  'line',
  'crlf',
  'delimited',
  'fixed:<N>',
]);

const LENGTH_PREFIXED = /^lp([12348])(le)?$/;
const FIXED = /^fixed:([0-9]+)$/;

/**
 * The codec a name stands for: what a config file's `codec: lp4` and
 * `capstan load --framing lp4` mean.
 *
 * | name          | codec                                                        |
 * |---------------|--------------------------------------------------------------|
 * | `raw`         | no framing: each read is a frame                             |
 * | `lp1` … `lp8` | 1-, 2-, 3-, 4- or 8-byte big-endian length, then the body    |
 * | `lp2le` …     | the same with a little-endian length (`lp2le`, `lp3le`, `lp4le`, `lp8le`) |
 * | `line`        | text lines: LF or CRLF in, CRLF out                          |
 * | `crlf`        | frames ending in CRLF, kept byte-exact (`delimited`)         |
 * | `delimited`   | frames ending in `options.delimiter` (default CRLF)          |
 * | `fixed:<N>`   | frames of exactly N bytes                                    |
 *
 * @param name one of {@link CODEC_NAMES}, e.g. `lp4`, `line`, `fixed:16`.
 * @param options passed to the codec's factory, e.g. `{ maxFrameBytes: 65536 }`.
 * @throws CapstanError `ERR_INVALID_OPTION` for an unknown name (the message lists
 *   the known ones) or an option the name already fixes; the factory's own errors otherwise.
 * @category Codecs
 */
export function codecFromName(name: string, options: object = {}): Codec {
  if (typeof options !== 'object' || options === null) {
    throw capstanError('ERR_INVALID_OPTION', `codec ${name}: options must be an object`, { path: 'options', actual: options });
  }
  const lp = LENGTH_PREFIXED.exec(name);
  if (lp !== null && !(lp[1] === '1' && lp[2] !== undefined)) {
    fixedByName(name, options, ['lengthBytes', 'littleEndian']);
    return lengthPrefixed({
      ...(options as LengthPrefixedOptions),
      lengthBytes: Number(lp[1]) as LengthPrefixedOptions['lengthBytes'],
      littleEndian: lp[2] !== undefined,
    });
  }
  const fixed = FIXED.exec(name);
  if (fixed !== null) {
    fixedByName(name, options, ['frameBytes']);
    return fixedSize({ ...options, frameBytes: Number(fixed[1]) });
  }
  switch (name) {
    case 'raw':
      return raw(options as RawOptions);
    case 'line':
      return lines(options as LinesOptions);
    case 'crlf':
      fixedByName(name, options, ['delimiter']);
      return delimited({ ...(options as DelimitedOptions), delimiter: '\r\n' });
    case 'delimited':
      return delimited(options as DelimitedOptions);
    default:
      throw capstanError('ERR_INVALID_OPTION', `unknown codec ${JSON.stringify(name)}; known codecs are ${CODEC_NAMES.join(', ')}`, {
        path: 'codec',
        actual: name,
      });
  }
}

function fixedByName(name: string, options: object, keys: readonly string[]): void {
  for (const key of keys) {
    if (key in options) {
      throw capstanError('ERR_INVALID_OPTION', `codec ${name}: option ${key} is set by the codec name; drop it or pick another name`, {
        path: key,
      });
    }
  }
}
