/**
 * What a reply in `request` mode must look like: anything (it is only counted),
 * exactly a text, a text at its start, or a match of a regular expression. A
 * reply that fails the check is one `mismatch` error; the connection goes on,
 * since a wrong answer is still an answer and the replies stay in step.
 */
import type { ReplyJudge } from './verify.js';

/** The resolved check, plain data so that it reaches worker processes as it is. */
export type ReplyCheck =
  | { kind: 'any' }
  | { kind: 'exact'; text: string }
  | { kind: 'prefix'; text: string }
  | { kind: 'match'; source: string; flags: string };

const quote = (frame: Buffer): string => {
  const text = JSON.stringify(frame.subarray(0, 80).toString('utf8'));
  return frame.length > 80 ? `${text.slice(0, -1)}..." (${frame.length} bytes)` : text;
};

/** Judges replies to requests against a {@link ReplyCheck}; `requestText(i)` names template `i` in messages. */
export class RequestJudge implements ReplyJudge {
  readonly fatal = false;
  private readonly text: Buffer;
  private readonly re: RegExp | null;

  constructor(
    private readonly check: ReplyCheck,
    private readonly requestText: (template: number) => string,
  ) {
    this.text = Buffer.from(check.kind === 'exact' || check.kind === 'prefix' ? check.text : '');
    // A global or sticky expression would carry lastIndex from one reply to the next.
    this.re = check.kind === 'match' ? new RegExp(check.source, check.flags.replace(/[gy]/g, '')) : null;
  }

  accepts(frame: Buffer): boolean {
    switch (this.check.kind) {
      case 'any':
        return true;
      case 'exact':
        return frame.equals(this.text);
      case 'prefix':
        return frame.length >= this.text.length && frame.compare(this.text, 0, this.text.length, 0, this.text.length) === 0;
      case 'match':
        return (this.re as RegExp).test(frame.toString('utf8'));
    }
  }

  describe(frame: Buffer, index: number, base: number): string {
    return `reply to message ${index + 1} (${JSON.stringify(this.requestText(index + base))}) was ${quote(frame)}, expected ${wanted(this.check)}`;
  }
}

function wanted(c: ReplyCheck): string {
  switch (c.kind) {
    case 'any':
      return 'a reply';
    case 'exact':
      return JSON.stringify(c.text);
    case 'prefix':
      return `it to start with ${JSON.stringify(c.text)}`;
    case 'match':
      return `it to match /${c.source}/${c.flags}`;
  }
}
