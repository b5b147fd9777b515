/**
 * The client's side of the opening handshake (RFC 6455 §4.1): the upgrade
 * request it sends, and every check on the server's answer before a frame is
 * read.
 *
 * ```
 *   GET /chat?room=1 HTTP/1.1             HTTP/1.1 101 Switching Protocols   ◄─ 101, else refused
 *   Host: example.com:8080                Upgrade: websocket                 ◄─ must say websocket
 *   Upgrade: websocket                    Connection: Upgrade                ◄─ must list upgrade
 *   Connection: Upgrade                   Sec-WebSocket-Accept: base64(sha1(key + GUID))
 *   Sec-WebSocket-Key: <16 random bytes>  Sec-WebSocket-Protocol: chat       ◄─ one we offered, or none
 *   Sec-WebSocket-Version: 13
 *   Sec-WebSocket-Protocol: chat, v2      Sec-WebSocket-Extensions: permessage-deflate; …  ◄─ only if offered
 *   Sec-WebSocket-Extensions: …           (optional: permessage-deflate, see deflate-session.ts)
 *   Origin: https://app.example           (optional) and the caller's own headers
 * ```
 */
import { capstanError, type CapstanError } from '../errors.js';
import { hasToken } from './http-head.js';
import { acceptKey } from './server.js';

/** What goes into one upgrade request. */
export interface UpgradeRequestParts {
  /** The request target: path and query (`/chat?room=1`). */
  readonly resource: string;
  /** The Host header's value (`example.com:8080`). */
  readonly host: string;
  readonly key: string;
  readonly protocols: readonly string[];
  readonly origin: string | undefined;
  /** The `Sec-WebSocket-Extensions` offer, or `''` for none. */
  readonly extensions?: string;
  /** The caller's extra header lines, already checked and serialised (`Name: value\r\n` each). */
  readonly extra: string;
}

export function upgradeRequest(p: UpgradeRequestParts): Buffer {
  const head =
    `GET ${p.resource} HTTP/1.1\r\n` +
    `Host: ${p.host}\r\n` +
    'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Key: ${p.key}\r\nSec-WebSocket-Version: 13\r\n` +
    (p.protocols.length > 0 ? `Sec-WebSocket-Protocol: ${p.protocols.join(', ')}\r\n` : '') +
    (p.extensions !== undefined && p.extensions !== '' ? `Sec-WebSocket-Extensions: ${p.extensions}\r\n` : '') +
    (p.origin !== undefined ? `Origin: ${p.origin}\r\n` : '') +
    p.extra +
    '\r\n';
  return Buffer.from(head, 'latin1');
}

/** The server's response head. Header names are lower-case; repeated headers are joined with `, `. */
export interface ResponseHead {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Readonly<Record<string, string>>;
}

const STATUS_LINE = /^HTTP\/1\.[01] ([1-5][0-9][0-9])(?: (.*))?$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function refused(message: string, actual?: unknown): CapstanError {
  return capstanError('ERR_WS_HANDSHAKE', message, { reason: 'protocol-error', actual });
}

/** Parses a head the head decoder returned (its blank line included), or says what is malformed as an `ERR_WS_HANDSHAKE` error. */
export function parseResponseHead(head: Buffer): ResponseHead | CapstanError {
  // latin1 keeps every byte one character, as on the server side.
  const lines = head.toString('latin1', 0, head.length - 4).split('\r\n');
  const m = STATUS_LINE.exec(lines[0] as string);
  if (m === null) return refused(`the server's answer is not an HTTP/1.1 status line: ${JSON.stringify((lines[0] as string).slice(0, 60))}`);
  const headers: Record<string, string> = Object.create(null);
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    if (!TOKEN.test(name)) return refused(`the server's answer has a malformed header line: ${JSON.stringify(line.slice(0, 60))}`);
    const key = name.toLowerCase();
    const value = line.slice(colon + 1).trim();
    const had = headers[key];
    headers[key] = had === undefined ? value : `${had}, ${value}`;
  }
  return { status: Number(m[1]), statusText: m[2] ?? '', headers };
}

/**
 * Checks the answer to an upgrade sent with `key` offering `offered`. With
 * `extensionsOffered`, `Sec-WebSocket-Extensions` is left for the caller to
 * check against its offer; without, any extension fails the handshake.
 * @returns the subprotocol the server chose (`''` for none), or the typed
 *   `ERR_WS_HANDSHAKE` error saying what is wrong: reason `upgrade-refused`
 *   for a status other than 101 (in `actual`), `protocol-error` otherwise.
 */
export function checkUpgradeResponse(res: ResponseHead, key: string, offered: readonly string[], extensionsOffered = false): { protocol: string } | CapstanError {
  const h = res.headers;
  if (res.status !== 101) {
    return capstanError('ERR_WS_HANDSHAKE', `the server answered the upgrade with ${res.status} ${res.statusText}, not 101 Switching Protocols`, {
      reason: 'upgrade-refused',
      actual: res.status,
    });
  }
  if (!hasToken(h['upgrade'], 'websocket')) return refused(`the 101 answer's Upgrade header is ${JSON.stringify(h['upgrade'] ?? '(none)')}, not websocket`, h['upgrade']);
  if (!hasToken(h['connection'], 'upgrade')) return refused(`the 101 answer's Connection header is ${JSON.stringify(h['connection'] ?? '(none)')}, which does not list upgrade`, h['connection']);
  const expected = acceptKey(key);
  const accept = h['sec-websocket-accept'];
  if (accept !== expected) {
    return refused(`the 101 answer's Sec-WebSocket-Accept is ${JSON.stringify(accept ?? '(none)')}, not ${expected} (base64 of SHA-1 of our key and the RFC 6455 GUID)`, accept);
  }
  const ext = h['sec-websocket-extensions'];
  if (!extensionsOffered && ext !== undefined && ext !== '') return refused(`the server accepted extensions we did not offer: ${ext}`, ext);
  const protocol = h['sec-websocket-protocol'];
  if (protocol === undefined || protocol === '') return { protocol: '' };
  if (!offered.includes(protocol)) {
    return refused(
      offered.length === 0 ? `the server chose subprotocol ${JSON.stringify(protocol)} though we offered none` : `the server chose subprotocol ${JSON.stringify(protocol)}, not one we offered (${offered.join(', ')})`,
      protocol,
    );
  }
  return { protocol };
}
