/** A logger that keeps every line, for tests that assert what was logged and how often. */
import { functionLogger, type Logger } from '../../src/logger.js';

export interface LoggedLine {
  level: string;
  obj: Record<string, unknown>;
  msg: string | undefined;
}

export function recordingLogger(lines: LoggedLine[]): Logger {
  return functionLogger(({ level, fields, msg }) => void lines.push({ level, obj: fields, msg }));
}
