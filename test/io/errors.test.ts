// Failing syscalls become NativeIoError with the errno name and what to do;
// misuse of closed handles and wrong ring shapes is a clear error, never a
// crash.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NativeIoError } from '../../src/errors.js';
import { Icmp6Socket, PacketRing, PacketSocket, Tun, VNET_HDR_LEN, errnoName, ioError } from '../../src/io/index.js';
import { Lab, type Netns } from '../support/netns.js';
import { requires } from '../support/prereq.js';

const IO = new URL('../../src/io/index.js', import.meta.url).pathname;

describe('errno mapping', () => {
  test('errno names and hints', () => {
    assert.equal(errnoName(-1), 'EPERM');
    assert.equal(errnoName(-11), 'EAGAIN');
    const e = ioError(-1, 'socket(AF_PACKET)', 'eth0');
    assert.ok(e instanceof NativeIoError);
    assert.equal(e.code, 'SIXGATE_ERR_IO_EPERM');
    assert.equal(e.errno, 'EPERM');
    assert.equal(e.syscall, 'socket(AF_PACKET)');
    assert.match(e.message, /CAP_NET_ADMIN and CAP_NET_RAW/);
    assert.match(ioError(-2, 'open /dev/net/tun + TUNSETIFF', 'tun0').message, /--device \/dev\/net\/tun or --privileged/);
    assert.match(ioError(-19, 'if_nametoindex', 'eth9').message, /no interface eth9/);
    assert.equal(ioError(-999, 'x', 'y').errno, 'E999');
  });
});

describe('I/O errors', requires({ root: true, tools: ['ip', 'nsenter', 'setpriv', 'unshare', 'mount'] }), () => {
  let lab: Lab;
  let ns: Netns;

  before(() => {
    lab = new Lab();
    ns = lab.ns('er');
  });
  after(() => lab?.destroy());

  /** Runs Tun.open in a child inside the namespace, wrapped by `prefix`, and returns the error it threw. */
  async function childError(prefix: string[]): Promise<{ code: string; errno: string; message: string }> {
    const code = `import { Tun } from ${JSON.stringify(IO)};
      try { Tun.open({ name: 'e0' }); console.log('{}'); }
      catch (e) { console.log(JSON.stringify({ code: e.code, errno: e.errno, message: e.message })); }`;
    const run = await ns.run(prefix[0], [...prefix.slice(1), process.execPath, '--input-type=module', '-e', code], 15_000);
    assert.equal(run.code, 0, run.stderr);
    return JSON.parse(run.stdout) as { code: string; errno: string; message: string };
  }

  test('without CAP_NET_ADMIN: EPERM saying which capabilities', async () => {
    const e = await childError(['setpriv', '--bounding-set=-all', '--inh-caps=-all']);
    assert.equal(e.errno, 'EPERM');
    assert.equal(e.code, 'SIXGATE_ERR_IO_EPERM');
    assert.match(e.message, /CAP_NET_ADMIN and CAP_NET_RAW/);
  });

  test('without /dev/net/tun: ENOENT saying how to pass the device', async () => {
    // A private mount namespace: the host's /dev is untouched.
    const e = await childError(['unshare', '--mount', 'sh', '-c', 'mount -t tmpfs none /dev/net && exec "$@"', 'sh']);
    assert.equal(e.errno, 'ENOENT');
    assert.match(e.message, /--device \/dev\/net\/tun or --privileged/);
  });

  test('closed handles: close twice is fine, I/O after close is EBADF', () => {
    const ring = new PacketRing({ slots: 2, slotSize: 2048 });
    const tun = ns.enter(() => Tun.open({ name: 'e1' }));
    const icmp = ns.enter(() => Icmp6Socket.open({ ifname: 'lo' }));
    const pkt = ns.enter(() => PacketSocket.open({ ifname: 'lo' }));
    for (const h of [tun, icmp, pkt]) {
      h.close();
      h.close();
      assert.equal(h.closed, true);
    }
    const ebadf = (err: unknown) => err instanceof NativeIoError && err.errno === 'EBADF' && /is closed/.test(err.message);
    assert.throws(() => tun.read(ring), ebadf);
    assert.throws(() => tun.write(ring, 0, 1), ebadf);
    assert.throws(() => tun.onReadable(() => undefined), ebadf);
    assert.throws(() => icmp.recv(ring), ebadf);
    assert.throws(() => icmp.send(ring, 0, 1), ebadf);
    assert.throws(() => icmp.join(new Uint8Array(16), 1), ebadf);
    assert.throws(() => pkt.recv(ring), ebadf);
    assert.throws(() => pkt.send(ring, 0, 1), ebadf);
  });

  test('rings that do not fit are refused up front', () => {
    const tun = ns.enter(() => Tun.open({ name: 'e2', vnetHeader: true }));
    try {
      assert.throws(() => tun.read(new PacketRing({ slots: 2, slotSize: 2048, headroom: 4 })), RangeError);
      assert.equal(tun.read(new PacketRing({ slots: 2, slotSize: 2048, headroom: VNET_HDR_LEN })), 0);
      const ring = new PacketRing({ slots: 2, slotSize: 2048, headroom: VNET_HDR_LEN });
      assert.throws(() => tun.write(ring, 1, 5), (err: unknown) => err instanceof NativeIoError && err.errno === 'ERANGE');
    } finally {
      tun.close();
    }
    assert.throws(() => new PacketRing({ slots: 0, slotSize: 100 }), RangeError);
    assert.throws(() => new PacketRing({ slots: 4, slotSize: 10, headroom: 10 }), RangeError);
  });

  test('bad names and missing interfaces', () => {
    const longest = ns.enter(() => Tun.open({ name: 'abcdefghijklmno' }));
    assert.equal(longest.name, 'abcdefghijklmno');
    longest.close();
    assert.throws(() => ns.enter(() => Tun.open({ name: 'a-name-far-too-long' })), RangeError);
    assert.throws(() => ns.enter(() => Tun.open({ name: 'bad/name' })), RangeError);
    assert.throws(() => ns.enter(() => PacketSocket.open({ ifname: 'nosuch0' })),
      (err: unknown) => err instanceof NativeIoError && err.errno === 'ENODEV' && /no interface nosuch0/.test(err.message));
    assert.throws(() => ns.enter(() => Icmp6Socket.open({ ifname: 'nosuch0' })),
      (err: unknown) => err instanceof NativeIoError && err.errno === 'ENODEV');
  });

  test('a TUN deleted while open: the wake-up carries an errno, I/O throws EBADFD', async () => {
    const tun = ns.enter(() => Tun.open({ name: 'e4' }));
    const ring = new PacketRing({ slots: 2, slotSize: 2048 });
    try {
      const events = await new Promise<number>((resolve) => {
        tun.onReadable(resolve);
        ns.ip('link', 'del', 'e4');
      });
      assert.ok(events < 0, `events ${events}`);
      assert.throws(() => tun.read(ring),
        (err: unknown) => err instanceof NativeIoError && err.errno === 'EBADFD' && /e4 was deleted/.test(err.message));
    } finally {
      tun.close();
    }
  });

  test('attaching to a TUN another handle holds is EBUSY/EINVAL with a hint', () => {
    const tun = ns.enter(() => Tun.open({ name: 'e3' }));
    try {
      assert.throws(() => ns.enter(() => Tun.open({ name: 'e3' })),
        (err: unknown) => err instanceof NativeIoError && ['EBUSY', 'EINVAL'].includes(err.errno) && /e3/.test(err.message));
    } finally {
      tun.close();
    }
  });
});
