import { capstanError, type CapstanError } from '../errors.js';
import { didYouMean } from '../suggest.js';

/**
 * The error every decoder raises for an oversized frame: `ERR_FRAME_TOO_LARGE`
 * with reason `frame-too-large`, `limit` and `actual`. For codecs of your own.
 * @param codec - the codec's name, for the message.
 * @param actual - the frame's size in bytes.
 * @param limit - the `maxFrameBytes` it exceeds.
 * @category Codecs
 */
export function frameTooLarge(codec: string, actual: number, limit: number): CapstanError {
  return capstanError(
    'ERR_FRAME_TOO_LARGE',
    `${codec}: frame of ${actual} bytes exceeds maxFrameBytes ${limit}; raise maxFrameBytes if such frames are legitimate`,
    { reason: 'frame-too-large', limit, actual },
  );
}

/**
 * The error every decoder raises for bytes it cannot decode: `ERR_PROTOCOL`
 * with reason `protocol-error`. For codecs of your own.
 * @param codec - the codec's name, for the message.
 * @param what - what was wrong, for the message.
 * @param actual - the offending value, kept in the error's `actual`.
 * @category Codecs
 */
export function protocolError(codec: string, what: string, actual?: unknown): CapstanError {
  return capstanError('ERR_PROTOCOL', `${codec}: ${what}`, { reason: 'protocol-error', actual });
}

/** Validates a positive integer codec option, naming it when wrong. */
export function checkInteger(codec: string, key: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw capstanError(
      'ERR_INVALID_OPTION',
      `${codec}: option ${key} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`,
      { path: key, actual: value },
    );
  }
  return value;
}

/** Rejects option keys a codec does not know, naming the first one. */
export function checkKeys(codec: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw capstanError(
        'ERR_UNKNOWN_OPTION',
        `${codec}: unknown option ${key}; ${didYouMean(key, known)}known options are ${known.join(', ')}`,
        { path: key },
      );
    }
  }
}
