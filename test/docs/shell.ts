/**
 * The shell commands of a Markdown document, split the way sh would split
 * them: quotes, backslashes, comments, and `&&`, `||`, `;` and `|` between
 * simple commands. Enough of sh for commands written for people to copy.
 */
import { fences } from './markdown.js';

/** One simple command (program and arguments) as sh would run it. */
export interface ShellCommand {
  /** The document and line it comes from, for messages. */
  where: string;
  /** The line as written. */
  source: string;
  words: string[];
  /** True when a pipe feeds it the output of the command before. */
  piped: boolean;
}

const SHELL_BLOCKS = new Set(['sh', 'bash', 'shell', 'console']);

function commandsOf(where: string, line: string): ShellCommand[] {
  return simpleCommands(line).map(({ words, piped }) => ({ where, source: line.trim(), words, piped }));
}

/** Every simple command in the document's sh, bash, shell and console blocks. */
export function shellCommands(path: string, markdown: string): ShellCommand[] {
  return fences(markdown).blocks.flatMap((block) => {
    if (!SHELL_BLOCKS.has(block.lang)) return [];
    return continued(block.body).flatMap(({ text: raw, index: i }) => {
      // In a console block only the lines after a prompt are commands; the rest is output.
      const line = block.lang === 'console' ? /^\s*\$\s(.*)$/.exec(raw)?.[1] : raw;
      return line === undefined ? [] : commandsOf(`${path}:${block.line + i}`, line);
    });
  });
}

/** Programs a usage line in an example's header comment starts with (other indented lines there are prose or protocol). */
const USAGE_PROGRAMS = /^(node|npx|npm|capstan|printf|echo|nc|ncat|netcat|socat|telnet|openssl|curl)\s/;

/**
 * The usage lines of an example's header comment (` *   node dist/examples/x.js [port]   (default 7000)`),
 * without the note in parentheses after them.
 */
export function exampleCommands(path: string, source: string): ShellCommand[] {
  const header = /^\/\*\*([\s\S]*?)\*\//.exec(source)?.[1] ?? '';
  const lines = header.split('\n').map((raw) => raw.replace(/^ \*/, ''));
  return continued(lines).flatMap(({ text: raw, index: i }) => {
    const line = /^ {3}(\S.*)$/.exec(raw)?.[1]?.replace(/\s{2,}\(.*$/, '');
    return line === undefined || !USAGE_PROGRAMS.test(line) ? [] : commandsOf(`${path}:${i + 1}`, line);
  });
}

/** Inline code in prose or comments that is a capstan command (`capstan load --framing lp4`): enough to check its subcommand and flags. */
export function inlineCapstanCommands(path: string, prose: readonly string[]): ShellCommand[] {
  return prose.flatMap((text, i) =>
    [...text.matchAll(/`((?:npx )?capstan [a-z]+(?: [^`]*)?)`/g)].flatMap((m) => {
      try {
        return commandsOf(`${path}:${i + 1}`, m[1] as string);
      } catch {
        return [];
      }
    }),
  );
}

/** Lines with each backslash-newline continuation joined onto the line it continues (as sh reads them), with the index of the first. */
function continued(lines: readonly string[]): Array<{ text: string; index: number }> {
  const out: Array<{ text: string; index: number }> = [];
  let open: { text: string; index: number } | null = null;
  lines.forEach((line, index) => {
    const joined: { text: string; index: number } = open === null ? { text: line, index } : { text: `${open.text} ${line.trimStart()}`, index: open.index };
    if (/\\$/.test(joined.text)) open = { text: joined.text.slice(0, -1), index: joined.index };
    else {
      out.push(joined);
      open = null;
    }
  });
  if (open !== null) out.push(open);
  return out;
}

/** Splits one line into simple commands; a comment ends the line. @throws on an unclosed quote or a background job. */
export function simpleCommands(line: string): Array<{ words: string[]; piped: boolean }> {
  const commands: Array<{ words: string[]; piped: boolean }> = [{ words: [], piped: false }];
  // `started` tells an empty quoted word ('') from no word at all.
  let word = '';
  let started = false;
  let quote: "'" | '"' | null = null;
  const endWord = () => {
    if (started) (commands[commands.length - 1] as { words: string[] }).words.push(word);
    word = '';
    started = false;
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && /[$`"\\]/.test(line[i + 1] ?? '')) word += line[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      started = true;
    } else if (c === '\\') {
      word += line[++i] ?? '';
      started = true;
    } else if (/\s/.test(c)) {
      endWord();
    } else if (c === '#' && !started) {
      break;
    } else if (c === '&' || c === '|' || c === ';') {
      endWord();
      const doubled = (c === '&' || c === '|') && line[i + 1] === c;
      if (doubled) i++;
      else if (c === '&') throw new Error(`background jobs are not for docs: ${line}`);
      commands.push({ words: [], piped: c === '|' && !doubled });
    } else {
      word += c;
      started = true;
    }
  }
  if (quote !== null) throw new Error(`unclosed ${quote} in: ${line}`);
  endWord();
  return commands.filter((c) => c.words.length > 0);
}
