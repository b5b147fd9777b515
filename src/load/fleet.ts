/**
 * Worker processes for runs too big for one process (the file limit) or one
 * core: each worker opens a contiguous slice of the connections, and the phases
 * move in step (traffic starts once every worker has connected). A worker that
 * dies is counted as an error and its share reported as lost; nothing waits on
 * it. Workers are killed if the run overstays its time bound.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { addTraffic, emptyDatagrams, emptyDelivery, emptyTraffic, type PartialResult, type Sample } from './partial.js';
import type { ResolvedLoadOptions } from './options.js';
import type { Runner } from './runner.js';
import type { FromWorker, ToWorker } from './worker.js';
import type { EngineSlice } from './engine.js';
import { ErrorLog } from './error-kinds.js';
import { addEncoded, encodeHistogram, newHistogram } from './histogram.js';

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));

class WorkerHandle {
  readonly child: ChildProcess;
  samples: Sample[] = [];
  established = 0;
  result: PartialResult | null = null;
  /** Why the worker failed or died, once it has. */
  lost: string | null = null;
  private waiting: { t: FromWorker['t']; resolve: () => void } | null = null;

  constructor(
    readonly id: number,
    readonly slice: EngineSlice,
    options: ResolvedLoadOptions,
  ) {
    this.child = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
    this.child.on('message', (m: FromWorker) => this.receive(m));
    this.child.on('error', (err) => this.lose(`worker ${id}: ${err.message}`));
    this.child.on('exit', (code, signal) => {
      if (this.result === null) this.lose(`worker ${id} exited (${signal ?? `code ${code}`}) before reporting`);
    });
    this.send({ t: 'init', options: { ...options }, slice });
  }

  send(message: ToWorker): void {
    if (this.lost === null && this.child.connected) this.child.send(message);
  }

  /** Resolves at the worker's next message of type `t`, or when it is lost. */
  next(t: FromWorker['t']): Promise<void> {
    if (this.lost !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiting = { t, resolve };
    });
  }

  private receive(m: FromWorker): void {
    if (m.t === 'sample') this.samples.push(m.sample);
    else if (m.t === 'connected') this.established = m.established;
    else if (m.t === 'result') this.result = m.result;
    else if (m.t === 'failed') this.lost = `worker ${this.id}: ${m.code !== undefined ? `${m.code}: ` : ''}${m.message}`;
    const w = this.waiting;
    if (w !== null && (w.t === m.t || m.t === 'failed')) {
      this.waiting = null;
      w.resolve();
    }
  }

  private lose(why: string): void {
    if (this.lost === null) this.lost = why;
    const w = this.waiting;
    this.waiting = null;
    w?.resolve();
  }
}

export class WorkerFleet implements Runner {
  private readonly workers: WorkerHandle[] = [];
  private readonly bound: NodeJS.Timeout;
  readonly payload: string;

  constructor(options: ResolvedLoadOptions, payload: string, boundMs: number) {
    this.payload = payload;
    const n = options.workers;
    const perWorker = { ...options, connectRate: options.connectRate / n };
    let first = 0;
    for (let i = 0; i < n; i++) {
      const count = Math.floor(options.connections / n) + (i < options.connections % n ? 1 : 0);
      this.workers.push(new WorkerHandle(i + 1, { first, count, worker: i }, perWorker));
      first += count;
    }
    // The engines bound every wait themselves; this only catches a worker that hangs regardless.
    this.bound = setTimeout(() => this.kill(), boundMs);
    this.bound.unref();
  }

  async connect(): Promise<number> {
    await Promise.all(this.workers.map((w) => w.next('connected')));
    return this.workers.reduce((n, w) => n + w.established, 0);
  }

  async run(): Promise<void> {
    const ran = this.workers.map((w) => w.next('ran'));
    for (const w of this.workers) w.send({ t: 'run' });
    await Promise.all(ran);
  }

  async finish(): Promise<PartialResult[]> {
    const done = this.workers.map((w) => w.next('result'));
    for (const w of this.workers) w.send({ t: 'finish' });
    await Promise.all(done);
    clearTimeout(this.bound);
    this.kill();
    return this.workers.map((w) => w.result ?? lostResult(w));
  }

  stop(): void {
    for (const w of this.workers) w.send({ t: 'stop' });
  }

  samples(): Sample[] {
    const out: Sample[] = [];
    for (const w of this.workers) {
      if (w.samples.length > 0) out.push(combine(w.samples));
      w.samples = [];
    }
    return out;
  }

  /** Kills every worker still running (by its own pid). */
  kill(): void {
    for (const w of this.workers) {
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    }
  }
}

/** One worker's samples as one: traffic and latency added up, the latest connection and error counts. */
function combine(samples: readonly Sample[]): Sample {
  if (samples.length === 1) return samples[0] as Sample;
  const last = samples[samples.length - 1] as Sample;
  const traffic = emptyTraffic();
  const h = newHistogram();
  let cycles = 0;
  for (const s of samples) {
    addTraffic(traffic, s.traffic);
    addEncoded(h, s.latency);
    cycles += s.cycles;
  }
  const latency = encodeHistogram(h);
  h.destroy();
  return { open: last.open, connecting: last.connecting, errors: last.errors, lost: last.lost, traffic, cycles, latency };
}

/** The result of a worker that died: its connections count as established or not, and one `other` error says why. */
function lostResult(w: WorkerHandle): PartialResult {
  const errors = new ErrorLog();
  errors.add('other', w.lost ?? `worker ${w.id} was lost`);
  const empty = newHistogram();
  const encoded = encodeHistogram(empty);
  empty.destroy();
  return {
    requested: w.slice.count,
    established: w.established,
    total: emptyTraffic(),
    window: emptyTraffic(),
    windowSec: 0,
    cpuUs: 0,
    cycles: 0,
    skipped: 0,
    delivery: emptyDelivery(),
    datagrams: emptyDatagrams(),
    errors: errors.counts,
    errorSamples: errors.samples,
    latency: encoded,
    connectTime: encoded,
  };
}
