/**
 * The API reference in docs/api/ is rendered from the TSDoc of what src/index.ts
 * exports, so a missing comment is a hole in the reference and a stale render
 * is a reference that lies. These tests catch both.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SRC = join(ROOT, 'src') + sep;

function loadPublicApi(): { program: ts.Program; checker: ts.TypeChecker; index: ts.SourceFile; exports: ts.Symbol[] } {
  const config = ts.readConfigFile(join(ROOT, 'tsconfig.json'), (p) => ts.sys.readFile(p));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
  const program = ts.createProgram([join(ROOT, 'src/index.ts')], { ...parsed.options, noEmit: true, incremental: false });
  const checker = program.getTypeChecker();
  const index = program.getSourceFile(join(ROOT, 'src/index.ts'));
  const module = index === undefined ? undefined : checker.getSymbolAtLocation(index);
  assert.ok(index !== undefined && module !== undefined, 'src/index.ts is a module');
  return { program, checker, index, exports: checker.getExportsOfModule(module) };
}

/** The text of src/index.ts's `@packageDocumentation` comment: the top of the rendered reference. */
function packageComment(index: ts.SourceFile): string {
  const ranges = ts.getLeadingCommentRanges(index.text, 0) ?? [];
  const doc = ranges.map((r) => index.text.slice(r.pos, r.end)).find((c) => c.includes('@packageDocumentation'));
  assert.ok(doc !== undefined, 'src/index.ts opens with a @packageDocumentation comment');
  return doc;
}

/** The npm package a declaration file belongs to (`@sinclair/typebox`), from its path under node_modules. */
function packageOf(fileName: string): string {
  const m = /[\\/]node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(fileName);
  return m === null ? fileName : (m[1] as string).replace(/\\/g, '/');
}

function text(parts: ts.SymbolDisplayPart[]): string {
  return ts.displayPartsToString(parts).trim();
}

function isInternal(node: ts.Node): boolean {
  return ts.getJSDocTags(node).some((t) => t.tagName.text === 'internal');
}

function isHidden(member: ts.ClassElement): boolean {
  if (member.name !== undefined && ts.isPrivateIdentifier(member.name)) return true;
  const flags = ts.getCombinedModifierFlags(member as ts.Declaration);
  return (flags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) !== 0 || isInternal(member);
}

/**
 * Every public export and member that has no doc comment, as dotted paths
 * (`ListenOptions.tls`, `Server.address.host`, `listen<D>`).
 */
function undocumented(): { missing: string[]; checked: number } {
  const { program, checker, index, exports } = loadPublicApi();
  const overview = packageComment(index);
  const missing: string[] = [];
  let checked = 0;

  const require = (where: string, doc: string): void => {
    checked++;
    if (doc === '') missing.push(where);
  };
  const docOf = (node: ts.NamedDeclaration): string => {
    const symbol = node.name === undefined ? undefined : checker.getSymbolAtLocation(node.name);
    if (symbol !== undefined) return text(symbol.getDocumentationComment(checker));
    return ts.getJSDocCommentsAndTags(node).map((d) => (ts.isJSDoc(d) ? (ts.getTextOfJSDocComment(d.comment) ?? '') : '')).join('').trim();
  };
  const typeParams = (path: string, node: ts.DeclarationWithTypeParameters): void => {
    const described = new Map<string, string>();
    for (const tag of ts.getJSDocTags(node)) {
      if (tag.tagName.text !== 'typeParam') continue;
      const m = /^(\w+)\s*-?\s*([\s\S]*)$/.exec(ts.getTextOfJSDocComment(tag.comment) ?? '');
      if (m !== null) described.set(m[1] as string, (m[2] as string).trim());
    }
    for (const p of ts.getEffectiveTypeParameterDeclarations(node)) require(`${path}<${p.name.text}>`, described.get(p.name.text) ?? '');
  };
  // Type literals are where inline options live (`{ graceMs?: number }`): each of their members needs words too.
  const walkType = (path: string, node: ts.Node | undefined): void => {
    if (node === undefined) return;
    if (ts.isTypeLiteralNode(node)) return members(path, node.members);
    ts.forEachChild(node, (child) => walkType(path, child));
  };
  const signature = (path: string, node: ts.SignatureDeclaration): void => {
    if (!ts.isFunctionDeclaration(node)) typeParams(path, node);
    for (const p of node.parameters) walkType(`${path}(${p.name.getText()})`, p.type);
    walkType(path, node.type);
  };
  const members = (path: string, list: ts.NodeArray<ts.TypeElement | ts.ClassElement>): void => {
    for (const m of list) {
      if (ts.isIndexSignatureDeclaration(m) || ts.isClassStaticBlockDeclaration(m) || ts.isSemicolonClassElement(m)) continue;
      if (ts.isClassElement(m) && isHidden(m)) continue;
      if (!ts.isClassElement(m) && isInternal(m)) continue;
      const name = ts.isConstructorDeclaration(m) ? 'constructor' : (m.name?.getText() ?? '()');
      // An overloaded method is documented once, on its first signature.
      if (ts.isFunctionLike(m) && m.name !== undefined && list.some((o, i) => i < list.indexOf(m) && o.name?.getText() === name)) continue;
      const where = `${path}.${name}`;
      if (ts.isConstructorDeclaration(m) && m.parameters.length === 0) continue;
      require(where, docOf(m));
      if (ts.isPropertySignature(m) || ts.isPropertyDeclaration(m)) walkType(where, m.type);
      else if (ts.isFunctionLike(m)) signature(where, m);
    }
  };

  for (const exported of exports) {
    const symbol = (exported.flags & ts.SymbolFlags.Alias) !== 0 ? checker.getAliasedSymbol(exported) : exported;
    const name = exported.name;
    // A re-export from a third-party package (TypeBox's Type and schema types, for plugins) is
    // that package's API and documented by it: Capstan does not write its docs, and TypeDoc,
    // with excludeExternals, renders no page for it. What Capstan owes the reader is to say that
    // it is exported and why, in the package comment that heads the reference, which must name
    // it. Only declarations that all come from an installed package qualify; ours never do.
    const declarations = symbol.declarations ?? [];
    if (declarations.length > 0 && declarations.every((d) => program.isSourceFileFromExternalLibrary(d.getSourceFile()))) {
      const from = packageOf((declarations[0] as ts.Declaration).getSourceFile().fileName);
      require(`${name} (re-exported from ${from}: name it in the package comment of src/index.ts)`, overview.includes(`\`${name}\``) ? from : '');
      continue;
    }
    require(name, text(symbol.getDocumentationComment(checker)));
    for (const d of symbol.declarations ?? []) {
      if (!d.getSourceFile().fileName.startsWith(SRC)) continue;
      if (ts.isInterfaceDeclaration(d) || ts.isClassDeclaration(d)) {
        typeParams(name, d);
        members(name, d.members);
      } else if (ts.isTypeAliasDeclaration(d)) {
        typeParams(name, d);
        walkType(name, d.type);
      } else if (ts.isFunctionDeclaration(d)) {
        if (d === symbol.declarations?.[0]) typeParams(name, d);
        signature(name, d);
      } else if (ts.isVariableDeclaration(d)) {
        walkType(name, d.type);
      }
    }
  }
  return { missing: [...new Set(missing)].sort(), checked };
}

function listFiles(dir: string, under = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, under))) {
    const path = join(under, name);
    if (statSync(join(dir, path)).isDirectory()) out.push(...listFiles(dir, path));
    else out.push(path);
  }
  return out.sort();
}

describe('the API reference', () => {
  it('has a doc comment on every public export, member, option and type parameter', () => {
    const { missing, checked } = undocumented();
    // The walk must have reached the whole surface, or an empty list proves nothing.
    assert.ok(checked > 500, `only ${checked} items were checked`);
    assert.deepEqual(missing, [], 'exports and members without a doc comment');
  });

  it('in docs/api/ is what TypeDoc renders from the sources now', () => {
    const out = mkdtempSync(join(tmpdir(), 'capstan-api-'));
    try {
      const typedoc = join(ROOT, 'node_modules/typedoc/bin/typedoc');
      const run = spawnSync(process.execPath, [typedoc, '--out', out, '--logLevel', 'Error'], { cwd: ROOT, encoding: 'utf8' });
      assert.equal(run.status, 0, `typedoc failed:\n${run.stdout}${run.stderr}`);
      const committed = join(ROOT, 'docs/api');
      const hint = 'docs/api/ is stale: regenerate it with `npm run docs:api` and commit the result';
      const files = listFiles(out);
      assert.ok(files.includes('README.md') && files.length > 50, `typedoc rendered ${files.length} files`);
      assert.deepEqual(listFiles(committed), files, hint);
      const stale = files.filter((f) => readFileSync(join(out, f), 'utf8') !== readFileSync(join(committed, f), 'utf8'));
      assert.deepEqual(stale, [], hint);
      // An export without a @category lands in an "Other" heap at the end of the index.
      const uncategorized = /^## Other\n([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(readFileSync(join(out, 'README.md'), 'utf8'))?.[1] ?? '';
      assert.deepEqual([...uncategorized.matchAll(/^\| \[([^\]]+)\]/gm)].map((m) => m[1]), [], 'exports without a @category tag');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
