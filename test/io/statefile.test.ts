// The state file mapped over a table's memory: what a process writes there is
// in the file after it is SIGKILLed; the file is locked while in use; a file
// too short for the memory is refused (mapping it would fault past its end).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NativeIoError } from '../../src/errors.js';
import { StateFile, bootId } from '../../src/io/statefile.js';
import { ConnTable } from '../../src/nat/table.js';

const dir = mkdtempSync(join(tmpdir(), 'sixgate-statefile-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const IO = new URL('../../src/io/statefile.js', import.meta.url).pathname;
const TABLE = new URL('../../src/nat/table.js', import.meta.url).pathname;
const GEOMETRY = { capacity: 1024, externalCount: 1 };

test('what a process writes to its mapped table is in the file after a SIGKILL', () => {
  const path = join(dir, 'killed.table');
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', `
import { StateFile } from '${IO}';
import { ConnTable } from '${TABLE}';
const t = new ConnTable(${JSON.stringify(GEOMETRY)}, 1, { mappable: true });
StateFile.create('${path}', t.buffer);
t.expire(1000);
t.key.set([0xfd000000, 0, 0, 1, 0x20010db8, 0, 0, 2]);
const host = t.acquireHost();
t.insert(0, 40000, 443, 0, 40000, host, 0, 3, 5000, 0);
process.kill(process.pid, 'SIGKILL');`], { encoding: 'utf8' });
  assert.equal(child.signal, 'SIGKILL', child.stderr);
  const t = new ConnTable(GEOMETRY, 2, { mappable: true });
  assert.equal(readFileSync(path).length, t.buffer.byteLength);
  const file = StateFile.open(path);
  file.mapOver(t.buffer);
  file.close();
  assert.equal(t.count, 1, 'the session the killed process inserted');
  t.key.set([0xfd000000, 0, 0, 1, 0x20010db8, 0, 0, 2]);
  assert.ok(t.rec.some((w) => w === ((40000 << 16 | 443) >>> 0)), "its record");
});

test('a state file in use by another process is refused with EAGAIN and a hint; free again once it is closed', () => {
  const path = join(dir, 'locked.table');
  const other = `import { StateFile } from '${IO}';
try { StateFile.open('${path}').close(); console.log('opened'); } catch (e) { console.log(e.errno + ': ' + e.message); }`;
  const first = StateFile.open(path);
  const refused = spawnSync(process.execPath, ['--input-type=module', '-e', other], { encoding: 'utf8' });
  assert.match(refused.stdout, /^EAGAIN: .*another sixgate process/, refused.stderr);
  first.close();
  const opened = spawnSync(process.execPath, ['--input-type=module', '-e', other], { encoding: 'utf8' });
  assert.equal(opened.stdout.trim(), 'opened', opened.stderr);
});

test('create writes the memory to a new file, maps it and renames it over the old one', () => {
  const path = join(dir, 'replaced.table');
  const old = StateFile.open(path);
  const t = new ConnTable(GEOMETRY, 1, { mappable: true });
  t.expire(77);
  const file = StateFile.create(path, t.buffer, old);
  assert.throws(() => old.size, NativeIoError, 'the previous handle is closed');
  assert.equal(file.size, t.buffer.byteLength);
  t.expire(99);
  const words = new Uint32Array(readFileSync(path).buffer.slice(0, 256));
  assert.equal(words[ConnTable.META.LAST_TICK], 99, 'later writes reach the file');
  file.close();
});

test('a file shorter than the memory is never mapped (ERANGE)', () => {
  const path = join(dir, 'short.table');
  const t = new ConnTable(GEOMETRY, 1, { mappable: true });
  StateFile.create(path, t.buffer).close();
  truncateSync(path, 4096);
  const file = StateFile.open(path);
  const u = new ConnTable(GEOMETRY, 1, { mappable: true });
  assert.throws(() => file.mapOver(u.buffer), (e: unknown) => e instanceof NativeIoError && e.errno === 'ERANGE');
  file.close();
  assert.equal(u.count, 0);
});

test('the boot id is four words, the same on every read', () => {
  const a = bootId();
  assert.equal(a.length, 4);
  assert.ok(a.some((w) => w !== 0));
  assert.deepEqual(bootId(), a);
});
