/**
 * `Sec-WebSocket-Extensions` (RFC 6455 §9.1) and the permessage-deflate
 * negotiation (RFC 7692 §7): parsing the header, the server's choice among a
 * client's offers, and the client's offer and its check of the answer.
 *
 * ```
 *  client offer:   permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate
 *  server answer:  permessage-deflate; server_max_window_bits=10; client_max_window_bits=12
 *                  └ the first offer every parameter of which is valid and acceptable
 * ```
 *
 * Each direction comes out as a {@link DeflateDirection}: whether the sender
 * keeps its window between messages (context takeover) and how large that
 * window may be. Window 8 is accepted both ways: zlib cannot make a raw
 * deflate stream with a 256-byte window (zlib refuses -8; Node's DeflateRaw
 * raises 8 to 9), but it never emits a match farther back than its window
 * less 262 bytes (MAX_DIST in zlib's deflate.c), 250 bytes for a 9-bit
 * window, so what it compresses with 9 inflates within 8 (a test holds this).
 */
import { capstanError, type CapstanError } from '../errors.js';
import type { ResolvedDeflateOptions } from './deflate-options.js';

/** One extension of the header: its name and its parameters in order (`true` for one without a value). */
export interface ExtensionOffer {
  readonly name: string;
  readonly params: ReadonlyArray<readonly [string, string | true]>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Parses a `Sec-WebSocket-Extensions` value (repeated headers already joined with `,`).
 * @returns the extensions in order, or null when the value is not of the header's grammar.
 */
export function parseExtensions(value: string): ExtensionOffer[] | null {
  const out: ExtensionOffer[] = [];
  let i = 0;
  const n = value.length;
  const ws = () => {
    while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
  };
  const token = (): string | null => {
    const start = i;
    while (i < n && TOKEN.test(value[i] as string)) i++;
    return i > start ? value.slice(start, i) : null;
  };
  for (;;) {
    ws();
    const name = token();
    if (name === null) return null;
    const params: [string, string | true][] = [];
    ws();
    while (value[i] === ';') {
      i++;
      ws();
      const key = token();
      if (key === null) return null;
      ws();
      let v: string | true = true;
      if (value[i] === '=') {
        i++;
        ws();
        if (value[i] === '"') {
          // A quoted value must still be a token once unquoted (RFC 6455 §9.1).
          i++;
          let s = '';
          while (i < n && value[i] !== '"') {
            if (value[i] === '\\') i++;
            s += value[i] ?? '';
            i++;
          }
          if (value[i] !== '"' || !TOKEN.test(s)) return null;
          i++;
          v = s;
        } else {
          const t = token();
          if (t === null) return null;
          v = t;
        }
        ws();
      }
      params.push([key.toLowerCase(), v]);
    }
    out.push({ name: name.toLowerCase(), params });
    if (i >= n) return out;
    if (value[i] !== ',') return null;
    i++;
  }
}

/**
 * One direction of a negotiated permessage-deflate: how its sender compresses.
 * @category WebSocket
 */
export interface DeflateDirection {
  /** The sender starts every message with an empty window. */
  readonly noContextTakeover: boolean;
  /** The sender's window, as a power of two (8-15). */
  readonly windowBits: number;
}

/** What a permessage-deflate negotiation settled, seen from one side. */
export interface DeflateAgreement {
  /** What we compress. */
  readonly out: DeflateDirection;
  /** What we inflate. */
  readonly in: DeflateDirection;
  /** The extension as it goes in the answer (server) or as the server answered (client). */
  readonly header: string;
}

interface DeflateParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** 0: absent. */
  serverMaxWindowBits: number;
  /** 0: absent; -1: present without a value. */
  clientMaxWindowBits: number;
}

const WINDOW = /^(?:[89]|1[0-5])$/;

/** The parameters of one permessage-deflate offer or answer, or why they are not acceptable. */
function readParams(e: ExtensionOffer): DeflateParams | string {
  const p: DeflateParams = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 0, clientMaxWindowBits: 0 };
  const seen = new Set<string>();
  for (const [key, v] of e.params) {
    if (seen.has(key)) return `parameter ${key} given twice`;
    seen.add(key);
    if (key === 'server_no_context_takeover' || key === 'client_no_context_takeover') {
      if (v !== true) return `parameter ${key} takes no value`;
      if (key === 'server_no_context_takeover') p.serverNoContextTakeover = true;
      else p.clientNoContextTakeover = true;
    } else if (key === 'server_max_window_bits') {
      // 1*DIGIT without leading zeros, 8 to 15 (RFC 7692 §7.1.2.1).
      if (v === true || !WINDOW.test(v)) return `server_max_window_bits=${v === true ? '(no value)' : v} is not 8-15`;
      p.serverMaxWindowBits = Number(v);
    } else if (key === 'client_max_window_bits') {
      if (v !== true && !WINDOW.test(v)) return `client_max_window_bits=${v} is not 8-15`;
      p.clientMaxWindowBits = v === true ? -1 : Number(v);
    } else return `unknown parameter ${key}`;
  }
  return p;
}

function render(params: DeflateParams): string {
  let s = 'permessage-deflate';
  if (params.serverNoContextTakeover) s += '; server_no_context_takeover';
  if (params.clientNoContextTakeover) s += '; client_no_context_takeover';
  if (params.serverMaxWindowBits > 0) s += `; server_max_window_bits=${params.serverMaxWindowBits}`;
  if (params.clientMaxWindowBits > 0) s += `; client_max_window_bits=${params.clientMaxWindowBits}`;
  else if (params.clientMaxWindowBits === -1) s += '; client_max_window_bits';
  return s;
}

/**
 * The server's side: picks the first acceptable permessage-deflate offer
 * (RFC 7692 §7: an offer with a bad, repeated or unknown parameter is
 * declined and the next one tried). `contextsAllowed` false makes both
 * directions no-context-takeover (the process holds as many zlib windows as
 * it may): the client is told so, which RFC 7692 §7.1.1.2 lets a server do
 * whether or not the client offered it.
 * @returns the agreement, or null when no offer is acceptable (the connection goes on without compression).
 */
export function acceptDeflateOffer(offers: readonly ExtensionOffer[], o: ResolvedDeflateOptions, contextsAllowed: boolean): DeflateAgreement | null {
  for (const offer of offers) {
    if (offer.name !== 'permessage-deflate') continue;
    const p = readParams(offer);
    if (typeof p === 'string') continue;
    const serverNoCtx = p.serverNoContextTakeover || o.serverNoContextTakeover || !contextsAllowed;
    const clientNoCtx = p.clientNoContextTakeover || o.clientNoContextTakeover || !contextsAllowed;
    // Ours is at most what the client allows; saying so is required only when it asked (§7.1.2.1).
    const serverWindow = p.serverMaxWindowBits > 0 ? Math.min(p.serverMaxWindowBits, o.serverMaxWindowBits) : o.serverMaxWindowBits;
    // The client's window can be limited only if it said it supports that (§7.1.2.2); then at most its own value.
    let clientWindow = 15;
    let clientAnswer = 0;
    if (p.clientMaxWindowBits !== 0) {
      const theirs = p.clientMaxWindowBits > 0 ? p.clientMaxWindowBits : 15;
      const ours = o.clientMaxWindowBits > 0 ? o.clientMaxWindowBits : 15;
      clientWindow = Math.min(theirs, ours);
      if (o.clientMaxWindowBits > 0 || p.clientMaxWindowBits > 0) clientAnswer = clientWindow;
    }
    const answer: DeflateParams = {
      serverNoContextTakeover: serverNoCtx,
      clientNoContextTakeover: clientNoCtx,
      serverMaxWindowBits: p.serverMaxWindowBits > 0 ? serverWindow : 0,
      clientMaxWindowBits: clientAnswer,
    };
    return {
      out: { noContextTakeover: serverNoCtx, windowBits: serverWindow },
      in: { noContextTakeover: clientNoCtx, windowBits: clientWindow },
      header: render(answer),
    };
  }
  return null;
}

/**
 * The client's offer. It says it can limit its own window (`client_max_window_bits`,
 * any value 8-15). `noContexts` asks for no context
 * takeover both ways (the process holds as many zlib windows as it may).
 */
export function deflateOffer(o: ResolvedDeflateOptions, noContexts: boolean): string {
  return render({
    serverNoContextTakeover: o.serverNoContextTakeover || noContexts,
    clientNoContextTakeover: o.clientNoContextTakeover || noContexts,
    serverMaxWindowBits: o.serverMaxWindowBits < 15 ? o.serverMaxWindowBits : 0,
    clientMaxWindowBits: o.clientMaxWindowBits > 0 ? o.clientMaxWindowBits : -1,
  });
}

function refused(message: string, actual: string): CapstanError {
  return capstanError('ERR_WS_HANDSHAKE', `the server's Sec-WebSocket-Extensions ${message}`, { reason: 'protocol-error', actual });
}

/**
 * The client's check of the server's answer to {@link deflateOffer}
 * (RFC 7692 §7.1): one permessage-deflate, valid parameters, none that the
 * offer did not allow. `value` undefined or empty: the server declined.
 * @returns the agreement, null when declined, or the `ERR_WS_HANDSHAKE` error to fail the handshake with.
 */
export function checkDeflateAnswer(value: string | undefined, o: ResolvedDeflateOptions, noContexts: boolean): DeflateAgreement | null | CapstanError {
  if (value === undefined || value.trim() === '') return null;
  const exts = parseExtensions(value);
  if (exts === null) return refused(`is malformed: ${value.slice(0, 80)}`, value);
  if (exts.length !== 1 || (exts[0] as ExtensionOffer).name !== 'permessage-deflate') return refused(`names extensions we did not offer: ${value.slice(0, 80)}`, value);
  const p = readParams(exts[0] as ExtensionOffer);
  if (typeof p === 'string') return refused(`answers permessage-deflate with ${p}`, value);
  const askedServerWindow = o.serverMaxWindowBits < 15 ? o.serverMaxWindowBits : 0;
  if (askedServerWindow > 0 && (p.serverMaxWindowBits === 0 || p.serverMaxWindowBits > askedServerWindow)) {
    return refused(`answers server_max_window_bits=${p.serverMaxWindowBits || '(none)'} to our ${askedServerWindow}`, value);
  }
  if ((o.serverNoContextTakeover || noContexts) && !p.serverNoContextTakeover) return refused('leaves out server_no_context_takeover, which we asked for', value);
  if (p.clientMaxWindowBits === -1) return refused('gives client_max_window_bits without a value', value);
  if (o.clientMaxWindowBits > 0 && p.clientMaxWindowBits > o.clientMaxWindowBits) return refused(`answers client_max_window_bits=${p.clientMaxWindowBits} to our ${o.clientMaxWindowBits}`, value);
  const clientWindow = p.clientMaxWindowBits > 0 ? p.clientMaxWindowBits : o.clientMaxWindowBits > 0 ? o.clientMaxWindowBits : 15;
  return {
    out: { noContextTakeover: p.clientNoContextTakeover || o.clientNoContextTakeover || noContexts, windowBits: clientWindow },
    in: { noContextTakeover: p.serverNoContextTakeover, windowBits: p.serverMaxWindowBits > 0 ? p.serverMaxWindowBits : 15 },
    header: value,
  };
}
