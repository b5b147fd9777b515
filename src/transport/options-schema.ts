/**
 * The schema of `listen` and `connect` options: one source for validation,
 * the TypeScript types and the reference docs. The application server's config
 * schema reuses these pieces, so a limit means the same thing everywhere.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ValueErrorType } from '@sinclair/typebox/errors';
import { capstanError } from '../errors.js';
import { didYouMean } from '../suggest.js';

const Ms = (description: string) => Type.Integer({ minimum: 0, description });
const Count = (description: string) => Type.Integer({ minimum: 1, description });

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

export type LimitsOptions = Static<typeof LimitsSchema>;
export type TlsServerOptions = Static<typeof TlsSchema>;
export type ReconnectOptions = Static<typeof ReconnectSchema>;

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
