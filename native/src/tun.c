// TUN devices: IFF_TUN|IFF_NO_PI, optionally with virtio-net
// headers with segmentation offloads, batched non-blocking read and write
// over a caller-owned ring.
//
// With vnet headers the 10-byte struct virtio_net_hdr sits in the last 10
// bytes of each slot's headroom, so the IP packet always starts at
// slot + headroom whether or not headers are on (as wireguard-go does).
#include "common.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

#define OPEN_VNET_HDR 2
#define OPEN_PERSIST 4
#define OPEN_MULTI_QUEUE 8

#define VNET_HDR_LEN 10

uint8_t tun_spill[TUN_SPILL_LEN];

bool tun_rx_settle(ring_t *r, double *c, size_t n, size_t got, size_t vnet) {
  if (got > slot_room(r) + vnet || got < vnet) {
    c[C_RX_OVERSIZE] += 1;
    return false;
  }
  r->lens[n] = (int32_t)(got - vnet);
  c[C_RX_PACKETS] += 1;
  c[C_RX_BYTES] += (double)r->lens[n];
  return true;
}

bool tun_tx_settle(double *c, int32_t len, int err) {
  if (err == 0) {
    c[C_TX_PACKETS] += 1;
    c[C_TX_BYTES] += (double)len;
    return true;
  }
  if (err == EINVAL || err == EMSGSIZE || err == EFAULT) {
    c[C_TX_REJECTED] += 1;
    c[C_TX_LAST_ERRNO] = err;
    return true;
  }
  return false;
}

// Most capable offload set first: USO needs Linux 6.2, plain CSUM is the
// floor. A kernel refusing all of them still gives a working vnet device.
static int set_offloads(int fd) {
  static const unsigned sets[] = {
    TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6,
    TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6,
    TUN_F_CSUM,
  };
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
    if (ioctl(fd, TUNSETOFFLOAD, sets[i]) == 0) return (int)sets[i];
  }
  return 0;
}

// tunOpen(name, flags) -> { fd, name, offloads } or a negative errno.
// An empty name lets the kernel pick tunN. Opening an existing name attaches.
static napi_value tun_open(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char name[IFNAMSIZ];
  int32_t flags;
  if (!get_args(env, info, 2, argv) || !arg_string(env, argv[0], name, sizeof name) || !arg_i32(env, argv[1], &flags)) return NULL;
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return make_i32(env, -errno);
  struct ifreq ifr = { 0 };
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  if (flags & OPEN_VNET_HDR) ifr.ifr_flags |= IFF_VNET_HDR;
  // Each open of the same name with IFF_MULTI_QUEUE attaches one more queue.
  if (flags & OPEN_MULTI_QUEUE) ifr.ifr_flags |= IFF_MULTI_QUEUE;
  memcpy(ifr.ifr_name, name, strlen(name));
  int offloads = 0;
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) goto fail;
  if (flags & OPEN_VNET_HDR) {
    int sz = VNET_HDR_LEN;
    if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) goto fail;
    offloads = set_offloads(fd);
  }
  if ((flags & OPEN_PERSIST) && ioctl(fd, TUNSETPERSIST, 1) < 0) goto fail;
  track_fd(env, fd);
  napi_value out, v;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "fd", make_i32(env, fd));
  napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &v);
  napi_set_named_property(env, out, "name", v);
  napi_set_named_property(env, out, "offloads", make_i32(env, offloads));
  return out;
fail:;
  int e = errno;
  close(fd);
  return make_i32(env, -e);
}

// tunSetPersist(fd, on) -> 0 or negative errno. A persistent device outlives
// its fds; clearing persist on the last fd lets the kernel delete it.
static napi_value tun_set_persist(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd, on;
  if (!get_args(env, info, 2, argv) || !arg_i32(env, argv[0], &fd) || !arg_i32(env, argv[1], &on)) return NULL;
  return make_i32(env, ioctl(fd, TUNSETPERSIST, on ? 1 : 0) < 0 ? -errno : 0);
}

bool arg_vnet(napi_env env, napi_value v, const ring_t *r, size_t *vnet) {
  int32_t x;
  if (!arg_i32(env, v, &x)) return false;
  if ((x != 0 && x != VNET_HDR_LEN) || r->headroom < (size_t)x) {
    napi_throw_range_error(env, NULL, "sixgate addon: vnet header needs 10 bytes of headroom");
    return false;
  }
  *vnet = (size_t)x;
  return true;
}

bool stamp_read(napi_env env, napi_value v) {
  double *stamp;
  size_t stamps;
  if (!arg_f64array(env, v, &stamp, &stamps)) return false;
  if (stamps < 1) {
    napi_throw_range_error(env, NULL, "sixgate addon: stamp array is empty");
    return false;
  }
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  stamp[0] = (double)now.tv_sec * 1e3 + (double)now.tv_nsec / 1e6;
  return true;
}

// tunRead(fd, buf, lens, slotSize, headroom, vnetLen, max, counters, stamp)
// -> n or negative errno. Reads until EAGAIN or `max` packets; lens[i]
// excludes the vnet header. An error after some packets returns the packets;
// the error shows again on the next call. stamp[0] gets the CLOCK_MONOTONIC
// time in milliseconds: the data path's clock without a JS clock call, which
// allocates in Node 20.
static napi_value tun_read(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  ring_t r;
  int32_t fd, max;
  size_t vnet;
  double *c;
  if (!get_args(env, info, 9, argv) || !arg_i32(env, argv[0], &fd) || !arg_ring(env, argv + 1, &r) ||
      !arg_vnet(env, argv[5], &r, &vnet) || !arg_i32(env, argv[6], &max) || !arg_counters(env, argv[7], &c) ||
      !stamp_read(env, argv[8])) return NULL;
  size_t limit = max < 0 ? 0 : (size_t)max;
  if (limit > r.slots) limit = r.slots;
  size_t n = 0;
  while (n < limit) {
    struct iovec iov[2] = {
      { slot_data(&r, n) - vnet, slot_room(&r) + vnet },
      { tun_spill, sizeof tun_spill },
    };
    ssize_t got = readv(fd, iov, 2);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || n > 0) break;
      return make_i32(env, -errno);
    }
    if (tun_rx_settle(&r, c, n, (size_t)got, vnet)) n++;
  }
  return make_i32(env, (int32_t)n);
}

// tunWrite(fd, buf, lens, slotSize, headroom, vnetLen, start, count, counters)
// -> packets consumed from `start` (written or rejected) or negative errno.
// Stops early at EAGAIN; a packet the kernel refuses (EINVAL: bad vnet
// header, EMSGSIZE...) is counted as rejected and skipped.
static napi_value tun_write(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  ring_t r;
  int32_t fd, start, count;
  size_t vnet;
  double *c;
  if (!get_args(env, info, 9, argv) || !arg_i32(env, argv[0], &fd) || !arg_ring(env, argv + 1, &r) ||
      !arg_vnet(env, argv[5], &r, &vnet) || !arg_i32(env, argv[6], &start) || !arg_i32(env, argv[7], &count) ||
      !arg_counters(env, argv[8], &c)) return NULL;
  if (start < 0 || count < 0 || (size_t)start + (size_t)count > r.slots) return make_i32(env, -ERANGE);
  size_t i = (size_t)start, end = (size_t)start + (size_t)count;
  while (i < end) {
    int32_t len = r.lens[i];
    int e = 0;
    if (len < 0 || (size_t)len > slot_room(&r)) e = EMSGSIZE;
    else if (write(fd, slot_data(&r, i) - vnet, (size_t)len + vnet) < 0) e = errno;
    if (e == EINTR) continue;
    if (tun_tx_settle(c, len, e)) {
      i++;
      continue;
    }
    if (e == EAGAIN || i > (size_t)start) break;
    return make_i32(env, -e);
  }
  return make_i32(env, (int32_t)(i - (size_t)start));
}

void init_tun(napi_env env, napi_value exports) {
  static const export_t list[] = {
    { "tunOpen", tun_open },
    { "tunSetPersist", tun_set_persist },
    { "tunRead", tun_read },
    { "tunWrite", tun_write },
  };
  export_all(env, exports, list, sizeof list / sizeof list[0]);
}
