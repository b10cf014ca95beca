// Resource hygiene: opening and closing every kind of handle many times
// leaves the fd count flat and RSS bounded; a worker_thread may exit with a
// poll still running.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import { Icmp6Socket, PacketRing, PacketSocket, Tun } from '../../src/io/index.js';
import { Lab, type Netns } from '../support/netns.js';
import { requires } from '../support/prereq.js';

const prereq = requires({ root: true, tools: ['ip', 'nsenter'], files: ['/dev/net/tun'] });

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Lets pending uv_close callbacks and external finalizers run, then collects. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setImmediate(r));
    gc();
  }
}

/** Runs `cycle` `n` times after a warm-up of n (JIT, malloc arenas), and returns [fd delta, RSS delta in MB] over the measured part. */
async function measure(n: number, cycle: () => void): Promise<[number, number]> {
  for (let i = 0; i < n; i++) cycle();
  await settle();
  const fd0 = fdCount();
  const rss0 = process.memoryUsage().rss;
  for (let i = 0; i < n; i++) cycle();
  await settle();
  return [fdCount() - fd0, (process.memoryUsage().rss - rss0) / 2 ** 20];
}

/** `cycle` runs with this thread inside `ns` (handles must be opened there). */
function inNs(ns: Netns, cycle: () => void): () => void {
  return () => ns.enter(cycle);
}

describe('resource hygiene', prereq, () => {
  let lab: Lab;
  let ns: Netns;

  before(() => {
    lab = new Lab();
    ns = lab.ns('hy');
    // A persistent TUN to attach to: creating and deleting a netdevice 10,000
    // times would measure the kernel's unregister path (~16 ms each), not us.
    ns.enter(() => Tun.open({ name: 'hy0', persist: true, up: false })).close();
    lab.veth(ns, 'h0', ns, 'h1');
  });
  after(() => lab?.destroy());

  test('TUN attach/close x10,000, with a poll each time', async (t) => {
    const [fds, rss] = await measure(10_000, inNs(ns, () => {
      const t = Tun.open({ name: 'hy0', up: false });
      t.onReadable(() => undefined);
      t.close();
      t.close();
    }));
    t.diagnostic(`fd delta ${fds}, RSS delta ${rss.toFixed(1)} MB`);
    assert.equal(fds, 0);
    assert.ok(rss < 4, `RSS grew ${rss.toFixed(1)} MB`);
  });

  test('TUN create/delete x50', async () => {
    const [fds] = await measure(50, inNs(ns, () => Tun.open({ name: 'hy1', up: false }).close()));
    assert.equal(fds, 0);
    const links = ns.ipJson<Array<{ ifname: string }>>('link', 'show');
    assert.ok(!links.some((l) => l.ifname === 'hy1'), 'a closed non-persistent TUN is deleted');
  });

  test('TUN with io_uring attach/read/close x2,000; a closed one is deleted (the ring holds no reference)', async (t) => {
    const ring = new PacketRing({ slots: 4, slotSize: 256 });
    const [fds, rss] = await measure(2_000, inNs(ns, () => {
      const t = Tun.open({ name: 'hy0', up: false, uring: true });
      t.read(ring);
      t.close();
      t.close();
    }));
    t.diagnostic(`fd delta ${fds}, RSS delta ${rss.toFixed(1)} MB`);
    assert.equal(fds, 0);
    assert.ok(rss < 4, `RSS grew ${rss.toFixed(1)} MB`);
    ns.enter(() => {
      const t = Tun.open({ name: 'hy2', up: false, uring: true });
      assert.ok(t.uring);
      t.close();
    });
    const links = ns.ipJson<Array<{ ifname: string }>>('link', 'show');
    assert.ok(!links.some((l) => l.ifname === 'hy2'), 'a closed non-persistent TUN is deleted');
  });

  test('ICMPv6 socket open/join/close x10,000', async (t) => {
    const group = new Uint8Array([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 1]);
    const ifindex = ns.ifindex('h0');
    const [fds, rss] = await measure(10_000, inNs(ns, () => {
      const s = Icmp6Socket.open({ ifname: 'h0', types: [135, 136] });
      s.join(group, ifindex);
      s.onReadable(() => undefined);
      s.close();
      s.close();
    }));
    t.diagnostic(`fd delta ${fds}, RSS delta ${rss.toFixed(1)} MB`);
    assert.equal(fds, 0);
    assert.ok(rss < 4, `RSS grew ${rss.toFixed(1)} MB`);
  });

  test('AF_PACKET open/close x200 (each close waits for an RCU grace period, 13+ ms)', async () => {
    const [fds] = await measure(200, inNs(ns, () => {
      const s = PacketSocket.open({ ifname: 'h0', allmulti: true });
      s.close();
      s.close();
    }));
    assert.equal(fds, 0);
    const [l] = ns.ipJson<Array<{ allmulti: number }>>('-d', 'link', 'show', 'dev', 'h0');
    assert.equal(l.allmulti, 0, 'an ALLMULTI reference outlived its socket');
  });

  test('a worker_thread can exit with a poll active; its handles close with it', async () => {
    const io = new URL('../../src/io/index.js', import.meta.url).href;
    for (let i = 0; i < 3; i++) {
      const w = new Worker(`
        const { parentPort, workerData } = require('node:worker_threads');
        import(workerData.io).then(({ Tun, enterNetns }) => {
          const restore = enterNetns(workerData.path);
          const tun = Tun.open({ name: 'hy0', up: false });
          restore();
          tun.onReadable(() => undefined);
          parentPort.postMessage('polling');
        });`, { eval: true, workerData: { io, path: ns.path } });
      await new Promise<void>((resolve, reject) => {
        w.once('message', () => resolve());
        w.once('error', reject);
      });
      assert.equal(await w.terminate(), 1);
    }
  });
});
