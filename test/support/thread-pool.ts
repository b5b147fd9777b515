/**
 * Keeps every thread of libuv's pool busy without using the CPU, for tests of
 * work that runs there (zlib): each thread is parked in an `fs.open` of a FIFO
 * for reading, which blocks until a writer opens it, and `release` opens each
 * for writing.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function occupyThreadPool(): Promise<{ release(): void }> {
  const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const dir = mkdtempSync(join(tmpdir(), 'capstan-pool-'));
  const fifos = Array.from({ length: threads }, (_, i) => join(dir, `fifo-${i}`));
  for (const f of fifos) execFileSync('mkfifo', [f]);
  const parked = fifos.map((f) => open(f, 'r'));
  // Let the opens reach their threads before the caller queues work behind them.
  await new Promise((r) => setTimeout(r, 50));
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      // A reader is waiting on each, so these opens return at once, and the parked opens with them.
      const writers = fifos.map((f) => openSync(f, 'w'));
      void Promise.all(parked).then(async (handles) => {
        await Promise.all(handles.map((h) => h.close()));
        for (const w of writers) closeSync(w);
        rmSync(dir, { recursive: true, force: true });
      });
    },
  };
}
