/**
 * The `websocket` key of a listener: endpoints by path, each answered by a
 * plugin's `websocket(ctx)` entry point, and the bounds on the upgrade request.
 * The keys are those of `websocket()` in the library (src/websocket/options.ts),
 * with a plugin in place of each handler, so a setting means the same in both;
 * the library's own checks run on the resolved settings, so the two cannot
 * disagree about what is valid.
 *
 * ```yaml
 * - name: ws
 *   port: 8080
 *   websocket:
 *     endpoints:
 *       - { path: /echo, plugin: echo, perMessageDeflate: true }
 *       - { path: /chat, plugin: ./chat.js, protocols: [chat.v1], origins: [https://app.example] }
 *     maxHeaderBytes: 8192
 * ```
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { isCapstanError } from '../../errors.js';
import { resolveServerOptions } from '../../websocket/options.js';
import type { ConfigIssue, ConfigPath } from './explain.js';
import type { ResolvedPlugin } from './resolve.js';

const Int = (minimum: number, description: string, extra: Record<string, unknown> = {}) => Type.Integer({ minimum, description, ...extra });
const Flag = (description: string) => Type.Optional(Type.Boolean({ description }));

const WindowBits = (description: string) => Type.Optional(Int(8, description, { maximum: 15 }));

export const PerMessageDeflateSchema = Type.Union(
  [
    Type.Boolean(),
    Type.Object(
      {
        threshold: Type.Optional(Int(0, 'Messages shorter than this many bytes are sent uncompressed. Default 1024.')),
        serverNoContextTakeover: Flag('Compress each outgoing message on its own (no window kept between messages: less memory per socket, a worse ratio). Default false.'),
        clientNoContextTakeover: Flag('Tell the client to compress each message on its own, so the server keeps no inflate window for it. Default false.'),
        serverMaxWindowBits: WindowBits('The window the server compresses with, as a power of two (8-15); a client may ask for less. Default 15.'),
        clientMaxWindowBits: WindowBits('The largest window the client may compress with, as a power of two (8-15), for clients that say they can limit it. Default: the client chooses (15).'),
        level: Type.Optional(Int(0, 'zlib compression level, 0-9. Default 1.', { maximum: 9 })),
        memLevel: Type.Optional(Int(1, "zlib's state size, 1-9. Default 8.", { maximum: 9 })),
      },
      { additionalProperties: false },
    ),
  ],
  {
    expected: 'true, false, or an object { threshold, serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits, clientMaxWindowBits, level, memLevel }',
    description: 'permessage-deflate (RFC 7692) on this endpoint for clients that offer it; true takes the defaults. Default false (see docs/websocket.md).',
  },
);

/** The endpoint keys besides `plugin`, in the order the docs list them. */
const ENDPOINT_SETTINGS = ['path', 'protocols', 'origins', 'perMessageDeflate', 'maxMessageBytes', 'maxFragments', 'pingIntervalMs', 'pongTimeoutMs', 'closeTimeoutMs'] as const;
const SERVER_SETTINGS = ['maxHeaderBytes', 'maxRequestLineBytes', 'maxHeaders', 'upgradeTimeoutMs'] as const;

/**
 * The schema of a listener's `websocket` key. It takes the plugin reference
 * schema from schema.ts, which imports this module (a parameter instead of an
 * import keeps the two free of an import cycle).
 */
export function webSocketSchema<P extends TSchema>(plugin: P) {
  const Endpoint = Type.Object(
    {
      path: Type.String({
        pattern: '^(/.*|\\*)$',
        expected: "a path beginning with / (or '*' for every path)",
        description: "The request path (without the query) this endpoint serves, e.g. /chat; '*' serves every path no other endpoint names.",
      }),
      plugin: Type.Optional({ ...plugin, description: "The plugin whose websocket(ctx) entry point answers this endpoint: a built-in name (echo), a module path, or { module, options }. Default: the listener's plugin." }),
      protocols: Type.Optional(
        Type.Array(Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }), { expected: 'a list of subprotocol names (HTTP tokens)', description: 'Subprotocols this endpoint speaks, most preferred first: the first the client also offers is chosen. Default none.' }),
      ),
      origins: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Browser origins allowed to connect (https://app.example); another Origin, or none, gets 403. Default: any.' })),
      perMessageDeflate: Type.Optional(PerMessageDeflateSchema),
      maxMessageBytes: Type.Optional(Int(1, 'Bytes of one message, fragments joined (after inflating); a bigger one closes with 1009. Default 1048576 (1 MiB).')),
      maxFragments: Type.Optional(Int(1, 'Frames of one fragmented message; more closes with 1009. Default 1024.')),
      pingIntervalMs: Type.Optional(Int(0, 'Ping a peer that has sent nothing for this many ms; 0 turns heartbeats off. Default 30000.')),
      pongTimeoutMs: Type.Optional(Int(1, 'Drop the connection (heartbeat-timeout) when nothing arrives this many ms after a ping. Default 10000.')),
      closeTimeoutMs: Type.Optional(Int(1, "After our close frame, wait this many ms for the peer's before dropping the connection (close-timeout). Default 5000.")),
    },
    { additionalProperties: false },
  );
  return Type.Object(
    {
      endpoints: Type.Array(Endpoint, { minItems: 1, expected: 'a list of at least one endpoint { path, plugin, … }', description: 'The endpoints, one per path.' }),
      maxHeaderBytes: Type.Optional(Int(64, 'Bytes of the upgrade request head; more is refused with 431. Default 8192.')),
      maxRequestLineBytes: Type.Optional(Int(16, 'Bytes of the request line; more is refused with 414. Default 4096.')),
      maxHeaders: Type.Optional(Int(1, 'Header lines of the upgrade request; more is refused with 431. Default 64.')),
      upgradeTimeoutMs: Type.Optional(Int(0, 'The upgrade request must be complete this many ms after connecting (handshake-timeout); 0 turns the bound off. Default 10000.')),
    },
    {
      additionalProperties: false,
      description: 'Serve WebSocket (RFC 6455) on this listener instead of a codec and connection handler: endpoints by path, each answered by a plugin (see docs/websocket.md).',
    },
  );
}

type WebSocketConfig = Static<ReturnType<typeof webSocketSchema<TSchema>>>;

/** A resolved endpoint: its plugin and its settings as `websocket()` takes them (plain data: it crosses IPC). */
export interface ResolvedWebSocketEndpoint {
  /** Filled in once the plugin module is loaded. */
  readonly plugin: ResolvedPlugin;
  /** `path` and every other endpoint key the config gave. */
  readonly settings: Record<string, unknown>;
}

/** A listener's resolved `websocket` key. */
export interface ResolvedWebSocket {
  readonly endpoints: ResolvedWebSocketEndpoint[];
  /** The upgrade bounds the config gave (`maxHeaderBytes` …). */
  readonly server: Record<string, unknown>;
}

/** The reference of a plugin as a config gives it: a name or path, or `{ module }`. */
export function pluginRefName(given: string | { module: string }): string {
  return typeof given === 'string' ? given : given.module;
}

/**
 * Checks a listener's `websocket` key beyond the schema: one endpoint per
 * path, a plugin for each (its own, else the listener's), and whatever
 * `websocket()` itself refuses. Each problem lands on the key it is about.
 * The plugins are loaded later (resolve.ts), into each endpoint's `plugin`.
 */
export function checkWebSocket(ws: WebSocketConfig, listenerPlugin: string | { module: string } | undefined, at: ConfigPath, issues: ConfigIssue[]): ResolvedWebSocket | undefined {
  const before = issues.length;
  const seen = new Map<string, number>();
  const endpoints = ws.endpoints.map((e, i): ResolvedWebSocketEndpoint => {
    const eAt = [...at, 'endpoints', i];
    const first = seen.get(e.path);
    if (first !== undefined) issues.push({ path: [...eAt, 'path'], message: `path ${e.path} is also served by endpoints[${first}]; give each path one endpoint` });
    else seen.set(e.path, i);
    const given = (e.plugin as string | { module: string } | undefined) ?? listenerPlugin;
    if (given === undefined) issues.push({ path: [...eAt, 'plugin'], message: "is required: the plugin that answers this endpoint (or give the listener a plugin for every endpoint that names none)" });
    const settings: Record<string, unknown> = {};
    for (const k of ENDPOINT_SETTINGS) if (e[k] !== undefined) settings[k] = e[k];
    return { plugin: { ref: given === undefined ? '' : pluginRefName(given), specifier: '', options: {} }, settings };
  });
  const server: Record<string, unknown> = {};
  for (const k of SERVER_SETTINGS) if (ws[k] !== undefined) server[k] = ws[k];
  if (issues.length > before) return undefined;
  try {
    // The library's own checks, with a stand-in for each plugin's handler (not loaded yet).
    resolveServerOptions({ ...server, endpoints: endpoints.map((e) => ({ ...e.settings, handler: {} }) as { path: string; handler: object }) });
  } catch (err) {
    if (!isCapstanError(err)) throw err;
    issues.push({ path: [...at, ...optionPath(err.path)], message: err.message.replace(/^websocket: /, '') });
    return undefined;
  }
  return { endpoints, server };
}

/** `websocket.endpoints[1].maxFragments` (a library error's path) as a config path below the `websocket` key. */
function optionPath(path: string | undefined): ConfigPath {
  const out: (string | number)[] = [];
  for (const m of (path ?? '').replace(/^websocket\.?/, '').matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : (m[1] as string));
  return out;
}
