// The shipped units pass `systemd-analyze verify` (Debian's systemd). verify
// insists that every ExecStart binary exists, and this machine has no
// /usr/bin/sixgate: each unit is copied to a temporary directory with that
// one path pointed at a stub, and the copy is verified. The assertions on the
// shipped files themselves check they name the installed paths.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../support/paths.js';
import { requires } from '../support/prereq.js';

const UNITS = ['sixgate.service', 'sixgate-ndp.service'];
const INSTALLED = '/usr/bin/sixgate';

function unit(name: string): string {
  return readFileSync(join(repoRoot, 'systemd', name), 'utf8');
}

/** `Key=value` lines of a unit (comments and sections left out). */
function settings(text: string): Array<[string, string]> {
  return text.split('\n').filter((l) => /^[A-Za-z]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]);
}

function values(text: string, key: string): string[] {
  return settings(text).filter(([k]) => k === key).map(([, v]) => v);
}

describe('systemd units', requires({ tools: ['systemd-analyze'] }), () => {
  const dir = mkdtempSync(join(tmpdir(), 'sixgate-units-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('both pass systemd-analyze verify (ExecStart pointed at a stub)', () => {
    const stub = join(dir, 'sixgate');
    writeFileSync(stub, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const copies = UNITS.map((name) => {
      const text = unit(name);
      assert.ok(text.includes(`ExecStart=${INSTALLED} `), `${name} runs ${INSTALLED}`);
      const copy = join(dir, name);
      writeFileSync(copy, text.replaceAll(INSTALLED, stub));
      return copy;
    });
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...copies], { encoding: 'utf8', timeout: 60_000, cwd: dir });
    assert.equal(r.status, 0, `systemd-analyze verify: ${r.stderr}${r.stdout}`);
    // verify exits 0 on some warnings; none are expected from these files.
    const ours = `${r.stderr}${r.stdout}`.split('\n').filter((l) => UNITS.some((u) => l.includes(u)));
    assert.deepEqual(ours, []);
  });

  test('sixgate.service: notify readiness, restarts, only NET_ADMIN and NET_RAW', () => {
    const u = unit('sixgate.service');
    assert.deepEqual(values(u, 'ExecStart'), ['/usr/bin/sixgate run']);
    assert.deepEqual(values(u, 'Type'), ['notify']);
    assert.deepEqual(values(u, 'NotifyAccess'), ['all']); // the READY=1 comes from systemd-notify, a child
    assert.deepEqual(values(u, 'Restart'), ['on-failure']);
    assert.ok(values(u, 'After')[0].split(' ').includes('docker.service'));
    assert.ok(values(u, 'Wants')[0].split(' ').includes('docker.service'));
    assert.deepEqual(values(u, 'RuntimeDirectory'), ['sixgate']);
    assert.deepEqual(values(u, 'StateDirectory'), ['sixgate']);
    assert.deepEqual(values(u, 'Environment'), ['SIXGATE_STATE_FILE=/var/lib/sixgate/connections.snapshot', 'SIXGATE_WAIT_UPLINK=60']);
    assert.deepEqual(values(u, 'DeviceAllow'), ['/dev/net/tun rw']);
    assert.deepEqual(values(u, 'PrivateDevices'), []); // it would hide /dev/net/tun
    assert.deepEqual(values(u, 'SupplementaryGroups'), ['docker']);
  });

  test('both: hardened the same way', () => {
    for (const name of UNITS) {
      const u = unit(name);
      assert.deepEqual(values(u, 'CapabilityBoundingSet'), ['CAP_NET_ADMIN CAP_NET_RAW CAP_BPF'], name);
      assert.deepEqual(values(u, 'AmbientCapabilities'), ['CAP_NET_ADMIN CAP_NET_RAW CAP_BPF'], name);
      assert.deepEqual(values(u, 'NoNewPrivileges'), ['yes'], name);
      assert.deepEqual(values(u, 'ProtectSystem'), ['strict'], name);
      assert.deepEqual(values(u, 'ProtectHome'), ['yes'], name);
      assert.deepEqual(values(u, 'RestrictAddressFamilies'), ['AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET'], name);
      assert.deepEqual(values(u, 'Conflicts')[0].split(' ').includes('ndppd.service'), true, name);
    }
  });

  test('sixgate-ndp.service: ndppd\'s configuration file, checked before the start', () => {
    const u = unit('sixgate-ndp.service');
    assert.deepEqual(values(u, 'ExecStart'), ['/usr/bin/sixgate ndp -c /etc/ndppd.conf']);
    assert.deepEqual(values(u, 'ExecStartPre'), ['/usr/bin/sixgate ndp --check -c /etc/ndppd.conf']);
    assert.deepEqual(values(u, 'ConditionPathExists'), ['/etc/ndppd.conf']);
    assert.deepEqual(values(u, 'ExecReload'), ['/bin/kill -HUP $MAINPID']);
  });
});
