import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runToEnd } from './server/support.js';

const capstan = (args: string[]) => runToEnd(args, { timeoutMs: 30_000 });

/** Each command, a misspelling of one of its flags, and the flag meant. */
const TYPOS: [command: string[], typo: string, meant: string][] = [
  [['serve'], '--confg', '--config'],
  [['check'], '--quite', '--quiet'],
  [['load', 'tcp://127.0.0.1:1'], '--conections', '--connections'],
  [['stats'], '--toekn', '--token'],
  [['service', 'print'], '--unit-dri', '--unit-dir'],
  [['reload'], '--pidfle', '--pidfile'],
  [['stop'], '--timout', '--timeout'],
];

describe('a mistyped flag', () => {
  for (const [command, typo, meant] of TYPOS) {
    const name = command[0] as string;
    it(`is named in one line by capstan ${name}, with the flag it meant and where the help is, and exits 2`, async () => {
      const r = await capstan([...command, typo, 'x']);
      assert.equal(r.code, 2);
      assert.equal(r.err, `capstan ${name}: unknown option ${typo} (did you mean ${meant}?)\nRun "capstan ${name} --help" for the options.\n`);
      assert.equal(r.out, '');
    });
  }

  it('gets no guess when no flag is close, and still exits 2', async () => {
    const r = await capstan(['serve', '--colour']);
    assert.equal(r.code, 2);
    assert.equal(r.err, 'capstan serve: unknown option --colour\nRun "capstan serve --help" for the options.\n');
  });

  it('that is cut short is completed when only one flag begins so', async () => {
    const r = await capstan(['serve', '--port', '7000']);
    assert.equal(r.code, 2);
    assert.match(r.err, /^capstan serve: unknown option --port \(did you mean --port-offset\?\)$/m);
  });

  it('cannot take the next flag as its value', async () => {
    const r = await capstan(['check', '--config', '--quiet']);
    assert.equal(r.code, 2);
    assert.match(r.err, /^capstan check: option --config needs a value, and --quiet looks like another option/);
  });

  it('reports a missing value and a value given to a switch in plain words', async () => {
    assert.match((await capstan(['serve', '--config'])).err, /^capstan serve: option --config needs a value\n/);
    assert.match((await capstan(['stats', '--json=yes'])).err, /^capstan stats: option --json takes no value\n/);
  });
});

describe('a mistyped command', () => {
  it('is named with the command it probably meant, and exits 2', async () => {
    const r = await capstan(['serv']);
    assert.equal(r.code, 2);
    assert.equal(r.err, 'capstan: unknown command "serv" (did you mean serve?)\nRun "capstan --help" for the commands.\n');
  });
});
