/**
 * The HTTP/1.1 request head that opens a WebSocket (RFC 6455 §4.1, RFC 9112),
 * read with bounds before anything is parsed.
 *
 * ```
 *   GET /chat?room=1 HTTP/1.1\r\n          ◄─ request line: ≤ maxRequestLineBytes (414)
 *   Host: example.com\r\n                  ◄─ header lines: ≤ maxHeaders (431)
 *   Upgrade: websocket\r\n
 *   …\r\n
 *   \r\n                                   ◄─ whole head: ≤ maxHeaderBytes (431)
 * ```
 *
 * The decoder is a codec like any other: it returns the head as one buffer
 * once `\r\n\r\n` has arrived and leaves whatever follows in the queue (the
 * first WebSocket frames, if the client did not wait for our answer). A head
 * over a bound is not an exception but a refusal the server answers with an
 * HTTP status, so the decoder returns an empty buffer and sets `refusal`.
 */
import type { ByteQueue } from '../buffers/byte-queue.js';
import type { Decoder } from '../codecs/codec.js';

/** Bounds on the upgrade request, with safe defaults. */
export interface HeadLimits {
  /** Bytes of the whole head, request line included. Default 8,192. */
  maxHeaderBytes: number;
  /** Bytes of the request line (method, target, version). Default 4,096. */
  maxRequestLineBytes: number;
  /** Header lines. Default 64. */
  maxHeaders: number;
}

export const DEFAULT_HEAD_LIMITS: Readonly<HeadLimits> = Object.freeze({ maxHeaderBytes: 8192, maxRequestLineBytes: 4096, maxHeaders: 64 });

const CRLFCRLF = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');
const EMPTY = Buffer.alloc(0);

/** Reads one request head; `refusal` is the HTTP status when a bound was passed. */
export class HeadDecoder implements Decoder {
  refusal = 0;
  /** Why, for the log and the error. */
  refusalText = '';
  private scanned = 0;
  private lineChecked = false;

  constructor(private readonly limits: HeadLimits) {}

  decode(q: ByteQueue): Buffer | undefined {
    const L = this.limits;
    if (!this.lineChecked) {
      const eol = q.indexOf(CRLF, 0);
      if (eol < 0) {
        if (q.length > L.maxRequestLineBytes) return this.refuse(q, 414, `request line longer than maxRequestLineBytes ${L.maxRequestLineBytes}`);
        return undefined;
      }
      if (eol > L.maxRequestLineBytes) return this.refuse(q, 414, `request line of ${eol} bytes exceeds maxRequestLineBytes ${L.maxRequestLineBytes}`);
      this.lineChecked = true;
    }
    // Resume the scan where the last one stopped (three bytes back: the terminator may straddle reads).
    const from = this.scanned > 3 ? this.scanned - 3 : 0;
    const end = q.indexOf(CRLFCRLF, from);
    if (end < 0) {
      this.scanned = q.length;
      if (q.length > L.maxHeaderBytes) return this.refuse(q, 431, `request head longer than maxHeaderBytes ${L.maxHeaderBytes}`);
      return undefined;
    }
    if (end + 4 > L.maxHeaderBytes) return this.refuse(q, 431, `request head of ${end + 4} bytes exceeds maxHeaderBytes ${L.maxHeaderBytes}`);
    this.scanned = 0;
    this.lineChecked = false;
    return q.take(end + 4);
  }

  private refuse(q: ByteQueue, status: number, why: string): Buffer {
    this.refusal = status;
    this.refusalText = why;
    q.skip(q.length);
    return EMPTY;
  }
}

/** A parsed request head. Header names are lower-case; repeated headers are joined with `, `. */
export interface RequestHead {
  readonly method: string;
  /** The request target as sent (`/chat?room=1`). */
  readonly url: string;
  /** The path part of the target, without the query (`/chat`). */
  readonly path: string;
  /** The query string without `?` (`room=1`), or `''`. */
  readonly query: string;
  /** `1.1` for HTTP/1.1. */
  readonly version: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** What went wrong with a head, as the HTTP status to answer and a reason. */
export interface HeadError {
  readonly status: number;
  readonly why: string;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP\/(\d)\.(\d)$/;
/** Headers whose repetition is an attack or a mistake, not a list. */
const SINGLE = new Set(['host', 'sec-websocket-key', 'sec-websocket-version', 'content-length', 'origin']);

/** Parses a head the {@link HeadDecoder} returned (its terminating blank line included). */
export function parseHead(head: Buffer, maxHeaders: number): RequestHead | HeadError {
  // latin1 keeps every byte as one character, so no byte can hide in a decoding step.
  const text = head.toString('latin1', 0, head.length - 4);
  const lines = text.split('\r\n');
  const m = REQUEST_LINE.exec(lines[0] as string);
  if (m === null) return { status: 400, why: 'malformed request line' };
  const [, method, url, major, minor] = m as unknown as [string, string, string, string, string];
  if (major !== '1' || minor === '0') return { status: major === '1' ? 400 : 505, why: `HTTP/${major}.${minor}: a WebSocket upgrade needs HTTP/1.1` };
  if (lines.length - 1 > maxHeaders) return { status: 431, why: `${lines.length - 1} header lines exceed maxHeaders ${maxHeaders}` };
  const headers: Record<string, string> = Object.create(null);
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(':');
    if (colon <= 0) return { status: 400, why: 'malformed header line' };
    const name = line.slice(0, colon);
    // Obsolete line folding and whitespace before the colon are refused (RFC 9112 §5.1, §5.2).
    if (!TOKEN.test(name)) return { status: 400, why: `malformed header name ${JSON.stringify(name.slice(0, 40))}` };
    const value = line.slice(colon + 1).trim();
    if (/[\0\r\n]/.test(value)) return { status: 400, why: 'control character in a header value' };
    const key = name.toLowerCase();
    const had = headers[key];
    if (had === undefined) headers[key] = value;
    else if (SINGLE.has(key)) return { status: 400, why: `repeated ${name} header` };
    else headers[key] = had === '' ? value : value === '' ? had : `${had}, ${value}`;
  }
  if (headers['host'] === undefined) return { status: 400, why: 'no Host header' };
  const q = url.indexOf('?');
  return { method, url, path: q < 0 ? url : url.slice(0, q), query: q < 0 ? '' : url.slice(q + 1), version: `${major}.${minor}`, headers };
}

/** True if the comma-separated header value lists `token` (case-insensitive). */
export function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  for (const part of value.split(',')) if (part.trim().toLowerCase() === token) return true;
  return false;
}

const STATUS_TEXT: Record<number, string> = {
  101: 'Switching Protocols',
  200: 'OK',
  204: 'No Content',
  301: 'Moved Permanently',
  302: 'Found',
  304: 'Not Modified',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? 'Unknown';
}

/** Headers a hook may add, as name → value (a list repeats the header). */
export type HeaderMap = Readonly<Record<string, string | number | readonly string[]>>;

/** Serialises extra headers; refuses CR/LF in names and values (response splitting). */
export function headerLines(headers: HeaderMap | undefined): string {
  if (headers === undefined) return '';
  let out = '';
  for (const name of Object.keys(headers)) {
    if (!TOKEN.test(name)) throw new TypeError(`invalid header name ${JSON.stringify(name)}`);
    const v = headers[name] as string | number | readonly string[];
    for (const one of Array.isArray(v) ? v : [v]) {
      const s = String(one);
      if (/[\r\n\0]/.test(s)) throw new TypeError(`invalid value for header ${name}`);
      out += `${name}: ${s}\r\n`;
    }
  }
  return out;
}

/** A complete response that closes the connection after it (`Connection: close`). */
export function plainResponse(status: number, headers: HeaderMap | undefined, body: string | Buffer, method = 'GET'): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  const hasType = headers !== undefined && Object.keys(headers).some((k) => k.toLowerCase() === 'content-type');
  const head =
    `HTTP/1.1 ${status} ${statusText(status)}\r\n` +
    'Connection: close\r\n' +
    (hasType ? '' : 'Content-Type: text/plain; charset=utf-8\r\n') +
    `Content-Length: ${b.length}\r\n` +
    headerLines(headers) +
    '\r\n';
  return method === 'HEAD' ? Buffer.from(head, 'latin1') : Buffer.concat([Buffer.from(head, 'latin1'), b]);
}
