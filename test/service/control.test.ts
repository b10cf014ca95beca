// The control socket's protocol and its guards, against a real unix socket
// (no daemon needed): answers and listings, every refusal (bad JSON, too
// large, unknown version or op, a failing op, too many clients), the
// socket's mode, a stale file replaced and a live one left alone.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import pino from 'pino';
import { MAX_CLIENTS, MAX_REQUEST_BYTES, request, startControlServer, type ControlOp } from '../../src/service/control.js';
import { ControlError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'sixgate-control-'));
const log = pino({ level: 'silent' });

const OPS: Record<string, ControlOp> = {
  echo: (r) => ({ result: { got: r.what ?? null } }),
  list: () => ({
    stream: (async function* () {
      for (let i = 0; i < 3; i++) yield [i * 2, i * 2 + 1];
    })(),
  }),
  fail: () => { throw new Error('boom'); },
};

/** Writes raw text and collects the answer lines until `lines` arrived or the server closed. */
async function raw(path: string, text: string, lines = 1): Promise<{ answers: Record<string, unknown>[]; closed: boolean }> {
  const s = createConnection(path);
  await once(s, 'connect');
  s.write(text);
  let buf = '';
  let closed = false;
  s.setEncoding('utf8').on('data', (d: string) => { buf += d; });
  const end = new Promise<void>((r) => s.once('close', () => { closed = true; r(); }));
  const deadline = Date.now() + 5000;
  while (buf.split('\n').filter(Boolean).length < lines && !closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  // A server that closes after answering does so at once.
  await Promise.race([end, new Promise((r) => setTimeout(r, 50))]);
  s.destroy();
  return { answers: buf.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>), closed };
}

describe('control socket', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('answers, listings, mode 0660; refusals leave the connection usable', async () => {
    const path = join(dir, 'a.sock');
    const server = (await startControlServer(path, OPS, log))!;
    try {
      assert.equal(statSync(path).mode & 0o777, 0o660);
      assert.equal(statSync(path).uid, process.getuid!());
      assert.deepEqual(await request(path, { op: 'echo', what: 'hi' }), { got: 'hi' });
      const parts: unknown[][] = [];
      assert.equal(await request(path, { op: 'list' }, (p) => parts.push(p)), 6);
      assert.deepEqual(parts, [[0, 1], [2, 3], [4, 5]]);
      const r = await raw(path, '{"v":1,"op":\n{"v":2,"op":"echo"}\n[1]\n{"v":1,"op":"nope"}\n{"v":1,"op":"fail"}\n{"v":1,"op":"echo","what":1}\n', 6);
      assert.deepEqual(r.answers.map((a) => (a.error as { code: string } | undefined)?.code ?? a.result),
        ['bad-json', 'bad-version', 'bad-request', 'unknown-op', 'internal', { got: 1 }]);
      assert.ok(r.answers.every((a) => a.v === 1));
      await assert.rejects(request(path, { op: 'nope' }), (e: unknown) => e instanceof ControlError && e.reason === 'unknown-op');
    } finally {
      await server.close();
    }
    assert.equal(existsSync(path), false, 'the socket file is removed on close');
  });

  test('a request over the size limit is refused and the connection closed', async () => {
    const path = join(dir, 'big.sock');
    const server = (await startControlServer(path, OPS, log))!;
    try {
      const r = await raw(path, `{"v":1,"op":"echo","what":"${'x'.repeat(MAX_REQUEST_BYTES + 10)}"}\n`);
      assert.equal((r.answers[0]!.error as { code: string }).code, 'too-large');
      assert.equal(r.closed, true);
      const endless = await raw(path, 'x'.repeat(4 * MAX_REQUEST_BYTES));
      assert.equal((endless.answers[0]!.error as { code: string }).code, 'too-large', 'no newline at all: refused too');
      assert.deepEqual(await request(path, { op: 'echo' }), { got: null }, 'still serving');
    } finally {
      await server.close();
    }
  });

  test('at most MAX_CLIENTS at once: the next one is told busy', async () => {
    const path = join(dir, 'busy.sock');
    const server = (await startControlServer(path, OPS, log))!;
    const held: Socket[] = [];
    try {
      for (let i = 0; i < MAX_CLIENTS; i++) {
        const s = createConnection(path);
        await once(s, 'connect');
        held.push(s);
      }
      await new Promise((r) => setTimeout(r, 50));
      const r = await raw(path, '{"v":1,"op":"echo"}\n');
      assert.equal((r.answers[0]!.error as { code: string }).code, 'busy');
      for (const s of held) s.destroy();
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(await request(path, { op: 'echo' }), { got: null });
    } finally {
      for (const s of held) s.destroy();
      await server.close();
    }
  });

  test('a stale socket file is replaced; a live one is left to its daemon', async () => {
    const path = join(dir, 'stale.sock');
    const first = (await startControlServer(path, OPS, log))!;
    const second = await startControlServer(path, OPS, log);
    assert.equal(second, undefined, 'another daemon answers there');
    assert.deepEqual(await request(path, { op: 'echo' }), { got: null });
    await first.close();
    // A socket file nobody listens on any more, as a SIGKILL leaves it.
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    assert.equal(existsSync(path), true);
    const next = await startControlServer(path, OPS, log);
    assert.notEqual(next, undefined);
    assert.deepEqual(await request(path, { op: 'echo' }), { got: null });
    await next!.close();
  });

  test('no daemon: the client says so', async () => {
    await assert.rejects(request(join(dir, 'none.sock'), { op: 'status' }), (e: unknown) => e instanceof ControlError && e.reason === 'no-daemon');
  });
});
