/**
 * `capstan stats`: a top-like view of a running server's counters, read from
 * its admin endpoint's `/stats.json`, with rates between successive snapshots.
 *
 * ```
 * capstan stats [--url http://127.0.0.1:9100] [--token T] [--interval 1] [--count N] [--json]
 * ```
 */
import { parseFlags, usageError } from '../cli-args.js';
import { isCapstanError } from '../errors.js';
import type { ServerSnapshot } from './snapshot.js';
import { renderStats } from './stats-view.js';

const USAGE = `usage: capstan stats [options]

Shows a running server's counters, refreshing, with per-second rates.

options:
  --url URL         admin endpoint (default http://127.0.0.1:9100)
  --token T         bearer token, when the endpoint needs one (or set CAPSTAN_ADMIN_TOKEN)
  --interval SEC    seconds between refreshes (default 1)
  --count N         stop after N refreshes (default: until Ctrl-C)
  --json            print one snapshot as JSON and exit
  -h, --help        show this help
`;

/** Fetch failures that end the command with a message instead of a stack trace. */
class StatsError extends Error {}

/** A bearer token and where it came from, for the message when it is rejected. */
interface Token {
  value: string;
  from: '--token' | 'CAPSTAN_ADMIN_TOKEN';
}

async function fetchSnapshot(url: string, token: Token | undefined): Promise<ServerSnapshot> {
  const target = new URL('stats.json', url.endsWith('/') ? url : `${url}/`);
  let res: Response;
  try {
    res = await fetch(target, { headers: token === undefined ? {} : { Authorization: `Bearer ${token.value}` }, signal: AbortSignal.timeout(5_000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new StatsError(`cannot reach ${target.origin}: ${why} (is the server running with its admin endpoint there? see --url)`);
  }
  if (res.status === 401) {
    // A token we sent and the server's invalid_token both say the same; either alone suffices.
    const rejected = token !== undefined || /error="invalid_token"/.test(res.headers.get('www-authenticate') ?? '');
    throw new StatsError(
      rejected
        ? `${target.origin} rejected the token${token === undefined ? '' : ` from ${token.from}`}: check it against the server's admin.token`
        : `${target.origin} needs a token: pass --token or set CAPSTAN_ADMIN_TOKEN`,
    );
  }
  if (!res.ok) throw new StatsError(`${target.href} answered ${res.status} ${res.statusText}`);
  return (await res.json()) as ServerSnapshot;
}

const FLAGS = {
  url: { type: 'string', default: 'http://127.0.0.1:9100' },
  token: { type: 'string' },
  interval: { type: 'string', default: '1' },
  count: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function parse(argv: string[]) {
  let values: { url: string; token?: string; interval: string; count?: string; json: boolean; help: boolean };
  try {
    values = parseFlags(argv, FLAGS).values as typeof values;
  } catch (err) {
    if (!isCapstanError(err)) throw err;
    throw new StatsError(err.message);
  }
  const interval = Number(values.interval);
  if (!(interval >= 0.1 && interval <= 3600)) throw new StatsError(`--interval must be a number of seconds from 0.1 to 3600, got '${values.interval}'`);
  const count = values.count === undefined ? Infinity : Number(values.count);
  if (!(Number.isInteger(count) && count >= 1) && count !== Infinity) throw new StatsError(`--count must be a positive integer, got '${values.count}'`);
  try {
    new URL(values.url);
  } catch {
    throw new StatsError(`--url must be an http URL such as http://127.0.0.1:9100, got '${values.url}'`);
  }
  // An empty token (CAPSTAN_ADMIN_TOKEN= in a script) is no token.
  const env = process.env.CAPSTAN_ADMIN_TOKEN;
  const token: Token | undefined = values.token ? { value: values.token, from: '--token' } : env ? { value: env, from: 'CAPSTAN_ADMIN_TOKEN' } : undefined;
  return { url: values.url, token, intervalMs: interval * 1000, count, json: values.json, help: values.help };
}

/** Runs `capstan stats`; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  let opts: ReturnType<typeof parse>;
  try {
    opts = parse(argv);
  } catch (err) {
    if (!(err instanceof StatsError)) throw err;
    return usageError('capstan stats', err.message);
  }
  if (opts.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(await fetchSnapshot(opts.url, opts.token), null, 2)}\n`);
      return 0;
    }
    return await watch(opts);
  } catch (err) {
    if (!(err instanceof StatsError)) throw err;
    process.stderr.write(`capstan stats: ${err.message}\n`);
    return 1;
  }
}

async function watch(opts: ReturnType<typeof parse>): Promise<number> {
  const out = process.stdout;
  const tty = out.isTTY === true;
  let prev = await fetchSnapshot(opts.url, opts.token);
  let stopped = false;
  let wake: (() => void) | null = null;
  const stop = () => {
    stopped = true;
    wake?.();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  if (tty) out.write('\x1b[?25l');
  try {
    for (let shown = 0; shown < opts.count && !stopped; ) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, opts.intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (stopped) break;
      let frame: string;
      try {
        const cur = await fetchSnapshot(opts.url, opts.token);
        frame = renderStats(cur, prev, opts.url);
        prev = cur;
      } catch (err) {
        // Once connected, a lost server is shown in place and retried, like top.
        if (!(err instanceof StatsError)) throw err;
        frame = `capstan stats  ${opts.url}\n\n${err.message}; retrying every ${opts.intervalMs / 1000}s\n`;
      }
      out.write(tty ? `\x1b[H\x1b[2J${frame}` : `${frame}\n`);
      shown++;
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    if (tty) out.write('\x1b[?25h');
  }
  return 0;
}
