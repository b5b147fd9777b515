import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isCapstanError } from '../../src/errors.js';
import { ThreadPools } from '../../src/server/threads.js';
import { tempDir } from './support.js';

const tmp = tempDir('capstan-threads-');
after(() => tmp.cleanup());

// A task that blocks its thread for `ms` (as a synchronous library would) and reports where it ran.
tmp.write(
  'task.mjs',
  [
    "import { threadId } from 'node:worker_threads';",
    'export default function ({ ms, value }) {',
    '  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);',
    '  return { value: value * 2, threadId };',
    '}',
    'export function named(x) { return `named ${x}`; }',
  ].join('\n'),
);
const TASK = pathToFileURL(join(tmp.dir, 'task.mjs'));

describe('thread pools', () => {
  it('run a task off the main thread and resolve with its result', async () => {
    const pools = new ThreadPools({ cpu: 1, blocking: 1 });
    try {
      const r = await pools.run<{ value: number; threadId: number }>(TASK, { ms: 1, value: 21 });
      assert.equal(r.value, 42);
      assert.notEqual(r.threadId, 0);
      assert.equal(await pools.run(TASK.href, 'x', { name: 'named' }), 'named x');
    } finally {
      await pools.close();
    }
  });

  it('keep the cpu and blocking pools apart, starting threads only when used', async () => {
    const pools = new ThreadPools({ cpu: 1, blocking: 2 });
    try {
      assert.equal(pools.threadCount('cpu'), 0);
      assert.equal(pools.threadCount('blocking'), 0);
      await pools.run(TASK, { ms: 1, value: 1 }, { pool: 'blocking' });
      assert.equal(pools.threadCount('cpu'), 0);
      assert.ok(pools.threadCount('blocking') >= 1);
    } finally {
      await pools.close();
    }
  });

  it('refuse work with ERR_OVERLOADED once a pool’s bounded queue is full', async () => {
    const pools = new ThreadPools({ cpu: 1 });
    try {
      // One thread: one task runs, one waits (the queue holds threads² = 1), the next is refused.
      const running = pools.run(TASK, { ms: 500, value: 1 });
      const waiting = pools.run(TASK, { ms: 1, value: 2 });
      await assert.rejects(pools.run(TASK, { ms: 1, value: 3 }), (err) => isCapstanError(err, 'ERR_OVERLOADED'));
      assert.deepEqual(
        (await Promise.all([running, waiting])).map((r) => (r as { value: number }).value),
        [2, 4],
      );
    } finally {
      await pools.close();
    }
  });

  it('want a file URL or an absolute path for the task module', async () => {
    const pools = new ThreadPools();
    await assert.rejects(pools.run('./task.mjs', {}), (err) => isCapstanError(err, 'ERR_INVALID_OPTION'));
    await pools.close();
    await assert.rejects(pools.run(TASK, {}), (err) => isCapstanError(err, 'ERR_NOT_OPEN'));
  });
});
