/**
 * The `perMessageDeflate` option (RFC 7692) as a server endpoint and a client
 * take it, checked and with its defaults filled in. Off unless given; `true`
 * takes every default.
 */
import { capstanError } from '../errors.js';

/**
 * permessage-deflate settings; every key is optional (docs/websocket.md lists the defaults).
 * @category WebSocket
 */
export interface PerMessageDeflateOptions {
  /** Messages of fewer bytes go out uncompressed (RSV1 clear). Default 1,024. */
  threshold?: number;
  /** The server compresses each message on its own: no window kept between messages (less memory, a worse ratio). Default false. */
  serverNoContextTakeover?: boolean;
  /** The client compresses each message on its own, so the server keeps no inflate window for it. Default false. */
  clientNoContextTakeover?: boolean;
  /** The server's compression window as a power of two, 8-15. Default 15. */
  serverMaxWindowBits?: number;
  /** The largest window the client may compress with, 8-15. Default: whatever the client uses (15). */
  clientMaxWindowBits?: number;
  /** zlib compression level, 0-9. Default 1 (fast: most of the gain on chat-sized messages for a fraction of level 6's time). */
  level?: number;
  /** zlib's internal state size, 1-9 (per compressor: about 2^(memLevel+9) bytes). Default 8. */
  memLevel?: number;
}

/** The option resolved: every key present. `clientMaxWindowBits` 0 means "not asked for". */
export interface ResolvedDeflateOptions {
  readonly threshold: number;
  readonly serverNoContextTakeover: boolean;
  readonly clientNoContextTakeover: boolean;
  readonly serverMaxWindowBits: number;
  readonly clientMaxWindowBits: number;
  readonly level: number;
  readonly memLevel: number;
}

/** The keys of {@link PerMessageDeflateOptions}, in the order the docs list them. */
export const DEFLATE_KEYS = ['threshold', 'serverNoContextTakeover', 'clientNoContextTakeover', 'serverMaxWindowBits', 'clientMaxWindowBits', 'level', 'memLevel'] as const;

/** The defaults `perMessageDeflate: true` takes. */
export const DEFAULT_DEFLATE: ResolvedDeflateOptions = Object.freeze({
  threshold: 1024,
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 0,
  level: 1,
  memLevel: 8,
});

/**
 * Checks `perMessageDeflate` at `path` (as error messages name it, after `who: option`);
 * errors carry `prefix + path` as their path.
 * @returns null when off (absent or false).
 * @throws CapstanError `ERR_INVALID_OPTION` / `ERR_UNKNOWN_OPTION` naming the key.
 */
export function resolveDeflateOptions(given: unknown, path: string, who: string, prefix = ''): ResolvedDeflateOptions | null {
  if (given === undefined || given === false) return null;
  if (given === true) return DEFAULT_DEFLATE;
  const bad = (key: string, expected: string): never => {
    throw capstanError('ERR_INVALID_OPTION', `${who}: option ${path}.${key} must be ${expected}`, { path: `${prefix}${path}.${key}`, actual: (given as Record<string, unknown>)[key] });
  };
  if (typeof given !== 'object' || given === null || Array.isArray(given)) {
    throw capstanError('ERR_INVALID_OPTION', `${who}: option ${path} must be true, false or an object { ${DEFLATE_KEYS.join(', ')} }`, { path: `${prefix}${path}`, actual: given });
  }
  const o = given as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!(DEFLATE_KEYS as readonly string[]).includes(k)) throw capstanError('ERR_UNKNOWN_OPTION', `${who}: unknown option ${path}.${k} (known: ${DEFLATE_KEYS.join(', ')})`, { path: `${prefix}${path}.${k}` });
  }
  const int = (key: string, min: number, max: number, dflt: number): number => {
    const v = o[key];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(key, max === Infinity ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`);
    return v as number;
  };
  const flag = (key: string): boolean => {
    const v = o[key];
    if (v === undefined) return false;
    if (typeof v !== 'boolean') bad(key, 'true or false');
    return v as boolean;
  };
  return {
    threshold: int('threshold', 0, Infinity, DEFAULT_DEFLATE.threshold),
    serverNoContextTakeover: flag('serverNoContextTakeover'),
    clientNoContextTakeover: flag('clientNoContextTakeover'),
    serverMaxWindowBits: int('serverMaxWindowBits', 8, 15, DEFAULT_DEFLATE.serverMaxWindowBits),
    clientMaxWindowBits: int('clientMaxWindowBits', 8, 15, 0),
    level: int('level', 0, 9, DEFAULT_DEFLATE.level),
    memLevel: int('memLevel', 1, 9, DEFAULT_DEFLATE.memLevel),
  };
}
