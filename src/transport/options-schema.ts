/**
 * The schema of `listen` and `connect` options: the source for validation and
 * for the config reference (its descriptions). The application server's config
 * schema reuses these pieces, so a limit means the same thing everywhere.
 *
 * The option types are written out as interfaces rather than derived with
 * `Static<>`, because only a declared property carries its TSDoc into editors
 * and the API reference; a compile-time check at the end keeps each interface
 * equal to what its schema validates.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ValueErrorType } from '@sinclair/typebox/errors';
import { capstanError } from '../errors.js';
import { didYouMean } from '../suggest.js';

const Ms = (description: string) => Type.Integer({ minimum: 0, description });
const Count = (description: string) => Type.Integer({ minimum: 1, description });

/**
 * TypeBox schema that `listen` and `connect` validate `limits` against (and the
 * config file's `limits`); the type it validates is {@link LimitsOptions}.
 * @category Listen and connect
 */
export const LimitsSchema = Type.Object(
  {
    maxConnections: Type.Optional(Count('Open connections on this listener; more are closed on accept. Default 10000.')),
    maxConnectionsPerAddress: Type.Optional(Count('Open connections from one remote address. Default 1000.')),
    maxFrameBytes: Type.Optional(Count("Largest frame or line accepted; overrides the codec's own bound.")),
    firstByteTimeoutMs: Type.Optional(Ms('Close a connection that sends nothing within this many ms. 0 disables. Default 30000.')),
    frameTimeoutMs: Type.Optional(Ms('Destroy a connection whose frame, once begun, is not complete within this many ms (slow drip). 0 disables. Default 60000.')),
    idleTimeoutMs: Type.Optional(Ms('Close after this many ms without bytes either way. 0 disables. Default 300000.')),
    writeTimeoutMs: Type.Optional(Ms('Destroy when queued writes make no progress for this many ms. 0 disables. Default 30000.')),
    handshakeTimeoutMs: Type.Optional(Ms('Destroy when the TLS handshake takes longer. 0 disables. Default 10000.')),
    lingerMs: Type.Optional(Ms("After our FIN, wait this long for the peer's. 0 waits forever. Default 5000.")),
    highWaterBytes: Type.Optional(Count('Queued outbound bytes above which reading pauses. Default 65536.')),
    maxBufferedBytes: Type.Optional(Count('Queued outbound bytes above which the connection closes (slow-consumer). Default 8388608.')),
  },
  { additionalProperties: false },
);

const Pem = Type.Union([Type.String(), Type.Uint8Array(), Type.Array(Type.Union([Type.String(), Type.Uint8Array()]))]);

/**
 * TypeBox schema of a listener's `tls` and `startTls` settings, also used by
 * `server.updateTls`; the type it validates is {@link TlsServerOptions}.
 * @category TLS
 */
export const TlsSchema = Type.Object(
  {
    key: Type.Optional(Pem),
    cert: Type.Optional(Pem),
    pfx: Type.Optional(Pem),
    passphrase: Type.Optional(Type.String()),
    ca: Type.Optional(Pem),
    clientCertificate: Type.Optional(
      Type.Union([Type.Literal('none'), Type.Literal('optional'), Type.Literal('required')], {
        description: 'Ask clients for a certificate: none (default), optional (verified if given) or required.',
      }),
    ),
    alpnProtocols: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    minVersion: Type.Optional(Type.Union([Type.Literal('TLSv1.2'), Type.Literal('TLSv1.3')], { description: 'Default TLSv1.2.' })),
    ciphers: Type.Optional(Type.String()),
    sni: Type.Optional(
      Type.Array(
        Type.Object(
          {
            servername: Type.String({ minLength: 1, pattern: '^(\\*\\.)?[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$', description: 'The name clients ask for: api.example.com, or *.example.com for one label.' }),
            key: Type.Optional(Pem),
            cert: Type.Optional(Pem),
            pfx: Type.Optional(Pem),
            passphrase: Type.Optional(Type.String()),
          },
          { additionalProperties: false },
        ),
        { description: 'Certificates chosen by the server name the client asks for (SNI); the listener key/cert is the default for other names.' },
      ),
    ),
    plaintext: Type.Optional(Type.Boolean({ description: 'Serve plaintext on the same port too: a first byte of 0x16 (a TLS handshake record) starts TLS, anything else is plaintext. Default false.' })),
  },
  { additionalProperties: false },
);

export const ProxyProtocolSchema = Type.Union(
  [
    Type.Literal('off'),
    Type.Literal('optional'),
    Type.Literal('required'),
    Type.Object(
      {
        mode: Type.Union([Type.Literal('optional'), Type.Literal('required')], { description: 'required: every connection must start with a header; optional: read one when a trusted peer sends it.' }),
        trusted: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Addresses and CIDR ranges allowed to send a header. Default 127.0.0.0/8 and ::1.' })),
        timeoutMs: Type.Optional(Type.Integer({ minimum: 1, description: 'Time allowed for the header, ms (stream transports; a datagram arrives whole). Default 3000.' })),
        maxHeaderBytes: Type.Optional(Type.Integer({ minimum: 232, description: 'Largest v2 header accepted, bytes. Default 4096.' })),
      },
      { additionalProperties: false },
    ),
  ],
  { description: "Read the PROXY protocol header (v1/v2) a load balancer sends, before TLS (udp: a v2 header on every datagram): 'off' (default), 'optional', 'required', or { mode, trusted, timeoutMs, maxHeaderBytes }." },
);

/** An object the schema only checks is an object (codecs, handlers, loggers). */
const Obj = Type.Unsafe<object>(Type.Object({}, { additionalProperties: true }));

/**
 * TypeBox schema `listen` checks its options against before anything binds
 * (codecs, handlers, filters and loggers are only checked to be objects).
 * @category Listen and connect
 */
export const ListenOptionsSchema = Type.Object(
  {
    transport: Type.Optional(Type.Union([Type.Literal('tcp'), Type.Literal('tls'), Type.Literal('unix')])),
    name: Type.Optional(Type.String({ minLength: 1 })),
    host: Type.Optional(Type.String({ minLength: 1 })),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    path: Type.Optional(Type.String({ minLength: 1 })),
    backlog: Type.Optional(Type.Integer({ minimum: 1 })),
    ipv6Only: Type.Optional(Type.Boolean()),
    reusePort: Type.Optional(Type.Boolean()),
    noDelay: Type.Optional(Type.Boolean()),
    keepAliveMs: Type.Optional(Type.Integer({ minimum: 0 })),
    tls: Type.Optional(TlsSchema),
    proxyProtocol: Type.Optional(ProxyProtocolSchema),
    startTls: Type.Optional(TlsSchema),
    filters: Type.Optional(Type.Array(Obj)),
    codec: Type.Optional(Obj),
    handler: Obj,
    limits: Type.Optional(LimitsSchema),
    logger: Type.Optional(Obj),
    timerWheel: Type.Optional(Obj),
    latency: Type.Optional(Obj),
  },
  { additionalProperties: false },
);

export const ReconnectSchema = Type.Object(
  {
    initialDelayMs: Type.Optional(Type.Integer({ minimum: 1, description: 'First retry delay. Default 100.' })),
    maxDelayMs: Type.Optional(Type.Integer({ minimum: 1, description: 'Delay cap. Default 30000.' })),
    factor: Type.Optional(Type.Number({ minimum: 1, description: 'Growth per attempt. Default 2.' })),
    jitter: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'Random fraction taken off each delay. Default 0.5.' })),
    maxAttempts: Type.Optional(Type.Integer({ minimum: 0, description: 'Attempts before giving up; 0 = no cap. Default 0.' })),
  },
  { additionalProperties: false },
);

/**
 * TypeBox schema `connect` checks its options against before dialling.
 * @category Listen and connect
 */
export const ConnectOptionsSchema = Type.Object(
  {
    transport: Type.Optional(Type.Union([Type.Literal('tcp'), Type.Literal('tls'), Type.Literal('unix')])),
    host: Type.Optional(Type.String({ minLength: 1 })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    path: Type.Optional(Type.String({ minLength: 1 })),
    localAddress: Type.Optional(Type.String({ minLength: 1 })),
    noDelay: Type.Optional(Type.Boolean()),
    connectTimeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
    tls: Type.Optional(
      Type.Object(
        {
          ca: Type.Optional(Pem),
          key: Type.Optional(Pem),
          cert: Type.Optional(Pem),
          pfx: Type.Optional(Pem),
          passphrase: Type.Optional(Type.String()),
          servername: Type.Optional(Type.String()),
          rejectUnauthorized: Type.Optional(Type.Boolean()),
          alpnProtocols: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
          minVersion: Type.Optional(Type.Union([Type.Literal('TLSv1.2'), Type.Literal('TLSv1.3')])),
        },
        { additionalProperties: false },
      ),
    ),
    reconnect: Type.Optional(Type.Union([Type.Boolean(), ReconnectSchema])),
    filters: Type.Optional(Type.Array(Obj)),
    codec: Type.Optional(Obj),
    handler: Obj,
    limits: Type.Optional(LimitsSchema),
    logger: Type.Optional(Obj),
    timerWheel: Type.Optional(Obj),
  },
  { additionalProperties: false },
);

/**
 * The `limits` of `listen` and `connect`: each one left out takes its default
 * from {@link DEFAULT_LIMITS} (the resolved set is {@link Limits}).
 *
 * Timeouts are in milliseconds and 0 turns one off; sizes are in bytes and
 * counts are at least 1, with no "unlimited". Timeouts are checked on the
 * listener's timer wheel, so one fires up to a tick (100 ms by default) after
 * it is due.
 * @category Listen and connect
 */
export interface LimitsOptions {
  /** Open connections on the listener; a socket accepted beyond them is closed at once (counted as `refused.max-connections`). Default 10,000. Not applied by `connect`. */
  maxConnections?: number;
  /** Open connections from one remote address (the client's, behind a trusted PROXY header). Default 1,000. Not applied by `connect`. */
  maxConnectionsPerAddress?: number;
  /** Largest frame or line, in bytes, that the decoder accepts: replaces the codec's own bound (which is 1 MiB by default) for every codec the connection uses, `setCodec` included. Default: the codec's. */
  maxFrameBytes?: number;
  /** ms from open (after any TLS handshake) for the peer's first byte; a silent peer is destroyed with `first-byte-timeout`. Default 30,000. */
  firstByteTimeoutMs?: number;
  /** ms a frame may take to arrive once its first byte is in; a peer that drips one byte at a time is destroyed with `frame-timeout`. Default 60,000. */
  frameTimeoutMs?: number;
  /** ms without a byte read or written before the connection is ended gracefully with `idle-timeout`. Paused connections count as idle too. Default 300,000. */
  idleTimeoutMs?: number;
  /** ms queued writes may make no progress (the peer reads nothing) before the connection is destroyed with `write-timeout`. Default 30,000. */
  writeTimeoutMs?: number;
  /** ms from accept for the TLS handshake (and any PROXY header or TLS detection) to finish; then destroyed with `handshake-timeout`. `connect` uses `connectTimeoutMs` instead. Default 10,000. */
  handshakeTimeoutMs?: number;
  /** ms to wait for the peer's FIN after ours (`conn.end()`), then destroyed with `linger-timeout`. 0 waits for as long as the peer takes. Default 5,000. */
  lingerMs?: number;
  /** Queued outbound bytes above which the connection stops reading from the peer, until the queue drains and `drain` is called. Capped at `maxBufferedBytes`. Default 65,536 (64 KiB). */
  highWaterBytes?: number;
  /** Queued outbound bytes above which the connection is closed with `slow-consumer`: the hard cap on what one slow reader can make the server hold. Default 8,388,608 (8 MiB). */
  maxBufferedBytes?: number;
}

/**
 * A listener's TLS settings (`listen({ tls })`, `startTls`, `server.updateTls`).
 *
 * Key material is given as PEM text or DER bytes, here or per server name in
 * `sni`; every pair is loaded (and a key that does not match its certificate
 * refused with `ERR_TLS_CONFIG`) before the listener binds or the update applies.
 * Use `readCertificateFiles` to read them from files.
 * @category TLS
 */
export interface TlsServerOptions {
  /** The private key (PEM), or a chain of keys for several algorithms; needs `cert`. */
  key?: string | Uint8Array | Array<string | Uint8Array>;
  /** The certificate chain (PEM), leaf first, matching `key`. */
  cert?: string | Uint8Array | Array<string | Uint8Array>;
  /** A PKCS#12 bundle holding key and certificate, instead of `key` and `cert`. */
  pfx?: string | Uint8Array | Array<string | Uint8Array>;
  /** Passphrase of `key` or `pfx`. */
  passphrase?: string;
  /** CA certificates (PEM) that client certificates must chain to; required with `clientCertificate` other than `none`. */
  ca?: string | Uint8Array | Array<string | Uint8Array>;
  /** Ask clients for a certificate: `none` (default), `optional` (verified when given, the result in `conn.tls.authorized`) or `required` (a client without a valid one fails the handshake). */
  clientCertificate?: 'none' | 'optional' | 'required';
  /** ALPN protocol names offered, most preferred first; the agreed one is `conn.tls.alpnProtocol`. Default: no ALPN. */
  alpnProtocols?: string[];
  /** Lowest TLS version accepted. Default `TLSv1.2`. */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are not affected). Default: Node's. */
  ciphers?: string;
  /**
   * Certificates chosen by the server name the client asks for (SNI). The
   * listener's own key/cert (or pfx) serves every other name; without one, a
   * handshake for an unknown name is refused (`ERR_TLS_UNKNOWN_SERVERNAME`).
   */
  sni?: Array<{
    /** The name clients ask for: `api.example.com`, or `*.example.com` for any one label in its place. Matched case-insensitively. */
    servername: string;
    /** This name's private key (PEM). */
    key?: string | Uint8Array | Array<string | Uint8Array>;
    /** This name's certificate chain (PEM). */
    cert?: string | Uint8Array | Array<string | Uint8Array>;
    /** This name's PKCS#12 bundle, instead of `key` and `cert`. */
    pfx?: string | Uint8Array | Array<string | Uint8Array>;
    /** Passphrase of this name's key or bundle. */
    passphrase?: string;
  }>;
  /** Serve plaintext on the same port too: a first byte of 0x16 (a TLS handshake record) starts TLS, anything else is plaintext. Fixed when the listener starts (`updateTls` does not change it). Default `false`. */
  plaintext?: boolean;
}

/**
 * Back-off of `connect({ reconnect })`.
 *
 * Retry n (from 1) waits `min(maxDelayMs, initialDelayMs × factor^(n−1))`, less
 * a random share of up to `jitter` of it, and at least 1 ms; the count starts
 * again once a connection opens.
 * @category Listen and connect
 */
export interface ReconnectOptions {
  /** ms before the first retry. Default 100. */
  initialDelayMs?: number;
  /** Longest wait between retries, ms. Default 30,000. */
  maxDelayMs?: number;
  /** How much each wait grows over the one before (at least 1). Default 2. */
  factor?: number;
  /** Largest share (0 to 1) taken off each wait at random, so clients that lost one server do not retry in step. Default 0.5. */
  jitter?: number;
  /** Retries in a row before giving up (`connect` then rejects with `ERR_RECONNECT_EXHAUSTED` if no connection ever opened); 0 retries for ever. Default 0. */
  maxAttempts?: number;
}

/** `true` only when `A` and `B` are the same type (an extra optional key counts as a difference). */
export type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
// Fails to compile when an interface above and its schema disagree on a key or a type.
const typesMatchSchemas: [
  Same<LimitsOptions, Static<typeof LimitsSchema>>,
  Same<TlsServerOptions, Static<typeof TlsSchema>>,
  Same<ReconnectOptions, Static<typeof ReconnectSchema>>,
] = [true, true, true];
void typesMatchSchemas;

const compiled = new WeakMap<TSchema, ReturnType<typeof TypeCompiler.Compile>>();

function compile(schema: TSchema): ReturnType<typeof TypeCompiler.Compile> {
  let check = compiled.get(schema);
  if (check === undefined) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  return check;
}

/**
 * Validates `value` against `schema`, throwing a typed error that names the
 * first bad key as a dotted path (`limits.maxConnections`) and, for a
 * misspelt key, the option it probably meant.
 */
export function validateOptions(what: string, schema: TSchema, value: unknown, prefix = ''): void {
  const check = compile(schema);
  if (check.Check(value)) return;
  const first = check.Errors(value).First();
  if (first === undefined) throw capstanError('ERR_INVALID_OPTION', `${what}: invalid options`);
  const path = [prefix, first.path.replace(/^\//, '').replace(/\//g, '.')].filter((p) => p !== '').join('.') || '(options)';
  if (first.type === ValueErrorType.Union) {
    // A union fails as a whole ("expected union value"); an object given where one form is an
    // object surely meant that form, and its own errors name the bad key.
    const branch = objectBranch(first.schema, first.value);
    if (branch !== undefined && !compile(branch).Check(first.value)) return validateOptions(what, branch, first.value, path);
  }
  if (first.type === ValueErrorType.ObjectAdditionalProperties) {
    // TypeBox reports an unknown key against the enclosing object's schema, whose properties are the known keys.
    const known = Object.keys((first.schema as { properties?: object }).properties ?? {});
    const parent = path.slice(0, path.lastIndexOf('.') + 1);
    const hint = didYouMean(path.slice(parent.length), known, (guess) => `${parent}${guess}`) || 'check its spelling against the documented options';
    throw capstanError('ERR_UNKNOWN_OPTION', `${what}: unknown option ${path}; ${hint.trimEnd()}`, { path });
  }
  if (first.type === ValueErrorType.ObjectRequiredProperty) {
    throw capstanError('ERR_INVALID_OPTION', `${what}: option ${path} is required`, { path });
  }
  throw capstanError('ERR_INVALID_OPTION', `${what}: option ${path}: ${first.message}, got ${describe(first.value)}`, {
    path,
    actual: first.value,
  });
}

/** The one object form of a union, when `value` is a plain object. */
function objectBranch(union: TSchema, value: unknown): TSchema | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || ArrayBuffer.isView(value)) return undefined;
  const objects = ((union as { anyOf?: TSchema[] }).anyOf ?? []).filter((b) => (b as { type?: unknown }).type === 'object');
  return objects.length === 1 ? objects[0] : undefined;
}

/** `listen` takes a handler object of methods; the schema only knows it is an object-like value. */
export function checkHandler(handler: unknown): void {
  if (typeof handler !== 'object' || handler === null) {
    throw capstanError('ERR_INVALID_OPTION', 'listen: option handler must be an object of handler methods', { path: 'handler' });
  }
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === undefined) return 'undefined';
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? 'an array' : 'an object';
  return String(v);
}
