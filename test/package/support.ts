/** Packing the project the way `npm publish` would, for tests of what a user installs. */
import { spawnSync } from 'node:child_process';
import { ROOT } from '../server/support.js';

export { ROOT };

export interface PackedFile {
  path: string;
  size: number;
}

export interface PackResult {
  filename: string;
  files: PackedFile[];
}

/**
 * Runs `npm pack --json` in the repository with `extra` arguments. Scripts are
 * skipped: `prepare` would rebuild dist/ under the feet of tests running beside
 * this one, and the test run has just built it.
 */
export function npmPack(extra: readonly string[]): PackResult {
  const r = spawnSync('npm', ['pack', '--json', '--ignore-scripts', ...extra], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`npm pack failed (${r.status ?? r.signal}): ${r.stderr}`);
  const [result] = JSON.parse(r.stdout) as PackResult[];
  if (result === undefined) throw new Error(`npm pack printed no result: ${r.stdout}`);
  return result;
}
