// The single-instance lock (an abstract unix socket).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { acquireInstanceLock } from '../../src/docker/lock.js';
import { InstanceLockedError } from '../../src/errors.js';

const name = `test-${process.pid}`;

test('a second holder is refused with the holder\'s pid; release frees the lock', async () => {
  const lock = await acquireInstanceLock(name);
  await assert.rejects(acquireInstanceLock(name), (e: unknown) => e instanceof InstanceLockedError
    && e.code === 'SIXGATE_ERR_LOCKED' && e.message.includes(`pid ${process.pid}`));
  await lock.release();
  await lock.release();
  const again = await acquireInstanceLock(name);
  await again.release();
  await assert.rejects(acquireInstanceLock('bad name/'), RangeError);
});

test('a holder killed with SIGKILL leaves no stale lock', async () => {
  const lockJs = new URL('../../src/docker/lock.js', import.meta.url).href;
  const child = spawn(process.execPath, ['--input-type=module', '-e',
    `import { acquireInstanceLock } from ${JSON.stringify(lockJs)};
     await acquireInstanceLock(${JSON.stringify(`${name}-k`)}); console.log('held'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(child.stdout, 'data');
  await assert.rejects(acquireInstanceLock(`${name}-k`), (e: unknown) => e instanceof InstanceLockedError && e.message.includes(`pid ${child.pid}`));
  child.kill('SIGKILL');
  await once(child, 'exit');
  const lock = await acquireInstanceLock(`${name}-k`);
  await lock.release();
});
