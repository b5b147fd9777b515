/** A logger that keeps every line, for tests that assert what was logged and how often. */
import type { Logger } from '../../src/index.js';

export interface LoggedLine {
  level: string;
  obj: Record<string, unknown>;
  msg: string | undefined;
}

export function recordingLogger(lines: LoggedLine[]): Logger {
  const log = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj: obj as Record<string, unknown>, msg });
  return { error: log('error'), warn: log('warn'), info: log('info'), debug: log('debug'), child: () => recordingLogger(lines) };
}
