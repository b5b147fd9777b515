/**
 * A task for the `cpu` thread pool: a deliberately slow key derivation
 * (scrypt), the kind of work that would stall the event loop if a handler
 * did it inline. Runs on a pool thread; gets and returns plain data.
 */
import { scryptSync } from 'node:crypto';

export default function hash(task: { text: string }): string {
  return scryptSync(task.text, 'capstan-example', 32, { N: 1 << 14 }).toString('hex');
}
