import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SystemdNotifier, watchdogPeriodMs } from '../../src/service/notify.js';
import { requires } from '../support/prereq.js';

// systemd's side of the protocol, small enough to inline: a unix datagram
// socket printing each message as one JSON line, closing the descriptors a
// BARRIER=1 carries (that close is what releases systemd-notify).
const RECEIVER = `
import array, json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print('bound', flush=True)
while True:
    data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(16 * 4))
    for level, kind, raw in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array('i')
            fds.frombytes(raw[:len(raw) - len(raw) % fds.itemsize])
            for fd in fds:
                os.close(fd)
    print(json.dumps(data.decode()), flush=True)
`;

describe('service/notify: sd_notify through systemd-notify', requires({ tools: ['systemd-notify', 'python3'] }), () => {
  const dir = mkdtempSync(join(tmpdir(), 'sixgate-notify-'));
  const socket = join(dir, 'notify');
  let receiver: ChildProcess;
  const messages: string[] = [];
  let waiters: Array<() => void> = [];

  before(async () => {
    receiver = spawn('python3', ['-c', RECEIVER, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    await new Promise<void>((resolve, reject) => {
      receiver.once('error', reject);
      receiver.stdout!.setEncoding('utf8').on('data', (d: string) => {
        buf += d;
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line === 'bound') resolve();
          else messages.push(JSON.parse(line) as string);
        }
        for (const w of waiters) w();
        waiters = [];
      });
    });
  });

  after(() => {
    receiver.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const next = async (predicate: (m: string) => boolean, timeoutMs = 5_000): Promise<string> => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const i = messages.findIndex(predicate);
      if (i >= 0) return messages.splice(i, 1)[0];
      if (Date.now() > end) throw new Error(`no matching message; got ${JSON.stringify(messages)}`);
      await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 50); });
    }
  };

  test('ready, status and stopping arrive as systemd expects them, after the barrier', async () => {
    const errors: Error[] = [];
    const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: socket }, onError: (e) => errors.push(e) });
    assert.equal(n.enabled, true);
    await n.ready('data path up');
    const ready = await next((m) => m.includes('READY=1'));
    assert.deepEqual(ready.split('\n').filter(Boolean).sort(), ['MAINPID=' + process.pid, 'READY=1', 'STATUS=data path up'].sort());
    // systemd-notify waited for the barrier round trip before exiting.
    assert.ok(messages.includes('BARRIER=1') || (await next((m) => m === 'BARRIER=1')) === 'BARRIER=1');
    await n.status('2 networks\nno newline injection');
    assert.equal((await next((m) => m.startsWith('STATUS=2'))).trim(), 'STATUS=2 networks no newline injection');
    await n.stopping();
    assert.equal((await next((m) => m.includes('STOPPING=1'))).trim(), 'STOPPING=1');
    assert.deepEqual(errors, []);
  });

  test('the watchdog pings at half the period systemd asked for, only for the named pid', async () => {
    assert.equal(watchdogPeriodMs({ WATCHDOG_USEC: '30000000' }), 30_000);
    assert.equal(watchdogPeriodMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: String(process.pid + 1) }), undefined);
    assert.equal(watchdogPeriodMs({}), undefined);
    const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: socket, WATCHDOG_USEC: '400000', WATCHDOG_PID: String(process.pid) } });
    messages.length = 0;
    const stop = n.startWatchdog();
    try {
      await next((m) => m.trim() === 'WATCHDOG=1');
      await next((m) => m.trim() === 'WATCHDOG=1');
    } finally {
      stop();
    }
  });

  test('without NOTIFY_SOCKET (a container, a shell) nothing is run', async () => {
    const n = new SystemdNotifier({ env: {}, command: '/nonexistent/systemd-notify', onError: () => assert.fail('ran') });
    assert.equal(n.enabled, false);
    await n.ready();
    await n.watchdog();
    n.startWatchdog()();
  });

  test('a failing notify program is reported, not thrown', async () => {
    const errors: Error[] = [];
    const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: join(dir, 'nobody-listens') }, onError: (e) => errors.push(e) });
    await n.ready();
    assert.equal(errors.length, 1);
    assert.match(errors[0].message, /^systemd-notify READY=1/);
    assert.equal(existsSync(join(dir, 'nobody-listens')), false);
  });
});
