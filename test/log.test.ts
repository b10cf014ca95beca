// The log lines as people and journald read them: text by default (time,
// level, message, key=value), JSON on request, and under systemd a `<N>`
// priority first on each line, detected from JOURNAL_STREAM as sd-daemon(3) says.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, statSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, textLine } from '../src/log.js';

const LOG = new URL('../src/log.js', import.meta.url).href;

function capture(options: Parameters<typeof createLogger>[0]): { log: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ ...options, destination: { write: (l: string) => lines.push(l) } }), lines };
}

describe('log lines', () => {
  test('text: time, level, message, then key=value (strings quoted only when they must be, an error as its message)', () => {
    const { log, lines } = capture({ format: 'text' });
    log.warn({ uplink: 'eth0', note: 'two words', n: 3, list: ['a'], err: new Error('boom') }, 'something happened');
    assert.match(lines[0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARN {2}something happened uplink=eth0 note="two words" n=3 list=\["a"\] err="boom"\n$/);
  });

  test('json: pino\'s lines, also by default to a destination given (a test or a tool reading fields)', () => {
    const { log, lines } = capture({});
    log.info({ a: 1 }, 'hello');
    assert.deepEqual({ ...JSON.parse(lines[0]!), time: 0 }, { level: 30, time: 0, a: 1, msg: 'hello' });
  });

  test('with the priority prefix: <N> first, no time in the text form (the journal stamps lines itself)', () => {
    const text = capture({ priorityPrefix: true, level: 'trace', format: 'text' });
    text.log.fatal('f');
    text.log.error('e');
    text.log.warn('w');
    text.log.info('i');
    text.log.debug('d');
    text.log.trace('t');
    assert.deepEqual(text.lines, ['<2>FATAL f\n', '<3>ERROR e\n', '<4>WARN  w\n', '<6>INFO  i\n', '<7>DEBUG d\n', '<7>TRACE t\n']);
    const json = capture({ priorityPrefix: true, format: 'json' });
    json.log.error('e');
    assert.match(json.lines[0]!, /^<3>\{"level":50,.*"msg":"e"\}\n$/);
  });

  test('textLine leaves out what is undefined', () => {
    assert.equal(textLine('{"level":30,"msg":"m","a":null}', false), 'INFO  m a=null\n');
  });

  test('on stderr, the prefix comes exactly when stderr is the stream JOURNAL_STREAM names', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sixgate-log-'));
    try {
      const run = (journal: (file: string) => string | undefined): string => {
        const file = join(dir, `stderr-${Math.random()}`);
        const fd = openSync(file, 'w');
        const st = statSync(file);
        const env = { ...process.env, JOURNAL_STREAM: journal(`${st.dev}:${st.ino}`) };
        if (env.JOURNAL_STREAM === undefined) delete env.JOURNAL_STREAM;
        const r = spawnSync(process.execPath, ['--input-type=module', '-e',
          `const { createLogger } = await import(${JSON.stringify(LOG)}); createLogger().error({ code: 'X' }, 'it failed'); process.stdout.write('nothing here');`],
        { env, stdio: ['ignore', 'pipe', fd], encoding: 'utf8' });
        closeSync(fd);
        assert.equal(r.stdout, 'nothing here', 'logs never go to stdout');
        return readFileSync(file, 'utf8');
      };
      assert.equal(run((self) => self), '<3>ERROR it failed code=X\n');
      assert.match(run(() => '1:2'), /^\S+Z ERROR it failed code=X\n$/, 'another stream: not the journal');
      assert.match(run(() => undefined), /^\S+Z ERROR it failed code=X\n$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
