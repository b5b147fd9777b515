/**
 * The Logger contract is pino's: the type checks below are compiled with the
 * tests (a wrong contract fails the build), and the runtime checks pass a real
 * pino logger through the application server's runtime and a plugin.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino, type Logger as PinoLogger } from 'pino';
import { silentLogger, type Logger } from '../src/index.js';
import { functionLogger, type LogLine } from '../src/logger.js';
import { Runtime } from '../src/server/runtime.js';
import { ThreadPools } from '../src/server/threads.js';
import { lp4, rawConnect, waitFor } from './support/net.js';

// A pino logger and its children are Loggers as they are, with no cast.
const pinoLogger: PinoLogger = pino({ level: 'silent' });
const asLogger: Logger = pinoLogger;
const childLogger: Logger = pinoLogger.child({ component: 'test' });

/** Calls every form pino takes; compiling this is the check. */
function everyForm(log: Logger): void {
  log.info('a bare message');
  log.info('printf-style %s and %d', 'text', 42);
  log.warn({ port: 7000 }, 'fields then a message');
  log.error({ port: 7000 });
  log.error(new Error('an error first'), 'and a message');
  log.trace('trace');
  log.debug('debug');
  log.fatal('fatal');
  log.child({ a: 1 }).info('from a child');
  log.level = 'silent';
}

/** Calls the contract refuses; never run, only compiled (each line must be an error). */
function refused(log: Logger): void {
  // @ts-expect-error a number is neither a message nor an object of fields
  log.info(42);
  // @ts-expect-error pino has no level called verbose
  log.verbose('no such level');
  // @ts-expect-error child takes the bindings object
  log.child('component');
}
void refused;

const threads = new ThreadPools({});
after(() => threads.close());

/** A pino logger writing JSON lines into an array (pino calls `write` synchronously). */
function collectingPino(level: string): { logger: PinoLogger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const logger = pino({ level, base: null }, { write: (line: string) => void records.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, records };
}

describe('the Logger contract', () => {
  it('accepts every pino form on pino, silentLogger and functionLogger alike', () => {
    const lines: LogLine[] = [];
    for (const log of [asLogger, childLogger, silentLogger, functionLogger((l) => lines.push(l))]) everyForm(log);
    assert.deepEqual(
      lines.map((l) => [l.level, l.msg]),
      [
        ['info', 'a bare message'],
        ['info', 'printf-style text and 42'],
        ['warn', 'fields then a message'],
        ['error', undefined],
        ['error', 'and a message'],
        ['trace', 'trace'],
        ['debug', 'debug'],
        ['fatal', 'fatal'],
        ['info', 'from a child'],
      ],
    );
    assert.deepEqual(lines[2]?.fields, { port: 7000 });
    assert.ok(lines[4]?.fields.err instanceof Error, 'an Error first is logged as err');
    assert.deepEqual(lines[8]?.fields, { a: 1 });
  });

  it('carries a real pino logger through the runtime: plugin lines at every level with their bindings, and Capstan’s own', async () => {
    const { logger, records } = collectingPino('trace');
    const runtime = new Runtime({ worker: 'main', logger, threads, configDir: process.cwd() });
    await runtime.start([
      {
        name: 'logs',
        transport: 'tcp',
        host: '127.0.0.1',
        port: 0,
        codec: { name: 'lp4', options: {} },
        plugin: { ref: './pino-style-plugin.js', specifier: new URL('./support/pino-style-plugin.js', import.meta.url).href, options: {} },
      },
    ]);
    const address = runtime.servers().get('logs')?.address;
    assert.ok(address !== undefined && 'port' in address);
    const peer = await rawConnect({ port: address.port, host: '127.0.0.1' });
    peer.socket.write(lp4('hello'));
    await peer.waitBytes(9);
    peer.socket.write(lp4('throw'));
    await peer.ended;
    peer.socket.destroy();
    await runtime.stop({ graceMs: 1_000, quietMs: 50 });
    await waitFor(() => records.some((r) => r.level === 60), 5_000, 'the fatal line from teardown');

    const plugin = records.filter((r) => r.plugin === 'pino-style');
    const seen = (level: number, msg: string) => plugin.find((r) => r.level === level && r.msg === msg);
    assert.ok(seen(30, 'setup done'), 'info with a bare message');
    assert.ok(seen(20, 'listener logs on worker main'), 'debug with printf arguments');
    assert.equal(seen(10, 'fields then a message')?.step, 1, 'trace with fields');
    assert.ok(seen(40, 'got 5 bytes'), 'warn with fields and printf arguments');
    assert.equal((plugin.find((r) => r.level === 50 && r.err !== undefined)?.err as { message?: string } | undefined)?.message, 'an error as the first argument');
    assert.ok(seen(60, 'teardown at level trace'), 'fatal, and the level is readable');
    for (const r of plugin) assert.equal(r.listener, 'logs', 'every plugin line carries its listener');
    assert.ok(
      records.some((r) => r.level === 50 && r.listener === 'logs' && r.msg === 'handler.message threw; closing the connection'),
      'Capstan’s own error line went through the same logger',
    );
  });
});
