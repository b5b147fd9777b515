/**
 * The application server's config file schema: the single source for
 * validation ({@link loadConfig}), the TypeScript types below and the reference
 * table in `docs/server.md` (rendered by `reference.ts`, checked by a test).
 *
 * Limits and TLS settings reuse the core's `LimitsSchema` and `TlsSchema`, so a
 * limit means the same thing in `listen()` and in a config file. Only the TLS
 * key material differs: a config names files, `listen()` takes PEM text.
 *
 * Every schema node may carry an `expected` annotation: the plain words an
 * error message uses for it ("a codec name like lp4, or { name, options }").
 * A union of literals needs none: messages list its values.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { LimitsSchema, ProxyProtocolSchema, TlsSchema } from '../../transport/options-schema.js';
import { UdpLimitsSchema } from '../../transport/udp/limits.js';
import { webSocketSchema } from './websocket.js';

const Int = (minimum: number, description: string, extra: Record<string, unknown> = {}) =>
  Type.Integer({ minimum, description, ...extra });

/** `true`/`false` flags are plain booleans; this keeps their docs next to them. */
const Flag = (description: string) => Type.Boolean({ description });

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const LogLevelSchema = Type.Union(
  LOG_LEVELS.map((l) => Type.Literal(l)),
  { description: 'Least severe level written. Default info.' },
);

/** A core schema node with a description added where the core has none (the docs table shows it). */
function described<T extends TSchema>(schema: T, description: string): T {
  return { ...schema, description: schema.description ?? description };
}

const coreTls = TlsSchema.properties;
const coreSni = TlsSchema.properties.sni.items.properties;

const SniEntrySchema = Type.Object(
  {
    servername: described(coreSni.servername, 'The name clients ask for.'),
    certFile: Type.Optional(Type.String({ minLength: 1, description: "This name's PEM certificate chain file." })),
    keyFile: Type.Optional(Type.String({ minLength: 1, description: "This name's PEM private key file." })),
    pfxFile: Type.Optional(Type.String({ minLength: 1, description: "This name's PKCS#12 file (instead of certFile/keyFile)." })),
    passphrase: Type.Optional(Type.String({ description: "Passphrase of this name's key or PKCS#12 file." })),
  },
  { additionalProperties: false, expected: 'an object { servername, certFile, keyFile } or { servername, pfxFile }' },
);

export const CertificateWatchSchema = Type.Union(
  [Type.Boolean(), Type.Object({ intervalMs: Type.Optional(Int(100, 'How often the files are checked, ms. Default 2000.')) }, { additionalProperties: false })],
  {
    expected: 'true, false, or an object { intervalMs }',
    description: 'Watch the key and certificate files (also of sni entries) and apply changes to new handshakes; a bad or mismatched pair is refused and logged, the old stays. SIGHUP re-reads them too. Default false.',
  },
);

const tlsFileKeys = {
    certFile: Type.Optional(Type.String({ minLength: 1, description: 'PEM certificate chain file, relative to the config file.' })),
    keyFile: Type.Optional(Type.String({ minLength: 1, description: 'PEM private key file, relative to the config file.' })),
    pfxFile: Type.Optional(Type.String({ minLength: 1, description: 'PKCS#12 file holding key and certificate (instead of certFile/keyFile).' })),
    caFile: Type.Optional(Type.String({ minLength: 1, description: 'PEM file of CAs that sign client certificates.' })),
    passphrase: described(coreTls.passphrase, 'Passphrase of the key or PKCS#12 file.'),
    clientCertificate: coreTls.clientCertificate,
    alpnProtocols: described(coreTls.alpnProtocols, 'ALPN protocol names offered, most preferred first.'),
    minVersion: coreTls.minVersion,
    ciphers: described(coreTls.ciphers, 'OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are not affected).'),
};

export const ConfigTlsSchema = Type.Object(
  {
    ...tlsFileKeys,
    sni: Type.Optional(Type.Array(SniEntrySchema, { description: 'Certificates chosen by the server name the client asks for (exact names, or *.example.com for one label); certFile/keyFile is the default for other names, and without them an unknown name is refused.' })),
    plaintext: coreTls.plaintext,
    watch: Type.Optional(CertificateWatchSchema),
  },
  {
    additionalProperties: false,
    description:
      'TLS settings for transport tls. Without certFile/keyFile/pfxFile (and without sni) a self-signed certificate for localhost is generated at start (and logged).',
  },
);

export const ConfigStartTlsSchema = Type.Object(tlsFileKeys, {
  additionalProperties: false,
  description: 'TLS settings for STARTTLS on a tcp listener: the plugin calls conn.startTls() when the protocol says so. Without certFile/keyFile/pfxFile a self-signed certificate for localhost is used.',
});

export const CompressionSchema = Type.Union(
  [
    Type.Literal('deflate'),
    Type.Literal('brotli'),
    Type.Literal('zstd'),
    Type.Object(
      {
        algorithm: Type.Optional(Type.Union([Type.Literal('deflate'), Type.Literal('brotli'), Type.Literal('zstd')], { description: 'deflate (default), brotli, or zstd where the running Node has it.' })),
        level: Type.Optional(Int(0, 'Compression level: deflate 0-9 (default 6), brotli 0-11 (default 5), zstd 1-19 (default 3).')),
        windowBits: Type.Optional(Int(9, 'Window size as a power of two: deflate 9-15 (default 15), brotli 10-24 and zstd 10-27 (default 18).')),
        memLevel: Type.Optional(Int(1, "deflate's state size, 1-9 (default 8).", { maximum: 9 })),
        maxInflateRatio: Type.Optional(Type.Number({ minimum: 1, description: 'Decompressed bytes allowed per compressed byte (plus 1 MiB) before the connection closes as a decompression bomb. Default 100.' })),
      },
      { additionalProperties: false },
    ),
  ],
  {
    expected: 'deflate, brotli, zstd, or an object { algorithm, level, windowBits, memLevel, maxInflateRatio }',
    description: 'Stream compression between TLS and the codec, both ways, flushed once per turn; both peers must use it (see docs/filters.md).',
  },
);

export const ConfigProxyProtocolSchema = { ...ProxyProtocolSchema, expected: "off, optional, required, or an object { mode, trusted, timeoutMs, maxHeaderBytes }" } as typeof ProxyProtocolSchema;

export const CodecRefSchema = Type.Union(
  [
    Type.String({ minLength: 1 }),
    Type.Object(
      {
        name: Type.String({ minLength: 1, description: 'Codec name: lp4, line, raw … (see docs/protocols.md).' }),
        options: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: "The codec's options." })),
      },
      { additionalProperties: false },
    ),
  ],
  {
    expected: 'a codec name like lp4 or line, or an object { name, options }',
    description: 'Framing: a codec name, or `{ name, options }`. Default raw (no framing).',
  },
);

export const PluginRefSchema = Type.Union(
  [
    Type.String({ minLength: 1 }),
    Type.Object(
      {
        module: Type.String({ minLength: 1, description: 'A built-in plugin name (echo) or a module path relative to the config file.' }),
        options: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: "The plugin's options, checked against its schema." })),
      },
      { additionalProperties: false },
    ),
  ],
  {
    expected: 'a plugin name like echo, a module path like ./plugins/chat.js, or an object { module, options }',
    description: 'The connection handler: a built-in plugin name, a module path, or `{ module, options }`. Required, except on a websocket listener whose endpoints each name their own.',
  },
);

/**
 * A listener's `limits`: the stream limits and the UDP ones in one object, so a
 * misspelt key is caught here whatever the transport; a key of the other kind
 * of transport is reported by the resolver (`STREAM_LIMIT_KEYS`, `UDP_LIMIT_KEYS`).
 */
const ListenerLimitsSchema = Type.Object(
  {
    ...LimitsSchema.properties,
    ...UdpLimitsSchema.properties,
    idleTimeoutMs: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Close after this many ms without bytes either way (udp: without a datagram from the peer). 0 disables. Default 300000 (udp: 60000).' }),
    ),
  },
  { additionalProperties: false, description: 'Bounds on connections (or UDP sessions), frames, rates and timeouts, as in listen(); each has a safe default.' },
);

export const STREAM_LIMIT_KEYS: readonly string[] = Object.keys(LimitsSchema.properties).filter((k) => !(k in UdpLimitsSchema.properties));
export const UDP_LIMIT_KEYS: readonly string[] = Object.keys(UdpLimitsSchema.properties).filter((k) => !(k in LimitsSchema.properties));

export const ListenerSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$', expected: 'a name of letters, digits, _ . -', description: 'Unique name, used in logs and metrics.' }),
    transport: Type.Optional(
      Type.Union([Type.Literal('tcp'), Type.Literal('tls'), Type.Literal('unix'), Type.Literal('udp')], {
        description: 'tcp (default), tls, unix (needs path), or udp (a session per peer; see docs/udp.md).',
      }),
    ),
    host: Type.Optional(Type.String({ minLength: 1, description: 'Address to bind. Default 127.0.0.1; :: binds every address.' })),
    port: Type.Optional(Int(0, 'TCP port (tcp, tls) or UDP port (udp). 0 picks a free one. Required for tcp, tls and udp.', { maximum: 65535 })),
    path: Type.Optional(Type.String({ minLength: 1, description: 'Unix socket path, relative to the config file (transport unix).' })),
    backlog: Type.Optional(Int(1, 'Kernel accept queue length. Default 511.')),
    ipv6Only: Type.Optional(Flag('With host ::, accept IPv6 only. Default false.')),
    noDelay: Type.Optional(Flag("Disable Nagle's algorithm. Default true.")),
    keepAliveMs: Type.Optional(Int(0, 'TCP keep-alive probe delay in ms; 0 (default) leaves keep-alive off.')),
    tls: Type.Optional(ConfigTlsSchema),
    proxyProtocol: Type.Optional(ConfigProxyProtocolSchema),
    startTls: Type.Optional(ConfigStartTlsSchema),
    compression: Type.Optional(CompressionSchema),
    codec: Type.Optional(CodecRefSchema),
    plugin: Type.Optional(PluginRefSchema),
    websocket: Type.Optional(webSocketSchema(PluginRefSchema)),
    limits: Type.Optional(ListenerLimitsSchema),
  },
  { additionalProperties: false, description: 'One listening socket: where, how frames are cut, and which plugin answers.' },
);

export const WorkersSchema = Type.Union([Type.Literal('auto'), Type.Integer({ minimum: 1, maximum: 256 })], {
  expected: 'auto or a whole number from 1 to 256',
  description: 'Processes serving the listeners: 1 (default) runs everything in one process; auto runs one per CPU core.',
});

export const AdminSchema = Type.Union(
  [
    Type.Literal(false),
    Type.Object(
      {
        host: Type.Optional(Type.String({ minLength: 1, description: 'Address of the admin HTTP endpoint. Default 127.0.0.1.' })),
        port: Type.Optional(Int(0, 'Port of the admin endpoint. Default 9100; 0 picks a free one.', { maximum: 65535 })),
        token: Type.Optional(Type.String({ minLength: 16, description: 'Bearer token required on /metrics and /stats.json (health checks stay open). Required when host is not loopback.' })),
      },
      { additionalProperties: false },
    ),
  ],
  {
    expected: 'false, or an object { host, port, token }',
    description: 'The admin endpoint (/metrics, /stats.json, /healthz, /readyz, dashboard), or false to turn it off.',
  },
);

export const LoggingSchema = Type.Object(
  {
    level: Type.Optional(LogLevelSchema),
    destination: Type.Optional(Type.String({ minLength: 1, description: 'stderr (default), stdout, or a file path (appended to).' })),
  },
  { additionalProperties: false, description: 'Structured (pino) logs, one JSON line per event, each with a worker field.' },
);

export const ShutdownSchema = Type.Object(
  {
    graceMs: Type.Optional(Int(0, 'On SIGTERM/SIGINT, time connections get to finish before the rest are closed by force. Default 10000.')),
    quietMs: Type.Optional(Int(1, 'While draining, a connection with no unanswered frames is ended once it has received nothing for this long. Default 250.')),
  },
  { additionalProperties: false, description: 'Graceful shutdown and listener drain on reload.' },
);

export const ThreadsSchema = Type.Object(
  {
    cpu: Type.Optional(Int(1, 'Threads for CPU-heavy tasks (ctx.threads.run(..., { pool: "cpu" })). Default: CPU cores.')),
    blocking: Type.Optional(Int(1, 'Threads for blocking tasks (pool "blocking"). Default 4.')),
    idleTimeoutMs: Type.Optional(Int(0, 'An idle thread exits after this many ms. Default 30000.')),
  },
  { additionalProperties: false, description: 'The two thread pools plugins hand slow work to; threads start on first use.' },
);

export const WorkerRestartSchema = Type.Object(
  {
    initialDelayMs: Type.Optional(Int(0, 'Delay before replacing a crashed worker. Default 100.')),
    maxDelayMs: Type.Optional(Int(1, 'The delay doubles per crash in a row, up to this. Default 30000.')),
    stableMs: Type.Optional(Int(1, 'A worker that ran this long resets the back-off. Default 30000.')),
  },
  { additionalProperties: false, description: 'How crashed workers are replaced.' },
);

/**
 * TypeBox schema of a `capstan serve` config file: the source of its
 * validation and of the config reference in docs/server.md.
 * @category Application server
 */
export const ConfigSchema = Type.Object(
  {
    workers: Type.Optional(WorkersSchema),
    listeners: Type.Array(ListenerSchema, { minItems: 1, expected: 'a list of at least one listener', description: 'The listeners to run.' }),
    admin: Type.Optional(AdminSchema),
    logging: Type.Optional(LoggingSchema),
    shutdown: Type.Optional(ShutdownSchema),
    threads: Type.Optional(ThreadsSchema),
    workerRestart: Type.Optional(WorkerRestartSchema),
  },
  { additionalProperties: false },
);

/**
 * A `capstan serve` config file, as {@link ConfigSchema} validates it: workers,
 * listeners, admin endpoint, logging, shutdown, threads.
 *
 * Every key, with its default, is in the config reference in docs/server.md.
 * @category Application server
 */
export type Config = Static<typeof ConfigSchema>;
/**
 * One entry of a config file's `listeners`: a transport and address, a codec,
 * a plugin and its options, limits, TLS and filters (see docs/server.md).
 * @category Application server
 */
export type ListenerConfig = Static<typeof ListenerSchema>;
export type ConfigTls = Static<typeof ConfigTlsSchema>;
export type ConfigStartTls = Static<typeof ConfigStartTlsSchema>;
export type ConfigCompression = Static<typeof CompressionSchema>;
export type CodecRef = Static<typeof CodecRefSchema>;
export type PluginRef = Static<typeof PluginRefSchema>;
export type AdminConfig = Static<typeof AdminSchema>;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The schema node of a sub-tree, for messages and docs. */
export type AnySchema = TSchema & { expected?: string; description?: string };
