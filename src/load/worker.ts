/**
 * A load worker process: runs one engine on its slice of the connections,
 * phase by phase as the parent ({@link WorkerFleet}) says, and reports a
 * sample each second and its result at the end over the IPC channel.
 *
 * ```
 *   parent ─ init ─►  worker ─ connected ─►  parent ─ run ─►  worker ─ ran ─►  parent ─ finish ─►  worker ─ result ─► exit
 *   (stop may come at any point; a lost parent ends the worker)
 * ```
 */
import type { EngineSlice } from './engine.js';
import { createEngine, type LoadEngine } from './load-engine.js';
import type { ResolvedLoadOptions } from './options.js';
import type { PartialResult, Sample } from './partial.js';

export type ToWorker =
  | { t: 'init'; options: ResolvedLoadOptions; slice: EngineSlice }
  | { t: 'run' }
  | { t: 'finish' }
  | { t: 'stop' };

export type FromWorker =
  | { t: 'connected'; established: number; payload: string }
  | { t: 'ran' }
  | { t: 'sample'; sample: Sample }
  | { t: 'result'; result: PartialResult }
  | { t: 'failed'; code?: string; message: string };

function post(message: FromWorker): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) return resolve();
    process.send(message, undefined, undefined, () => resolve());
  });
}

let engine: LoadEngine | null = null;
let ticker: NodeJS.Timeout | null = null;

async function handle(message: ToWorker): Promise<void> {
  switch (message.t) {
    case 'init': {
      const e = (engine = createEngine(message.options, message.slice));
      ticker = setInterval(() => void post({ t: 'sample', sample: e.sample() }), 1000);
      const established = await e.connect();
      await post({ t: 'connected', established, payload: e.payload });
      return;
    }
    case 'run': {
      await (engine as LoadEngine).run();
      await post({ t: 'ran' });
      return;
    }
    case 'finish': {
      const e = engine as LoadEngine;
      if (ticker !== null) clearInterval(ticker);
      await e.finish();
      await post({ t: 'sample', sample: e.sample() });
      await post({ t: 'result', result: e.result() });
      process.disconnect?.();
      return;
    }
    case 'stop':
      engine?.stop();
      return;
  }
}

process.on('message', (message: ToWorker) => {
  handle(message).catch((err: unknown) => {
    const e = err as { code?: string; message?: string };
    void post({ t: 'failed', code: e.code, message: e.message ?? String(err) }).then(() => process.disconnect?.());
  });
});
// Without a parent there is nobody to report to: stop at once.
process.on('disconnect', () => {
  if (ticker !== null) clearInterval(ticker);
  engine?.stop();
  setTimeout(() => process.exit(0), 50).unref();
});
