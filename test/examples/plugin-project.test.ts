/**
 * The example plugin as a user's own project would hold it: its import turned
 * into 'capstan' (as its header says), capstan the only package installed,
 * no @sinclair/typebox of its own. tsc must compile it, and the loader must
 * load what tsc wrote.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/server/config/load.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'capstan-plugin-project-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const write = (name: string, text: string) => {
  mkdirSync(join(dir, name, '..'), { recursive: true });
  writeFileSync(join(dir, name), text);
};

/** A plugin that also names the TypeBox types a plugin author reaches for. */
const TYPED = `import { definePlugin, Type, type Static, type TObject, type TSchema } from 'capstan';

const Options = Type.Object({ prefix: Type.String({ default: '> ' }) }, { additionalProperties: false });
type Options = Static<typeof Options>;
const asObject: TObject = Options;
const asSchema: TSchema = asObject;

function prefixed(options: Options, text: string): string {
  return options.prefix + text;
}

export default definePlugin({
  name: 'prefix',
  options: Options,
  handler: ({ options }) => ({
    message(conn, frame) {
      conn.send(Buffer.from(prefixed(options, frame.toString('utf8'))));
    },
  }),
});
export const schemaKind = asSchema.type;
`;

describe('the example plugin in a project of its own', () => {
  it('compiles with Type imported from capstan and no TypeBox copy of its own, and loads', async () => {
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(ROOT, join(dir, 'node_modules', 'capstan'), 'dir');
    write('package.json', JSON.stringify({ name: 'my-plugins', version: '1.0.0', type: 'module', dependencies: { capstan: '*' } }));
    write(
      'tsconfig.json',
      JSON.stringify({
        compilerOptions: { module: 'nodenext', target: 'es2022', strict: true, outDir: 'dist', rootDir: 'src', types: ['node'], typeRoots: [join(ROOT, 'node_modules/@types')] },
        include: ['src'],
      }),
    );
    const example = readFileSync(join(ROOT, 'examples/plugins/entry-points.ts'), 'utf8');
    assert.match(example, /from '\.\.\/\.\.\/src\/index\.js'/, 'the example imports capstan from the repository');
    write('src/entry-points.ts', example.replace(/from '\.\.\/\.\.\/src\/index\.js'/, "from 'capstan'"));
    write('src/hash-task.ts', readFileSync(join(ROOT, 'examples/plugins/hash-task.ts'), 'utf8'));
    write('src/prefix.ts', TYPED);

    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(tsc.status, 0, `tsc failed:\n${tsc.stdout}${tsc.stderr}`);

    write(
      'capstan.yaml',
      [
        'listeners:',
        '  - name: entry-points',
        '    port: 0',
        '    plugin: { module: ./dist/entry-points.js, options: { greeting: hi } }',
        '  - { name: prefix, port: 0, codec: line, plugin: ./dist/prefix.js }',
        'admin: false',
      ].join('\n'),
    );
    const config = await loadConfig(join(dir, 'capstan.yaml'));
    assert.deepEqual(
      config.listeners.map((l) => l.plugin?.options),
      [{ greeting: 'hi', farewell: 'server shutting down, bye', maxLineBytes: 4096 }, { prefix: '> ' }],
    );
  });
});
