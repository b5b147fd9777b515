/**
 * The admin thread: runs the admin HTTP server (admin-http.ts) and asks the
 * serving thread for each snapshot, readiness and liveness over its channel.
 * Started by startAdminServer; not imported by anything else.
 */
import { workerData } from 'node:worker_threads';
import type { Server as HttpServer } from 'node:http';
import { functionLogger, type Logger } from '../logger.js';
import { AdminBindError, serveAdminHttp, type AdminBackend } from './admin-http.js';
import { SnapshotHistory, startSampling } from './admin-history.js';
import type { AdminThreadData, FromAdminThread, Question, ToAdminThread } from './admin-protocol.js';

/**
 * How long a question to the serving thread may go unanswered before the
 * request fails: a snapshot may wait on worker processes; a loop that cannot
 * answer a ping or a readiness question in two seconds is neither healthy nor ready.
 */
const ANSWER_TIMEOUT_MS: Record<Question, number> = { snapshot: 10_000, ready: 2_000, ping: 2_000 };

const { host, port, token, limits, history: historyOptions, channel } = workerData as AdminThreadData;
const post = (m: FromAdminThread) => channel.postMessage(m);

interface Pending {
  resolve(reply: Extract<ToAdminThread, { t: 'reply' }>): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}
const pending = new Map<number, Pending>();
let nextId = 1;

function ask(what: Question, quiet = false): Promise<Extract<ToAdminThread, { t: 'reply' }>> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new Error(`the serving thread did not answer '${what}' within ${ANSWER_TIMEOUT_MS[what]} ms`));
    }, ANSWER_TIMEOUT_MS[what]);
    pending.set(id, { resolve, reject, timer });
    post({ t: 'ask', id, what, ...(quiet ? { quiet } : {}) });
  });
}

/**
 * Requests that arrive while a snapshot is being taken share it: a dashboard's
 * /stats.json and a Prometheus scrape that come together, or several open
 * dashboards, cost the serving thread one snapshot. A finished snapshot is
 * never reused: a request that comes after one was taken gets a new one.
 */
let inFlight: Promise<string> | null = null;

async function takeSnapshot(quiet: boolean): Promise<string> {
  const r = await ask('snapshot', quiet);
  if (r.error !== undefined || r.snapshotJson === undefined) throw new Error(r.error ?? 'no snapshot');
  return r.snapshotJson;
}

function snapshotJson(quiet = false): Promise<string> {
  if (inFlight !== null) return inFlight;
  const json = takeSnapshot(quiet);
  inFlight = json;
  const done = () => {
    if (inFlight === json) inFlight = null;
  };
  json.then(done, done);
  return json;
}

const history = historyOptions === null ? null : new SnapshotHistory(historyOptions);
let stopSampling: (() => void) | null = null;

const backend: AdminBackend = {
  snapshotJson: () => snapshotJson(),
  historyJson: history === null ? null : (after) => history.render(after),
  async ready(): Promise<boolean> {
    const r = await ask('ready');
    if (r.error !== undefined) throw new Error(r.error);
    return r.ready === true;
  },
  async ping(): Promise<void> {
    await ask('ping');
  },
};

/** Log lines go to the serving thread's logger; an error that cannot be copied is sent as text. */
function bridgeLogger(): Logger {
  return functionLogger(({ level, fields, msg }) => {
    try {
      post({ t: 'log', level, obj: fields, msg });
    } catch {
      post({ t: 'log', level, obj: Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, String(v)])), msg });
    }
  });
}

let server: HttpServer | null = null;
let closing = false;

channel.on('message', (m: ToAdminThread) => {
  if (m.t === 'reply') {
    const p = pending.get(m.id);
    if (p === undefined) return; // timed out already
    pending.delete(m.id);
    clearTimeout(p.timer);
    p.resolve(m);
  } else if (m.t === 'close') {
    shutDown();
  }
});

function shutDown(): void {
  closing = true;
  stopSampling?.();
  for (const p of pending.values()) {
    clearTimeout(p.timer);
    p.reject(new Error('the admin endpoint is closing'));
  }
  pending.clear();
  // With the server and the channel closed, nothing is left on this thread's loop and it ends.
  const done = () => channel.close();
  if (server === null) return done();
  server.close(done);
  server.closeAllConnections();
}

try {
  const bound = await serveAdminHttp({ host, port, token, limits }, backend, bridgeLogger());
  server = bound.server;
  post({ t: 'listening', host: bound.host, port: bound.port });
  if (history !== null) stopSampling = startSampling(history, () => snapshotJson(true), bridgeLogger());
  if (closing) shutDown(); // close() came while binding

} catch (err) {
  post({ t: 'bind-failed', message: (err as Error).message, code: err instanceof AdminBindError ? err.code : undefined });
  channel.close();
}
