/** Runs `capstan load` as a child process, as a user would, and collects what it printed and its exit status. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A `capstan load` runner whose children are all killed by `killAll` (for `after`). */
export function loadRunner(): { load: (...args: string[]) => Promise<Run>; killAll: () => void } {
  const children = new Set<ChildProcess>();
  return {
    killAll: () => {
      for (const c of children) c.kill('SIGKILL');
    },
    load: (...args) =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, [cli, 'load', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        children.add(child);
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('close', (code) => {
          children.delete(child);
          resolve({ code, stdout, stderr });
        });
      }),
  };
}
