/**
 * What `npm run bench` says when it cannot build its C load generator: the
 * path it looked at, why it failed, and what to do. Run through the bench's
 * own `--tools` entry point, which builds the tools and measures nothing.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, tempDir } from '../server/support.js';

function benchTools(env: NodeJS.ProcessEnv): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/bench/run.js'), '--tools'], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stderr: r.stderr };
}

/** A sources directory whose tcpload.c does not compile, newer than any binary built before, so it is compiled. */
function brokenSources(dir: string): string {
  const src = join(dir, 'tcpload.c');
  writeFileSync(src, 'int main(void) { return no_such_name; }\n');
  const hourAhead = new Date(Date.now() + 3_600_000);
  utimesSync(src, hourAhead, hourAhead);
  return dir;
}

/** `text` matched literally inside a RegExp. */
const lit = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const hasGcc = spawnSync('gcc', ['--version'], { stdio: 'ignore' }).status === 0;

describe('npm run bench without the C tools', () => {
  const tmp = tempDir('capstan-bench-tools-');
  after(() => tmp.cleanup());

  it('names the directory it looked in, says it is missing, and says how to point at it and install gcc', () => {
    const missing = join(tmp.dir, 'no-such-shared-bench');
    const r = benchTools({ CAPSTAN_SHARED_BENCH: missing });
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`tcpload could not be built: ${lit(missing)}/tcpload\\.c was not found \\(there is no directory ${lit(missing)};`));
    assert.match(r.stderr, /CAPSTAN_SHARED_BENCH=\/path\/to\/shared\/bench npm run bench/);
    assert.match(r.stderr, /apt-get install gcc/);
  });

  it("shows the compiler's error when the source does not build", (t) => {
    if (!hasGcc) return t.skip('gcc is not installed here (the next test covers that case)');
    const dir = brokenSources(tmp.dir);
    const r = benchTools({ CAPSTAN_SHARED_BENCH: dir });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /tcpload could not be built: gcc .* exited with 1:\n/);
    assert.match(r.stderr, /tcpload\.c:1:\d+: error: .*no_such_name/);
    assert.match(r.stderr, new RegExp(`To fix: correct ${lit(dir)}/tcpload\\.c`));
  });

  it('says gcc is not installed, and how to install it, when there is none on PATH', () => {
    const dir = brokenSources(tmp.dir);
    const r = benchTools({ CAPSTAN_SHARED_BENCH: dir, PATH: join(tmp.dir, 'empty-path') });
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`tcpload could not be built from ${lit(dir)}/tcpload\\.c: gcc is not installed \\(not found on PATH\\)`));
    assert.match(r.stderr, /apt-get install gcc/);
  });
});
