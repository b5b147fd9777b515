/**
 * What the docs point at: Markdown links, headings (as GitHub turns them into
 * anchors), paths named in the text, and the shell blocks a reader copies.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A document, by its path from the repository root. */
export interface Doc {
  path: string;
  text: string;
}

/** README.md, docs/*.md and the examples (their header comments are docs too). */
export function readDocs(root: string): Doc[] {
  const md = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const examples = ['examples', 'examples/plugins'].flatMap((dir) =>
    readdirSync(join(root, dir))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => `${dir}/${f}`),
  );
  return [...md, ...examples].map((path) => ({ path, text: readFileSync(join(root, path), 'utf8') }));
}

/** A fenced block's info string (`sh`, `ts` …) and its lines; `line` is where its body starts (1-based). */
export interface Fence {
  lang: string;
  line: number;
  body: string[];
}

/** Splits Markdown into the text outside fenced blocks (fences blanked, so line numbers hold) and the blocks. */
export function fences(markdown: string): { prose: string[]; blocks: Fence[] } {
  const prose: string[] = [];
  const blocks: Fence[] = [];
  let open: Fence | null = null;
  markdown.split('\n').forEach((line, i) => {
    const fence = /^```\s*(\S*)/.exec(line);
    if (open === null && fence !== null) {
      open = { lang: fence[1] ?? '', line: i + 2, body: [] };
      prose.push('');
    } else if (open !== null && /^```\s*$/.test(line)) {
      blocks.push(open);
      open = null;
      prose.push('');
    } else if (open !== null) {
      open.body.push(line);
      prose.push('');
    } else {
      prose.push(line);
    }
  });
  return { prose, blocks };
}

/** The text a reader sees as prose: Markdown outside code fences, or a TypeScript file's comments. */
export function proseOf(doc: Doc): string[] {
  if (doc.path.endsWith('.md')) return fences(doc.text).prose;
  return doc.text.split('\n').map((l) => (/^\s*(\/\*\*?|\*|\/\/)/.test(l) ? l : ''));
}

/** The lines of unlabelled fenced blocks (where the docs show usage and output) as inline code, at their line numbers; other lines blank. */
export function usageLines(doc: Doc): string[] {
  const lines = doc.text.split('\n').map(() => '');
  if (!doc.path.endsWith('.md')) return lines;
  for (const block of fences(doc.text).blocks.filter((b) => b.lang === '')) {
    block.body.forEach((line, i) => (lines[block.line - 1 + i] = `\`${line.trim()}\``));
  }
  return lines;
}

/** A place in a document that names another file, with the anchor it names, if any. */
export interface Reference {
  line: number;
  target: string;
  anchor?: string;
}

/** Every relative link: `[text](target)`, `![alt](target)` and `[label]: target`, without URLs with a scheme. */
export function relativeLinks(doc: Doc): Reference[] {
  const out: Reference[] = [];
  proseOf(doc).forEach((text, i) => {
    const inline = [...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1] as string);
    const defined = /^\s*\[[^\]]+\]:\s+(\S+)/.exec(text)?.[1];
    for (const href of defined === undefined ? inline : [...inline, defined]) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(href)) continue;
      const hash = href.indexOf('#');
      const ref: Reference = { line: i + 1, target: hash < 0 ? href : href.slice(0, hash) };
      if (hash >= 0) ref.anchor = decodeURIComponent(href.slice(hash + 1));
      out.push(ref);
    }
  });
  return out;
}

/**
 * Repository paths named in the text or in commands, such as `docs/server.md` or
 * `dist/examples/raw-echo.js`: a reader types them, so they must exist (dist/ once built).
 */
export function namedPaths(doc: Doc): Reference[] {
  const out: Reference[] = [];
  doc.text.split('\n').forEach((text, i) => {
    for (const m of text.matchAll(/(?<![\w./-])((?:dist\/)?(?:docs|examples|src|bench|test|scripts)\/[\w./-]*\.(?:md|ts|js|mjs|json|yaml|png))(?![\w/-])/g)) {
      out.push({ line: i + 1, target: m[1] as string });
    }
  });
  return out;
}

/** The anchors GitHub gives a document's headings: lower case, punctuation dropped, spaces as hyphens, repeats numbered. */
export function headingAnchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const line of fences(markdown).prose) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const base = heading
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}
