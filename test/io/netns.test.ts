// The namespace lab every e2e test builds on: unique names, per-namespace
// commands, in-process entry, and the sweep of dead runs' leftovers.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { Lab, NS_PREFIX, sweepStale } from '../support/netns.js';
import { requires } from '../support/prereq.js';

function namespaces(): string[] {
  return execFileSync('ip', ['-o', 'netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
}

describe('netns lab', requires({ root: true, tools: ['ip', 'nsenter'] }), () => {
  test('namespaces carry our prefix and pid, hold veths and bridges, and are gone after destroy()', async () => {
    const lab = new Lab();
    try {
      const a = lab.ns('x');
      const b = lab.ns('x');
      assert.notEqual(a.name, b.name);
      assert.ok(a.name.startsWith(`${NS_PREFIX}${process.pid}-`));
      lab.veth(a, 'v0', b, 'v1');
      lab.bridge(b, 'br0', ['v1']);
      lab.addr(a, 'v0', '2001:db8:30::1/64');
      lab.addr(b, 'br0', '2001:db8:30::2/64');
      // A datagram crosses veth and bridge.
      const server = b.node(`import dgram from 'node:dgram';
        const s = dgram.createSocket('udp6');
        s.on('message', (m) => { console.log(String(m)); process.exit(0); });
        s.bind(6000, '2001:db8:30::2');
        setTimeout(() => process.exit(3), 5000);`, 8000);
      const client = await a.node(`import dgram from 'node:dgram';
        const s = dgram.createSocket('udp6');
        const t = setInterval(() => s.send('across', 6000, '2001:db8:30::2'), 50);
        setTimeout(() => { clearInterval(t); s.close(); }, 1000);`, 5000);
      assert.equal(client.code, 0, client.stderr);
      const got = await server;
      assert.equal(got.code, 0, got.stderr);
      assert.match(got.stdout, /across/);
      // Nothing leaked into our own namespace.
      const here = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
      assert.doesNotMatch(here, /\bv0\b|\bbr0\b/);
      // In-process entry: this thread sees the namespace only inside enter().
      const mine = readlinkSync('/proc/thread-self/ns/net');
      const inside = a.enter(() => readlinkSync('/proc/thread-self/ns/net'));
      assert.notEqual(inside, mine);
      assert.equal(readlinkSync('/proc/thread-self/ns/net'), mine);
    } finally {
      lab.destroy();
    }
    assert.ok(!namespaces().some((n) => n.startsWith(`${NS_PREFIX}${process.pid}-`)));
  });

  test('the sweep removes a dead run\'s namespaces and keeps a live one\'s', () => {
    // PIDs above pid_max (4194304 at most) never belong to a live process.
    const stale = `${NS_PREFIX}4194399-0-stale`;
    execFileSync('ip', ['netns', 'add', stale]);
    const lab = new Lab();
    try {
      const mine = lab.ns('live');
      assert.ok(!namespaces().includes(stale), 'a new Lab sweeps stale namespaces');
      execFileSync('ip', ['netns', 'add', stale]);
      assert.ok(sweepStale() >= 1);
      assert.ok(namespaces().includes(mine.name));
    } finally {
      lab.destroy();
    }
  });
});
